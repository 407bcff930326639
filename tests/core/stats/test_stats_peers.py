"""Peer comparison, opportunity, aggregation, funnel edge cases and disclosure control."""

import warnings

import numpy as np
import pandas as pd
import pytest

from core.stats import (
    DisclosureRule,
    aggregate,
    disclose,
    disclose_frame,
    funnel,
    opportunity,
    peer_comparison,
    value_intervals,
)

FRAME = pd.DataFrame(
    {"numerator": [90.0, 80, 80, 50, 10], "denominator": [100.0, 100, 100, 100, 100],
     "icb": ["A", "A", "B", "B", "B"]},
    index=["o1", "o2", "o3", "o4", "o5"],
)


def test_rank_percentile_quartiles():
    pc = peer_comparison(FRAME, polarity="higher_is_better", value_type="proportion",
                         multiplier=100)
    r = pc.rows
    assert r["rank"].tolist() == [1, 2, 2, 4, 5]
    # PERCENT_RANK by value ascending: (min-rank - 1) / (n - 1) * 100
    assert r["percentile"].tolist() == [100.0, 50.0, 50.0, 25.0, 0.0]
    assert pc.quartiles == (50.0, 80.0, 80.0)
    assert pc.deciles[0] == pytest.approx(26.0)  # 10 + 0.4 * (50 - 10)
    assert r["quartile"].tolist() == [1, 1, 1, 3, 4]
    low = peer_comparison(FRAME, polarity="lower_is_better", value_type="proportion",
                          multiplier=100).rows
    assert low["rank"].tolist() == [5, 3, 3, 2, 1]
    assert low["quartile"].tolist() == [4, 2, 2, 1, 1]
    nj = peer_comparison(FRAME, polarity="no_judgement", value_type="proportion",
                         multiplier=100).rows
    assert nj["rank"].tolist() == [1, 2, 2, 4, 5]
    assert (nj["comparison"] == "not_compared").all()
    assert nj["meets_target"].isna().all()


def test_benchmark_comparison_fingertips_rule():
    pc = peer_comparison(FRAME, polarity="higher_is_better", value_type="proportion",
                         multiplier=100, target=75)
    assert pc.pooled == pytest.approx(62.0)
    assert pc.benchmark == pytest.approx(62.0)
    r = pc.rows
    assert r.comparison.tolist() == ["better", "better", "better", "worse", "worse"]
    assert r.meets_target.tolist() == [True, True, True, False, False]
    lo = peer_comparison(FRAME, polarity="lower_is_better", value_type="proportion",
                         multiplier=100, benchmark=80).rows
    assert lo.comparison.tolist() == ["worse", "similar", "similar", "better", "better"]


