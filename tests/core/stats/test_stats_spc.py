"""Hand-worked SPC cases: each special-cause rule, icons, assurance, edge cases."""

import numpy as np
import pandas as pd
import pytest

from core.stats import RuleLengths, p_chart, run_chart_signals, xmr, xmr_batch


def rules(p):
    return [None if pd.isna(x) else x for x in p.rule]


BASE = [10.0, 12.0, 10.0, 12.0, 10.0, 12.0, 10.0, 12.0, 10.0, 12.0, 10.0, 12.0]  # mean 11


def test_limits_hand_worked():
    # mean 11, every MR = 2 -> AMR 2, limits 11 +/- 5.32, near 11 +/- 3.5467
    r = xmr(BASE)
    p = r.points
    assert p["mean"].iloc[0] == pytest.approx(11)
    assert p["upper_limit"].iloc[0] == pytest.approx(16.32)
    assert p["lower_limit"].iloc[0] == pytest.approx(5.68)
    assert p["near_upper"].iloc[0] == pytest.approx(11 + 2 * 2.66 / 3 * 2)
    assert (p.special_cause == "none").all()
    assert r.variation == "common_cause"
    assert r.warnings == ()


def test_outside_limits_rule():
    y = [*BASE, 30.0]
    r = xmr(y, screen_outliers=False)
    last = r.points.iloc[-1]
    assert last.rule == "outside_limits"
    assert last.special_cause == "improvement"
    assert r.variation == "improvement_high"
    r = xmr(y, improvement_direction="decrease", screen_outliers=False)
    assert r.points.iloc[-1].special_cause == "concern"
    assert r.variation == "concern_high"
    r = xmr(y, improvement_direction="neutral", screen_outliers=False)
    assert r.variation == "neutral_high"


def test_trend_rule_needs_seven_strictly_rising():
    y = [*BASE, 7.0, 7.5, 8, 8.5, 9, 9.5, 10]  # 7 rising points (6 increases), in limits
    r = xmr(y, fix_after=12)
    got = rules(r.points)
    assert got[-7:] == ["trend"] * 7
    assert got[-8] is None
    # classed by the trend's direction (NHSRplotthedots 0.2): rising = improvement for
    # increase, even below the mean
    assert r.points.special_cause.tolist()[-7:] == ["improvement"] * 7
    # a tie breaks the trend
    y_tie = [*BASE, 7.0, 7.5, 8, 8, 9, 9.5, 10]
    assert "trend" not in rules(xmr(y_tie, fix_after=12).points)
    # shorter trend length configurable
    y5 = [*BASE, 12.0, 12.5, 13, 13.5, 14]
    assert rules(xmr(y5, fix_after=12, rules=RuleLengths(trend=5)).points)[-5:] == ["trend"] * 5
    assert "trend" not in rules(xmr(y5, fix_after=12).points)


def test_two_of_three_rule():
    # near upper = 14.5467, upper = 16.32: two points at 15 with one above the mean between
    y = [*BASE, 15.0, 11.5, 15.0]
    r = xmr(y, fix_after=12)
    p = r.points
    assert p["upper_limit"].iloc[0] > 15 > p["near_upper"].iloc[0]
    assert rules(p)[-3:] == ["two_of_three", None, "two_of_three"]
    assert p.special_cause.tolist()[-3:] == ["improvement", "none", "improvement"]
    # middle point below the mean: not all three on one side -> no signal
    y2 = [*BASE, 15.0, 10.5, 15.0]
    assert "two_of_three" not in rules(xmr(y2, fix_after=12).points)


def test_shift_rule():
    y = [*BASE, 11.5, 12.5, 11.5, 12.5, 11.5, 12.5, 11.5]  # 7 above a mean that stays below
    r = xmr(y)
    mean = r.points["mean"].iloc[0]
    assert (np.asarray(y[-7:]) > mean).all()
    assert rules(r.points)[-7:] == ["shift"] * 7
    # a point exactly on the mean breaks the run
    z = [*BASE, 12.0, 13, 12, 13, 12, 13]
    m = np.mean(z + [0.0])
    assert "shift" not in rules(xmr([*z, m], rules=RuleLengths(shift=8)).points)
    # below the mean with increase = concern
    y_low = [*BASE, 10.5, 9.5, 10.5, 9.5, 10.5, 9.5, 10.5]
    r = xmr(y_low)
    assert r.points.special_cause.tolist()[-7:] == ["concern"] * 7
    assert r.variation == "concern_low"


def test_rule_priority_outside_before_shift():
    y = [*BASE, 12.0, 12.5, 12.0, 12.5, 12.0, 12.5, 40.0]
    r = xmr(y, screen_outliers=False)
    assert r.points.rule.iloc[-1] == "outside_limits"


def test_screening_changes_amr():
    y = [*BASE[:10], 40.0, 11.0]
    on, off = xmr(y).points, xmr(y, screen_outliers=False).points
    assert on.upper_limit.iloc[0] < off.upper_limit.iloc[0]


