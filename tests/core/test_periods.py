"""Period labels: canonical forms, dates, and the ambiguity rule."""

from __future__ import annotations

import datetime as dt

import pytest

from core.periods import AmbiguousPeriod, PeriodError, parse_period


@pytest.mark.parametrize(
    ("text", "label", "ptype", "start", "end"),
    [
        ("2024-03", "2024-03", "month", dt.date(2024, 3, 1), dt.date(2024, 3, 31)),
        ("2024-02", "2024-02", "month", dt.date(2024, 2, 1), dt.date(2024, 2, 29)),
        ("2017-03-01", "2017-03", "month", dt.date(2017, 3, 1), dt.date(2017, 3, 31)),
        ("202403", "2024-03", "month", dt.date(2024, 3, 1), dt.date(2024, 3, 31)),
        ("Mar 2024", "2024-03", "month", dt.date(2024, 3, 1), dt.date(2024, 3, 31)),
        ("2024-Q1", "2024-Q1", "quarter", dt.date(2024, 1, 1), dt.date(2024, 3, 31)),
        ("Q4 2023", "2023-Q4", "quarter", dt.date(2023, 10, 1), dt.date(2023, 12, 31)),
        ("2023-24", "2023-24", "financial_year", dt.date(2023, 4, 1), dt.date(2024, 3, 31)),
        ("2023/24", "2023-24", "financial_year", dt.date(2023, 4, 1), dt.date(2024, 3, 31)),
        ("2019/20", "2019-20", "financial_year", dt.date(2019, 4, 1), dt.date(2020, 3, 31)),
        ("2023-2024", "2023-24", "financial_year", dt.date(2023, 4, 1), dt.date(2024, 3, 31)),
        ("1999-00", "1999-00", "financial_year", dt.date(1999, 4, 1), dt.date(2000, 3, 31)),
        ("2024", "2024", "year", dt.date(2024, 1, 1), dt.date(2024, 12, 31)),
        (2024, "2024", "year", dt.date(2024, 1, 1), dt.date(2024, 12, 31)),
        (dt.date(2018, 7, 1), "2018-07", "month", dt.date(2018, 7, 1), dt.date(2018, 7, 31)),
    ],
)
def test_parse(text, label, ptype, start, end):
    p = parse_period(text)
    assert (p.label, p.period_type, p.start, p.end) == (label, ptype, start, end)


def test_ambiguous_label_is_reported_not_guessed():
    with pytest.raises(AmbiguousPeriod, match="--period-type"):
        parse_period("2011-12")
    assert parse_period("2011-12", "financial_year").start == dt.date(2011, 4, 1)
    assert parse_period("2011-12", "month").start == dt.date(2011, 12, 1)
    assert parse_period("2011/12").period_type == "financial_year"  # a slash is never a month


@pytest.mark.parametrize("bad", ["", "  ", "2024-13", "hello", "2024-Q5", "31/02/2024", None])
def test_bad_labels_say_what_is_accepted(bad):
    with pytest.raises(PeriodError):
        parse_period(bad)


def test_declared_type_rejects_other_types():
    with pytest.raises(PeriodError, match="not a month"):
        parse_period("2023-24", "month")
    with pytest.raises(PeriodError):
        parse_period("2024-Q1", "financial_year")
    assert parse_period("2017-03-01", "financial_year").label == "2016-17"


def test_sorting_by_start():
    labels = ["2024-01", "2023-12", "2023-11"]
    assert sorted(labels, key=lambda s: parse_period(s).start) == ["2023-11", "2023-12", "2024-01"]
