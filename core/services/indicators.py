"""Indicators: the list, and one indicator with its metadata and the periods that have data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import func, select

from core.models import IndicatorValue, Organisation, Period
from core.services.base import (
    Conn,
    IndicatorMeta,
    PeriodRef,
    get_indicator,
    list_indicator_meta,
    periods_with_data,
)
from core.services.version import current_version, engine_cache

INDICATOR_LIST_COLUMNS = (
    "id", "name", "domain", "value_type", "multiplier", "polarity", "target", "unit",
    "decimals", "frequency", "source", "latest_period", "periods", "organisations",
)


def list_indicators(conn: Conn, *, domain: str | None = None) -> pd.DataFrame:
    """Every indicator (optionally of one ``domain``) with its latest period with data, the
    number of periods and of organisations with values: :data:`INDICATOR_LIST_COLUMNS`."""
    metas = [m for m in list_indicator_meta(conn) if domain is None or m.domain == domain]
    by_id, latest_label = _value_summary(conn)
    rows = []
    for m in metas:
        n_periods, n_orgs, _end = by_id.get(m.id, (0, 0, None))
        rows.append(
            {
                "id": m.id, "name": m.name, "domain": m.domain, "value_type": m.value_type,
                "multiplier": m.multiplier, "polarity": m.polarity, "target": m.target,
                "unit": m.unit, "decimals": m.decimals, "frequency": m.frequency,
                "source": m.source,
                "latest_period": latest_label[m.id][2] if m.id in latest_label else None,
                "periods": int(n_periods), "organisations": int(n_orgs),
            }
        )
    return pd.DataFrame(rows, columns=list(INDICATOR_LIST_COLUMNS))


@dataclass(frozen=True)
class IndicatorDetail:
    """An indicator's metadata, its periods with data (oldest first) and the organisation
    types holding values."""

    indicator: IndicatorMeta
    periods: list[PeriodRef]
    org_types: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (dates as ``datetime.date``)."""
        d = self.indicator.as_dict()
        d["periods"] = [p.as_dict() for p in self.periods]
        d["latest_period"] = self.periods[-1].label if self.periods else None
        d["org_types"] = self.org_types
        return d


def indicator_detail(conn: Conn, indicator_id: str) -> IndicatorDetail:
    """One indicator with all its metadata and the periods that have data."""
    meta = get_indicator(conn, indicator_id)
    periods = periods_with_data(conn, indicator_id)
    types = conn.execute(
        select(Organisation.org_type, func.count(func.distinct(IndicatorValue.org_id)))
        .join(Organisation, Organisation.id == IndicatorValue.org_id)
        .where(IndicatorValue.indicator_id == indicator_id)
        .group_by(Organisation.org_type)
    ).all()
    return IndicatorDetail(meta, periods, {t: int(n) for t, n in types})


def _value_summary(
    conn: Conn,
) -> tuple[dict[str, Any], dict[str, tuple[Any, int, str]]]:
    """Per indicator: (periods, organisations, latest end) and its latest period label.

    Two scans of the whole values table (seconds at national scale), so the answer is cached
    per data version (:mod:`core.services.version`): values change only through loads and
    reverts, which move the version in every worker."""
    version = current_version(conn)
    cache = engine_cache(conn, "indicator_value_summary", maxsize=4)
    hit = cache.get("all", version)
    if hit is not None:
        return hit
    stats = conn.execute(
        select(
            IndicatorValue.indicator_id,
            func.count(func.distinct(IndicatorValue.period_id)),
            func.count(func.distinct(IndicatorValue.org_id)),
            func.max(Period.end_date),
        )
        .join(Period, Period.id == IndicatorValue.period_id)
        .group_by(IndicatorValue.indicator_id)
    ).all()
    by_id = {r[0]: r[1:] for r in stats}
    # the label of each indicator's latest period (one query for all indicators)
    latest = conn.execute(
        select(IndicatorValue.indicator_id, Period.label, Period.period_type, Period.end_date)
        .join(Period, Period.id == IndicatorValue.period_id)
        .distinct()
    ).all()
    latest_label: dict[str, tuple[Any, int, str]] = {}
    fine = {"month": 0, "quarter": 1, "financial_year": 2, "year": 3}
    for ind, label, ptype, end in latest:
        key = (end, -fine.get(ptype, 9), label)
        if ind not in latest_label or key > latest_label[ind]:
            latest_label[ind] = key
    cache.put("all", version, (by_id, latest_label))
    return by_id, latest_label
