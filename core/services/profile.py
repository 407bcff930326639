"""Profile of one organisation (every indicator) and the network triage table.

Both read set-based: one query for the organisation's (or network's) series, one for the peer
values of every indicator, then the engine per indicator (:func:`core.stats.peer_comparison`,
:func:`core.stats.opportunity`, :func:`core.stats.xmr_batch`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import func, select

from core import stats
from core.errors import InvalidParameter, NotFound
from core.models import Indicator, IndicatorValue, Organisation, Period
from core.periods import FINENESS, parse_period
from core.services.comparison import LEVELS, check_level
from core.services.data_periods import check_period_type
from core.services.disclosure import (
    NOTE_COLUMN,
    SUPPRESSED_NOTE,
    active_rule,
    count_mask,
    disclose_count,
    note_columns,
    pooled_hidden,
    rerank,
    shown_quantiles,
)
from core.services.indicators import IndicatorMeta, list_indicator_meta
from core.services.organisations import OrgRef, descendant_ids, get_org
from core.services.peers import lowest_type
from core.services.query import Conn, core_conn, fetch_all, frame_from_rows
from core.services.rebases import network_rebase_periods, org_rebase_periods
from core.services.spc import (
    latest_icons,
    latest_judgement,
    period_sequence,
)
from core.services.values import fetch_value_arrays, interval_arrays, with_intervals

PROFILE_COLUMNS = (
    "indicator_id", "indicator_name", "domain", "polarity", "unit", "decimals", "period",
    "period_type", "numerator", "denominator", "value", "lower_ci", "upper_ci", "benchmark",
    "comparison", "rank", "n_peers", "percentile", "peer_min", "peer_q1", "peer_median",
    "peer_q3", "peer_max", "target", "meets_target", "spc_variation", "spc_assurance",
    "opportunity_level", "opportunity",
)
TRIAGE_COLUMNS = (
    "indicator_id", "indicator_name", "period", "org_code", "org_name", "value", "lower_ci",
    "upper_ci", "benchmark", "comparison", "spc_variation", "spc_special_cause",
    "spc_assurance", "meets_target", "significantly_worse", "special_cause_concern",
    "failing_target", "flags",
)


def _org_values(conn: Conn, org_ids: list[int], indicator_ids: list[str] | None) -> pd.DataFrame:
    """Every value of the organisations (all periods): the series behind icons and periods.

    The values are read without a join and as plain tuples (:func:`fetch_all`), and their
    periods (a few dozen) in a second small query: a network of 80 practices x 20 indicators
    x 60 months (97,000 values) took 0.64 s through SQLAlchemy rows with the join."""
    stmt = select(
        IndicatorValue.org_id, Indicator.id, IndicatorValue.period_id,
        IndicatorValue.numerator, IndicatorValue.denominator, IndicatorValue.value,
        IndicatorValue.lower_ci, IndicatorValue.upper_ci, IndicatorValue.suppressed,
    ).join(Indicator, Indicator.ikey == IndicatorValue.ikey).where(
        IndicatorValue.org_id.in_(org_ids))
    if indicator_ids is not None:
        stmt = stmt.where(Indicator.id.in_(indicator_ids))
    frame = frame_from_rows(
        fetch_all(conn, stmt),
        ["org_id", "indicator_id", "period_id", "numerator", "denominator", "value",
         "lower_ci", "upper_ci", "suppressed"],
    )
    frame["period_id"] = frame["period_id"].astype(np.int64)
    ids = np.unique(frame["period_id"].to_numpy()).tolist()
    periods = frame_from_rows(
        fetch_all(conn, select(Period.id, Period.label, Period.period_type, Period.start_date,
                               Period.end_date).where(Period.id.in_(ids))) if ids else [],
        ["period_id", "period", "period_type", "start_date", "end_date"],
    ).set_index("period_id")
    periods["fine"] = [FINENESS.get(t, 9) for t in periods["period_type"]]
    at = periods.index.get_indexer(frame["period_id"].to_numpy())
    for c in ("period", "period_type", "start_date", "end_date"):
        frame[c] = pd.Series(periods[c].to_numpy(dtype=object)[at], dtype=object,
                             index=frame.index)
    frame["fine"] = periods["fine"].to_numpy(dtype=np.int64)[at]
    return frame


def _series_index(own: pd.DataFrame) -> dict[tuple[str, Any], np.ndarray]:
    """Row positions of ``own`` per (indicator, period type) and per (indicator, period id):
    one grouping instead of a comparison over every row per indicator."""
    out: dict[tuple[str, Any], np.ndarray] = {}
    for cols in (["indicator_id", "period_type"], ["indicator_id", "period_id"]):
        out.update(own.groupby(cols, sort=False).indices)
    return out


def _chosen_periods(
    own: pd.DataFrame, period: str | None, period_type: str | None
) -> pd.DataFrame:
    """Per indicator, the period to show: ``period`` when given, else the latest the
    organisations have (latest end date; the finest kind on a tie)."""
    f = own if period_type is None else own[own["period_type"] == period_type]
    if period is not None:
        f = f[f["period"] == period]
    f = f.sort_values(["indicator_id", "end_date", "fine"], ascending=[True, False, True])
    return f.drop_duplicates("indicator_id")[["indicator_id", "period_id", "period",
                                              "period_type"]]


def no_jit(conn: Conn) -> None:
    """Turn PostgreSQL's JIT compilation off for the rest of this transaction.

    A profile's peer query (20 indicators x 6,500 practices) is estimated above
    ``jit_above_cost``, and PostgreSQL then spends about 500 ms compiling it (measured with
    EXPLAIN ANALYZE on the national bench data: JIT emission 446 ms, execution without JIT
    about 60 ms). ``set_config(..., true)`` is transaction-local, so other work is untouched.
    """
    c = core_conn(conn)
    if c.dialect.name == "postgresql":
        c.execute(select(func.set_config("jit", "off", True)))


#: the fetched columns of one (indicator, period) pair (:func:`_peer_columns`)
_PEER_COLUMNS = ("org_id", "numerator", "denominator", "value", "lower_ci", "upper_ci",
                 "suppressed")


def _peer_columns(
    conn: Conn, pairs: list[tuple[str, int]], org_type: str, active_only: bool = True
) -> list[dict[str, np.ndarray]]:
    """The values of every organisation of ``org_type`` for each (indicator, period) pair:
    one dict of numpy columns (:data:`_PEER_COLUMNS`) per pair, in organisation id order.
    Only the numbers are read: a profile needs no peer names.

    One index range per pair, fetched as the comparison fetches it
    (:func:`core.services.values.fetch_value_arrays`: on PostgreSQL one packed binary value
    per pair that numpy reads in place). A national profile (20 pairs, 128,000 values) took
    0.64 s when the rows came back as tuples of one UNION ALL; about a quarter of that now.
    """
    if not pairs:
        return []
    who = select(Organisation.id).where(Organisation.org_type == org_type)
    if active_only:
        who = who.where(Organisation.is_active.is_(True))
    peer_ids = np.array(sorted(r[0] for r in fetch_all(conn, who)), dtype=np.int64)
    no_jit(conn)
    out = []
    for indicator_id, period_id in pairs:
        org_ids, values, suppressed = fetch_value_arrays(conn, indicator_id, period_id, None)
        keep = np.isin(org_ids, peer_ids)
        order = np.flatnonzero(keep)[np.argsort(org_ids[keep], kind="stable")]
        cols = {"org_id": org_ids[order], "suppressed": suppressed[order].astype(bool)}
        for i, name in enumerate(_PEER_COLUMNS[1:6]):  # values: (rows, 5), as fetched
            cols[name] = np.ascontiguousarray(values[order, i], dtype=float)
        out.append(cols)
    return out


def _nz(x: Any) -> float | None:
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    return f if np.isfinite(f) else None


def _engine_compare(
    ind: IndicatorMeta, pv: dict[str, np.ndarray], conf: float
) -> tuple[pd.DataFrame, stats.PeerComparison, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`core.stats.peer_comparison` over peer columns, as
    :func:`core.services.comparison.comparison` does it: suppressed rows carry no counts,
    rows with only a published value keep it and its published interval (95% only).
    Returns the engine's input frame, its result, and value, lower, upper per row."""
    sup = pv["suppressed"]
    engine = pd.DataFrame({"numerator": np.where(sup, np.nan, pv["numerator"]),
                           "denominator": np.where(sup, np.nan, pv["denominator"])})
    res = stats.peer_comparison(
        engine, polarity=ind.polarity, value_type=ind.value_type, multiplier=ind.multiplier,
        confidence=conf / 100.0, target=ind.target,
    )
    rr = res.rows
    value = rr["value"].to_numpy(dtype=float)
    lower = rr["lower"].to_numpy(dtype=float)
    upper = rr["upper"].to_numpy(dtype=float)
    no_counts = ~np.isfinite(value)
    if no_counts.any():
        published = with_intervals(
            pd.DataFrame({c: pv[c] for c in ("numerator", "denominator", "value", "lower_ci",
                                            "upper_ci", "suppressed")}), ind, conf)
        value = np.where(no_counts, published["value"].to_numpy(), value)
        lower = np.where(no_counts, published["lower"].to_numpy(), lower)
        upper = np.where(no_counts, published["upper"].to_numpy(), upper)
    return engine, res, value, lower, upper


