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
from dataclasses import dataclass, field, replace
from typing import Any, NoReturn

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import stats
from core.errors import InvalidParameter, NotFound
from core.models import IndicatorValue, Load, ikey_of
from core.periods import parse_period
from core.services import comparison as cmp_service
from core.services import disclosure
from core.services import spc as spc_service
from core.services.data_periods import PeriodRef, periods_with_data, resolve_period
from core.services.disclosure import active_rule, undisclosed
from core.services.indicators import IndicatorMeta, get_indicator
from core.services.organisations import OrgRef, descendant_ids, get_org
from core.services.peers import PeerSet, lowest_type, org_types_with_data
from core.services.rebases import active_rebase_periods
from core.services.spc import period_sequence
from core.services.values import check_confidence, improvement_direction, values_statement
from core.stats import DisclosureRule, value_intervals
from dashboards import adapters
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
    funnel_od_requested: bool
    funnel_method: str | None
    spc_frame: pd.DataFrame  # x, period, value, mean, lpl, upl, point_type, segment
    spc_variation: str | None
    spc_assurance: str | None
    spc_points: int
    opportunity_extra: float | None
    opportunity_level: float | None
    member_codes: list[str]
    confidence: float = 95.0
    loads: list[LoadRef] = field(default_factory=list)
    #: disclosure control hid the opportunity (a small count of people, or the own row's)
    opportunity_suppressed: bool = False

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
    #: indicators chosen automatically but left out, each (name, why), said on the slides
    omitted: list[tuple[str, str]] = field(default_factory=list)

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
    probe = select(IndicatorValue.org_id).where(
        IndicatorValue.ikey == Indicator.ikey, IndicatorValue.org_id.in_(scope)
    )
    return list(
        session.execute(
            select(Indicator.id).where(probe.exists()).order_by(Indicator.domain, Indicator.id)
        ).scalars()
    )


# ---------------------------------------------------------------------------- one indicator


def _resolve_period(
    session: Session, meta: IndicatorMeta, period: str | None, scope: list[int]
) -> PeriodRef:
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


def network_value(
    rows: pd.DataFrame, meta: IndicatorMeta, confidence: float = 95.0
) -> dict[str, Any]:
    """A network's own value: the ratio of sums of its members' counts (never an average of
    percentages), with its interval at ``confidence``. Suppressed or missing members (no value
    from the service) leave both sums. The same pooled value as the triage service's
    ``network_value``; the interval is pack-specific (triage gives none)."""
    ok = (np.isfinite(rows["value"].to_numpy(dtype=float))
          & rows["numerator"].notna().to_numpy() & rows["denominator"].notna().to_numpy())
    num = float(rows.loc[ok, "numerator"].sum())
    den = float(rows.loc[ok, "denominator"].sum())
    vi = value_intervals(meta.value_type, [num], [den if den > 0 else np.nan],
                         multiplier=meta.multiplier, confidence=confidence / 100.0)
    return {"value": float(vi["value"].iloc[0]), "lower": float(vi["lower"].iloc[0]),
            "upper": float(vi["upper"].iloc[0]), "numerator": num, "denominator": den,
            "suppressed": False}


def gather_indicator(
    session: Session,
    org: OrgRef,
    indicator_id: str,
    *,
    period: str | None = None,
    peers: str | None = None,
    confidence: float = 95.0,
    overdispersion: bool = False,
) -> IndicatorData:
    """The numbers behind one indicator's slides for ``org`` (:func:`_gather_indicator`),
    disclosed under the disclosure control rule in force: the network's sums and series are
    computed from the true counts, then everything the slides show passes the rule
    (:mod:`core.services.disclosure`)."""
    rule = active_rule()
    with undisclosed():
        data = _gather_indicator(session, org, indicator_id, period=period, peers=peers,
                                 confidence=confidence, overdispersion=overdispersion,
                                 rule=rule)
    return data if rule is None else _disclosed(data, rule)


