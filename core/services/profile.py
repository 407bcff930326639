"""Profile of one organisation (every indicator) and the network triage table.

Both read set-based: one query for the organisation's (or network's) series and one for the
peer values of each indicator (cached per load version: only a load or a revert changes them,
:func:`core.services.version.load_version`; kept an hour at most). The triage then runs the
engine per indicator (:func:`core.stats.peer_comparison`, :func:`core.stats.opportunity`,
:func:`core.stats.xmr_batch`); the profile keeps only a summary of each indicator's peers
(:class:`PeerSummary`) and computes its rows for every indicator at once, with the same rules
(1,000 indicators: about 0.4 s warm, against 19 s for a loop per indicator; see
docs/benchmarks.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal, overload

import numpy as np
import pandas as pd
from sqlalchemy import func, select

from core import stats
from core.errors import InvalidParameter, NotFound
from core.models import Indicator, IndicatorValue, Load, Organisation, Period
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
from core.services.values import (
    fetch_pair_arrays,
    fetch_value_arrays,
    interval_arrays,
    pair_fingerprints,
    with_intervals,
)
from core.stats.disclosure import disclose

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


def _peer_ids(conn: Conn, org_type: str, active_only: bool) -> np.ndarray:
    """Ids of the organisations of ``org_type`` (the active ones), ascending."""
    who = select(Organisation.id).where(Organisation.org_type == org_type)
    if active_only:
        who = who.where(Organisation.is_active.is_(True))
    return np.array(sorted(r[0] for r in fetch_all(conn, who)), dtype=np.int64)


@overload
def _peer_columns(
    conn: Conn, pairs: list[tuple[str, int]], org_type: str, active_only: bool = ...,
    published: str = ..., fingerprints: Literal[False] = ...,
) -> Iterator[dict[str, np.ndarray]]: ...


@overload
def _peer_columns(
    conn: Conn, pairs: list[tuple[str, int]], org_type: str, active_only: bool = ...,
    published: str = ..., *, fingerprints: Literal[True],
) -> Iterator[tuple[dict[str, np.ndarray], tuple[int, int]]]: ...


def _peer_columns(
    conn: Conn, pairs: list[tuple[str, int]], org_type: str, active_only: bool = True,
    published: str = "all", fingerprints: bool = False,
) -> Iterator[Any]:
    """The values of every organisation of ``org_type`` for each (indicator, period) pair:
    one dict of numpy columns (:data:`_PEER_COLUMNS`) per pair, in organisation id order,
    yielded pair by pair (a profile of 1,000 indicators would otherwise hold 6.4M peer values
    at once). Only the numbers are read: a profile needs no peer names.

    One index range per pair, fetched as the comparison fetches it
    (:func:`core.services.values.fetch_value_arrays`: on PostgreSQL one packed binary value
    per pair that numpy reads in place). A national profile (20 pairs, 128,000 values) took
    0.64 s when the rows came back as tuples of one UNION ALL; about a quarter of that now.
    ``published="without_counts"``: the stored value and interval only of rows without counts
    (all a :class:`PeerSummary` reads of them; see :func:`fetch_value_arrays`).
    ``fingerprints``: each pair's columns come with its fingerprint as of the same read
    (:func:`core.services.values.fetch_pair_arrays`).
    """
    if not pairs:
        return
    peer_ids = _peer_ids(conn, org_type, active_only)
    no_jit(conn)
    for indicator_id, period_id in pairs:
        fp: tuple[int, int] | None = None
        if fingerprints:
            org_ids, values, suppressed, fp = fetch_pair_arrays(conn, indicator_id, period_id,
                                                                published)
        else:
            org_ids, values, suppressed = fetch_value_arrays(conn, indicator_id, period_id,
                                                             None, published)
        keep = np.isin(org_ids, peer_ids)
        order = np.flatnonzero(keep)[np.argsort(org_ids[keep], kind="stable")]
        cols = {"org_id": org_ids[order], "suppressed": suppressed[order].astype(bool)}
        for i, name in enumerate(_PEER_COLUMNS[1:6]):  # values: (rows, 5), as fetched
            cols[name] = np.ascontiguousarray(values[order, i], dtype=float)
        yield (cols, fp) if fingerprints else cols


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
    same for every member's profile, so it is computed once per load version and cached
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
    ``org_type``: from the cache of this load version where it has them, the rest fetched
    (:func:`_peer_columns`) and computed. Every profile of a practice needs the same 20 or
    so national comparisons; a profile after the first reads them from here (a national
    profile: about 0.4 s cold, a few tens of ms warm)."""
    from core.services.version import PEER_TTL, engine_cache, load_version

    cache = engine_cache(conn, "peer_stats", maxsize=256, maxbytes=128 * 2**20, ttl=PEER_TTL)
    version = load_version(conn)
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