@dataclass
class PeerStats:
    """The engine's view of one indicator and period over every organisation of a type: the
    same for every member's profile, so it is computed once per data version and cached
    (:func:`peer_stats`). Arrays are in organisation id order; ``opportunity`` holds the
    extra patients per level, filled as levels are asked for."""

    raw: dict[str, np.ndarray]  # the fetched peer columns (_PEER_COLUMNS)
    value: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    comparison: np.ndarray
    rank: np.ndarray
    percentile: np.ndarray
    meets_target: np.ndarray
    pooled: float
    quartiles: tuple[float, float, float]
    n: int
    peer_min: float | None
    peer_max: float | None
    engine: pd.DataFrame
    opportunity: dict[str, np.ndarray | None]

    @property
    def org_id(self) -> np.ndarray:
        """Organisation ids, ascending."""
        return self.raw["org_id"]

    @property
    def nbytes(self) -> int:
        """About what the entry holds in memory (for the cache's byte bound)."""
        arrays = [*self.raw.values(), self.value, self.lower, self.upper, self.rank,
                  self.percentile]
        return int(sum(a.nbytes for a in arrays) + 2 * 8 * len(self.org_id)
                   + self.engine.memory_usage(index=False).sum())

    def opportunity_extra(self, ind: IndicatorMeta, level: str) -> np.ndarray | None:
        """Extra patients per organisation at ``level`` (None when the indicator has no
        opportunity: no polarity, a mean, or the target level without a target)."""
        if level not in self.opportunity:
            extra = None
            if ind.polarity != "no_judgement" and ind.value_type != "mean" and not (
                level == "target" and ind.target is None
            ):
                o = stats.opportunity(self.engine, polarity=ind.polarity,
                                      value_type=ind.value_type, multiplier=ind.multiplier,
                                      level=level, target=ind.target)
                extra = o.rows["extra"].to_numpy(dtype=float)
            self.opportunity[level] = extra
        return self.opportunity[level]


