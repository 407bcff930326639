"""SPC (Making Data Count) for one organisation's series of one indicator.

A series uses one kind of period: by default the finest the organisation has for the
indicator (monthly before quarterly before financial-year values), or ``period_type``.
Missing periods between the first and the last stay in the series as gaps (the engine skips
them without breaking runs), so the x axis is honest about time. Limits and rules come from
:func:`core.stats.xmr` (or :func:`core.stats.p_chart` for ``chart="p"``).

How many points (Making Data Count; NHSRplotthedots warns below 12 and its guidance offers a run
chart instead): a series with fewer than :data:`MIN_POINTS` (12) values gets **no process
limits, no special-cause classes and no icons**: it is a run chart, its median and the Anhoej
run-chart signals (:func:`core.stats.run_chart_signals`: an unusually long run on one side of
the median, too few crossings of it). From 12 values the XmR chart is drawn; a rebase segment
(or the ``fix_after`` base) of 2 to 11 values within it has **trial limits**, labelled so; a
segment of one value has none. The words for both cases come from :func:`too_few_for_limits`
and :func:`trial_limits_note`, shared by the page, the API and the slides. Limits of a
proportion are clipped to 0 and its multiplier (0-100%) and a note says so.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import and_, or_, select

from core import stats
from core.errors import InvalidParameter, NotFound
from core.models import Annotation, IndicatorValue, Period, ikey_of
from core.periods import FINENESS, parse_period
from core.services.data_periods import check_period_type
from core.services.disclosure import active_rule, count_mask, disclosed
from core.services.indicators import IndicatorMeta, get_indicator
from core.services.organisations import OrgRef, get_org
from core.services.query import Conn, frame_from_rows
from core.services.rebases import active_rebases
from core.services.values import improvement_direction, with_intervals
from core.stats.spc import MIN_POINTS as SPC_MIN_POINTS

#: Values needed for process limits; fewer and the series is shown as a run chart.
MIN_POINTS = SPC_MIN_POINTS


def too_few_for_limits(n_points: int) -> str | None:
    """The one wording (page, API, slide) for a series too short for process limits, e.g.
    "3 points: too few for limits; at least 12 needed"; None from :data:`MIN_POINTS`."""
    if n_points >= MIN_POINTS:
        return None
    return (f"{n_points} point{'' if n_points == 1 else 's'}: too few for limits; "
            f"at least {MIN_POINTS} needed")


def trial_limits_note(n_points: int, start_label: str, *, fixed: bool = False) -> str:
    """Words for a segment whose limits rest on fewer than :data:`MIN_POINTS` values."""
    if n_points < 2:
        return f"no limits from {start_label}: {n_points} point; limits need at least 2"
    if fixed:
        return (f"trial limits from {start_label}: fixed on {n_points} points "
                f"(fewer than {MIN_POINTS})")
    return (f"trial limits from {start_label}: {n_points} points "
            f"(fewer than {MIN_POINTS}; revised as points are added)")


def clipped_note(unit_max: float) -> str:
    """Words for a proportion's limits clipped to its possible range."""
    return f"process limits clipped to 0-{unit_max:g} (a proportion cannot go beyond)"


def run_chart_sentence(signals: stats.RunChartSignals) -> str:
    """Plain words for a run chart's Anhoej analysis (page, API, slide). A test that cannot
    fire at this number of points (a run longer than the series, fewer than 0 crossings) is
    left out rather than quoted."""
    n = signals.n_useful
    can_run = signals.longest_run_max < n
    can_cross = signals.n_crossings_min > 0
    if n < 2 or not (can_run or can_cross):
        return (f"Run chart (median): {n} point{'' if n == 1 else 's'} off the median, too "
                "few for the Anhoej run-chart tests: no signal can show yet.")
    parts, found = [], []
    if can_run:
        parts.append(f"longest run {signals.longest_run} (more than "
                     f"{signals.longest_run_max} would signal)")
        if signals.longest_run > signals.longest_run_max:
            found.append("an unusually long run on one side of the median")
    if can_cross:
        n_c = signals.n_crossings
        parts.append(f"{n_c} crossing{'' if n_c == 1 else 's'} of the median (fewer than "
                     f"{signals.n_crossings_min} would signal)")
        if n_c < signals.n_crossings_min:
            found.append("too few crossings of the median")
    verdict = ("a signal of change: " + " and ".join(found)) if found else "no signal of change"
    return f"Run chart (median, Anhoej rules): {', '.join(parts)}: {verdict}."


