"""Reporting periods: parse labels into a canonical label, a type, and start and end dates.

Canonical labels (what the database stores and the API shows):

===============  ===========  =======================================================
type             label        also read
===============  ===========  =======================================================
month            ``2024-03``  ``2024-03-01`` (a date: its month), ``202403``, ``Mar 2024``,
                              ``March 2024``, ``2024/03`` when declared monthly
quarter          ``2024-Q1``  ``2024 Q1``, ``Q1 2024`` (calendar quarters: Q1 = Jan-Mar)
financial_year   ``2023-24``  ``2023/24``, ``2023-2024``, ``2023/2024``, ``FY2023-24``
year             ``2024``
===============  ===========  =======================================================

A label such as ``2011-12`` is both December 2011 and the financial year 2011/12 (QOF years
before 2012 look like this). It is parsed only when the indicator's declared frequency or the
loader's ``--period-type`` says which; otherwise :class:`AmbiguousPeriod` is raised, with a
message that says how to resolve it, instead of a guess.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass
from functools import lru_cache

PERIOD_TYPES = ("month", "quarter", "financial_year", "year")

#: Ordering from finest to coarsest (a series uses one kind; by default the finest present).
FINENESS = {"month": 0, "quarter": 1, "financial_year": 2, "year": 3}

_MONTHS = {m.lower(): i for i, m in enumerate(calendar.month_abbr) if m}
_MONTHS.update({m.lower(): i for i, m in enumerate(calendar.month_name) if m})
_MONTHS["sept"] = 9


class PeriodError(ValueError):
    """A label that is not a period; the message says what forms are accepted."""


class AmbiguousPeriod(PeriodError):
    """A label that reads as two periods (``2011-12``); declare the period type."""


@dataclass(frozen=True, order=True)
class ParsedPeriod:
    start: dt.date
    end: dt.date
    period_type: str
    label: str


ACCEPTED = (
    "months like 2024-03 or 2024-03-01, quarters like 2024-Q1, financial years like 2023-24 "
    "or 2023/24, calendar years like 2024"
)


def _month(year: int, month: int) -> ParsedPeriod:
    if not 1 <= month <= 12 or not 1900 <= year <= 2200:
        raise PeriodError(f"month {month} of year {year} does not exist")
    last = calendar.monthrange(year, month)[1]
    return ParsedPeriod(
        dt.date(year, month, 1), dt.date(year, month, last), "month", f"{year:04d}-{month:02d}"
    )


def _quarter(year: int, q: int) -> ParsedPeriod:
    if not 1 <= q <= 4:
        raise PeriodError(f"quarter Q{q} does not exist (Q1 to Q4)")
    start = dt.date(year, 3 * q - 2, 1)
    end_month = 3 * q
    end = dt.date(year, end_month, calendar.monthrange(year, end_month)[1])
    return ParsedPeriod(start, end, "quarter", f"{year:04d}-Q{q}")


def _financial_year(year: int) -> ParsedPeriod:
    if not 1900 <= year <= 2200:
        raise PeriodError(f"financial year starting {year} is out of range")
    return ParsedPeriod(
        dt.date(year, 4, 1),
        dt.date(year + 1, 3, 31),
        "financial_year",
        f"{year:04d}-{(year + 1) % 100:02d}",
    )


def _year(year: int) -> ParsedPeriod:
    if not 1900 <= year <= 2200:
        raise PeriodError(f"year {year} is out of range")
    return ParsedPeriod(dt.date(year, 1, 1), dt.date(year, 12, 31), "year", f"{year:04d}")


_RE_YM = re.compile(r"^(\d{4})[-/](\d{1,2})$")
_RE_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[T ][\d:.]+)?$")
_RE_DMY = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
_RE_YYYYMM = re.compile(r"^(\d{4})(\d{2})$")
_RE_Q = re.compile(r"^(\d{4})\s*[-/ ]?\s*Q([1-4])$", re.I)
_RE_QY = re.compile(r"^Q([1-4])\s*[-/ ]?\s*(\d{4})$", re.I)
_RE_FY = re.compile(r"^(?:FY\s*)?(\d{4})\s*([-/])\s*(\d{2}|\d{4})$", re.I)
_RE_MONTHNAME = re.compile(r"^([A-Za-z]{3,9})[-\s]+(\d{2}|\d{4})$")


def _is_fy_pair(y1: int, tail: str) -> bool:
    if len(tail) == 4:
        return int(tail) == y1 + 1
    return int(tail) == (y1 + 1) % 100


@lru_cache(maxsize=4096)
def parse_period(label: object, period_type: str | None = None) -> ParsedPeriod:
    """Parse ``label`` into a :class:`ParsedPeriod`.

    ``period_type`` (``month``, ``quarter``, ``financial_year`` or ``year``) is the indicator's
    declared frequency or the loader's ``--period-type``; it decides ambiguous labels and rejects
    labels of another type.
    """
    if period_type is not None and period_type not in PERIOD_TYPES:
        raise PeriodError(
            f"unknown period type {period_type!r}; use one of {', '.join(PERIOD_TYPES)}"
        )
    if label is None:
        raise PeriodError(f"period is empty; use {ACCEPTED}")
    if isinstance(label, dt.datetime):
        label = label.date()
    if isinstance(label, dt.date):
        text = label.isoformat()
    elif isinstance(label, float) and label.is_integer():
        text = str(int(label))
    else:
        text = str(label).strip()
    if not text:
        raise PeriodError(f"period is empty; use {ACCEPTED}")
    result = _parse(text, period_type)
    if period_type is not None and result.period_type != period_type:
        raise PeriodError(
            f"{text!r} is a {result.period_type.replace('_', ' ')}, but this indicator is "
            f"declared {period_type.replace('_', ' ')}"
        )
    return result


def _parse(text: str, period_type: str | None) -> ParsedPeriod:
    if m := _RE_DATE.match(text):
        year, month, day = (int(g) for g in m.groups())
        try:
            dt.date(year, month, day)
        except ValueError as exc:
            raise PeriodError(f"{text!r} is not a valid date: {exc}") from None
        if period_type == "financial_year":
            return _financial_year(year if month >= 4 else year - 1)
        if period_type == "quarter":
            return _quarter(year, (month - 1) // 3 + 1)
        if period_type == "year":
            return _year(year)
        return _month(year, month)
    if m := _RE_DMY.match(text):
        day, month, year = (int(g) for g in m.groups())
        return _parse(f"{year:04d}-{month:02d}-{day:02d}", period_type)
    if m := _RE_Q.match(text):
        return _quarter(int(m.group(1)), int(m.group(2)))
    if m := _RE_QY.match(text):
        return _quarter(int(m.group(2)), int(m.group(1)))
    if m := _RE_FY.match(text):
        y1, sep, tail = int(m.group(1)), m.group(2), m.group(3)
        fy = _is_fy_pair(y1, tail)
        month_like = len(tail) <= 2 and 1 <= int(tail) <= 12
        if period_type == "financial_year":
            if not fy:
                raise PeriodError(
                    f"{text!r} is not a financial year: the second year must follow the first "
                    f"(e.g. {y1}-{(y1 + 1) % 100:02d})"
                )
            return _financial_year(y1)
        if period_type == "month":
            if not month_like:
                raise PeriodError(f"{text!r} is not a month (months are 2024-03)")
            return _month(y1, int(tail))
        if period_type is not None:
            raise PeriodError(f"{text!r} is not a {period_type.replace('_', ' ')}")
        if fy and (sep == "/" or len(tail) == 4 or not month_like):
            return _financial_year(y1)
        if fy and month_like:
            raise AmbiguousPeriod(
                f"{text!r} could be the month {_month(y1, int(tail)).label} or the financial "
                f"year {y1}/{(y1 + 1) % 100:02d}; declare the indicator's frequency or pass "
                "--period-type month|financial_year"
            )
        if month_like:
            return _month(y1, int(tail))
        raise PeriodError(f"{text!r} is not a period; use {ACCEPTED}")
    if m := _RE_YYYYMM.match(text):
        year, month = int(m.group(1)), int(m.group(2))
        if 1 <= month <= 12:
            return _month(year, month)
    if re.fullmatch(r"\d{4}", text):
        year = int(text)
        if period_type == "financial_year":
            return _financial_year(year)
        return _year(year)
    if m := _RE_MONTHNAME.match(text):
        name, yr = m.group(1).lower(), m.group(2)
        if name in _MONTHS:
            year = int(yr) if len(yr) == 4 else 2000 + int(yr)
            return _month(year, _MONTHS[name])
    raise PeriodError(f"{text!r} is not a period; use {ACCEPTED}")

