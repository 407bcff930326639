"""Property tests (hypothesis) for the intervals and funnel limits."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from core.stats import funnel, sigma_adjustment, value_intervals, wilson_interval

counts = st.integers(min_value=1, max_value=10**6)
fractions = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
FAST = settings(max_examples=150, deadline=None)


@FAST
@given(n=counts, frac=fractions, vt=st.sampled_from(["proportion", "rate", "ratio"]))
def test_interval_contains_value_and_widens_with_confidence(n, frac, vt):
    o = float(np.floor(frac * n))
    a = value_intervals(vt, o, n, confidence=95).iloc[0]
    b = value_intervals(vt, o, n, confidence=99.8).iloc[0]
    for r in (a, b):
        assert r.lower <= r.value + 1e-12
        assert r.value <= r.upper + 1e-12
    if np.isfinite(b.lower):
        assert b.lower <= a.lower + 1e-12
    assert b.upper >= a.upper - 1e-12


@FAST
@given(n=st.integers(min_value=1, max_value=10**5), frac=fractions,
       k=st.integers(min_value=2, max_value=50))
def test_proportion_interval_narrows_with_denominator(n, frac, k):
    o = frac * n
    lo1, hi1 = wilson_interval(o, n)
    lo2, hi2 = wilson_interval(o * k, n * k)
    assert hi2 - lo2 <= hi1 - lo1 + 1e-12


@FAST
@given(n=counts, frac=fractions)
def test_wilson_symmetric_under_complement(n, frac):
    o = frac * n
    lo, hi = wilson_interval(o, n)
    clo, chi = wilson_interval(n - o, n)
    assert abs(lo - (1 - chi)) < 1e-9
    assert abs(hi - (1 - clo)) < 1e-9


@FAST
@given(pbar=st.floats(min_value=0.001, max_value=0.999), n=st.integers(1, 10**6))
def test_funnel_limits_symmetric_under_complement(pbar, n):
    lo, hi = sigma_adjustment(0.975, n, pbar)
    clo, chi = sigma_adjustment(0.975, n, 1 - pbar)
    assert abs(lo - (1 - chi)) < 1e-7
    assert abs(hi - (1 - clo)) < 1e-7
    # the inverse of Wilson: an observed proportion at the upper limit has Wilson lower = pbar
    if 0 < hi < 1:
        wl, _ = wilson_interval(hi * n, n)
        assert abs(wl - pbar) < 1e-6


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1000), st.integers(0, 1000)), min_size=1,
                max_size=40))
def test_funnel_never_fails(pairs):
    o = np.array([min(a, b) for a, b in pairs], dtype=float)
    n = np.array([max(a, b) for a, b in pairs], dtype=float)
    f = funnel(o, n, value_type="proportion", multiplier=100, overdispersion=True)
    ok = n > 0
    assert f.rows.flag[ok].notna().all()
    assert f.rows.flag[~ok].isna().all()
    lim = f.limits[["lower_95", "upper_95", "lower_998", "upper_998"]].to_numpy()
    if ok.any():
        assert np.isfinite(lim).all()
    else:  # nothing to pool: no centre and no limits, never a made-up funnel
        assert np.isnan(f.target)
        assert np.isnan(lim).all()


@FAST
@given(vt=st.sampled_from(["proportion", "rate", "ratio", "count", "mean"]),
       num=st.lists(st.one_of(st.floats(min_value=0, max_value=1e6),
                              st.sampled_from([float("nan"), -1.0])), min_size=1, max_size=30),
       den=st.lists(st.one_of(st.floats(min_value=0.5, max_value=1e6),
                              st.sampled_from([float("nan"), 0.0, -2.0])),
                    min_size=1, max_size=30),
       mult=st.sampled_from([1.0, 100.0, 100_000.0]))
def test_point_values_are_the_intervals_values(vt, num, den, mult):
    """point_values (the value alone, for callers that need no interval) is exactly the value
    interval_arrays gives: missing counts, zero and negative denominators included. Neither
    warns (a tiny count once overflowed in Byar's unused limit)."""
    import warnings

    from core.stats.intervals import interval_arrays, point_values

    k = min(len(num), len(den))
    o, n = np.array(num[:k]), np.array(den[:k])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = point_values(vt, o, n, multiplier=mult)
        want = interval_arrays(vt, o, n, multiplier=mult)[0]
    np.testing.assert_array_equal(got, want)