SPC_POINT_COLUMNS = (
    "period", "start_date", "value", "numerator", "denominator", "mean", "lower_limit",
    "upper_limit", "near_lower", "near_upper", "special_cause", "rule", "segment",
)
CHARTS = ("xmr", "p")


@dataclass(frozen=True)
class SPCView:
    """An SPC chart: ``points`` (:data:`SPC_POINT_COLUMNS`, oldest first), the latest point's
    variation icon, the assurance icon against the target, warnings and annotations."""

    organisation: OrgRef
    indicator: IndicatorMeta
    period_type: str
    period_types: list[str]
    chart: str
    improvement_direction: str
    screen_outliers: bool
    fix_after: int | None
    rebase: list[str]
    target: float | None
    variation: str | None
    assurance: str | None
    warnings: list[str]
    points: pd.DataFrame
    annotations: list[dict[str, Any]]
    #: None, or :func:`too_few_for_limits`: the series is shown as a run chart
    limits_note: str | None = None
    #: Anhoej analysis of the whole series about its median (every series; the page and the
    #: slide show it where there are no limits)
    run_chart: stats.RunChartSignals | None = None
    #: the series' values (non-missing)
    n_points: int = 0
    #: rebase segments whose limits are trial limits (fewer than 12 values, or fixed on fewer)
    trial_segments: list[int] = field(default_factory=list)
    #: the accepted rebases (:mod:`core.services.rebases`) whose periods start a segment of
    #: this chart, with who accepted them and when
    accepted_rebases: list[dict[str, Any]] = field(default_factory=list)


def period_sequence(first: str, last: str, period_type: str) -> list[str]:
    """Every period label of ``period_type`` from ``first`` to ``last`` inclusive."""
    a, b = parse_period(first, period_type), parse_period(last, period_type)
    out = []
    cur = a
    while cur.start <= b.start:
        out.append(cur.label)
        nxt = cur.end + dt.timedelta(days=1)
        cur = parse_period(nxt.isoformat(), period_type)
        if len(out) > 2400:  # 200 years of months: bad data, not a real series
            break
    return out


def series_frame(
    conn: Conn, org: OrgRef, indicator: IndicatorMeta, period_type: str
) -> pd.DataFrame:
    """The organisation's values of one period type, gaps filled with missing rows:
    ``period``, ``start_date``, ``numerator``, ``denominator``, ``value`` (display units)."""
    rows = conn.execute(
        select(
            Period.label, Period.start_date, IndicatorValue.numerator,
            IndicatorValue.denominator, IndicatorValue.value, IndicatorValue.lower_ci,
            IndicatorValue.upper_ci, IndicatorValue.suppressed,
        )
        .join(Period, Period.id == IndicatorValue.period_id)
        .where(
            IndicatorValue.org_id == org.id,
            IndicatorValue.ikey == ikey_of(indicator.id),
            Period.period_type == period_type,
        )
        .order_by(Period.start_date)
    ).all()
    frame = frame_from_rows(
        rows,
        ["period", "start_date", "numerator", "denominator", "value", "lower_ci",
                 "upper_ci", "suppressed"],
    )
    for c in ("numerator", "denominator", "value", "lower_ci", "upper_ci"):
        frame[c] = pd.to_numeric(frame[c], errors="coerce").astype(float)
    frame["suppressed"] = frame["suppressed"].fillna(False).astype(bool)
    if frame.empty:
        return frame.assign(lower=[], upper=[])
    frame = with_intervals(frame, indicator, 95.0)
    labels = period_sequence(frame["period"].iloc[0], frame["period"].iloc[-1], period_type)
    full = pd.DataFrame({"period": labels})
    full["start_date"] = [parse_period(lab, period_type).start for lab in labels]
    full = full.merge(frame.drop(columns=["start_date"]), on="period", how="left")
    full["suppressed"] = full["suppressed"].astype("boolean").fillna(False).astype(bool)
    return full


def org_period_types(conn: Conn, org_id: int, indicator_id: str) -> list[str]:
    """The period types in which the organisation has values of the indicator, finest first."""
    types = conn.execute(
        select(Period.period_type)
        .join(IndicatorValue, IndicatorValue.period_id == Period.id)
        .where(IndicatorValue.org_id == org_id,
               IndicatorValue.ikey == ikey_of(indicator_id))
        .distinct()
    ).scalars()
    return sorted(types, key=lambda t: FINENESS.get(t, 9))