def _disclosed(data: IndicatorData, rule: DisclosureRule) -> IndicatorData:
    """What the slides may show of ``data``: the same treatment as the services' results
    (suppressed rows lose value, interval, rank and flag and are not drawn; counts rounded),
    applied to the pack's own aggregates too (the network's value and series, its
    opportunity)."""
    work, hidden = disclosure.disclose_frame(
        data.peers_frame, rule, blank=(*disclosure.COMPARISON_BLANK, "funnel_flag"),
        not_compared=("comparison",))
    work["suppressed"] = work["suppressed"].to_numpy(dtype=bool) | hidden
    work["is_member"] = work["is_member"].to_numpy(dtype=bool)
    ov = dict(data.org_value)
    own_hidden, counts = disclosure.count_mask(
        rule, {c: [ov.get(c, np.nan)] for c in disclosure.COUNT_COLUMNS})
    ov.update({c: float(v[0]) for c, v in counts.items()})
    if own_hidden[0]:
        ov.update(value=np.nan, lower=np.nan, upper=np.nan, suppressed=True,
                  category="not_compared")
    points = data.funnel_points
    if points is not None:
        points, _ = disclosure.disclose_frame(points, rule, blank=disclosure.FUNNEL_BLANK)
    spc = data.spc_frame
    if "numerator" in spc:
        spc_hidden, _ = disclosure.count_mask(rule, spc)
        spc = spc.drop(columns=[c for c in disclosure.COUNT_COLUMNS if c in spc])
        if spc_hidden.any():
            spc["value"] = spc["value"].where(~spc_hidden)
            spc["point_type"] = spc["point_type"].where(~spc_hidden, "common_cause")
            if data.spc_points < nv.SPC_MIN_POINTS:  # a mean of two points tells the other
                spc["mean"] = np.nan
    opp = data.opportunity_extra
    opp_hidden = False
    if opp is not None:
        shown = disclosure.disclose_count(opp, rule)
        opp_hidden = bool(own_hidden[0] and len(data.members) == 1) or not np.isfinite(shown)
        opp = None if opp_hidden else shown
    # the peers' aggregates: the pooled benchmark (and the funnel's centre and limits) when
    # its sums are small, the quartiles over the values shown
    pf = data.peers_frame
    small_pool = disclosure.pooled_hidden(pf["numerator"], pf["denominator"], rule)
    benchmark = float("nan") if small_pool else data.benchmark
    quartiles = data.quartiles
    if hidden.any():
        q1, med, q3 = disclosure.shown_quantiles(pf["value"], hidden, (25, 50, 75))
        quartiles = (q1, med, q3)
    limits, centre = data.funnel_limits, data.funnel_centre
    if small_pool and limits is not None:
        limits, centre = limits.iloc[0:0], float("nan")
    return replace(data, peers_frame=work, org_value=ov, funnel_points=points,
                   spc_frame=spc, opportunity_extra=opp, opportunity_suppressed=opp_hidden,
                   benchmark=benchmark, quartiles=quartiles, funnel_limits=limits,
                   funnel_centre=centre)


