"""The periods an indicator has data for, and resolving a requested period against them
(:class:`PeriodRef`, :func:`periods_with_data`, :func:`resolve_period`).

Parsing period labels is :mod:`core.periods`; this module reads which periods exist.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from core.errors import InvalidParameter, NotFound
from core.models import (
    IndicatorValue,
    Period,
    ikey_of,
)
from core.periods import FINENESS, PERIOD_TYPES, PeriodError, parse_period
from core.services.query import _LIST_MAX, Conn, _listing, core_conn
from core.services.version import current_version, engine_cache

if TYPE_CHECKING:  # indicators imports this module (periods_with_data)
    from core.services.indicators import IndicatorMeta


@dataclass(frozen=True)
class PeriodRef:
    """A period that exists in the database."""

    id: int
    label: str
    period_type: str
    start_date: dt.date
    end_date: dt.date

    def as_dict(self) -> dict[str, Any]:
        """``{label, period_type, start_date, end_date}`` (no database id)."""
        return {
            "label": self.label,
            "period_type": self.period_type,
            "start_date": self.start_date,
            "end_date": self.end_date,
        }


def check_period_type(period_type: str | None, parameter: str = "period_type") -> None:
    """Raise :class:`InvalidParameter` unless ``period_type`` is None or a known type."""
    if period_type is not None and period_type not in PERIOD_TYPES:
        raise InvalidParameter(
            parameter,
            f"{parameter} {period_type!r} is not a period type; use one of "
            f"{', '.join(PERIOD_TYPES)}",
        )


def periods_with_data(
    conn: Conn,
    indicator_id: str,
    *,
    org_ids: list[int] | None = None,
    period_type: str | None = None,
) -> list[PeriodRef]:
    """The periods in which ``indicator_id`` has at least one value, oldest first.

    Written as EXISTS over the (few hundred) periods so that each is one index probe of
    ``indicator_values`` instead of a scan of every value of the indicator.
    """
    check_period_type(period_type)
    if org_ids is None:
        # the periods of a whole indicator change only with loads and reverts (the version)
        version = current_version(conn)
        cache = engine_cache(conn, "periods_with_data")
        hit = cache.get((indicator_id, period_type), version)
        if hit is not None:
            return list(hit)
        refs = _periods_with_data(conn, indicator_id, None, period_type)
        cache.put((indicator_id, period_type), version, tuple(refs))
        return refs
    return _periods_with_data(conn, indicator_id, org_ids, period_type)


def _periods_with_data(
    conn: Conn, indicator_id: str, org_ids: list[int] | None, period_type: str | None
) -> list[PeriodRef]:
    probe = select(IndicatorValue.org_id).where(
        IndicatorValue.ikey == ikey_of(indicator_id), IndicatorValue.period_id == Period.id
    )
    if org_ids is not None:
        probe = probe.where(IndicatorValue.org_id.in_(org_ids))
    stmt = select(
        Period.id, Period.label, Period.period_type, Period.start_date, Period.end_date
    ).where(probe.exists())
    if period_type is not None:
        stmt = stmt.where(Period.period_type == period_type)
    rows = core_conn(conn).execute(stmt).all()
    refs = [PeriodRef(*r) for r in rows]
    refs.sort(key=lambda p: (p.start_date, FINENESS.get(p.period_type, 9), p.label))
    return refs


def latest_period(periods: list[PeriodRef]) -> PeriodRef:
    # latest end date; on a tie (March 2024 and 2023-24 both end on 31 March) the finest kind
    return max(periods, key=lambda p: (p.end_date, -FINENESS.get(p.period_type, 9)))


def resolve_period(
    conn: Conn,
    indicator: IndicatorMeta,
    period: str | None,
    *,
    period_type: str | None = None,
    parameter: str = "period",
) -> PeriodRef:
    """The period ``period`` of ``indicator``, or its latest period with data when None.

    Accepts any spelling :func:`core.periods.parse_period` reads (``2023/24`` for ``2023-24``).
    :class:`NotFound` lists the periods that have data; an ambiguous label that matches a month
    and a financial year both with data raises :class:`InvalidParameter` asking for
    ``period_type``.
    """
    check_period_type(period_type)
    available = periods_with_data(conn, indicator.id, period_type=period_type)
    if not available:
        kind = f" of type {period_type}" if period_type else ""
        raise NotFound(
            f"indicator {indicator.id!r} has no values{kind} yet; load some first",
            entity="period",
            key=period,
            valid=[],
        )
    if period is None or not str(period).strip():
        return latest_period(available)
    text = str(period).strip()
    wanted = {text}
    try:
        wanted.add(parse_period(text, period_type).label)
    except PeriodError:
        pass  # an ambiguous or odd label can still match a stored label exactly
    matches = [p for p in available if p.label in wanted]
    if len(matches) > 1:
        types = sorted({p.period_type for p in matches}, key=lambda t: FINENESS.get(t, 9))
        raise InvalidParameter(
            "period_type",
            f"period {text!r} matches periods of several types ({', '.join(types)}); "
            "add period_type to choose one",
            details={"period": text, "period_types": types},
        )
    if not matches:
        labels = [p.label for p in reversed(available)]
        raise NotFound(
            f"indicator {indicator.id!r} has no values for period {text!r}; periods with data "
            f"(latest first): {_listing(labels)}",
            entity="period",
            key=text,
            valid=labels[:_LIST_MAX],
        )
    return matches[0]