#: the opportunity levels read from the peers' values, in percent (for higher is better)
_LEVEL_PERCENT = {"median": 50.0, "upper_quartile": 75.0, "best_decile": 90.0}


@dataclass
class PeerSummary:
    """What a member's profile reads of one indicator and period over every organisation of
    a type, the same for every member, so computed once per load version and cached
    (:func:`peer_summaries`): the peers' values from counts, ascending (a member's rank and
    percentile are its place among them), the pooled benchmark, the quartiles, the values of
    the opportunity levels and the peers' range; under disclosure control also the values of
    the peers that are shown, their quartiles and range, and whether the benchmark rests on
    suppressed sums. About 8 bytes a peer (16 under disclosure control): 1,000 indicators of
    6,400 practices fit in 50-100 MB, where :class:`PeerStats` takes about 120 bytes a peer.

    A member's own row is computed from its own counts (:func:`_own_engine`) with the
    engine's rules (:func:`core.stats.compare_arrays`, :func:`core.stats.opportunity`,
    :func:`core.services.disclosure.rerank`), which give each organisation's columns from
    its own value and these summaries of the others."""

    sorted_value: np.ndarray  # the engine's values (from counts), ascending
    pooled: float
    quartiles: tuple[float, float, float]
    n: int
    peer_min: float | None  # of the values shown (published values too), as PeerStats
    peer_max: float | None
    levels: dict[str, float]  # opportunity level -> its value; empty without opportunity
    # under a disclosure rule (the cache keys the rule)
    hidden_any: bool = False
    shown_sorted: np.ndarray | None = None  # the engine's values of the shown peers
    shown_quartiles: tuple[float | None, ...] = ()
    benchmark_hidden: bool = False
    shown_min: float | None = None
    shown_max: float | None = None
    # what it was built from (see :func:`peer_summaries`): the pair's fingerprint and the
    # loads of organisations and indicators then
    fingerprint: tuple[int, int] = (-1, -1)
    reference: tuple[Any, ...] = ()

    @property
    def nbytes(self) -> int:
        """About what the entry holds in memory (for the cache's byte bound)."""
        shown = self.shown_sorted
        extra = shown.nbytes if shown is not None and shown is not self.sorted_value else 0
        return int(self.sorted_value.nbytes + extra) + 400


def _make_summary(ind: IndicatorMeta, pv: dict[str, np.ndarray], rule: Any) -> PeerSummary:
    """:class:`PeerSummary` of one indicator's peer columns (:func:`_peer_columns`), by the
    rules of :func:`_make_stats` and :func:`_disclose_profile_row`."""
    sup = pv["suppressed"]
    num = np.where(sup, np.nan, pv["numerator"])
    den = np.where(sup, np.nan, pv["denominator"])
    a = stats.compare_arrays(num, den, polarity=ind.polarity, value_type=ind.value_type,
                             multiplier=ind.multiplier, target=ind.target)
    # the value shown: from counts, else the published one (it does not depend on the
    # confidence); the peers' range is over these, as a comparison shows them
    value = a.value
    no_counts = ~np.isfinite(value)
    if no_counts.any():
        published = _shown(ind, 95.0, pv, np.arange(len(sup)))[0]
        value = np.where(no_counts, published, value)
    sorted_value = np.sort(a.value[a.has])
    finite = np.isfinite(value)
    vals = value[finite]
    levels: dict[str, float] = {}
    if ind.polarity != "no_judgement" and ind.value_type != "mean":
        sign = 1 if ind.polarity == "higher_is_better" else -1
        for level, pct in _LEVEL_PERCENT.items():
            levels[level] = (float(np.percentile(sorted_value, pct if sign > 0 else 100.0 - pct))
                             if sorted_value.size else float("nan"))
        if ind.target is not None:
            levels["target"] = float(ind.target)
    out = PeerSummary(
        sorted_value=sorted_value, pooled=float(a.pooled), quartiles=a.quartiles, n=a.n,
        peer_min=_nz(vals.min()) if vals.size else None,
        peer_max=_nz(vals.max()) if vals.size else None, levels=levels,
    )
    if rule is not None:
        hidden, _ = count_mask(rule, pv)
        shown = value[finite & ~hidden]
        out.hidden_any = bool(hidden.any())
        out.shown_sorted = np.sort(a.value[a.has & ~hidden]) if out.hidden_any else sorted_value
        out.shown_quartiles = tuple(_nz(q) for q in shown_quantiles(value, hidden,
                                                                     (25, 50, 75)))
        out.benchmark_hidden = pooled_hidden(num, den, rule)
        out.shown_min = _nz(shown.min()) if shown.size else None
        out.shown_max = _nz(shown.max()) if shown.size else None
    return out