def _gather_indicator(
    session: Session,
    org: OrgRef,
    indicator_id: str,
    *,
    period: str | None = None,
    peers: str | None = None,
    confidence: float = 95.0,
    overdispersion: bool = False,
    rule: DisclosureRule | None = None,
) -> IndicatorData:
    """The numbers behind one indicator's slides for ``org`` (see the module docstring).
    ``rule``: the disclosure rule, for the SPC series (their suppressed points are gaps).

    Every statistic comes from the read services the API and the dashboards call
    (:func:`core.services.comparison.comparison`, ``funnel`` (overdispersion as asked; off
    by default, as on the dashboard),
    ``opportunity`` at the median, :func:`core.services.spc.spc`), with the same parameters,
    so a pack's figures equal the API's. Pack-specific glue only: which organisations are
    "ours", the network's pooled value and its series over time."""
    meta = get_indicator(session, indicator_id)
    conf = check_confidence(confidence)
    scope = _scope_ids(session, org)
    pref = _resolve_period(session, meta, period, scope)

    unit_type, member_ids = _units(session, meta, pref, org, scope)
    where: dict[str, Any] = {"period": pref.label, "period_type": pref.period_type,
                             "org_type": unit_type, "peers": peers}
    cmp = cmp_service.comparison(session, meta.id, confidence=conf, **where)
    work = adapters.comparison_rows(cmp.rows).copy()
    work["is_member"] = work["org_id"].isin(member_ids)
    if not work["is_member"].any():
        _no_members(org, meta, pref, peers, member_ids)
    # The service leaves suppressed or missing values without a value: say so, never a zero.
    work["suppressed"] = ~np.isfinite(work["value"].to_numpy(dtype=float))
    benchmark = float(cmp.benchmark.value)
    quartiles = (cmp.quartiles["q1"], cmp.quartiles["median"], cmp.quartiles["q3"])
    benchmark_label = f"the average of all {cmp.n} {nv.org_noun(unit_type)}" \
        if cmp.peers.kind == "all" else f"the average of {cmp.peers.label}"
    members = work[work["is_member"]]
    org_value = _org_value(members, meta, conf, benchmark, network=member_ids != {org.id})
    funnel = _funnel_part(session, meta, work, where, overdispersion)
    opp_extra, opp_level = _opportunity_part(session, meta, work, members, where)

    if member_ids == {org.id}:
        with undisclosed(rule is None):  # the SPC service's own disclosure, if any
            spc_frame, variation, assurance, n_points = _spc_one(session, meta, pref, org)
    else:
        spc_frame, variation, assurance, n_points = _spc_network(
            session, meta, pref, sorted(member_ids), rule, network_id=org.id)
    loads = _loads(session, meta.id, [pref.id, *spc_frame.attrs.get("period_ids", [])],
                   [int(i) for i in work["org_id"]] + [org.id])
    return IndicatorData(
        meta=meta, period=pref, peers=cmp.peers, unit_type=unit_type, peers_frame=work,
        benchmark=benchmark, benchmark_label=benchmark_label, quartiles=quartiles,
        org_value=org_value, **funnel, funnel_od_requested=overdispersion,
        spc_frame=spc_frame, spc_variation=variation,
        spc_assurance=assurance, spc_points=n_points, opportunity_extra=opp_extra,
        opportunity_level=opp_level, confidence=conf,
        member_codes=sorted(members["org_code"].astype(str)), loads=loads,
    )


def _units(session: Session, meta: IndicatorMeta, pref: PeriodRef, org: OrgRef,
           scope: list[int]) -> tuple[str, set[int]]:
    """The organisation type compared and the ids that are "ours": the lowest type with
    data below ``org`` and ``org``'s members of it, else ``org`` alone."""
    below = scope[1:]
    counts = org_types_with_data(session, meta.id, pref.id, org_ids=below) if below else {}
    if counts:
        return lowest_type(counts) or org.org_type, set(below)
    return org.org_type, {org.id}


def _no_members(org: OrgRef, meta: IndicatorMeta, pref: PeriodRef, peers: str | None,
                member_ids: set[int]) -> NoReturn:
    """The error when the comparison holds none of ours: the peers left them out, or there
    are no values."""
    if peers:
        raise InvalidParameter(
            "peers",
            f"the peers {peers!r} leave out {org.code} ({org.name})"
            + (" and its members" if member_ids != {org.id} else "")
            + "; choose peers that include them (or none for all)",
        )
    raise NotFound(
        f"{org.code} ({org.name}) has no {meta.id!r} values in {pref.label}",
        entity="value", key=meta.id,
    )


def _org_value(members: pd.DataFrame, meta: IndicatorMeta, conf: float, benchmark: float,
               *, network: bool) -> dict[str, Any]:
    """The organisation's own value: its row, or a network's pooled value of its members,
    with its comparison category."""
    if not network:
        r = members.iloc[0]
        value: dict[str, Any] = {k: float(r[k]) for k in ("value", "lower", "upper",
                                                          "numerator", "denominator")}
        value["suppressed"] = bool(r["suppressed"])
        value["category"] = str(r["comparison"])
        return value
    value = network_value(members, meta, conf)
    value["category"] = nv.compare_with_benchmark(
        value["value"], value["lower"], value["upper"], benchmark, meta.polarity)
    return value


def _funnel_part(session: Session, meta: IndicatorMeta, work: pd.DataFrame,
                 where: dict[str, Any], overdispersion: bool) -> dict[str, Any]:
    """The funnel over every peer (the service; overdispersion only when asked, the
    dashboard's default too) as :class:`IndicatorData`'s ``funnel_*`` fields; each row's
    flag is set in ``work["funnel_flag"]`` (None without a funnel)."""
    part: dict[str, Any] = {"funnel_points": None, "funnel_limits": None,
                            "funnel_centre": None, "funnel_overdispersion": False,
                            "funnel_phi": None, "funnel_method": None}
    work["funnel_flag"] = None
    if meta.value_type not in ("proportion", "ratio", "rate") \
            or not work["denominator"].notna().any():
        return part
    fv = cmp_service.funnel(session, meta.id, overdispersion=overdispersion, **where)
    flags = dict(zip(fv.rows["org_code"], fv.rows["flag"], strict=True))
    work["funnel_flag"] = work["org_code"].map(flags)
    part.update(
        funnel_points=fv.rows.assign(comparison=adapters.funnel_verdicts(
            fv.rows["flag"], meta.polarity, 95.0)),
        funnel_limits=fv.limits, funnel_centre=fv.target,
        funnel_overdispersion=fv.overdispersion, funnel_phi=fv.phi, funnel_method=fv.method,
    )
    return part