def _make_stats(ind: IndicatorMeta, pv: dict[str, np.ndarray], conf: float) -> PeerStats:
    engine, res, value, lower, upper = _engine_compare(ind, pv, conf)
    rr = res.rows
    vals = value[np.isfinite(value)]
    meets = rr["meets_target"]
    known = meets.notna().to_numpy(dtype=bool)
    meets_target = np.full(len(meets), None, dtype=object)  # True / False / None (no target)
    meets_target[known] = meets[known].to_numpy(dtype=bool)
    return PeerStats(
        raw=pv, value=value, lower=lower, upper=upper,
        comparison=rr["comparison"].astype(str).to_numpy(dtype=object),
        rank=rr["rank"].to_numpy(dtype=float, na_value=np.nan),
        percentile=rr["percentile"].to_numpy(dtype=float),
        meets_target=meets_target,
        pooled=float(res.pooled), quartiles=res.quartiles, n=res.n,
        peer_min=_nz(vals.min()) if vals.size else None,
        peer_max=_nz(vals.max()) if vals.size else None,
        engine=engine, opportunity={},
    )


def peer_stats(
    conn: Conn, metas: dict[str, IndicatorMeta], pairs: list[tuple[str, int]], org_type: str,
    conf: float, active_only: bool = True,
) -> list[PeerStats]:
    """:class:`PeerStats` of each (indicator, period) pair over the organisations of
    ``org_type``: from the cache of this data version where it has them, the rest fetched
    (:func:`_peer_columns`) and computed. Every profile of a practice needs the same 20 or
    so national comparisons; a profile after the first reads them from here (a national
    profile: about 0.4 s cold, a few tens of ms warm)."""
    from core.services.version import current_version, engine_cache

    cache = engine_cache(conn, "peer_stats", maxsize=256, maxbytes=128 * 2**20)
    version = current_version(conn)
    keys = [(ind_id, period_id, org_type, active_only, conf) for ind_id, period_id in pairs]
    found: list[PeerStats | None] = [cache.get(k, version) for k in keys]
    missing = [i for i, f in enumerate(found) if f is None]
    if missing:
        fetched = _peer_columns(conn, [pairs[i] for i in missing], org_type, active_only)
        for i, pv in zip(missing, fetched, strict=True):
            made = _make_stats(metas[pairs[i][0]], pv, conf)
            cache.put(keys[i], version, made, made.nbytes)
            found[i] = made
    return [f for f in found if f is not None]


