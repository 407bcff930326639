"""Gather the numbers a slide pack shows, through the read services and the statistics engine.

For an organisation and a period this module answers, per indicator, the questions a network
meeting asks: where do we stand against the benchmark (peer comparison, Fingertips rule),
which of our members are outside the funnel's limits, is the trend changing (Making Data Count
XmR), what would reaching the peer median mean in people (GIRFT-style opportunity), and which
loads wrote these numbers. No rendering and no PowerPoint here (see :mod:`exports.pack`).

Who is compared: an organisation with members that have data (a PCN and its practices, an ICB
and its trusts) is shown through its members, highlighted among all peers of the members' type
(or a peer spec such as ``parent:CODE`` / ``group:NAME``); its own value is the ratio of sums of
its members (never an average of percentages). An organisation without such members (a
practice, a trust) is itself highlighted among its peers.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.errors import InvalidParameter, NotFound
from core.models import IndicatorValue, Load
from core.services.base import (
    IndicatorMeta,
    OrgRef,
    PeerSet,
    PeriodRef,
    descendant_ids,
    fetch_values,
    get_indicator,
    get_org,
    improvement_direction,
    lowest_type,
    org_types_with_data,
    periods_with_data,
    resolve_peers,
    values_statement,
    with_intervals,
)
from core.stats import funnel, opportunity, peer_comparison, value_intervals, xmr
from exports import narrative as nv

#: The level opportunity is counted against (GIRFT packs use the median or the upper quartile;
#: the median is the modest, defensible default for a network meeting).
OPPORTUNITY_LEVEL = "median"
#: At most this many indicators in one pack (a meeting cannot discuss more; keeps it fast).
MAX_INDICATORS = 40


@dataclass
class LoadRef:
    """A load behind the numbers: id, file, when it finished, how many values it wrote here."""

    id: int
    file_name: str
    finished_at: dt.datetime | None
    values: int


@dataclass
class IndicatorData:
    """Everything one indicator's slides show."""

    meta: IndicatorMeta
    period: PeriodRef
    peers: PeerSet
    unit_type: str
    peers_frame: pd.DataFrame  # one row per peer: codes, values, intervals, comparison, member
    benchmark: float
    benchmark_label: str
    quartiles: tuple[float, float, float]
    org_value: dict[str, Any]  # value, lower, upper, numerator, denominator, category
    funnel_points: pd.DataFrame | None
    funnel_limits: pd.DataFrame | None
    funnel_centre: float | None
    funnel_overdispersion: bool
    funnel_phi: float | None
    funnel_method: str | None
    spc_frame: pd.DataFrame  # x, period, value, mean, lpl, upl, point_type, segment
    spc_variation: str | None
    spc_assurance: str | None
    spc_points: int
    opportunity_extra: float | None
    opportunity_level: float | None
    member_codes: list[str]
    loads: list[LoadRef] = field(default_factory=list)

    @property
    def members(self) -> pd.DataFrame:
        """The peers rows of the organisation's members (or of the organisation itself)."""
        return self.peers_frame[self.peers_frame["is_member"]]


@dataclass
class PackData:
    """The pack's numbers: the organisation, its indicators, and where each number came from."""

    org: OrgRef
    period_label: str
    indicators: list[IndicatorData]
    made_at: dt.datetime

    @property
    def loads(self) -> list[LoadRef]:
        """Every load behind any number in the pack, newest first, each once."""
        seen: dict[int, LoadRef] = {}
        for ind in self.indicators:
            for ld in ind.loads:
                if ld.id in seen:
                    seen[ld.id].values += ld.values
                else:
                    seen[ld.id] = LoadRef(ld.id, ld.file_name, ld.finished_at, ld.values)
        return sorted(seen.values(), key=lambda x: x.id, reverse=True)


# ---------------------------------------------------------------------------- choosing


def parse_indicator_list(indicators: str | list[str] | tuple[str, ...] | None) -> list[str] | None:
    """``"a,b, c"`` or a list -> ``["a", "b", "c"]`` (None or empty = choose automatically)."""
    if indicators is None:
        return None
    items = indicators.split(",") if isinstance(indicators, str) else list(indicators)
    out: list[str] = []
    for item in items:
        for part in str(item).split(","):
            part = part.strip()
            if part and part not in out:
                out.append(part)
    return out or None


def _scope_ids(session: Session, org: OrgRef) -> list[int]:
    return [org.id, *descendant_ids(session, org.id)]