def peer_summaries(
    conn: Conn, metas: dict[str, IndicatorMeta], pairs: list[tuple[str, int]], org_type: str,
    active_only: bool = True, *, max_age: float | None = None,
) -> list[PeerSummary]:
    """:class:`PeerSummary` of each (indicator, period) pair over the organisations of
    ``org_type``, under the disclosure rule in force: from the cache of this load version
    where it has them, the rest fetched (:func:`_peer_columns`, one pair at a time) and
    summarised. Every practice's profile needs the same national summaries; a profile after
    the first reads them all from here (or from the warmer's work: :mod:`core.services.warm`,
    which passes ``max_age`` to read again those older than that)."""
    from core.services.disclosure import rule_key
    from core.services.version import PEER_TTL, engine_cache, load_version

    # 1,000 indicators x a few period kinds; about 50 kB each for 6,400 practices
    cache = engine_cache(conn, "peer_summary", maxsize=8192, maxbytes=256 * 2**20,
                         ttl=PEER_TTL)
    version = load_version(conn)
    rule, key = active_rule(), rule_key()
    keys = [(ind_id, period_id, org_type, active_only, key) for ind_id, period_id in pairs]
    found: list[PeerSummary | None] = [cache.get(k, version, keep_stale=True, max_age=max_age)
                                       for k in keys]
    missing = [i for i, f in enumerate(found) if f is None]
    if not missing:
        return [f for f in found if f is not None]
    reference = reference_loads(conn)
    # a load since: the summaries of the pairs it did not change still hold
    stale = {i: old for i in missing
             if (old := cache.peek(keys[i], max_age=max_age)) is not None
             and old.reference == reference}
    if stale:
        now = pair_fingerprints(conn, [pairs[i] for i in stale])
        for (i, old), fp in zip(stale.items(), now, strict=True):
            if old.fingerprint == fp:
                cache.put(keys[i], version, old, old.nbytes)
                found[i] = old
        missing = [i for i in missing if found[i] is None]
    # a summary reads the stored value and interval only where there are no counts (a
    # value from counts wins; a suppressed row has none): about 1 ms less a pair
    fetched = _peer_columns(conn, [pairs[i] for i in missing], org_type, active_only,
                            published="without_counts", fingerprints=True)
    for i, (pv, fp) in zip(missing, fetched, strict=True):
        made = _make_summary(metas[pairs[i][0]], pv, rule)
        made.fingerprint, made.reference = fp, reference
        cache.put(keys[i], version, made, made.nbytes)
        found[i] = made
    return [f for f in found if f is not None]


def reference_loads(conn: Conn) -> tuple[Any, ...]:
    """How many loads of organisations and indicators have finished, and the last one: what
    a peer summary rests on besides its pair's values (the peers' types and whether they
    are open; the indicator's polarity, multiplier and target). Such a load cannot be
    reverted, so this grows with each one."""
    row = conn.execute(select(func.count(), func.max(Load.id)).where(
        Load.kind != "values", Load.finished_at.is_not(None))).one()
    return tuple(row)