def _profile_row(
    ind: IndicatorMeta, r: Any, ps: PeerStats, me: int, level: str
) -> dict[str, Any]:
    """One profile row read at the organisation's position ``me`` in the peer stats of one
    indicator and period: the engine's comparison (:func:`core.stats.peer_comparison`) and
    opportunity (:func:`core.stats.opportunity`) over the peers. As
    :func:`core.services.comparison.comparison`, suppressed rows carry no counts and rows
    with only a published value keep it and its published interval (95% only), unranked."""
    extra = ps.opportunity_extra(ind, level)
    opp_value = None if extra is None else _nz(extra[me])
    rank = ps.rank[me]
    meets = ps.meets_target[me]
    return {
        "indicator_id": ind.id, "indicator_name": ind.name, "domain": ind.domain,
        "polarity": ind.polarity, "unit": ind.unit, "decimals": ind.decimals,
        "period": r.period, "period_type": r.period_type,
        "numerator": _nz(ps.raw["numerator"][me]),
        "denominator": _nz(ps.raw["denominator"][me]),
        "value": _nz(ps.value[me]), "lower_ci": _nz(ps.lower[me]),
        "upper_ci": _nz(ps.upper[me]),
        "benchmark": _nz(ps.pooled), "comparison": str(ps.comparison[me]),
        "rank": None if not np.isfinite(rank) else int(rank), "n_peers": ps.n,
        "percentile": _nz(ps.percentile[me]),
        "peer_min": ps.peer_min,
        "peer_q1": _nz(ps.quartiles[0]), "peer_median": _nz(ps.quartiles[1]),
        "peer_q3": _nz(ps.quartiles[2]),
        "peer_max": ps.peer_max,
        "target": ind.target, "meets_target": None if meets is None else bool(meets),
        "spc_variation": None, "spc_assurance": None,
        "opportunity_level": level if opp_value is not None else None,
        "opportunity": opp_value,
    }


