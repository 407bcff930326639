"""SPC point classes against NHSRplotthedots 0.2.2, through an independent re-implementation of
its R code (:mod:`tests.core.stats.ptd_oracle`): constructed series whose classes are worked by
hand from that code, many random series, and every A&E series of the real NHSRdatasets file."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytest

from core.stats import xmr
from tests.conftest import DATA, REFERENCE
from tests.core.stats import ptd_oracle as oracle

BASE = [10.0, 12.0] * 6  # mean 11, every moving range 2: limits 5.68 .. 16.32


def classes(values, **kw) -> list[str]:
    """The engine's classes in NHSRplotthedots' point_type words."""
    sc = xmr(values, **kw).points["special_cause"].astype(str).tolist()
    return ["common_cause" if c == "none" else f"special_cause_{c}" for c in sc]


def oracle_classes(values, **kw) -> list[str | None]:
    direction = kw.get("improvement_direction", "increase")
    out = []
    for p in oracle.point_types(values, **kw):
        if p is None:
            out.append(None)
        elif direction == "neutral":
            # the engine has one neutral class; the icon keeps high / low
            out.append("special_cause_neutral" if p["point_type"].startswith(
                "special_cause_neutral") else p["point_type"])
        else:
            out.append(p["point_type"])
    return out


def test_oracle_reproduces_the_published_example():
    d = pd.read_csv(REFERENCE / "nhsrplotthedots" / "nhsrplotthedots_seed123_example.csv")
    for col, prefix, screen in (("y", "r1", True), ("y_with_15_eq_10", "r2", True),
                                ("y_with_15_eq_10", "r3", False)):
        got = oracle.point_types(d[col].tolist(), screen_outliers=screen)
        assert [p["point_type"] for p in got] == d[f"{prefix}_point_type"].tolist()
        np.testing.assert_allclose([p["upl"] for p in got], d[f"{prefix}_upl"], rtol=1e-12)
        np.testing.assert_allclose([p["lpl"] for p in got], d[f"{prefix}_lpl"], rtol=1e-12)


# --- constructed series: classes worked from ptd_special_cause_type / ptd_point_type -----------

IMP, CON, COMMON = "special_cause_improvement", "special_cause_concern", "common_cause"


def test_rising_trend_below_the_mean_is_improvement_when_higher_is_better():
    # 7 rising points, all below the mean 11 (also a shift below): the trend labels them
    # "7 Point Trend (Increasing)" (trend before shift), and increasing = improvement
    y = [*BASE, 7.0, 7.5, 8, 8.5, 9, 9.5, 10]
    assert classes(y, fix_after=12)[12:] == [IMP] * 7
    assert classes(y, fix_after=12, improvement_direction="decrease")[12:] == [CON] * 7
    r = xmr(y, fix_after=12, improvement_direction="neutral")
    assert r.points["special_cause"].tolist()[12:] == ["neutral"] * 7
    assert r.variation == "neutral_high"  # rising, not "below the mean"
    assert xmr(y, fix_after=12).variation == "improvement_high"
    assert xmr(y, fix_after=12, improvement_direction="decrease").variation == "concern_high"
    assert classes(y, fix_after=12) == oracle_classes(y, fix_after=12)


def test_falling_trend_above_the_mean_is_concern_when_higher_is_better():
    y = [*BASE, 15.0, 14.5, 14, 13.5, 13, 12.5, 12]
    assert classes(y, fix_after=12)[12:] == [CON] * 7
    assert xmr(y, fix_after=12).variation == "concern_low"
    assert classes(y, fix_after=12, improvement_direction="decrease")[12:] == [IMP] * 7
    assert xmr(y, fix_after=12, improvement_direction="decrease").variation == "improvement_low"
    assert classes(y, fix_after=12) == oracle_classes(y, fix_after=12)


def test_trend_overlapping_a_shift_wins_where_both_fire():
    # 9 points below the mean (a shift), the last 7 of them rising (a trend): the first two
    # are "7 Points Below CL" (concern), the seven "7 Point Trend (Increasing)" (improvement)
    y = [*BASE, 9.0, 9.0, 8.0, 8.3, 8.6, 8.9, 9.2, 9.5, 9.8]
    r = xmr(y, fix_after=12)
    assert r.points["rule"].astype(str).tolist()[12:] == ["shift"] * 2 + ["trend"] * 7
    assert classes(y, fix_after=12)[12:] == [CON, CON] + [IMP] * 7
    assert classes(y, fix_after=12) == oracle_classes(y, fix_after=12)


def test_peak_shared_by_a_rise_and_a_fall_takes_the_fall():
    # 7 up to a peak then 7 down from it: the peak is in both trends and the next point is
    # in a trend, so its direction is the step after it (down): concern, though above the mean
    y = [*BASE, 8.0, 9, 10, 11, 12, 13, 14, 13, 12, 11, 10, 9, 8]
    assert classes(y, fix_after=12)[12:] == [IMP] * 6 + [CON] * 7
    assert classes(y, fix_after=12) == oracle_classes(y, fix_after=12)


def test_flat_step_between_two_trends_reads_as_falling_as_the_reference():
    # a rise to 11, a repeat of 11, a fall: the top of the rise sits before a point in a
    # trend, its next step is flat, and ptd_special_cause_type calls anything but a rise
    # "Decreasing" - kept, so that every class equals the reference
    y = [*BASE, 8, 8.5, 9, 9.5, 10, 10.5, 11, 11, 10.5, 10, 9.5, 9, 8.5, 8]
    assert classes(y, fix_after=12)[12:] == [IMP] * 6 + [CON] * 8
    assert classes(y, fix_after=12) == oracle_classes(y, fix_after=12)


def test_outside_limits_wins_over_a_trend():
    # the last of 7 rising points is above the upper limit: "Above UCL"; a rising run above
    # the mean is improvement either way, so the falling case shows the order: a fall ending
    # below the lower limit is "Below LCL" (concern), the rest "Decreasing" (concern)
    y = [*BASE, 16.0, 15.0, 14.0, 13.0, 12.0, 11.5, 5.0]
    r = xmr(y, fix_after=12)
    assert r.points["rule"].astype(str).tolist()[-1] == "outside_limits"
    assert classes(y, fix_after=12) == oracle_classes(y, fix_after=12)


# --- random series: every option ---------------------------------------------------------------


@pytest.mark.parametrize("seed", range(40))
def test_random_series_match_the_oracle(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 70))
    steps = rng.normal(0, 1, n) + (rng.normal(0, 0.6) if seed % 3 else 0.0)
    y = np.round(np.cumsum(steps) * 0.5 + rng.normal(0, 1, n), 1)  # ties happen
    if seed % 4 == 0:
        y[rng.choice(n, size=max(1, n // 8), replace=False)] = np.nan
    kw = {
        "improvement_direction": ("increase", "decrease", "neutral")[seed % 3],
        "screen_outliers": bool(seed % 2),
        "fix_after": (None, 12, 5)[seed % 3] if seed % 5 else None,
        "rebase_at": sorted({int(x) for x in rng.integers(1, n, size=seed % 3)}) if n > 2 else [],
    }
    got = classes(y, **kw)
    want = oracle_classes(y.tolist(), **kw)
    for i, w in enumerate(want):
        if w is not None:
            assert got[i] == w, (i, kw)
    res = xmr(y, **kw)
    want_icon = oracle.variation_icon(oracle.point_types(y.tolist(), **kw),
                                      kw["improvement_direction"])
    if res.variation is not None:  # None: too few points to judge (engine's own rule)
        assert res.variation == want_icon


# --- the real A&E file, every organisation and department type ---------------------------------


@functools.cache
def ae_series() -> dict[tuple[str, str], pd.Series]:
    """4-hour performance (% seen within 4 hours) per organisation and department type, from the
    raw CSV: months from the first to the last with attendances, gaps missing."""
    ae = pd.read_csv(DATA / "ae_attendances" / "ae_attendances.csv", dtype={"type": str})
    ae = ae[ae["attendances"] > 0]
    ae = ae.assign(v=(ae["attendances"] - ae["breaches"]) / ae["attendances"] * 100)
    months = sorted(ae["period"].unique())
    out = {}
    for (code, typ), g in ae.groupby(["org_code", "type"]):
        s = g.set_index("period")["v"].reindex(months)
        have = s.dropna().index
        out[(code, typ)] = s.loc[have[0]: have[-1]]
    return out


@pytest.mark.parametrize("screen", [True, False])
@pytest.mark.parametrize("direction", ["increase", "decrease", "neutral"])
def test_every_real_ae_point_matches_nhsrplotthedots(screen, direction):
    n_points = n_series = n_special = 0
    for key, s in ae_series().items():
        got = classes(s.to_numpy(dtype=float), improvement_direction=direction,
                      screen_outliers=screen)
        want = oracle_classes(s.tolist(), improvement_direction=direction,
                              screen_outliers=screen)
        for g, w in zip(got, want, strict=True):
            if w is not None:
                assert g == w, key
                n_points += 1
                n_special += w != COMMON
        n_series += 1
    # every row of the file with attendances: 428 organisation x department-type series
    assert (n_series, n_points) == (428, 12_765)
    assert n_special > 1000