def indicators_for_org(session: Session, org: OrgRef) -> list[str]:
    """Indicators with any value for the organisation or its members, ordered by domain, id."""
    from core.models import Indicator

    scope = _scope_ids(session, org)
    probe = select(IndicatorValue.id).where(
        IndicatorValue.indicator_id == Indicator.id, IndicatorValue.org_id.in_(scope)
    )
    return list(
        session.execute(
            select(Indicator.id).where(probe.exists()).order_by(Indicator.domain, Indicator.id)
        ).scalars()
    )


# ---------------------------------------------------------------------------- one indicator


def _comparison_of_flag(flag: Any, polarity: str) -> str:
    if not isinstance(flag, str) or not flag:
        return "not_compared"
    if flag == "within":
        return "similar"
    up = flag.startswith("above")
    if polarity == nv.HIGHER:
        return "better" if up else "worse"
    if polarity == nv.LOWER:
        return "worse" if up else "better"
    return "higher" if up else "lower"


def _resolve_period(
    session: Session, meta: IndicatorMeta, period: str | None, scope: list[int]
) -> PeriodRef:
    from core.services.base import resolve_period

    if period is not None:
        return resolve_period(session, meta, period)
    # No period given: the latest period in which the organisation's scope has data.
    mine = periods_with_data(session, meta.id, org_ids=scope)
    if not mine:
        raise NotFound(
            f"{meta.id!r} has no values for this organisation or its members",
            entity="period", key=None, valid=[],
        )
    return max(mine, key=lambda p: (p.end_date, -len(p.label)))


def gather_indicator(
    session: Session,
    org: OrgRef,
    indicator_id: str,
    *,
    period: str | None = None,
    peers: str | None = None,
) -> IndicatorData:
    """The numbers behind one indicator's slides for ``org`` (see the module docstring)."""
    meta = get_indicator(session, indicator_id)
    scope = _scope_ids(session, org)
    pref = _resolve_period(session, meta, period, scope)

    below = scope[1:]
    counts = org_types_with_data(session, meta.id, pref.id, org_ids=below) if below else {}
    if counts:
        unit_type = lowest_type(counts) or org.org_type
        member_ids = set(below)
    else:
        unit_type, member_ids = org.org_type, {org.id}
    peer_set = resolve_peers(session, meta, pref, peers, org_type=unit_type)
    frame, peer_set = fetch_values(session, meta.id, pref, peer_set)
    assert peer_set is not None
    frame = frame[frame["org_type"] == unit_type].reset_index(drop=True)
    frame["is_member"] = frame["org_id"].isin(member_ids)
    if not frame["is_member"].any():
        # The peer spec left our own members out: add them, they are what the pack is about.
        mine = PeerSet(None, "group", "members", unit_type, tuple(sorted(member_ids)))
        extra, _ = fetch_values(session, meta.id, pref, mine)
        extra["is_member"] = True
        frame = pd.concat([frame, extra], ignore_index=True)
    if not frame["is_member"].any():
        raise NotFound(
            f"{org.code} ({org.name}) has no {meta.id!r} values in {pref.label}",
            entity="value", key=meta.id,
        )

    # Suppressed values are not zeros: they leave the sums and get no value or interval.
    work = frame.copy()
    work.loc[work["suppressed"], ["numerator", "denominator"]] = np.nan
    work = with_intervals(work, meta, 95.0)
    pc = peer_comparison(
        work.assign(numerator=work["numerator"], denominator=work["denominator"]),
        polarity=meta.polarity, value_type=meta.value_type, multiplier=meta.multiplier,
        target=meta.target,
    )
    work["comparison"] = pc.rows["comparison"].to_numpy()
    # Rows with only a published value and interval: judged by the same Fingertips rule.
    no_parts = pc.rows["value"].isna() & work["value"].notna()
    for i in np.flatnonzero(no_parts.to_numpy()):
        work.loc[i, "comparison"] = nv.compare_with_benchmark(
            work.at[i, "value"], work.at[i, "lower"], work.at[i, "upper"], pc.benchmark,
            meta.polarity,
        )
    benchmark, quartiles = float(pc.benchmark), tuple(float(q) for q in pc.quartiles)
    benchmark_label = f"the average of all {pc.n} {nv.org_noun(unit_type)}" \
        if peer_set.kind == "all" else f"the average of {peer_set.label}"

    # The organisation's own value: itself, or the ratio of sums of its members.
    members = work[work["is_member"]]
    if member_ids == {org.id}:
        r = members.iloc[0]
        org_value = {k: float(r[k]) for k in ("value", "lower", "upper", "numerator",
                                                "denominator")}
        org_value["suppressed"] = bool(r["suppressed"])
    else:
        ok = members["numerator"].notna() & members["denominator"].notna()
        num, den = float(members.loc[ok, "numerator"].sum()), float(
            members.loc[ok, "denominator"].sum())
        vi = value_intervals(meta.value_type, [num], [den if den > 0 else np.nan],
                             multiplier=meta.multiplier)
        org_value = {"value": float(vi["value"].iloc[0]), "lower": float(vi["lower"].iloc[0]),
                     "upper": float(vi["upper"].iloc[0]), "numerator": num,
                     "denominator": den, "suppressed": False}
    org_value["category"] = nv.compare_with_benchmark(
        org_value["value"], org_value["lower"], org_value["upper"], benchmark, meta.polarity
    )

    # Funnel over every peer; its flags are counted over the members.
    f_points = f_limits = None
    f_centre = f_phi = None
    f_over, f_method = False, None
    if meta.value_type in ("proportion", "ratio", "rate") and work["denominator"].notna().sum():
        fr = funnel(work["numerator"], work["denominator"], value_type=meta.value_type,
                    multiplier=meta.multiplier, overdispersion=True)
        work["funnel_flag"] = fr.rows["flag"].to_numpy()
        work["funnel_comparison"] = [
            _comparison_of_flag(f, meta.polarity) for f in work["funnel_flag"]
        ]
        f_points = work.assign(value=fr.rows["value"].to_numpy(),
                               comparison=work["funnel_comparison"])
        f_limits, f_centre = fr.limits, float(fr.target)
        f_over, f_phi, f_method = bool(fr.overdispersion), float(fr.phi), fr.method
    else:
        work["funnel_flag"] = None

    # Opportunity against the peer median, summed over the members.
    opp_extra = opp_level = None
    if meta.polarity != nv.NEUTRAL and work["denominator"].notna().any():
        op = opportunity(work, polarity=meta.polarity, value_type=meta.value_type,
                         multiplier=meta.multiplier, level=OPPORTUNITY_LEVEL)
        opp_extra = float(op.rows.loc[work["is_member"].to_numpy(), "extra"].sum())
        opp_level = float(op.level)

    spc_frame, variation, assurance, n_points = _spc(session, meta, pref, org, member_ids)
    loads = _loads(session, meta.id, [pref.id, *spc_frame.attrs.get("period_ids", [])],
                   [int(i) for i in work["org_id"]] + [org.id])
    return IndicatorData(
        meta=meta, period=pref, peers=peer_set, unit_type=unit_type, peers_frame=work,
        benchmark=benchmark, benchmark_label=benchmark_label, quartiles=quartiles,  # type: ignore[arg-type]
        org_value=org_value, funnel_points=f_points, funnel_limits=f_limits,
        funnel_centre=f_centre, funnel_overdispersion=f_over, funnel_phi=f_phi,
        funnel_method=f_method, spc_frame=spc_frame, spc_variation=variation,
        spc_assurance=assurance, spc_points=n_points, opportunity_extra=opp_extra,
        opportunity_level=opp_level,
        member_codes=sorted(members["org_code"].astype(str)), loads=loads,
    )