def _latest_icon(
    labels: list[str], values: np.ndarray, ind: IndicatorMeta, period_type: str,
    rebases: list[str] | None = None,
) -> tuple[str | None, str | None]:
    """Latest SPC variation and assurance of one series (labels of ``period_type`` with
    their values), exactly as :func:`core.services.spc.latest_icons` computes them for many
    series: the periods from the first to the last label, gaps missing, one
    :func:`core.stats.xmr_batch` row (without the pivot table, the cost for one series),
    on the limits of the accepted ``rebases`` (period labels) as :func:`core.services.spc.spc`
    applies them."""
    if not labels:
        return None, None
    by_label = dict(zip(labels, values.tolist(), strict=True))
    ordered = sorted(by_label, key=lambda lab: parse_period(lab, period_type).start)
    seq = period_sequence(ordered[0], ordered[-1], period_type)
    row = np.array([[by_label.get(lab, np.nan) for lab in seq]], dtype=float)
    positions = sorted({seq.index(p) for p in rebases or () if p in seq[1:]})
    variation, assurance, _ = latest_judgement(row, ind, rebase_at=positions)
    var, ass = variation[0], assurance[0]
    # None: too few points to judge (the engine gives no icon), not the text "None"
    return (None if var is None else str(var)), (None if ass is None else str(ass))


#: what a profile row suppressed by disclosure control shows no more
_PROFILE_BLANK = ("value", "lower_ci", "upper_ci", "rank", "percentile", "meets_target",
                  "spc_variation", "spc_assurance", "opportunity", "opportunity_level")


def _disclose_profile_row(row: dict[str, Any], ps: PeerStats, me: int, rule: Any) -> None:
    """Disclosure control on one profile row (:mod:`core.services.disclosure`): its counts
    suppressed or rounded; a suppressed row keeps no value, interval, rank, percentile, flag
    or opportunity; the opportunity is disclosed itself; the peers' lowest and highest values
    are those of peers whose counts may be shown (a peer's extreme value is its own)."""
    mask, counts = count_mask(rule, {c: [row[c] if row[c] is not None else np.nan]
                                     for c in ("numerator", "denominator")})
    row["numerator"], row["denominator"] = (_nz(counts[c][0]) for c in ("numerator",
                                                                          "denominator"))
    note = None
    if mask[0]:
        for c in _PROFILE_BLANK:
            row[c] = None
        row["comparison"] = "not_compared"
        note = SUPPRESSED_NOTE
    elif row["opportunity"] is not None:
        row["opportunity"] = _nz(disclose_count(row["opportunity"], rule))
        if row["opportunity"] is None:
            row["opportunity_level"] = None
            note = SUPPRESSED_NOTE
    row[NOTE_COLUMN] = note
    hidden, _ = count_mask(rule, ps.raw)
    if not mask[0] and hidden.any():  # ranked among the peers that are shown (no gaps)
        rank, pct = rerank(ps.rank, ps.percentile, hidden)
        row["rank"] = None if not np.isfinite(rank[me]) else int(rank[me])
        row["percentile"] = _nz(pct[me])
    if hidden.any():  # the peers' quartiles over the values shown (see shown_quantiles)
        row["peer_q1"], row["peer_median"], row["peer_q3"] = (
            _nz(q) for q in shown_quantiles(ps.value, hidden, (25, 50, 75)))
    if pooled_hidden(ps.engine["numerator"], ps.engine["denominator"], rule):
        row["benchmark"] = None
    vals = ps.value[np.isfinite(ps.value) & ~hidden]
    row["peer_min"] = _nz(vals.min()) if vals.size else None
    row["peer_max"] = _nz(vals.max()) if vals.size else None


@dataclass(frozen=True)
class Profile:
    """Every indicator for one organisation: rows of :data:`PROFILE_COLUMNS`."""

    organisation: OrgRef
    peers_label: str
    confidence: float
    level: str
    rows: pd.DataFrame