def test_fix_after_and_rebase():
    y = BASE + [20.0, 22.0] * 6
    fixed = xmr(y, fix_after=12).points
    assert fixed["mean"].iloc[-1] == pytest.approx(11)
    assert (fixed.rule.iloc[12:] == "outside_limits").all()
    reb = xmr(y, rebase_at=[12])
    p = reb.points
    assert p["mean"].iloc[0] == pytest.approx(11)
    assert p["mean"].iloc[-1] == pytest.approx(21)
    assert p.segment.tolist() == [0] * 12 + [1] * 12
    assert (p.special_cause == "none").all()
    assert reb.warnings == ()


def test_short_series_warns_trial_limits():
    r = xmr([1.0, 2.0, 3.0, 2.0, 1.0])
    assert any("trial limits" in w for w in r.warnings)
    one = xmr([5.0])
    assert np.isnan(one.points["upper_limit"].iloc[0])
    assert any("no limits" in w for w in one.warnings)
    assert one.variation is None  # too few points to judge: no icon
    assert xmr([1.0, 2.0, 3.0, 2.0, 1.0, 2.0]).variation is None
    assert xmr([1.0, 2.0, 3.0, 2.0, 1.0, 2.0, 3.0]).variation == "common_cause"
    empty = xmr([])
    assert empty.points.empty
    assert empty.variation is None


def test_missing_values_keep_position():
    y = np.array(BASE + [np.nan] + BASE, dtype=float)
    r = xmr(pd.Series(y, index=pd.period_range("2020-01", periods=25, freq="M")))
    p = r.points
    assert len(p) == 25
    assert np.isnan(p.value.iloc[12])
    assert p["mean"].iloc[12] == pytest.approx(11)  # line continues across the gap
    assert p.special_cause.iloc[12] == "none"
    assert pd.isna(p.rule.iloc[12])
    # a shift continues across the gap
    y2 = np.array(BASE + [12.5, 11.5, np.nan, 12.5, 11.5, 12.5, 11.5, 12.5])
    assert rules(xmr(y2).points)[-8:] == ["shift"] * 2 + [None] + ["shift"] * 5
    assert xmr(y2).variation == "improvement_high"


def test_identical_values():
    r = xmr([4.0] * 15, target=5)
    p = r.points
    assert (p["upper_limit"] == 4).all()
    assert (p["lower_limit"] == 4).all()
    assert (p.special_cause == "none").all()
    assert r.assurance == "fail"


def test_assurance():
    y = BASE * 2
    assert xmr(y).assurance is None
    assert xmr(y, target=3).assurance == "pass"
    assert xmr(y, target=20).assurance == "fail"
    assert xmr(y, target=11).assurance == "hit_or_miss"
    assert xmr(y, target=3, improvement_direction="decrease").assurance == "fail"
    assert xmr(y, target=3, improvement_direction="neutral").assurance is None


def test_batch_equals_single():
    rng = np.random.default_rng(3)
    y = rng.normal(size=(30, 40))
    y[:, 5] = np.nan
    y[3, 30:] += 4
    b = xmr_batch(y, target=0.5, rebase_at=[20])
    for i in range(30):
        s = xmr(y[i], target=0.5, rebase_at=[20])
        np.testing.assert_allclose(b.upper_limit[i], s.points.upper_limit)
        assert list(b.special_cause[i]) == s.points.special_cause.tolist()
        assert list(b.rule[i]) == rules(s.points)
        assert b.variation[i] == s.variation
        assert b.assurance[i] == s.assurance
    long = b.to_long()
    assert len(long) == 30 * 40


def test_p_chart():
    n = np.array([100, 200, 100, 400, 100, 100, 100, 100, 100, 100, 100, 100, 100.0])
    o = np.array([10, 22, 9, 40, 11, 10, 12, 8, 10, 10, 11, 9, 40.0])
    r = p_chart(o, n, multiplier=100)
    p = r.points
    cl = o.sum() / n.sum()
    assert p["mean"].iloc[0] == pytest.approx(cl * 100)
    assert p["upper_limit"].iloc[3] == pytest.approx(100 * (cl + 3 * np.sqrt(cl * (1 - cl) / 400)))
    assert p.rule.iloc[-1] == "outside_limits"
    assert r.variation == "improvement_high"
    z = p_chart([0, 0, 0], [10, 0, 10])
    assert (z.points["lower_limit"].dropna() == 0).all()
    assert np.isnan(z.points.value.iloc[1])
    assert any("trial limits" in w for w in z.warnings)


def test_run_chart_signals():
    y = list(range(1, 21))  # one crossing only
    s = run_chart_signals(y)
    assert s.n_useful == 20
    assert s.n_crossings == 1
    assert s.longest_run == 10
    assert s.longest_run_max == 7
    assert s.n_crossings_min == 6
    assert s.runs_signal
    alt = run_chart_signals([1, 3] * 10)
    assert alt.n_crossings == 19
    assert not alt.runs_signal
    assert not run_chart_signals([]).runs_signal
    assert run_chart_signals([2, 2, 2]).n_useful == 0