_POINT_TYPE = {
    "improvement": "special_cause_improvement",
    "concern": "special_cause_concern",
    "neutral": "special_cause_neutral",
}


def _spc(
    session: Session, meta: IndicatorMeta, pref: PeriodRef, org: OrgRef, member_ids: set[int]
) -> tuple[pd.DataFrame, str | None, str | None, int]:
    """The organisation's series up to ``pref`` (ratio of sums over members per period) and
    its XmR chart; fewer than :data:`narrative.SPC_MIN_POINTS` points get no limits."""
    ids = sorted(member_ids)
    periods = [
        p for p in periods_with_data(session, meta.id, org_ids=ids, period_type=pref.period_type)
        if p.end_date <= pref.end_date
    ]
    scope = PeerSet(None, "group", "members", None, tuple(ids), active_only=False)
    rows = session.execute(
        values_statement(meta.id, [p.id for p in periods], scope).add_columns(
            IndicatorValue.period_id)
    ).all() if periods else []
    f = pd.DataFrame([(r[5], r[6], r[10], r[11]) for r in rows],
                     columns=["numerator", "denominator", "suppressed", "period_id"])
    for c in ("numerator", "denominator"):
        f[c] = pd.to_numeric(f[c], errors="coerce").astype(float)
    f = f[~f["suppressed"].astype(bool)]
    f = f[f["numerator"].notna() & f["denominator"].notna()]
    sums = f.groupby("period_id")[["numerator", "denominator"]].sum()
    by_id = {p.id: p for p in periods}
    series = pd.DataFrame({
        "period_id": [p.id for p in periods],
        "period": [p.label for p in periods],
        "x": [p.start_date for p in periods],
    })
    series = series.merge(sums, left_on="period_id", right_index=True, how="left")
    vi = value_intervals(meta.value_type, series["numerator"].to_numpy(),
                         series["denominator"].to_numpy(), multiplier=meta.multiplier)
    series["value"] = vi["value"].to_numpy()
    series = series[series["value"].notna()].reset_index(drop=True)
    n = len(series)
    variation = assurance = None
    if n >= nv.SPC_MIN_POINTS:
        res = xmr(series["value"].to_numpy(), improvement_direction=improvement_direction(
            meta.polarity), target=meta.target)
        pts = res.points
        series["mean"] = pts["mean"].to_numpy()
        series["lpl"] = pts["lower_limit"].to_numpy()
        series["upl"] = pts["upper_limit"].to_numpy()
        series["point_type"] = [
            _POINT_TYPE.get(str(s), "common_cause") for s in pts["special_cause"]
        ]
        series["segment"] = pts["segment"].to_numpy()
        variation, assurance = res.variation, res.assurance
    else:
        # Too few points for limits: show the values and their mean, judge nothing.
        series["mean"] = float(series["value"].mean()) if n else np.nan
        series["lpl"] = np.nan
        series["upl"] = np.nan
        series["point_type"] = "common_cause"
        series["segment"] = 0
    series.attrs["period_ids"] = [int(i) for i in series["period_id"] if i in by_id]
    return series, variation, assurance, n