def profile(
    conn: Conn,
    code: str,
    *,
    period: str | None = None,
    period_type: str | None = None,
    level: str = "median",
    confidence: float = 95.0,
    active_only: bool = True,
) -> Profile:
    """Every indicator the organisation has, each at ``period`` (default its latest), against
    all organisations of the same type: value, interval, pooled benchmark, comparison,
    percentile, the peer range for a spine chart (min, quartiles, max), the latest SPC
    variation and assurance of its series of that period type, and its opportunity at
    ``level``."""
    from core.services.values import check_confidence

    conf = check_confidence(confidence)
    check_level(level)
    check_period_type(period_type)
    org = get_org(conn, code)
    own = _org_values(conn, [org.id], None)
    if own.empty:
        raise NotFound(
            f"{org.code} ({org.name}) has no indicator values yet",
            entity="values", key=org.code, valid=[],
        )
    if period is not None:
        from core.periods import PeriodError, parse_period

        labels = {period}
        try:
            labels.add(parse_period(period, period_type).label)
        except PeriodError:
            pass
        hit = own[own["period"].isin(labels)]
        if hit.empty:
            have = own.sort_values("end_date", ascending=False)["period"].drop_duplicates()
            raise NotFound(
                f"{org.code} has no values in period {period!r}; its periods (latest first): "
                f"{', '.join(have.head(20))}",
                entity="period", key=period, valid=have.head(20).tolist(),
            )
        period = hit["period"].iloc[0]
    chosen = _chosen_periods(own, period, period_type)
    where = _series_index(own)
    metas = {m.id: m for m in list_indicator_meta(conn)}
    pairs = [(r.indicator_id, int(r.period_id)) for r in chosen.itertuples()]
    all_stats = peer_stats(conn, metas, pairs, org.org_type, conf, active_only)
    rule = active_rule()
    # the organisation's own columns once as arrays: each indicator's series is a slice of
    # them (a frame per indicator cost more than its SPC: about 10 ms per indicator)
    own_cols = [own[c].to_numpy(dtype=float)
                for c in ("numerator", "denominator", "value", "lower_ci", "upper_ci")]
    own_sup = own["suppressed"].to_numpy(dtype=bool)
    own_labels = own["period"].to_numpy(dtype=object)
    rebases = org_rebase_periods(conn, org.id)  # one query, not one per indicator
    out = []
    for ps, r in zip(all_stats, chosen.itertuples(), strict=True):
        ind = metas[r.indicator_id]
        me = int(np.searchsorted(ps.org_id, org.id))
        if me >= len(ps.org_id) or ps.org_id[me] != org.id:
            # the organisation itself may be closed (active_only) yet still asked for: its
            # own comparison with the peers plus itself (not cached: it is its alone)
            mine = own.iloc[where[(ind.id, r.period_id)]]
            pv = {c: np.concatenate([a, mine[c].to_numpy(dtype=a.dtype)])
                  if c != "org_id" else np.append(a, org.id) for c, a in ps.raw.items()}
            ps = _make_stats(ind, pv, conf)
            me = len(ps.org_id) - 1
        out.append(_profile_row(ind, r, ps, me, level))
        at = where[(ind.id, r.period_type)]
        num, den, val, lo, hi = (c[at] for c in own_cols)
        shown, _, _ = interval_arrays(ind, 95.0, num, den, val, lo, hi, own_sup[at])
        out[-1]["spc_variation"], out[-1]["spc_assurance"] = _latest_icon(
            own_labels[at].tolist(), shown, ind, r.period_type,
            rebases.get((ind.id, r.period_type)),
        )
        if rule is not None:
            _disclose_profile_row(out[-1], ps, me, rule)
    frame = pd.DataFrame(out, columns=list(note_columns(PROFILE_COLUMNS)))
    frame = frame.sort_values(["domain", "indicator_id"], na_position="last", kind="stable")
    return Profile(org, f"all {org.org_type} organisations", conf, level,
                   frame.reset_index(drop=True))


@dataclass(frozen=True)
class Triage:
    """Indicators x member organisations of a network with the flags that matter.

    ``rows``: :data:`TRIAGE_COLUMNS` (one per indicator and member; ``flags`` lists
    ``significantly_worse``, ``special_cause_concern``, ``failing_target``);
    ``summary``: per indicator the network's pooled value, the national pooled benchmark and
    the number of members with each flag, most flagged first.
    """

    parent: OrgRef
    member_type: str
    members: pd.DataFrame  # code, name
    rows: pd.DataFrame
    summary: pd.DataFrame