def _opportunity_part(session: Session, meta: IndicatorMeta, work: pd.DataFrame,
                      members: pd.DataFrame, where: dict[str, Any]
                      ) -> tuple[float | None, float | None]:
    """Opportunity against the peer median (the service), summed over the members; None
    for a neutral indicator, a mean or values without counts."""
    if meta.polarity == nv.NEUTRAL or meta.value_type == "mean" \
            or not work["denominator"].notna().any():
        return None, None
    ov = cmp_service.opportunity(session, meta.id, level=OPPORTUNITY_LEVEL, **where)
    extra = ov.rows[ov.rows["org_code"].isin(members["org_code"])]["extra"]
    return float(extra.fillna(0).sum()), float(ov.level)


def _spc_result(
    series: pd.DataFrame, meta: IndicatorMeta
) -> tuple[pd.DataFrame, str | None, str | None, int]:
    """The slide's SPC frame from service-shaped points; fewer than
    :data:`narrative.SPC_MIN_POINTS` values are shown without limits or a judgement."""
    n = int(series["value"].notna().sum())
    frame = adapters.spc_frame(series)
    for c in ("numerator", "denominator"):  # for disclosure control (gather_indicator)
        if c in series:
            frame[c] = series[c].to_numpy()
    variation = assurance = None
    if n >= nv.SPC_MIN_POINTS:
        variation, assurance = series.attrs.get("variation"), series.attrs.get("assurance")
    else:
        # a run chart (core.services.spc rule): no mean or limits, the slide draws the median
        frame["mean"] = np.nan
        frame["lpl"] = np.nan
        frame["upl"] = np.nan
        frame["point_type"] = "common_cause"
        frame["segment"] = 0
    frame.attrs["period_ids"] = series.attrs.get("period_ids", [])
    # the accepted rebases among the chart's periods (marked on the slide with who and when)
    frame.attrs["accepted_rebases"] = [r for r in series.attrs.get("accepted_rebases", [])
                                       if r["period"] in set(frame["period"])]
    return frame, variation, assurance, n


def _xmr_points(series: pd.DataFrame, meta: IndicatorMeta,
                rebase: list[str] | None = None) -> pd.DataFrame:
    """XmR on a series with the SPC service's default settings, in its points' columns
    (new limits from each period of ``rebase`` in the series: the accepted rebases)."""
    labels = series["period"].tolist()
    res = stats.xmr(series["value"].to_numpy(dtype=float),
                    improvement_direction=improvement_direction(meta.polarity),
                    target=meta.target, screen_outliers=True,
                    rebase_at=sorted({labels.index(p) for p in rebase or ()
                                      if p in labels[1:]}))
    pts = res.points.reset_index(drop=True)
    out = series.reset_index(drop=True).copy()
    for col in ("mean", "lower_limit", "upper_limit", "special_cause", "segment"):
        out[col] = pts[col].to_numpy()
    out.attrs.update(variation=res.variation, assurance=res.assurance)
    return out


def _spc_one(
    session: Session, meta: IndicatorMeta, pref: PeriodRef, org: OrgRef
) -> tuple[pd.DataFrame, str | None, str | None, int]:
    """One organisation: :func:`core.services.spc.spc` of its series of the period's type,
    exactly as the API's SPC endpoint, with the accepted rebases. A pack of an earlier period
    stops the series there (the same XmR and rebases, on the points up to that period)."""
    view = spc_service.spc(session, org.code, meta.id, period_type=pref.period_type)
    pts = view.points
    upto = pd.to_datetime(pts["start_date"]) <= pd.Timestamp(pref.start_date)
    if upto.all():
        series = pts.copy()
        icons = {"variation": view.variation, "assurance": view.assurance}
    else:
        series = _xmr_points(pts[upto.to_numpy()], meta, view.rebase)
        icons = {k: series.attrs.get(k) for k in ("variation", "assurance")}
    if series["value"].notna().sum() < nv.SPC_MIN_POINTS:
        series = series[series["value"].notna()].reset_index(drop=True)
    series.attrs.update(icons, period_ids=_period_ids(session, pref.period_type,
                                                      series["period"]),
                        accepted_rebases=view.accepted_rebases)
    return _spc_result(series, meta)