def _loads(
    session: Session, indicator_id: str, period_ids: list[int], org_ids: list[int]
) -> list[LoadRef]:
    """The loads that wrote the values shown (one grouped query)."""
    ids = sorted(set(org_ids))
    stmt = (
        select(Load.id, Load.file_name, Load.finished_at, func.count(IndicatorValue.id))
        .join(IndicatorValue, IndicatorValue.load_id == Load.id)
        .where(IndicatorValue.indicator_id == indicator_id,
               IndicatorValue.period_id.in_(sorted(set(period_ids))))
        .group_by(Load.id, Load.file_name, Load.finished_at)
        .order_by(Load.id)
    )
    if len(ids) <= 2000:  # keep the IN list within every backend's parameter limit
        stmt = stmt.where(IndicatorValue.org_id.in_(ids))
    return [LoadRef(int(i), str(f), t, int(c)) for i, f, t, c in session.execute(stmt).all()]


# ---------------------------------------------------------------------------- the pack


def gather_pack(
    session: Session,
    *,
    org_code: str,
    period: str | None = None,
    indicators: str | list[str] | None = None,
    peers: str | None = None,
) -> PackData:
    """The numbers for a whole pack. Raises :class:`core.errors.NotFound` /
    :class:`core.errors.InvalidParameter` with a message that says what to change."""
    org = get_org(session, org_code, parameter="org")
    chosen = parse_indicator_list(indicators)
    if chosen is None:
        chosen = indicators_for_org(session, org)
        if not chosen:
            raise NotFound(
                f"{org.code} ({org.name}) and its members have no indicator values; load "
                "values first (qidash load) or choose another organisation",
                entity="value", key=org.code,
            )
        explicit = False
    else:
        explicit = True
    if len(chosen) > MAX_INDICATORS:
        raise InvalidParameter(
            "indicators",
            f"{len(chosen)} indicators is more than one pack can hold ({MAX_INDICATORS}); "
            "choose the ones for this meeting with --indicators a,b,c",
        )
    out: list[IndicatorData] = []
    skipped: NotFound | None = None
    for ind in chosen:
        try:
            out.append(gather_indicator(session, org, ind, period=period, peers=peers))
        except NotFound as exc:
            # Automatic choice: an indicator without data in this period is left out; one the
            # user named must be there, so say which and why.
            if explicit or exc.entity not in ("period", "value"):
                raise
            skipped = skipped or exc
    if not out:
        hint = f" (for example, {skipped.message})" if skipped is not None else ""
        raise NotFound(
            f"no indicator has values for {org.code} ({org.name})"
            + (f" in period {period!r}" if period else "")
            + f"; choose another period or organisation{hint}",
            entity="period", key=period,
        )
    labels = sorted({i.period.label for i in out})
    period_label = labels[0] if len(labels) == 1 else ", ".join(labels)
    return PackData(org=org, period_label=period_label, indicators=out,
                    made_at=dt.datetime.now(dt.UTC))


__all__ = [
    "MAX_INDICATORS",
    "OPPORTUNITY_LEVEL",
    "IndicatorData",
    "LoadRef",
    "PackData",
    "gather_indicator",
    "gather_pack",
    "indicators_for_org",
    "parse_indicator_list",
]