def annotations_for(
    conn: Conn, org_id: int | None, indicator_id: str | None,
    start: dt.date | None = None, end: dt.date | None = None,
) -> list[dict[str, Any]]:
    """Annotations that belong on a chart: this organisation's and this indicator's, and the
    general ones (no organisation / no indicator), between ``start`` and ``end``."""
    stmt = select(
        Annotation.id, Annotation.date, Annotation.text, Annotation.author,
        Annotation.org_id, Annotation.indicator_id,
    ).order_by(Annotation.date, Annotation.id)
    stmt = stmt.where(
        or_(Annotation.org_id.is_(None), Annotation.org_id == org_id)
        if org_id is not None
        else Annotation.org_id.is_(None)
    )
    stmt = stmt.where(
        or_(Annotation.indicator_id.is_(None), Annotation.indicator_id == indicator_id)
        if indicator_id is not None
        else Annotation.indicator_id.is_(None)
    )
    if start is not None and end is not None:
        stmt = stmt.where(and_(Annotation.date >= start, Annotation.date <= end))
    return [
        {"id": r[0], "date": r[1], "text": r[2], "author": r[3]}
        for r in conn.execute(stmt).all()
    ]


def spc(
    conn: Conn,
    code: str,
    indicator_id: str,
    *,
    period_type: str | None = None,
    screen_outliers: bool = True,
    fix_after: int | None = None,
    rebase: list[str] | None = None,
    chart: str = "xmr",
) -> SPCView:
    """SPC chart of one organisation's series of one indicator.

    ``fix_after``: limits from the first N points (at least 2). ``rebase``: period labels
    where new limits start; None (the default) applies the rebases people have accepted for
    this series (:mod:`core.services.rebases`), a list (even empty) exactly those periods.
    ``accepted_rebases`` of the view lists the accepted rebases among the periods used.
    ``chart``: ``xmr`` (default, Making Data Count) or ``p`` (p-chart, proportions only).
    """
    check_period_type(period_type)
    if chart not in CHARTS:
        raise InvalidParameter("chart", f"chart must be one of {', '.join(CHARTS)}, got {chart!r}")
    if fix_after is not None and fix_after < 2:
        raise InvalidParameter("fix_after", f"fix_after must be at least 2 points, got {fix_after}")
    org = get_org(conn, code)
    ind = get_indicator(conn, indicator_id)
    if chart == "p" and ind.value_type != "proportion":
        raise InvalidParameter("chart", f"a p-chart needs a proportion; {ind.id!r} is a "
                               f"{ind.value_type}")
    types = org_period_types(conn, org.id, ind.id)
    ptype = _chosen_period_type(org, ind, types, period_type)
    series = series_frame(conn, org, ind, ptype)
    labels = series["period"].tolist()
    accepted = active_rebases(conn, org.id, ind.id, ptype)
    stale: list[str] = []
    if rebase is None:
        # the accepted rebases; one whose period left the series (a revert) is not applied
        rebase = [r["period"] for r in accepted if r["period"] in labels[1:]]
        stale = [r["period"] for r in accepted if r["period"] not in labels[1:]]
    positions, rebase_labels = _rebase_positions(rebase, labels, ptype)
    direction = improvement_direction(ind.polarity)
    res = _chart_result(series, ind, chart, direction, screen_outliers=screen_outliers,
                        fix_after=fix_after, positions=positions)
    pts = res.points.reset_index(drop=True).copy()
    n_points = int(pts["value"].notna().sum())
    run = stats.run_chart_signals(pts["value"].to_numpy(dtype=float))
    limits_note = too_few_for_limits(n_points)
    variation, assurance = res.variation, res.assurance
    if limits_note is not None:
        # a run chart: no limits, classes or icons (Making Data Count)
        for col in ("mean", "lower_limit", "upper_limit", "near_lower", "near_upper"):
            pts[col] = np.nan
        pts["special_cause"] = "none"
        pts["rule"] = None
        variation = assurance = None
        warnings, trial_segments = [limits_note], list[int]()
    else:
        warnings, trial_segments = _segment_notes(pts, labels,
                                                  fix_after if chart == "xmr" else None)
        if ind.value_type == "proportion":
            _clip_to_scale(pts, float(ind.multiplier), warnings)
    for lab in stale:
        warnings.append(f"the accepted rebase at {lab} is not applied: {lab} is not a later "
                        "period of this series")
    first = series["start_date"].iloc[0]
    last = parse_period(labels[-1], ptype).end
    return disclosed(SPCView(
        organisation=org, indicator=ind, period_type=ptype, period_types=types, chart=chart,
        improvement_direction=direction, screen_outliers=screen_outliers, fix_after=fix_after,
        rebase=rebase_labels, target=ind.target, variation=variation,
        assurance=assurance, warnings=warnings, points=_points_frame(series, pts),
        annotations=annotations_for(conn, org.id, ind.id, first, last),
        limits_note=limits_note, run_chart=run, n_points=n_points,
        trial_segments=trial_segments,
        accepted_rebases=[r for r in accepted if r["period"] in rebase_labels],
    ))