def _shown(
    ind: IndicatorMeta, conf: float, cols: dict[str, np.ndarray], at: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`core.services.values.interval_arrays` of the rows ``at`` of stored columns
    (:data:`_PEER_COLUMNS`): the value and interval shown."""
    return interval_arrays(ind, conf, cols["numerator"][at], cols["denominator"][at],
                           cols["value"][at], cols["lower_ci"][at], cols["upper_ci"][at],
                           cols["suppressed"][at])


def _own_engine(
    metas: list[IndicatorMeta], cols: dict[str, np.ndarray], conf: float
) -> tuple[np.ndarray, ...]:
    """The engine's value, lower and upper of the organisation's own row of each indicator
    (``cols``: its stored columns, one element per indicator) from its counts
    (:func:`core.stats.compare_arrays`' intervals: suppressed rows have none), and the value
    and interval shown (the published ones where there are no counts, as
    :func:`_engine_compare`). One engine call per kind of indicator (value type and
    multiplier), not one per indicator: the arithmetic is element by element."""
    from core.stats.intervals import interval_arrays as engine_intervals

    n = len(metas)
    v, lo, hi = (np.full(n, np.nan) for _ in range(3))
    sv, slo, shi = (np.full(n, np.nan) for _ in range(3))
    sup = cols["suppressed"]
    kinds: dict[tuple[str, float], list[int]] = {}
    for i, m in enumerate(metas):
        kinds.setdefault((m.value_type, float(m.multiplier)), []).append(i)
    for (value_type, multiplier), at_list in kinds.items():
        at = np.array(at_list)
        num = np.where(sup[at], np.nan, cols["numerator"][at])
        den = np.where(sup[at], np.nan, cols["denominator"][at])
        v[at], lo[at], hi[at] = engine_intervals(value_type, num, den,
                                                 confidence=conf / 100.0,
                                                 multiplier=multiplier)
        sv[at], slo[at], shi[at] = v[at], lo[at], hi[at]
        no_counts = at[~np.isfinite(v[at])]
        if no_counts.size:
            sv[no_counts], slo[no_counts], shi[no_counts] = _shown(
                metas[at_list[0]], conf, cols, no_counts)
    return v, lo, hi, sv, slo, shi


def _summary_row(
    ind: IndicatorMeta, r: Any, ps: PeerSummary, raw: tuple[float, float],
    engine: tuple[float, float, float], shown: tuple[float, float, float], level: str,
) -> dict[str, Any]:
    """One profile row from the organisation's own columns and the peers' summary: the
    columns :func:`_profile_row` reads from the peers' arrays at the organisation's
    position, computed by the same rules (:func:`core.stats.compare_arrays`: SQL ``RANK``,
    percent rank, comparison of the interval with the pooled benchmark, target;
    :func:`core.stats.opportunity`: the gap to the level times the denominator)."""
    v, lo, hi = engine
    has = bool(np.isfinite(v))
    sign = {"higher_is_better": 1, "lower_is_better": -1}.get(ind.polarity, 0)
    s = ps.sorted_value
    rank = percentile = None
    comparison = "not_compared"
    meets = None
    if has:
        asc = int(np.searchsorted(s, v, side="left")) + 1.0
        desc = float(s.size - int(np.searchsorted(s, v, side="right")) + 1)
        rank = int(desc if sign >= 0 else asc)
        percentile = _nz((asc - 1.0) / (ps.n - 1) * 100.0 if ps.n > 1 else 0.0)
        if sign != 0 and np.isfinite(ps.pooled) and np.isfinite(lo) and np.isfinite(hi):
            comparison = "similar"
            if lo > ps.pooled:
                comparison = "better" if sign > 0 else "worse"
            if hi < ps.pooled:
                comparison = "worse" if sign > 0 else "better"
        if ind.target is not None and sign != 0:
            meets = bool(v >= ind.target) if sign > 0 else bool(v <= ind.target)
    opp_value = None
    lev = ps.levels.get(level)
    if lev is not None:
        worse = has and ((v < lev) if sign > 0 else (v > lev))
        # engine denominator: none in a suppressed row
        den = raw[1] if has else float("nan")
        opp_value = _nz(abs(lev - v) * den / float(ind.multiplier) if worse else 0.0)
    return {
        "indicator_id": ind.id, "indicator_name": ind.name, "domain": ind.domain,
        "polarity": ind.polarity, "unit": ind.unit, "decimals": ind.decimals,
        "period": r.period, "period_type": r.period_type,
        "numerator": _nz(raw[0]), "denominator": _nz(raw[1]),
        "value": _nz(shown[0]), "lower_ci": _nz(shown[1]), "upper_ci": _nz(shown[2]),
        "benchmark": _nz(ps.pooled), "comparison": comparison,
        "rank": rank, "n_peers": ps.n, "percentile": percentile,
        "peer_min": ps.peer_min,
        "peer_q1": _nz(ps.quartiles[0]), "peer_median": _nz(ps.quartiles[1]),
        "peer_q3": _nz(ps.quartiles[2]),
        "peer_max": ps.peer_max,
        "target": ind.target, "meets_target": meets,
        "spc_variation": None, "spc_assurance": None,
        "opportunity_level": level if opp_value is not None else None,
        "opportunity": opp_value,
    }


def _disclose_summary_row(
    row: dict[str, Any], ps: PeerSummary, engine_value: float, suppressed: bool,
    counts: tuple[float, float], opportunity: float, polarity: str,
) -> None:
    """:func:`_disclose_profile_row` on a row of :func:`_summary_row`: ``suppressed`` and
    ``counts`` are the row's count mask and disclosed counts, ``opportunity`` its disclosed
    opportunity (:func:`core.services.disclosure.count_mask` and
    :func:`core.stats.disclosure.disclose`, element by element, over every row at once).
    The rank and percentile among the shown peers (:func:`rerank`) are the organisation's
    place among their values: a rank counts the peers with a better value, a percentile
    the peers with a lower one."""
    row["numerator"], row["denominator"] = (_nz(c) for c in counts)
    note = None
    if suppressed:
        for c in _PROFILE_BLANK:
            row[c] = None
        row["comparison"] = "not_compared"
        note = SUPPRESSED_NOTE
    elif row["opportunity"] is not None:
        row["opportunity"] = _nz(opportunity)
        if row["opportunity"] is None:
            row["opportunity_level"] = None
            note = SUPPRESSED_NOTE
    row[NOTE_COLUMN] = note
    if not suppressed and ps.hidden_any and np.isfinite(engine_value):
        s = ps.shown_sorted
        assert s is not None
        below = int(np.searchsorted(s, engine_value, side="left"))
        above = s.size - int(np.searchsorted(s, engine_value, side="right"))
        row["rank"] = 1 + (above if polarity != "lower_is_better" else below)
        row["percentile"] = _nz(np.float64(below) / max(s.size - 1, 1) * 100.0)
    if ps.hidden_any:
        row["peer_q1"], row["peer_median"], row["peer_q3"] = ps.shown_quartiles
    if ps.benchmark_hidden:
        row["benchmark"] = None
    row["peer_min"], row["peer_max"] = ps.shown_min, ps.shown_max


#: PostgreSQL: every value of one organisation packed into one bytea, 53 bytes a row (int4
#: indicator key and period id, five float8 with NULL as NaN, a bool), by one aggregate over
#: the organisation index (as :func:`core.services.values.fetch_value_arrays` packs a period)
_OWN_PACKED_SQL = (
    "SELECT string_agg(int4send(ikey::int4) || int4send(period_id::int4) || "
    "float8send(coalesce(numerator, 'NaN')) || float8send(coalesce(denominator, 'NaN')) || "
    "float8send(coalesce(value, 'NaN')) || float8send(coalesce(lower_ci, 'NaN')) || "
    "float8send(coalesce(upper_ci, 'NaN')) || boolsend(coalesce(suppressed, false)), '') "
    "FROM indicator_values WHERE org_id = %s"
)
_OWN_PACKED_ROW = np.dtype([("ikey", ">i4"), ("period_id", ">i4"), ("values", ">f8", 5),
                            ("suppressed", "u1")])


@dataclass
class _Own:
    """Every value of one organisation as columns (one element per value, in the order the
    database returned them), with its indicator and period as positions into ``indicators``
    and the periods' columns (``labels``, ``types``, ``end``: ordinal end dates, ``fine``,
    ``start``: ordinal start dates)."""

    indicators: list[str]
    ind: np.ndarray
    period_pos: np.ndarray
    period_ids: np.ndarray
    labels: np.ndarray
    types: np.ndarray
    end: np.ndarray
    fine: np.ndarray
    start: np.ndarray
    cols: dict[str, np.ndarray]  # _PEER_COLUMNS[1:]: numerator ... upper_ci, suppressed

    def __len__(self) -> int:
        return len(self.ind)

    def label(self) -> np.ndarray:
        """The period label of each value."""
        return self.labels[self.period_pos]

    def type_(self) -> np.ndarray:
        """The period type of each value."""
        return self.types[self.period_pos]


@dataclass(frozen=True)
class _Chosen:
    """The period of one profile row (what the rows read of the chosen period)."""

    period: str
    period_type: str


def _own_arrays(conn: Conn, org_id: int) -> _Own:
    """:func:`_org_values` of one organisation as numpy columns (:class:`_Own`): on
    PostgreSQL one packed binary value that numpy reads in place, elsewhere the rows in one
    conversion. A practice with 1,000 indicators x 120 months (120,000 values) took about
    0.9 s through the frame (tuples, then columns, then pandas groupings); about a tenth of
    that now."""
    from core.models import indicator_slugs
    from core.services.version import driver_rows

    c = core_conn(conn)
    if c.dialect.name == "postgresql" and c.dialect.driver == "psycopg":
        rec = np.frombuffer(driver_rows(c, _OWN_PACKED_SQL, [org_id])[0][0] or b"",
                            dtype=_OWN_PACKED_ROW)
        ikeys = rec["ikey"].astype(np.int64)
        pids = rec["period_id"].astype(np.int64)
        values = rec["values"].astype(float)
        sup = rec["suppressed"] > 0
    else:
        rows = fetch_all(conn, select(
            IndicatorValue.ikey, IndicatorValue.period_id, IndicatorValue.numerator,
            IndicatorValue.denominator, IndicatorValue.value, IndicatorValue.lower_ci,
            IndicatorValue.upper_ci, IndicatorValue.suppressed,
        ).where(IndicatorValue.org_id == org_id))
        # one C-level conversion (None -> NaN; SQLite's 0/1 booleans -> 0.0/1.0)
        m = np.array(rows, dtype=float).reshape(len(rows), 8)
        ikeys, pids = m[:, 0].astype(np.int64), m[:, 1].astype(np.int64)
        values, sup = m[:, 2:7], np.nan_to_num(m[:, 7]) > 0
    slugs = indicator_slugs(c)
    ukeys, ind = np.unique(ikeys, return_inverse=True)
    upids, period_pos = np.unique(pids, return_inverse=True)
    prows = {int(r[0]): r for r in fetch_all(conn, select(
        Period.id, Period.label, Period.period_type, Period.start_date, Period.end_date,
    ).where(Period.id.in_(upids.tolist())))} if len(upids) else {}
    labels = np.array([str(prows[p][1]) for p in upids.tolist()], dtype=object)
    types = np.array([str(prows[p][2]) for p in upids.tolist()], dtype=object)
    cols = {name: np.ascontiguousarray(values[:, i]) for i, name in
            enumerate(_PEER_COLUMNS[1:6])}
    cols["suppressed"] = sup
    return _Own(
        indicators=[slugs[int(k)] for k in ukeys.tolist()],
        ind=ind.reshape(-1), period_pos=period_pos.reshape(-1), period_ids=upids,
        labels=labels, types=types,
        end=np.array([_ordinal(prows[p][4]) for p in upids.tolist()], dtype=np.int64),
        fine=np.array([FINENESS.get(t, 9) for t in types.tolist()], dtype=np.int64),
        # as _latest_icon orders a series: by the start of the period its label names
        start=np.array([parse_period(lab, t).start.toordinal()
                        for lab, t in zip(labels.tolist(), types.tolist(), strict=True)],
                       dtype=np.int64),
        cols=cols,
    )


def _ordinal(d: Any) -> int:
    """A date (or a SQLite ISO text) as a day number."""
    import datetime as dt

    if isinstance(d, str):
        d = dt.date.fromisoformat(d[:10])
    return int(d.toordinal())


def _own_chosen(own: _Own, period: str | None, period_type: str | None) -> np.ndarray:
    """:func:`_chosen_periods` on :class:`_Own`: per indicator, the row of ``period`` when
    given, else of the latest period (latest end date; the finest kind on a tie; the first
    row on a full tie, as the frame's stable sort kept it), in indicator key order."""
    keep = np.ones(len(own), dtype=bool)
    if period_type is not None:
        keep &= own.type_() == period_type
    if period is not None:
        keep &= own.label() == period
    rows = np.flatnonzero(keep)
    pp = own.period_pos[rows]
    order = np.lexsort((rows, own.fine[pp], -own.end[pp], own.ind[rows]))
    rows = rows[order]
    first = np.ones(len(rows), dtype=bool)
    first[1:] = own.ind[rows[1:]] != own.ind[rows[:-1]]
    return rows[first]


def _own_series(own: _Own, chosen: np.ndarray) -> list[np.ndarray]:
    """For each chosen row, the rows of its indicator's series of the same period type,
    ordered by the periods' start (one stable sort of every row, then slices)."""
    type_code = np.unique(own.types, return_inverse=True)[1].reshape(-1)  # per period
    key = own.ind * max(len(own.types), 1) + type_code[own.period_pos]
    order = np.lexsort((own.start[own.period_pos], key))
    sorted_key = key[order]
    want = key[chosen]
    lo = np.searchsorted(sorted_key, want, side="left")
    hi = np.searchsorted(sorted_key, want, side="right")
    return [order[a:b] for a, b in zip(lo.tolist(), hi.tolist(), strict=True)]


def _own_icons(
    own: _Own, series: list[np.ndarray], inds: list[IndicatorMeta], period_types: list[str],
    rebases: dict[tuple[str, str], list[str]],
) -> list[tuple[str | None, str | None]]:
    """The latest SPC variation and assurance of the organisation's series of each
    indicator (``series``: the rows of each, by period start, of its period type), as
    :func:`_latest_icon` gives them one by one, in a few :func:`core.stats.xmr_batch` calls:
    series with the same period kind, first and last period and improvement direction form
    one matrix (each row spans the periods its series alone would: no padding, so each row
    is computed as alone), with a target per row. A series with accepted rebases is judged
    on its own (its limits restart)."""
    from core.services.values import improvement_direction

    cols = own.cols
    shown = np.full(len(own), np.nan)
    kinds: dict[tuple[str, float], list[int]] = {}
    for i, m in enumerate(inds):
        kinds.setdefault((m.value_type, float(m.multiplier)), []).append(i)
    for members in kinds.values():  # the values shown at 95%, element by element
        at = np.concatenate([series[i] for i in members])
        shown[at] = _shown(inds[members[0]], 95.0, cols, at)[0]
    labels = own.labels
    out: list[tuple[str | None, str | None]] = [(None, None)] * len(inds)
    groups: dict[tuple[str, int, int, str], list[int]] = {}
    for i, (ind, pt, at) in enumerate(zip(inds, period_types, series, strict=True)):
        reb = rebases.get((ind.id, pt))
        if reb:  # its own limits: judged alone, as before
            out[i] = _latest_icon(labels[own.period_pos[at]].tolist(), shown[at], ind, pt,
                                  reb)
            continue
        groups.setdefault((pt, int(own.period_pos[at[0]]), int(own.period_pos[at[-1]]),
                           improvement_direction(ind.polarity)), []).append(i)
    for (pt, first, last, _direction), members in groups.items():
        seq = period_sequence(labels[first], labels[last], pt)
        column = {lab: j for j, lab in enumerate(seq)}
        # (a label past period_sequence's 200-year stop is left out, as alone)
        col_of = np.array([column.get(lab, -1) for lab in labels.tolist()], dtype=np.int64)
        at = np.concatenate([series[i] for i in members])
        row = np.repeat(np.arange(len(members)), [len(series[i]) for i in members])
        col = col_of[own.period_pos[at]]
        keep = col >= 0
        matrix = np.full((len(members), len(seq)), np.nan)
        matrix[row[keep], col[keep]] = shown[at][keep]
        targets = [inds[i].target for i in members]
        variation, assurance, _ = latest_judgement(
            matrix, inds[members[0]], targets=None if all(t is None for t in targets)
            else np.array([np.nan if t is None else t for t in targets], dtype=float))
        for r, i in enumerate(members):
            var, ass = variation[r], assurance[r]
            out[i] = ((None if var is None else str(var)), (None if ass is None else str(ass)))
    return out


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


def _closed_rows(conn: Conn, org: OrgRef, inds: list[IndicatorMeta], chosen_rows: list[Any],
                 pairs: list[tuple[str, int]], cols: dict[str, np.ndarray],
                 icons: list[Any], conf: float, level: str, rule: Any
                 ) -> list[dict[str, Any]]:
    """A closed organisation's profile rows: it is compared with the peers plus itself, so
    each indicator gets its own comparison (not cached: they are its alone)."""
    out = []
    fetched = _peer_columns(conn, pairs, org.org_type, True)
    for i, (ind, r, pv) in enumerate(zip(inds, chosen_rows, fetched, strict=True)):
        pv = {c: np.append(a, org.id if c == "org_id" else cols[c][i]) for c, a in pv.items()}
        ps = _make_stats(ind, pv, conf)
        me = len(ps.org_id) - 1
        out.append(_profile_row(ind, r, ps, me, level))
        out[-1]["spc_variation"], out[-1]["spc_assurance"] = icons[i]
        if rule is not None:
            _disclose_profile_row(out[-1], ps, me, rule)
    return out


def _summary_rows(conn: Conn, org: OrgRef, metas: dict[str, IndicatorMeta],
                  inds: list[IndicatorMeta], chosen_rows: list[Any],
                  pairs: list[tuple[str, int]], cols: dict[str, np.ndarray], icons: list[Any],
                  conf: float, level: str, active_only: bool, rule: Any
                  ) -> list[dict[str, Any]]:
    """The profile rows of a member of its peers: its own values against the cached peer
    summaries, disclosure control applied element by element over every row at once."""
    summaries = peer_summaries(conn, metas, pairs, org.org_type, active_only)
    v, lo, hi, sv, slo, shi = _own_engine(inds, cols, conf)
    num, den = cols["numerator"], cols["denominator"]
    out = []
    for i, (ind, r, sm) in enumerate(zip(inds, chosen_rows, summaries, strict=True)):
        out.append(_summary_row(ind, r, sm, (num[i], den[i]), (v[i], lo[i], hi[i]),
                                (sv[i], slo[i], shi[i]), level))
        out[-1]["spc_variation"], out[-1]["spc_assurance"] = icons[i]
    if rule is None:
        return out
    mask, counts = count_mask(rule, {"numerator": num, "denominator": den})
    opportunity = disclose(np.array([np.nan if row["opportunity"] is None
                                     else row["opportunity"] for row in out],
                                    dtype=float), rule).values
    for i, (ind, sm, row) in enumerate(zip(inds, summaries, out, strict=True)):
        _disclose_summary_row(
            row, sm, v[i], bool(mask[i]),
            (counts["numerator"][i], counts["denominator"][i]), opportunity[i],
            ind.polarity)
    return out


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
    own = _own_arrays(conn, org.id)
    if not len(own):
        raise NotFound(
            f"{org.code} ({org.name}) has no indicator values yet",
            entity="values", key=org.code, valid=[],
        )
    if period is not None:
        from core.periods import PeriodError

        labels = {period}
        try:
            labels.add(parse_period(period, period_type).label)
        except PeriodError:
            pass
        hit = np.flatnonzero(np.isin(own.label(), list(labels)))
        if not hit.size:
            # the periods it has, latest first (each once)
            have = list(dict.fromkeys(
                str(x) for x in own.labels[np.argsort(-own.end, kind="stable")]))[:20]
            raise NotFound(
                f"{org.code} has no values in period {period!r}; its periods (latest first): "
                f"{', '.join(have)}",
                entity="period", key=period, valid=have,
            )
        period = str(own.label()[hit[0]])
    chosen = _own_chosen(own, period, period_type)
    metas = {m.id: m for m in list_indicator_meta(conn)}
    inds = [metas[own.indicators[k]] for k in own.ind[chosen].tolist()]
    period_types = [str(t) for t in own.type_()[chosen]]
    chosen_rows = [_Chosen(own.labels[p], own.types[p])
                   for p in own.period_pos[chosen].tolist()]
    pairs = [(m.id, int(own.period_ids[p]))
             for m, p in zip(inds, own.period_pos[chosen].tolist(), strict=True)]
    rule = active_rule()
    # the organisation's own row of each indicator, as columns (one element per indicator)
    cols = {c: a[chosen] for c, a in own.cols.items()}
    rebases = org_rebase_periods(conn, org.id)  # one query, not one per indicator
    icons = _own_icons(own, _own_series(own, chosen), inds, period_types, rebases)
    if active_only and not org.is_active:
        out = _closed_rows(conn, org, inds, chosen_rows, pairs, cols, icons, conf, level, rule)
    else:
        out = _summary_rows(conn, org, metas, inds, chosen_rows, pairs, cols, icons, conf,
                            level, active_only, rule)
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
