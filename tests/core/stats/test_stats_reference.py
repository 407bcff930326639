"""Agreement with published reference values in <repo>/../shared/reference (every file)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import special

from core.stats import (
    anhoej_thresholds,
    byar_interval,
    funnel,
    mean_of_values,
    poisson_ratio_limits,
    value_intervals,
    wilson_interval,
    xmr,
)

REF = Path(__file__).resolve().parents[3] / ".." / "shared" / "reference"
PHE = REF / "pheindicatormethods"


def read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, encoding="utf-8-sig")


def test_every_reference_file_is_used():
    used = {
        "FORMULAS.md", "README.md", "anhoej_thresholds_n10_100.csv",
        "nhsrplotthedots_seed123_example.csv",
        "testdata_Byars_Wilson__testdata_B_W.csv", "testdata_Mean__testdata_Mean.csv",
        "testdata_Mean__testdata_Mean_results.csv", "testdata_Proportion__testdata_Prop.csv",
        "testdata_Proportion__testdata_Prop_g.csv", "testdata_Rate__testdata_Rate.csv",
        "testdata_Rate__testdata_Rate_g.csv", "testdata_funnel_prop_inputs.csv",
        "testdata_funnel_prop_outputs.csv", "testdata_funnel_ratio_inputs.csv",
        "testdata_funnel_ratio_outputs.csv",
    }
    present = {p.name for p in REF.rglob("*") if p.is_file()}
    assert present <= used, present - used


def test_formulas_constants():
    text = (REF / "FORMULAS.md").read_text()
    assert "1.959964" in text
    assert "3.090232" in text
    assert round(float(special.ndtri(0.975)), 6) == 1.959964
    assert round(float(special.ndtri(0.999)), 6) == 3.090232
    assert "PHEindicatormethods" in (REF / "README.md").read_text()


def test_byars_wilson():
    d = read(PHE / "testdata_Byars_Wilson__testdata_B_W.csv")
    for _, r in d.iterrows():
        conf = float(r.confidence.rstrip("%"))
        if r.method == "Byars":
            lo, hi = byar_interval(r.x, conf)
        else:
            lo, hi = wilson_interval(r.x, r.n, conf)
        if np.isnan(r.lowercl):
            assert np.isnan(lo)
        else:
            assert lo == pytest.approx(r.lowercl, rel=1e-9, abs=1e-12)
        assert hi == pytest.approx(r.uppercl, rel=1e-9)


@pytest.mark.parametrize(
    ("fname", "value_type"),
    [("testdata_Proportion__testdata_Prop.csv", "proportion"),
     ("testdata_Rate__testdata_Rate.csv", "rate")],
)
def test_proportions_and_rates(fname, value_type):
    d = read(PHE / fname)
    for mult, g in d.groupby("multiplier"):
        for conf, lc, uc in [(95, "lower95_0cl", "upper95_0cl"),
                             (99.8, "lower99_8cl", "upper99_8cl")]:
            v = value_intervals(value_type, g.Numerator, g.Denominator,
                                confidence=conf, multiplier=mult)
            exp = g[["value", lc, uc]].to_numpy()
            got = v[["value", "lower", "upper"]].to_numpy()
            assert (np.isnan(got) == np.isnan(exp)).all()
            m = ~np.isnan(exp)
            np.testing.assert_allclose(got[m], exp[m], rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize(
    ("fname", "value_type"),
    [("testdata_Proportion__testdata_Prop_g.csv", "proportion"),
     ("testdata_Rate__testdata_Rate_g.csv", "rate")],
)
def test_grouped_sums_as_ratio_of_sums(fname, value_type):
    """Each grouped row is fed as two halves; the parent value is the ratio of the sums."""
    from core.stats import aggregate

    d = read(PHE / fname)
    half = d[["Area", "Numerator", "Denominator"]].copy()
    half[["Numerator", "Denominator"]] /= 2
    rows = pd.concat([half, half]).rename(columns={"Numerator": "numerator",
                                                  "Denominator": "denominator"})
    agg = aggregate(rows, "Area", value_type=value_type, multiplier=d.multiplier.iloc[0])
    agg = agg.reindex(d.Area)
    both = d.Numerator.notna().to_numpy() & d.Denominator.notna().to_numpy()
    np.testing.assert_allclose(agg.numerator[both], d.Numerator[both])
    np.testing.assert_array_equal(agg.n_orgs.to_numpy(), np.where(both, 2, 0))
    exp = d[["value", "lowercl", "uppercl"]].to_numpy()
    got = agg[["value", "lower", "upper"]].to_numpy()
    # areas with a missing numerator or denominator have no value
    assert (np.isnan(got) == np.isnan(exp)).all()
    m = ~np.isnan(exp)
    np.testing.assert_allclose(got[m], exp[m], rtol=1e-6)


def test_means():
    d = read(PHE / "testdata_Mean__testdata_Mean.csv")
    exp = read(PHE / "testdata_Mean__testdata_Mean_results.csv").set_index("area")
    by_area = mean_of_values(d["values"], d["area"])
    whole = mean_of_values(d["values"])
    for conf, lc, uc in [(95, "lower95_0cl", "upper95_0cl"), (99.8, "lower99_8cl", "upper99_8cl")]:
        g = mean_of_values(d["values"], d["area"], confidence=conf)
        w = mean_of_values(d["values"], confidence=conf)
        for area in ("Area1", "Area2"):
            assert g.loc[area, "lower"] == pytest.approx(exp.loc[area, lc], rel=1e-9)
            assert g.loc[area, "upper"] == pytest.approx(exp.loc[area, uc], rel=1e-9)
        assert w["lower"].iloc[0] == pytest.approx(exp.loc["No grouping", lc], rel=1e-9)
        assert w["upper"].iloc[0] == pytest.approx(exp.loc["No grouping", uc], rel=1e-9)
    for area in ("Area1", "Area2"):
        assert by_area.loc[area, "value"] == pytest.approx(exp.loc[area, "value"])
        assert by_area.loc[area, "stdev"] == pytest.approx(exp.loc[area, "stdev"])
    assert whole["value_count"].iloc[0] == 26
    # the dispatcher gives the same from sum, count and sd
    v = value_intervals("mean", by_area["value_sum"], by_area["value_count"],
                        sd=by_area["stdev"])
    np.testing.assert_allclose(v["lower"], exp.loc[["Area1", "Area2"], "lower95_0cl"])


def test_funnel_proportion_limits_and_significance():
    inp = read(PHE / "testdata_funnel_prop_inputs.csv")
    out = read(PHE / "testdata_funnel_prop_outputs.csv")
    f = funnel(inp.numerator, inp.denominator, value_type="proportion", multiplier=100)
    assert (f.rows["significance"].astype(str) == inp.significance).all()
    lim = f.limits
    np.testing.assert_array_equal(lim.denominator, out.Population)
    cols = ["lower_95", "upper_95", "lower_998", "upper_998", "centre"]
    ref = ["Lower2s0025limit", "Upper2s0025limit", "Lower3s0001limit", "Upper3s0001limit",
           "Baseline"]
    np.testing.assert_allclose(lim[cols].to_numpy(), out[ref].to_numpy(), atol=5.01e-7)
    assert f.target == pytest.approx(out.Baseline.iloc[0], abs=5e-7)


def test_funnel_ratio_significance():
    inp = read(PHE / "testdata_funnel_ratio_inputs.csv")
    f = funnel(inp.obs, inp.expected, value_type="ratio")
    assert (f.rows["significance"].astype(str) == inp.significance).all()
    mapping = {"High (0.001)": "above_998", "High (0.025)": "above_95",
               "Not significant": "within", "Low (0.025)": "below_95",
               "Low (0.001)": "below_998"}
    assert (f.rows["flag"].astype(str) == inp.significance.map(mapping)).all()


def test_funnel_ratio_curve():
    """PHE's curve: for O observed events, E found by bisection (to 1e-7 in v = E/(E+O+1)).

    Our E (closed form) agrees within that resolution, and our smooth curve evaluated at
    PHE's E reproduces its limits (count = ratio - 1, isr = ratio x 100).
    """
    out = read(PHE / "testdata_funnel_ratio_outputs.csv")
    o = out.iloc[:, 0].to_numpy(dtype=float)
    for side, col, tail in [("lower_2s", "lower_95", 0.975), ("upper_2s", "upper_95", 0.025),
                            ("lower_3s", "lower_998", 0.999), ("upper_3s", "upper_998", 0.001)]:
        e_ref = out[f"{side}_exp_events"].to_numpy()
        e_ours = special.gammaincinv(o + 1, tail) if side.startswith("lower") else \
            special.gammaincinv(o, tail)
        v = lambda e: e / (e + o + 1)  # noqa: E731
        assert np.max(np.abs(v(e_ours) - v(e_ref))) < 2e-7
        lim = poisson_ratio_limits(e_ref)[col]
        np.testing.assert_allclose(lim - 1, out[f"{side}_count"], rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(lim * 100, out[f"{side}_isr"], rtol=1e-5)


def test_funnelplotr_published_phi():
    f = funnel([100, 150, 180, 80, 120, 225], [108, 112, 165, 95, 100, 220],
               value_type="ratio", overdispersion=True)
    assert round(f.phi, 6) == 2.948033
    assert f.overdispersion
    assert f.tau2 > 0


@pytest.mark.parametrize(
    ("col", "prefix", "screen"),
    [("y", "r1", True), ("y_with_15_eq_10", "r2", True), ("y_with_15_eq_10", "r3", False)],
)
def test_nhsrplotthedots_example(col, prefix, screen):
    d = read(REF / "nhsrplotthedots" / "nhsrplotthedots_seed123_example.csv")
    r = xmr(d[col], screen_outliers=screen, improvement_direction="increase")
    p = r.points
    np.testing.assert_allclose(p["mean"], d[f"{prefix}_mean"], rtol=1e-12)
    np.testing.assert_allclose(p["lower_limit"], d[f"{prefix}_lpl"], rtol=1e-12)
    np.testing.assert_allclose(p["upper_limit"], d[f"{prefix}_upl"], rtol=1e-12)
    point_type = np.where(p.special_cause == "none", "common_cause",
                          "special_cause_" + p.special_cause.astype(str))
    assert (point_type == d[f"{prefix}_point_type"]).all()
    assert r.warnings == ()  # 20 points


def test_anhoej_thresholds():
    t = read(REF / "anhoej_thresholds_n10_100.csv")
    run_max, cross_min = anhoej_thresholds(t.n_useful)
    np.testing.assert_array_equal(run_max, t.longest_run_max)
    np.testing.assert_array_equal(cross_min, t.n_crossings_min)