def _chosen_period_type(org: OrgRef, ind: IndicatorMeta, types: list[str],
                        period_type: str | None) -> str:
    """The period type to chart: the one asked for, else the series' first; an error naming
    what exists when the organisation has no values of the indicator or not of that type."""
    if not types:
        raise NotFound(
            f"{org.code} ({org.name}) has no values of {ind.id!r}; the indicator's comparison "
            "lists the organisations that do",
            entity="series", key=f"{org.code}/{ind.id}", valid=[],
        )
    ptype = period_type or types[0]
    if ptype not in types:
        raise InvalidParameter(
            "period_type",
            f"{org.code} has no {ptype} values of {ind.id!r}; period types with data: "
            f"{', '.join(types)}",
            details={"valid": types},
        )
    return ptype


def _rebase_positions(rebase: list[str], labels: list[str], ptype: str
                      ) -> tuple[list[int], list[str]]:
    """Positions in the series (sorted; the first point is never a rebase) and labels of the
    ``rebase`` periods, given as labels or any spelling :func:`parse_period` reads."""
    positions: list[int] = []
    rebase_labels: list[str] = []
    for raw in rebase:
        try:
            lab = parse_period(raw, ptype).label
        except ValueError:
            lab = raw
        if lab not in labels:
            raise InvalidParameter(
                "rebase",
                f"rebase period {raw!r} is not in the series ({labels[0]} to {labels[-1]}, "
                f"{ptype})",
            )
        pos = labels.index(lab)
        if pos > 0 and pos not in positions:
            positions.append(pos)
            rebase_labels.append(lab)
    positions.sort()
    return positions, rebase_labels


def _chart_result(series: pd.DataFrame, ind: IndicatorMeta, chart: str, direction: str, *,
                  screen_outliers: bool, fix_after: int | None, positions: list[int]
                  ) -> stats.SPCResult:
    """The SPC engine's result for the series (an XmR or a p-chart). Under disclosure
    control a suppressed point is charted as a point suppressed at source (a gap): limits
    and a mean that included it would give its value away by difference."""
    engine_series = series
    rule = active_rule()
    if rule is not None:
        hidden = count_mask(rule, series)[0]
        if hidden.any():
            engine_series = series.copy()
            for c in ("value", "numerator", "denominator"):
                engine_series[c] = engine_series[c].where(~hidden)
    if chart == "p":
        return stats.p_chart(
            engine_series["numerator"].to_numpy(dtype=float),
            engine_series["denominator"].to_numpy(dtype=float),
            improvement_direction=direction, target=ind.target, multiplier=ind.multiplier,
            rebase_at=positions,
        )
    return stats.xmr(
        engine_series["value"].to_numpy(dtype=float),
        improvement_direction=direction, target=ind.target,
        screen_outliers=screen_outliers, fix_after=fix_after, rebase_at=positions,
    )


def _clip_to_scale(pts: pd.DataFrame, top: float, warnings: list[str]) -> None:
    """A proportion's limits kept within 0..``top`` (in place), with a warning when any was
    outside."""
    lim = pts[["lower_limit", "upper_limit", "near_lower", "near_upper"]]
    if ((lim < 0) | (lim > top)).any().any():
        pts[lim.columns] = lim.clip(lower=0.0, upper=top)
        warnings.append(clipped_note(top))


