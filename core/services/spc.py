"""SPC (Making Data Count) for one organisation's series of one indicator.

A series uses one kind of period: by default the finest the organisation has for the
indicator (monthly before quarterly before financial-year values), or ``period_type``.
Missing periods between the first and the last stay in the series as gaps (the engine skips
them without breaking runs), so the x axis is honest about time. Limits and rules come from
:func:`core.stats.xmr` (or :func:`core.stats.p_chart` for ``chart="p"``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import and_, or_, select

from core import stats
from core.errors import InvalidParameter, NotFound
from core.models import Annotation, IndicatorValue, Period
from core.periods import FINENESS, parse_period
from core.services.base import (
    Conn,
    IndicatorMeta,
    OrgRef,
    check_period_type,
    frame_from_rows,
    get_indicator,
    get_org,
    improvement_direction,
    with_intervals,
)
from core.services.disclosure import active_rule, count_mask, disclosed

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
            IndicatorValue.indicator_id == indicator.id,
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
        .where(IndicatorValue.org_id == org_id, IndicatorValue.indicator_id == indicator_id)
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
    where new limits start. ``chart``: ``xmr`` (default, Making Data Count) or ``p``
    (p-chart, proportions only).
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
    series = series_frame(conn, org, ind, ptype)
    labels = series["period"].tolist()
    rebase_labels: list[str] = []
    positions: list[int] = []
    for raw in rebase or []:
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
    direction = improvement_direction(ind.polarity)
    engine_series = series
    rule = active_rule()
    if rule is not None:
        # disclosure control: a suppressed point is charted as a point suppressed at source
        # (a gap); limits and a mean that included it would give its value away by difference
        hidden = count_mask(rule, series)[0]
        if hidden.any():
            engine_series = series.copy()
            for c in ("value", "numerator", "denominator"):
                engine_series[c] = engine_series[c].where(~hidden)
    if chart == "p":
        res = stats.p_chart(
            engine_series["numerator"].to_numpy(dtype=float),
            engine_series["denominator"].to_numpy(dtype=float),
            improvement_direction=direction, target=ind.target, multiplier=ind.multiplier,
            rebase_at=positions,
        )
    else:
        res = stats.xmr(
            engine_series["value"].to_numpy(dtype=float),
            improvement_direction=direction, target=ind.target,
            screen_outliers=screen_outliers, fix_after=fix_after, rebase_at=positions,
        )
    pts = res.points.reset_index(drop=True)
    points = pd.DataFrame(
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
    first = series["start_date"].iloc[0]
    last = parse_period(labels[-1], ptype).end
    return disclosed(SPCView(
        organisation=org, indicator=ind, period_type=ptype, period_types=types, chart=chart,
        improvement_direction=direction, screen_outliers=screen_outliers, fix_after=fix_after,
        rebase=rebase_labels, target=ind.target, variation=res.variation,
        assurance=res.assurance, warnings=list(res.warnings), points=points,
        annotations=annotations_for(conn, org.id, ind.id, first, last),
    ))


def latest_icons(
    values: pd.DataFrame, indicator: IndicatorMeta, period_type: str,
    *, series_col: str = "org_id",
) -> pd.DataFrame:
    """Latest SPC variation and assurance for many series of one indicator at once
    (:func:`core.stats.xmr_batch`, default settings). ``values``: long frame with
    ``series_col``, ``period`` (labels of ``period_type``) and ``value``; the periods span
    from the first to the last label with gaps left missing. Returns ``variation``,
    ``assurance`` and ``special_cause`` (of the latest point) indexed by series."""
    if values.empty:
        return pd.DataFrame(columns=["variation", "assurance", "special_cause"])
    wide = values.pivot_table(index=series_col, columns="period", values="value",
                              aggfunc="first", dropna=False)
    labels = sorted(wide.columns, key=lambda lab: parse_period(lab, period_type).start)
    wide = wide.reindex(columns=period_sequence(labels[0], labels[-1], period_type))
    batch = stats.xmr_batch(
        wide.to_numpy(dtype=float),
        improvement_direction=improvement_direction(indicator.polarity),
        target=indicator.target,
    )
    return pd.DataFrame(
        {
            "variation": batch.variation,
            "assurance": batch.assurance,
            "special_cause": batch.special_cause[:, -1],
        },
        index=wide.index,
    )


def _finite(x: Any) -> float | None:
    return float(x) if x is not None and np.isfinite(x) else None
