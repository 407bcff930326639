"""History is not news: which periods of a load may raise alerts, and the vectorised funnel
flags against one funnel per group (no database)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.services.alerts import news_periods
from core.stats.funnel import FLAG_NAMES, funnel, grouped_flags
from tests.conftest import DATA

START = {p: p * 30 for p in range(1, 20)}  # period id -> start (ordered as the ids here)


def test_first_load_raises_only_its_latest_period():
    assert news_periods({1, 2, 3, 9}, set(), set(), START) == {9}


def test_new_periods_and_revisions_are_news_history_is_not():
    # the indicator had 1..6; the load adds 7 and 8, back-fills 0-like old periods 2 and 3
    # (none of their values existed: new rows in old periods), and revises period 5
    assert news_periods({2, 3, 5, 7, 8}, {1, 4, 5, 6}, {5}, START) == {5, 7, 8}
    # a pure back-fill raises nothing
    assert news_periods({1, 2}, {5, 6}, set(), START) == set()
    # nothing written, nothing raised
    assert news_periods(set(), {5}, set(), START) == set()


@pytest.mark.parametrize("value_type", ["proportion", "ratio", "rate"])
def test_grouped_flags_equal_one_funnel_per_group_on_real_counts(value_type):
    """Every month of the real A&E file is one group: the flags of one vectorised pass equal
    those of :func:`core.stats.funnel.funnel` per month (the same formulas and sums)."""
    f = pd.read_csv(DATA / "ae_attendances" / "ae_attendances.csv")
    f = f.groupby(["period", "org_code"], as_index=False)[["breaches", "attendances"]].sum()
    f = f.sort_values(["period", "org_code"]).reset_index(drop=True)
    o = f["breaches"].to_numpy(dtype=float, copy=True)
    n = f["attendances"].to_numpy(dtype=float, copy=True)
    if value_type == "ratio":  # observed / expected with an expected near the observed
        n = np.round(o * np.random.default_rng(1).uniform(0.7, 1.3, len(o)), 1)
    o[::97] = np.nan  # missing counts
    n[::89] = 0.0  # zero denominators
    starts = np.append(np.flatnonzero(f["period"].ne(f["period"].shift()).to_numpy()), len(f))
    got = FLAG_NAMES[grouped_flags(o, n, starts, value_type=value_type)]
    expected = np.empty(len(f), dtype=object)
    for s, e in zip(starts[:-1], starts[1:], strict=True):
        flags = funnel(o[s:e], n[s:e], value_type=value_type).rows["flag"].astype(object)
        expected[s:e] = [x if isinstance(x, str) else None for x in flags]
    assert got.tolist() == expected.tolist()
    assert {"above_998", "below_998", "within"} <= set(got.tolist())