def _points_frame(series: pd.DataFrame, pts: pd.DataFrame) -> pd.DataFrame:
    """The chart's points: the series' periods and counts beside the engine's columns."""
    return pd.DataFrame(
        {
            "period": series["period"].to_numpy(),
            "start_date": series["start_date"].to_numpy(),
            "value": pts["value"].to_numpy(dtype=float),
            "numerator": series["numerator"].to_numpy(dtype=float),
            "denominator": series["denominator"].to_numpy(dtype=float),
            "mean": pts["mean"].to_numpy(dtype=float),
            "lower_limit": pts["lower_limit"].to_numpy(dtype=float),
            "upper_limit": pts["upper_limit"].to_numpy(dtype=float),
            "near_lower": pts["near_lower"].to_numpy(dtype=float),
            "near_upper": pts["near_upper"].to_numpy(dtype=float),
            "special_cause": pts["special_cause"].to_numpy(),
            "rule": pts["rule"].to_numpy(),
            "segment": pts["segment"].to_numpy(dtype=int),
        }
    )


def _segment_notes(
    pts: pd.DataFrame, labels: list[str], fix_after: int | None
) -> tuple[list[str], list[int]]:
    """Trial-limit notes for segments whose limits rest on fewer than 12 values, and those
    segments."""
    out, segs = [], []
    for seg, part in pts.groupby("segment", sort=True):
        n = int(part["value"].notna().sum())
        base = min(n, fix_after) if fix_after else n
        if base < MIN_POINTS:
            out.append(trial_limits_note(base, labels[int(part.index[0])],
                                         fixed=fix_after is not None and fix_after < n))
            segs.append(int(seg))
    return out, segs


def latest_icons(
    values: pd.DataFrame, indicator: IndicatorMeta, period_type: str,
    *, series_col: str = "org_id", rebases: dict[Any, list[str]] | None = None,
) -> pd.DataFrame:
    """Latest SPC variation and assurance for many series of one indicator at once
    (:func:`core.stats.xmr_batch`, default settings). ``values``: long frame with
    ``series_col``, ``period`` (labels of ``period_type``) and ``value``; the periods span
    from the first to the last label with gaps left missing. Returns ``variation``,
    ``assurance`` and ``special_cause`` (of the latest point) indexed by series.
    ``rebases``: accepted rebase periods by series
    (:func:`core.services.rebases.active_rebase_periods`), each such
    series judged on its newest limits as :func:`spc` would."""
    if values.empty:
        return pd.DataFrame(columns=["variation", "assurance", "special_cause"])
    wide = values.pivot_table(index=series_col, columns="period", values="value",
                              aggfunc="first", dropna=False)
    labels = sorted(wide.columns, key=lambda lab: parse_period(lab, period_type).start)
    seq = period_sequence(labels[0], labels[-1], period_type)
    wide = wide.reindex(columns=seq)
    matrix = wide.to_numpy(dtype=float)
    variation, assurance, special = latest_judgement(matrix, indicator)
    for key, periods in (rebases or {}).items():
        if key not in wide.index:
            continue
        i = wide.index.get_loc(key)
        row = matrix[i:i + 1]
        # this series' own span (its first value onwards), as spc() charts it
        start = int(np.argmax(np.isfinite(row[0]))) if np.isfinite(row[0]).any() else 0
        own = [seq.index(p) - start for p in periods if p in seq]
        positions = sorted({p for p in own if p > 0})
        if positions:
            v, a, sp = latest_judgement(row[:, start:], indicator, rebase_at=positions)
            variation[i], assurance[i], special[i] = v[0], a[0], sp[0]
    return pd.DataFrame(
        {"variation": variation, "assurance": assurance, "special_cause": special},
        index=wide.index,
    )


def latest_judgement(
    values: np.ndarray, indicator: IndicatorMeta, *, rebase_at: Any = (),
    targets: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Variation, assurance and the latest point's special cause of many series (rows of
    ``values``, gaps NaN), with the SPC chart's rule: a series with fewer than
    :data:`MIN_POINTS` values has no limits, so no icon (None) and no special cause.
    ``targets``: one per series (NaN: none), for series of indicators that share
    ``indicator``'s polarity (a profile's); default the indicator's own."""
    batch = stats.xmr_batch(
        values, improvement_direction=improvement_direction(indicator.polarity),
        target=indicator.target if targets is None else targets, rebase_at=rebase_at,
    )
    short = np.isfinite(values).sum(axis=1) < MIN_POINTS
    variation = np.array(batch.variation, dtype=object)
    assurance = np.array(batch.assurance, dtype=object)
    special = (np.array(batch.special_cause[:, -1], dtype=object) if values.shape[1]
               else np.full(len(values), "none", dtype=object))
    variation[short] = None
    assurance[short] = None
    special[short] = "none"
    return variation, assurance, special