def triage(
    conn: Conn,
    code: str,
    *,
    indicators: list[str] | None = None,
    period_type: str | None = None,
    confidence: float = 95.0,
) -> Triage:
    """For a network (PCN, ICB ...) ``code``: every indicator at its latest period for the
    member organisations (the lowest level below it), each member compared with all
    organisations of its type nationally, its latest SPC point, and its target status."""
    from core.services.values import check_confidence

    conf = check_confidence(confidence)
    check_period_type(period_type)
    parent = get_org(conn, code)
    mtype, members = _network_members(conn, parent)
    mids = [int(r[0]) for r in members]
    own = _org_values(conn, mids, indicators)
    if indicators:
        _check_indicators(conn, indicators)
    member_frame = pd.DataFrame(
        [(r[1], r[2]) for r in sorted(members, key=lambda r: r[1])], columns=["code", "name"]
    )
    if own.empty:
        return Triage(parent, mtype or "", member_frame,
                      pd.DataFrame(columns=list(note_columns(TRIAGE_COLUMNS))), pd.DataFrame())
    chosen = _chosen_periods(own, None, period_type)
    where = _series_index(own)
    metas = {m.id: m for m in list_indicator_meta(conn)}
    pairs = [(r.indicator_id, int(r.period_id)) for r in chosen.itertuples()]
    all_stats = peer_stats(conn, metas, pairs, mtype or "", conf)
    names = {int(r[0]): (r[1], r[2]) for r in members}
    # one query for every indicator's accepted rebases, not one per indicator
    rebases = network_rebase_periods(conn, mids, [p[0] for p in pairs])
    rule = active_rule()
    out, summary = [], []
    for ps, r in zip(all_stats, chosen.itertuples(), strict=True):
        ind = metas[r.indicator_id]
        pv = ps.raw
        if not len(pv["org_id"]):
            continue
        # disclosure control: members whose counts are suppressed show no value or flag
        hidden = count_mask(rule, pv)[0] if rule is not None else np.zeros(len(pv["org_id"]),
                                                                             dtype=bool)
        bench = None if rule is not None and pooled_hidden(
            ps.engine["numerator"], ps.engine["denominator"], rule) else _nz(ps.pooled)
        value, lower, upper = ps.value, ps.lower, ps.upper
        comparison = ps.comparison
        meets_all = ps.meets_target
        # the members, in code order
        pos = sorted(np.flatnonzero(np.isin(pv["org_id"], mids)).tolist(),
                     key=lambda i: names[int(pv["org_id"][i])][0])
        series = own.iloc[where[(ind.id, r.period_type)]]
        icons = latest_icons(
            with_intervals(series, ind, 95.0)[["org_id", "period", "value"]], ind,
            r.period_type, rebases=rebases.get((ind.id, r.period_type), {}),
        ).to_dict("index")
        rows = []
        for i in pos:
            oid = int(pv["org_id"][i])
            row = _member_row(icons.get(oid, {}), meets_all[i], comparison[i], bool(hidden[i]))
            rows.append({
                "indicator_id": ind.id, "indicator_name": ind.name, "period": r.period,
                "org_code": names[oid][0], "org_name": names[oid][1],
                "value": None if hidden[i] else _nz(value[i]),
                "lower_ci": None if hidden[i] else _nz(lower[i]),
                "upper_ci": None if hidden[i] else _nz(upper[i]),
                "benchmark": bench,
                "comparison": "not_compared" if hidden[i] else str(comparison[i]),
                **row,
            })
            if rule is not None:
                rows[-1][NOTE_COLUMN] = SUPPRESSED_NOTE if hidden[i] else None
        out += rows
        summary.append({
            "indicator_id": ind.id, "indicator_name": ind.name, "period": r.period,
            "network_value": _nz(_network_value(ind, pv, mids, rule)), "benchmark": bench,
            "target": ind.target, "members": len(pos),
            **{flag: int(sum(x[flag] for x in rows)) for flag in _TRIAGE_FLAGS},
        })
    rows_frame = pd.DataFrame(out, columns=list(note_columns(TRIAGE_COLUMNS)))
    return Triage(parent, mtype or "", member_frame, rows_frame, _most_flagged_first(summary))