def test_zero_denominator_single_and_identical():
    f = pd.DataFrame({"numerator": [5.0, 0, np.nan], "denominator": [0.0, 10, 10]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pc = peer_comparison(f, polarity="higher_is_better", value_type="proportion")
        v = value_intervals("rate", [1.0, 0.0], [0.0, 0.0])
    assert v.isna().all().all()
    r = pc.rows
    assert pd.isna(r["rank"].iloc[0])
    assert r["rank"].iloc[1] == 1
    assert r.comparison.tolist() == ["not_compared", "similar", "not_compared"]
    assert r.percentile.iloc[1] == 0.0
    single = peer_comparison(f.iloc[[1]], polarity="higher_is_better", value_type="proportion")
    assert single.n == 1
    assert single.rows["rank"].iloc[0] == 1
    same = pd.DataFrame({"numerator": [5.0] * 4, "denominator": [10.0] * 4})
    s = peer_comparison(same, polarity="lower_is_better", value_type="proportion").rows
    assert s["rank"].tolist() == [1, 1, 1, 1]
    assert (s.comparison == "similar").all()
    assert s["percentile"].tolist() == [0.0] * 4


def test_zero_and_full_numerators():
    v = value_intervals("proportion", [0.0, 10.0], [10.0, 10.0], multiplier=100)
    assert v.lower.iloc[0] == 0.0
    assert v.upper.iloc[1] == 100.0
    assert v.upper.iloc[0] > 0
    assert v.lower.iloc[1] < 100
    c = value_intervals("count", [0.0, 3.5])
    assert c.lower.iloc[0] == 0.0
    assert c.upper.iloc[0] == pytest.approx(3.688879, rel=1e-6)
    assert c.value.iloc[1] == 3.5
    assert 0 < c.lower.iloc[1] < 3.5 < c.upper.iloc[1]


def test_aggregate_is_ratio_of_sums():
    f = pd.DataFrame({"icb": ["A", "A", "B"], "numerator": [1.0, 99, 5],
                      "denominator": [10.0, 990, np.nan]})
    a = aggregate(f, "icb", value_type="proportion", multiplier=100)
    assert a.loc["A", "value"] == pytest.approx(10.0)  # mean of rates would also be 10 ...
    f2 = f.assign(numerator=[9.0, 99, 5])
    a2 = aggregate(f2, "icb", value_type="proportion", multiplier=100)
    assert a2.loc["A", "value"] == pytest.approx(108 / 1000 * 100)  # ... but not here (50.5)
    assert np.isnan(a2.loc["B", "value"])
    assert a2.loc["B", "n_orgs"] == 0


def test_opportunity():
    op = opportunity(FRAME, polarity="higher_is_better", multiplier=100, level="median",
                     group="icb")
    assert op.level == 80.0
    assert op.rows.extra.tolist() == pytest.approx([0, 0, 0, 30, 70])
    assert op.total == pytest.approx(100)
    assert op.orgs_for_half == 1
    assert op.by_group.loc["B", "extra"] == pytest.approx(100)
    assert op.by_group.loc["A", "orgs_for_half"] == 0
    lo = opportunity(FRAME, polarity="lower_is_better", multiplier=100,
                     level="upper_quartile")
    assert lo.level == 50.0  # the better quartile for lower-is-better is Q1
    assert lo.rows.extra.tolist() == pytest.approx([40, 30, 30, 0, 0])
    assert lo.orgs_for_half == 2
    t = opportunity(FRAME, polarity="higher_is_better", multiplier=100, level="target",
                    target=85)
    assert t.rows.extra.tolist() == pytest.approx([0, 5, 5, 35, 75])
    with pytest.raises(ValueError, match="target"):
        opportunity(FRAME, polarity="higher_is_better", level="target")


def test_funnel_edge_cases():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        f = funnel([0.0, 5, 10, 3], [0.0, 10, 10, 10], value_type="proportion",
                   multiplier=100)
    r = f.rows
    assert pd.isna(r.flag.iloc[0])
    assert np.isnan(r.value.iloc[0])
    assert r.flag.notna().sum() == 3
    assert f.target == pytest.approx(18 / 30 * 100)
    one = funnel([5.0], [10.0], value_type="proportion", overdispersion=True)
    assert one.rows.flag.iloc[0] == "within"
    assert one.tau2 == 0.0
    assert not one.overdispersion
    same = funnel([5.0] * 5, [10.0] * 5, value_type="proportion", overdispersion=True)
    assert (same.rows.flag == "within").all()
    assert same.phi == 0.0
    rate = funnel([5.0, 50, 0], [1000.0, 1000, 1000], value_type="rate", multiplier=1000)
    assert rate.target == pytest.approx(55 / 3)
    assert rate.rows.flag.tolist() == ["below_998", "above_998", "below_998"]
    tgt = funnel([80.0], [100.0], value_type="proportion", multiplier=100, target=60)
    assert tgt.target == 60
    assert tgt.rows.flag.iloc[0] == "above_998"
    with pytest.raises(ValueError, match="no funnel"):
        funnel([1.0], [2.0], value_type="mean")


def test_funnel_overdispersion_proportion():
    rng = np.random.default_rng(7)
    n = rng.integers(200, 5000, 200).astype(float)
    p = np.clip(rng.normal(0.6, 0.08, 200), 0.01, 0.99)
    o = rng.binomial(n.astype(int), p).astype(float)
    plain = funnel(o, n, value_type="proportion", multiplier=100)
    od = funnel(o, n, value_type="proportion", multiplier=100, overdispersion=True)
    assert od.overdispersion
    assert od.phi > 1
    assert od.tau2 > 0
    assert (od.rows.upper_998 >= plain.rows.upper_998 - 1e-9).all()
    assert (od.rows.flag == "within").sum() > (plain.rows.flag == "within").sum()
    # by hand: winsorised arcsine z, phi and DerSimonian-Laird tau^2
    t = o.sum() / n.sum()
    s = 1 / (2 * np.sqrt(n))
    z = (np.arcsin(np.sqrt(o / n)) - np.arcsin(np.sqrt(t))) / s
    zw = np.clip(z, *np.quantile(z, [0.1, 0.9]))
    phi = np.mean(zw**2)
    w = 1 / s**2
    tau2 = (200 * phi - 199) / (w.sum() - (w**2).sum() / w.sum())
    assert od.phi == pytest.approx(phi)
    assert od.tau2 == pytest.approx(tau2)
    assert len(od.limits) == 100
    assert od.limits.denominator.is_monotonic_increasing


def test_disclosure():
    d = disclose([0, 1, 7, 8, 12.5, 13, np.nan])
    assert d.suppressed.tolist() == [False, True, True, False, False, False, False]
    assert d.values[[0, 3, 4, 5]].tolist() == [0, 10, 15, 15]
    assert np.isnan(d.values[[1, 2, 6]]).all()
    custom = disclose([3, 10, 11], DisclosureRule(suppress_min=1, suppress_max=9, round_to=10))
    assert np.isnan(custom.values[0])
    assert custom.values[1:].tolist() == [10, 10]
    frame = pd.DataFrame({"numerator": [3.0, 40], "denominator": [101.0, 203],
                          "value": [2.97, 19.7], "lower": [1.0, 14.0], "upper": [8.0, 25.0]})
    out = disclose_frame(frame)
    assert out.suppressed.tolist() == [True, False]
    assert out.iloc[0][["numerator", "value", "lower", "upper"]].isna().all()
    assert out.denominator.tolist() == [100, 205]
    assert out.numerator.iloc[1] == 40
    assert frame.numerator.iloc[0] == 3  # pure: input untouched


def test_disclosure_never_shows_a_count_in_the_suppressed_range():
    # non-integer counts (expected deaths, rates' populations) just outside 1-7 round into it
    d = disclose([7.2, 7.5, 0.4, 0.6, 2.4])
    assert d.suppressed.tolist() == [True, False, False, False, True]
    assert d.values[[1, 2, 3]].tolist() == [10, 0, 0]
    exact = disclose([0.6, 0.4, 8.2], DisclosureRule(round_to=1))
    assert exact.suppressed.tolist() == [True, False, False]
    assert exact.values[[1, 2]].tolist() == [0, 8]