def _period_ids(session: Session, period_type: str, labels: pd.Series) -> list[int]:
    from core.models import Period

    wanted = [str(x) for x in labels]
    if not wanted:
        return []
    return list(session.execute(
        select(Period.id).where(Period.period_type == period_type, Period.label.in_(wanted))
    ).scalars())


def _spc_network(
    session: Session, meta: IndicatorMeta, pref: PeriodRef, ids: list[int],
    rule: DisclosureRule | None = None, network_id: int | None = None,
) -> tuple[pd.DataFrame, str | None, str | None, int]:
    """A network: its series is the ratio of sums of its members per period (pack-specific:
    the SPC service charts one organisation's own values), gaps kept as in the service, then
    the service's XmR settings."""
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
    by_label = {p.label: p for p in periods}
    labels = period_sequence(periods[0].label, periods[-1].label, pref.period_type) \
        if periods else []
    series = pd.DataFrame({
        "period": labels,
        "start_date": [by_label[x].start_date if x in by_label else
                       parse_period(x, pref.period_type).start for x in labels],
        "period_id": [by_label[x].id if x in by_label else np.nan for x in labels],
    })
    series = series.merge(sums, left_on="period_id", right_index=True, how="left")
    vi = value_intervals(meta.value_type, series["numerator"].to_numpy(dtype=float),
                         series["denominator"].to_numpy(dtype=float), multiplier=meta.multiplier)
    series["value"] = vi["value"].to_numpy()
    if rule is not None:  # disclosure control: a period of small sums is a gap, as in spc()
        series["value"] = series["value"].where(~disclosure.count_mask(rule, series)[0])
    icons: dict[str, Any] = {}
    if series["value"].notna().sum() >= nv.SPC_MIN_POINTS:
        # the rebases accepted for the network's own chart, if any
        accepted = [] if network_id is None else active_rebase_periods(
            session, [network_id], meta.id, pref.period_type).get(network_id, [])
        series = _xmr_points(series, meta, accepted)
        icons = {k: series.attrs.get(k) for k in ("variation", "assurance")}
    else:
        series = series[series["value"].notna()].reset_index(drop=True)
        for col in ("mean", "lower_limit", "upper_limit", "special_cause", "segment"):
            series[col] = np.nan
    series.attrs.update(icons, period_ids=[int(p.id) for p in periods])
    return _spc_result(series, meta)


def _loads(
    session: Session, indicator_id: str, period_ids: list[int], org_ids: list[int]
) -> list[LoadRef]:
    """The loads that wrote the values shown (one grouped query)."""
    ids = sorted(set(org_ids))
    stmt = (
        select(Load.id, Load.file_name, Load.finished_at, func.count())
        .join(IndicatorValue, IndicatorValue.load_id == Load.id)
        .where(IndicatorValue.ikey == ikey_of(indicator_id),
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
    confidence: float = 95.0,
    overdispersion: bool = False,
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
    omitted: list[tuple[str, str]] = []
    for ind in chosen:
        try:
            out.append(gather_indicator(session, org, ind, period=period, peers=peers,
                                        confidence=confidence, overdispersion=overdispersion))
        except NotFound as exc:
            # Automatic choice: an indicator without data in this period is left out; one the
            # user named must be there, so say which and why.
            if explicit or exc.entity not in ("period", "value"):
                raise
            skipped = skipped or exc
            name = get_indicator(session, ind).name
            omitted.append((name, f"no values for {period}" if period else "no values"))
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
                    made_at=dt.datetime.now(dt.UTC), omitted=omitted)


__all__ = [
    "MAX_INDICATORS",
    "OPPORTUNITY_LEVEL",
    "IndicatorData",
    "LoadRef",
    "PackData",
    "gather_indicator",
    "gather_pack",
    "indicators_for_org",
    "network_value",
    "parse_indicator_list",
]