#: the flags of a member's triage row, in the order ``flags`` lists them
_TRIAGE_FLAGS = ("significantly_worse", "special_cause_concern", "failing_target")


def _network_members(conn: Conn, parent: OrgRef) -> tuple[str | None, list[Any]]:
    """The organisation type of a network's members (the lowest type with active
    organisations below it) and those members' ``(id, code, name, org_type)`` rows."""
    below = descendant_ids(conn, parent.id)
    if not below:
        raise InvalidParameter(
            "code", f"{parent.code} ({parent.name}) has no member organisations to triage"
        )
    member_rows = conn.execute(
        select(Organisation.id, Organisation.code, Organisation.name, Organisation.org_type)
        .where(Organisation.id.in_(below), Organisation.is_active.is_(True))
    ).all()
    counts: dict[str, int] = {}
    for r in member_rows:
        counts[r[3]] = counts.get(r[3], 0) + 1
    mtype = lowest_type(counts)
    return mtype, [r for r in member_rows if r[3] == mtype]


def _check_indicators(conn: Conn, indicators: list[str]) -> None:
    """:class:`NotFound` naming the indicators asked for that do not exist."""
    metas_all = {m.id: m for m in list_indicator_meta(conn)}
    unknown = [i for i in indicators if i not in metas_all]
    if unknown:
        raise NotFound(
            f"unknown indicator(s) {', '.join(unknown)}; known: {', '.join(metas_all)}",
            entity="indicator", key=unknown[0], valid=list(metas_all),
        )


def _member_row(icon: dict[str, Any], meets_target: Any, comparison: Any,
                hidden: bool) -> dict[str, Any]:
    """A member's SPC, target and comparison columns and its flags (none when its counts
    are hidden by disclosure control)."""
    meets = None if meets_target is None else bool(meets_target)
    var = icon.get("variation")
    var = var if isinstance(var, str) else None
    special = icon.get("special_cause")
    assurance = icon.get("assurance")
    assurance = assurance if isinstance(assurance, str) else None
    concern = bool(var and var.startswith("concern"))
    worse = comparison == "worse"
    if hidden:
        var = special = meets = assurance = None
        concern = worse = False
    failing = meets is False
    on = {"significantly_worse": bool(worse), "special_cause_concern": concern,
          "failing_target": failing}
    return {
        "spc_variation": var,
        "spc_special_cause": special if isinstance(special, str) else None,
        "spc_assurance": assurance, "meets_target": meets, **on,
        "flags": [f for f in _TRIAGE_FLAGS if on[f]],
    }


def _network_value(ind: IndicatorMeta, pv: dict[str, np.ndarray], mids: list[int],
                   rule: Any) -> float:
    """The network's pooled value (ratio of sums over its members with values); NaN for
    a mean, or when disclosure control hides the network's own small counts."""
    keep = np.isin(pv["org_id"], mids) & ~pv["suppressed"]
    net_value = stats.pooled_value(
        pv["numerator"][keep], pv["denominator"][keep], multiplier=ind.multiplier,
    ) if ind.value_type != "mean" else float("nan")
    if rule is not None and count_mask(rule, {
            "numerator": [pv["numerator"][keep].sum()],
            "denominator": [pv["denominator"][keep].sum()]})[0][0]:
        net_value = float("nan")  # the network's own counts are small
    return net_value


def _most_flagged_first(summary: list[dict[str, Any]]) -> pd.DataFrame:
    """The per-indicator summary with ``flagged`` (the flags counted), most flagged first."""
    sm = pd.DataFrame(summary)
    if not sm.empty:
        sm["flagged"] = sm[list(_TRIAGE_FLAGS)].sum(axis=1)
        sm = sm.sort_values(["flagged", "indicator_id"], ascending=[False, True])
    return sm.reset_index(drop=True)


__all__ = ["LEVELS", "PROFILE_COLUMNS", "TRIAGE_COLUMNS", "Profile", "Triage", "profile",
           "triage"]
