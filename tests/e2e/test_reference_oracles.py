"""End-to-end oracles: the published reference inputs (``../shared/reference``) go in through
the public loader (``qidash load`` run by typer's CliRunner) and come out of the public API;
what the API returns is compared with the reference outputs, on SQLite and on PostgreSQL.

The pure functions are checked against the same files in
``tests/core/stats/test_stats_reference.py``; these tests check that the product wires them
(loader -> database -> services -> JSON) without losing a digit.

Each reference area is a practice; each data set has its own PCN (queried as
``peers=parent:CODE``) and indicator:

| data set | PCN | indicators |
|---|---|---|
| PHE proportion, rate and mean test data | ``PHE`` | ``prop1``, ``prop100``, ``rate100``, |
| | | ``rate100k``, ``mean_area`` |
| the same grouped (an area's counts twice) | ``G_AreaK`` | ``prop1``, ``rate100k`` |
| Byar and Wilson test data | ``BW`` | ``bw_count``, ``bw_prop`` |
| funnel proportion inputs (303 areas) | ``FUNP`` | ``funp`` |
| funnel ratio inputs (300 areas) | ``FUNR`` | ``funr`` |
| funnel ratio outputs: one practice at each published expected count | ``FUNRC`` | ``funr`` |
| FunnelPlotR's 6-row SR example | ``FPR`` | ``funr`` |
| NHSRplotthedots' 20-point example | ``SPC`` | ``spc_y`` |
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_api
from core.settings import Settings, override_settings
from qidash.cli import app as cli
from tests.conftest import BACKENDS, REFERENCE

PHE = REFERENCE / "pheindicatormethods"
PTD = REFERENCE / "nhsrplotthedots" / "nhsrplotthedots_seed123_example.csv"
PERIOD = "2020-21"
FLAG = {"High (0.001)": "above_998", "High (0.025)": "above_95", "Not significant": "within",
        "Low (0.025)": "below_95", "Low (0.001)": "below_998"}
#: NHSRplotthedots' point types in the API's words
POINT_TYPE = {"common_cause": "none", "special_cause_improvement": "improvement",
              "special_cause_concern": "concern"}


def read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, encoding="utf-8-sig")


def months(n: int) -> list[str]:
    return [f"{2019 + (i // 12)}-{i % 12 + 1:02d}" for i in range(n)]


# --------------------------------------------------------------------------- the files


def _alternating(mean: float, n: int) -> list[float]:
    """``n`` points crossing ``mean`` each time, 0.5 either side: no trend, no shift, never
    near the limits (common cause by every rule)."""
    return [mean + (0.5 if i % 2 == 0 else -0.5) for i in range(n)]


def reference_files() -> dict[str, str]:
    """The organisations, indicators and values files (and mappings) made from the reference
    inputs, as text."""
    prop, rate = read(PHE / "testdata_Proportion__testdata_Prop.csv"), read(
        PHE / "testdata_Rate__testdata_Rate.csv")
    bw = read(PHE / "testdata_Byars_Wilson__testdata_B_W.csv")
    fp, fr = read(PHE / "testdata_funnel_prop_inputs.csv"), read(
        PHE / "testdata_funnel_ratio_inputs.csv")
    fro = read(PHE / "testdata_funnel_ratio_outputs.csv")
    ptd = read(PTD)

    orgs = ["org_code,name,org_type,parent_code", "ENG,England,nation,"]
    for pcn in ("PHE", "BW", "FUNP", "FUNR", "FUNRC", "FPR", "SPC"):
        orgs.append(f"{pcn},Network {pcn},pcn,ENG")
    areas = sorted(set(rate.Area))
    for a in areas:
        orgs.append(f"{a},{a},practice,PHE")
        orgs.append(f"G_{a},Grouped {a},pcn,ENG")
        orgs += [f"{a}_{h},{a} half {h},practice,G_{a}" for h in "ab"]
    orgs += [f"BW{i:02d},Byar-Wilson row {i},practice,BW" for i in range(len(bw))]
    orgs += [f"FP{i:03d},\"{name}\",practice,FUNP" for i, name in enumerate(fp.Area)]
    orgs += [f"FR{i:03d},Ratio area {i},practice,FUNR" for i in range(len(fr))]
    orgs += [f"FC{i:03d},Curve point {i},practice,FUNRC" for i in range(4 * len(fro))]
    orgs += [f"FPR{i},SR example {i},practice,FPR" for i in range(6)]
    orgs += [f"SPC_{s},Series {s},practice,SPC" for s in ("R1", "R2", "FIX", "REB")]

    inds = [
        "indicator_id,name,value_type,multiplier,polarity,frequency",
        "prop1,Proportion of 1,proportion,1,higher_is_better,financial_year",
        "prop100,Percentage,proportion,100,higher_is_better,financial_year",
        "rate100,Rate per 100,rate,100,lower_is_better,financial_year",
        "rate100k,Rate per 100000,rate,100000,lower_is_better,financial_year",
        "mean_area,Mean of raw values,mean,1,no_judgement,financial_year",
        "bw_count,Byar count,count,1,lower_is_better,financial_year",
        "bw_prop,Wilson proportion,proportion,1,higher_is_better,financial_year",
        "funp,Funnel proportion,proportion,100,higher_is_better,financial_year",
        "funr,Funnel ratio,ratio,1,lower_is_better,financial_year",
        "spc_y,NHSRplotthedots example,mean,1,higher_is_better,month",
    ]

    vals = ["org_code,indicator_id,period,numerator,denominator,value"]

    def row(org: str, ind: str, num: Any, den: Any, value: Any = None,
            period: str = PERIOD) -> None:
        def f(x: Any) -> str:
            return "" if x is None or x == "" or np.isnan(float(x)) else repr(float(x))

        vals.append(f"{org},{ind},{period},{f(num)},{f(den)},{f(value)}")

    for r in prop[prop.multiplier == 1].itertuples():
        row(r.Area, "prop1", r.Numerator, r.Denominator)
        row(r.Area, "prop100", r.Numerator, r.Denominator)
        if r.Area in set(prop.Area[:8]):
            for h in "ab":
                row(f"{r.Area}_{h}", "prop1", r.Numerator, r.Denominator)
    for r in rate[rate.multiplier == 100000].itertuples():
        row(r.Area, "rate100", r.Numerator, r.Denominator)
        row(r.Area, "rate100k", r.Numerator, r.Denominator)
        if not (np.isnan(r.Numerator) or np.isnan(r.Denominator)):
            for h in "ab":
                row(f"{r.Area}_{h}", "rate100k", r.Numerator, r.Denominator)
    for i, r in enumerate(bw.itertuples()):
        if r.method == "Byars":
            row(f"BW{i:02d}", "bw_count", r.x, None, r.x)  # a count: numerator = value
        else:
            row(f"BW{i:02d}", "bw_prop", r.x, r.n)
    for i, r in enumerate(fp.itertuples()):
        row(f"FP{i:03d}", "funp", r.numerator, r.denominator)
    for i, r in enumerate(fr.itertuples()):
        row(f"FR{i:03d}", "funr", r.obs, r.expected)
    o = fro.iloc[:, 0].to_numpy(dtype=float)
    for k, side in enumerate(("lower_2s", "upper_2s", "lower_3s", "upper_3s")):
        for i, e in enumerate(fro[f"{side}_exp_events"]):
            row(f"FC{k * len(fro) + i:03d}", "funr", o[i], float(e))
    for i, (obs, exp) in enumerate(zip([100, 150, 180, 80, 120, 225],
                                       [108, 112, 165, 95, 100, 220], strict=True)):
        row(f"FPR{i}", "funr", obs, exp)
    y, y15 = ptd.y.tolist(), ptd.y_with_15_eq_10.tolist()
    series = {"R1": y, "R2": y15, "FIX": y + _alternating(float(ptd.r1_mean[0]), 10),
              "REB": y + y15}
    for s, ys in series.items():
        for period, v in zip(months(len(ys)), ys, strict=True):
            row(f"SPC_{s}", "spc_y", None, None, v, period=period)

    mean_raw = read(PHE / "testdata_Mean__testdata_Mean.csv").to_csv(index=False)
    return {
        "orgs.csv": "\n".join(orgs) + "\n",
        "inds.csv": "\n".join(inds) + "\n",
        "values.csv": "\n".join(vals) + "\n",
        "mean_raw.csv": mean_raw,
        # one raw value per row -> the mean per area (aggregate: mean), and over all rows
        "mean_by_area.yaml": "columns: {org_code: area, value: values}\n"
                             f"constants: {{indicator_id: mean_area, period: '{PERIOD}'}}\n"
                             "aggregate: mean\n",
        "mean_all.yaml": "columns: {value: values}\nignore: [area]\n"
                         f"constants: {{org_code: PHE, indicator_id: mean_area, "
                         f"period: '{PERIOD}'}}\naggregate: mean\n",
    }


def _load(*args: str) -> dict[str, Any]:
    res = CliRunner().invoke(cli, ["load", *args, "--json"])
    assert res.exit_code == 0, res.output
    out: dict[str, Any] = json.loads(res.stdout)
    return out


@pytest.fixture(scope="module", params=BACKENDS)
def api(request, module_database, database_factory, tmp_path_factory) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    """A client on a database of each backend holding every reference input, loaded by
    ``qidash load``."""
    url = module_database(request.param)
    folder = tmp_path_factory.mktemp("reference_files")
    for name, content in reference_files().items():
        (folder / name).write_text(content, encoding="utf-8")
    override_settings(Settings(database_url=url))
    try:
        _load("organisations", str(folder / "orgs.csv"))
        _load("indicators", str(folder / "inds.csv"))
        out = _load("values", str(folder / "values.csv"), "--skip-invalid")
        # the reference's rows with a missing numerator or denominator are the only rejects
        assert out["status"] == "loaded"
        assert {e["column"] for e in out["errors"]} <= {"numerator", "denominator", "value"}
        assert out["rows_rejected"] == 3 + 3 + 3 + 3  # Area09-11 of prop1/prop100/rate x2
        for mapping in ("mean_by_area.yaml", "mean_all.yaml"):
            out = _load("values", str(folder / "mean_raw.csv"), "--mapping",
                        str(folder / mapping))
            assert (out["status"], out["rows_rejected"]) == ("loaded", 0)
        with TestClient(create_api(), raise_server_exceptions=False) as c:
            yield c
    finally:
        override_settings(None)
        from core.db import _engine_for

        _engine_for(url).dispose()
        _engine_for.cache_clear()
        database_factory.drop(url)


def get(client: TestClient, path: str, **params: Any) -> dict[str, Any]:
    r = client.get(f"/api/v1{path}", params=params)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def by_org(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["org_code"]: r for r in rows}


def num(x: Any) -> float:
    return float("nan") if x is None else float(x)


# --------------------------------------------------------------------------- intervals


@pytest.mark.parametrize(("indicator", "multiplier", "path"), [
    ("prop1", 1, "testdata_Proportion__testdata_Prop.csv"),
    ("prop100", 100, "testdata_Proportion__testdata_Prop.csv"),
    ("rate100", 100, "testdata_Rate__testdata_Rate.csv"),
    ("rate100k", 100000, "testdata_Rate__testdata_Rate.csv"),
])
@pytest.mark.parametrize("confidence", [95, 99.8])
def test_wilson_and_rate_intervals(api, indicator, multiplier, path, confidence):
    """Wilson (proportions) and exact-below-10 / Byar (rates) limits at 95% and 99.8%, every
    area of the test data; areas with a missing count have no value."""
    ref = read(PHE / path)
    ref = ref[ref.multiplier == multiplier].set_index("Area")
    lc, uc = ("lower95_0cl", "upper95_0cl") if confidence == 95 else (
        "lower99_8cl", "upper99_8cl")
    res = get(api, f"/indicators/{indicator}/comparison", period=PERIOD, peers="parent:PHE",
              confidence=confidence)
    assert res["confidence"] == confidence
    rows = by_org(res["rows"])
    for area, r in ref.iterrows():
        if np.isnan(r.value):
            assert rows.get(area, {}).get("value") is None, area
            continue
        got = rows[area]
        assert (got["numerator"], got["denominator"]) == (r.Numerator, r.Denominator)
        np.testing.assert_allclose(
            [got["value"], got["lower_ci"], got["upper_ci"]], [r.value, r[lc], r[uc]],
            rtol=1e-9, err_msg=area)


@pytest.mark.parametrize("confidence", [95, 99.8])
def test_byar_and_wilson_test_data(api, confidence):
    """PHEindicatormethods' Byar (counts of 10 and more; the package's Byar limits below 10
    events are not phe_rate's method, which qidash follows) and Wilson rows, incl. a
    non-integer numerator (0.445 of 1)."""
    ref = read(PHE / "testdata_Byars_Wilson__testdata_B_W.csv")
    conf = f"{confidence}%"
    counts = by_org(get(api, "/indicators/bw_count/comparison", period=PERIOD,
                        peers="parent:BW", confidence=confidence)["rows"])
    props = by_org(get(api, "/indicators/bw_prop/comparison", period=PERIOD,
                       peers="parent:BW", confidence=confidence)["rows"])
    checked = 0
    for i, r in enumerate(ref.itertuples()):
        if r.confidence != conf or (r.method == "Byars" and r.x < 10):
            continue
        got = (counts if r.method == "Byars" else props)[f"BW{i:02d}"]
        np.testing.assert_allclose([got["lower_ci"], got["upper_ci"]],
                                   [r.lowercl, r.uppercl], rtol=1e-9, err_msg=str(i))
        checked += 1
    assert checked == (5 if confidence == 95 else 6)


@pytest.mark.parametrize(("indicator", "path"), [
    ("prop1", "testdata_Proportion__testdata_Prop_g.csv"),
    ("rate100k", "testdata_Rate__testdata_Rate_g.csv"),
])
def test_network_values_are_ratios_of_sums(api, indicator, path):
    """A PCN of two practices with an area's counts each: the peers' pooled benchmark and
    the network's own value (its triage) are the grouped test data's value (sum of
    numerators / sum of denominators)."""
    ref = read(PHE / path).dropna(subset=["value"])
    for r in ref.itertuples():
        res = get(api, f"/indicators/{indicator}/comparison", period=PERIOD,
                  peers=f"parent:G_{r.Area}")
        assert res["benchmark"]["kind"] == "peers"
        assert res["benchmark"]["value"] == pytest.approx(r.value, rel=1e-12), r.Area
        assert res["n"] == 2
        tri = get(api, f"/networks/G_{r.Area}/triage", indicator=indicator)
        assert [s["network_value"] for s in tri["summary"]] == [
            pytest.approx(r.value, rel=1e-12)], r.Area


def test_means_of_raw_values(api):
    """A line-level file of raw values loaded with ``aggregate: mean``: each area's mean and
    Student-t 95% interval (PHEindicatormethods ``phe_mean``), and the mean of all rows; the
    interval is a published one, so 99.8% gives none."""
    ref = read(PHE / "testdata_Mean__testdata_Mean_results.csv").set_index("area")
    rows = by_org(get(api, "/indicators/mean_area/comparison", period=PERIOD,
                      peers="parent:PHE")["rows"])
    for area in ("Area1", "Area2"):
        r = ref.loc[area]
        np.testing.assert_allclose(
            [rows[area]["value"], rows[area]["lower_ci"], rows[area]["upper_ci"]],
            [r.value, r.lower95_0cl, r.upper95_0cl], rtol=1e-9)
    eng = by_org(get(api, "/indicators/mean_area/comparison", period=PERIOD,
                     org_type="pcn")["rows"])["PHE"]
    r = ref.loc["No grouping"]
    np.testing.assert_allclose([eng["value"], eng["lower_ci"], eng["upper_ci"]],
                               [r.value, r.lower95_0cl, r.upper95_0cl], rtol=1e-9)
    high = by_org(get(api, "/indicators/mean_area/comparison", period=PERIOD,
                      peers="parent:PHE", confidence=99.8)["rows"])
    assert high["Area1"]["value"] == pytest.approx(ref.loc["Area1", "value"])
    assert high["Area1"]["lower_ci"] is None


# --------------------------------------------------------------------------- funnels


def test_funnel_proportions(api):
    """All 303 significance labels (as flags) and the 100 limit points of PHE's proportion
    funnel test data, and the baseline."""
    inp = read(PHE / "testdata_funnel_prop_inputs.csv")
    out = read(PHE / "testdata_funnel_prop_outputs.csv")
    res = get(api, "/indicators/funp/funnel", period=PERIOD, peers="parent:FUNP")
    rows = by_org(res["rows"])
    got = [rows[f"FP{i:03d}"]["flag"] for i in range(len(inp))]
    assert got == [FLAG[s] for s in inp.significance]
    lim = pd.DataFrame(res["limits"])
    np.testing.assert_array_equal(lim.denominator, out.Population)
    np.testing.assert_allclose(
        lim[["lower_95", "upper_95", "lower_998", "upper_998", "centre"]].to_numpy(),
        out[["Lower2s0025limit", "Upper2s0025limit", "Lower3s0001limit", "Upper3s0001limit",
             "Baseline"]].to_numpy(), atol=5.01e-7)
    assert res["target"] == pytest.approx(out.Baseline[0], abs=5e-7)
    assert res["overdispersion"] is False


def test_funnel_ratios(api):
    """All 300 significance labels of PHE's ratio funnel test data (exact below 10 events,
    Byar from 10, against 1)."""
    inp = read(PHE / "testdata_funnel_ratio_inputs.csv")
    res = get(api, "/indicators/funr/funnel", period=PERIOD, peers="parent:FUNR")
    rows = by_org(res["rows"])
    assert [rows[f"FR{i:03d}"]["flag"] for i in range(len(inp))] == [
        FLAG[s] for s in inp.significance]
    assert res["target"] == 1.0


def test_funnel_ratio_limits_at_published_points(api):
    """PHE's exact Poisson curve: at each expected count the package found for 1-101
    observed events, the API's limit for a unit with that expected count is the published
    ratio (``*_isr`` / 100)."""
    out = read(PHE / "testdata_funnel_ratio_outputs.csv")
    rows = by_org(get(api, "/indicators/funr/funnel", period=PERIOD,
                      peers="parent:FUNRC")["rows"])
    for k, (side, col) in enumerate((("lower_2s", "lower_95"), ("upper_2s", "upper_95"),
                                     ("lower_3s", "lower_998"), ("upper_3s", "upper_998"))):
        got = [rows[f"FC{k * len(out) + i:03d}"][col] for i in range(len(out))]
        np.testing.assert_allclose(np.asarray(got) * 100, out[f"{side}_isr"], rtol=1e-5,
                                   err_msg=side)


def test_funnelplotr_overdispersion(api):
    """FunnelPlotR's published phi for its 6-row SR example (SHMI defaults): the API's
    ``overdispersion=true`` adjusts (tau2 > 0) and widens the limits."""
    plain = get(api, "/indicators/funr/funnel", period=PERIOD, peers="parent:FPR")
    res = get(api, "/indicators/funr/funnel", period=PERIOD, peers="parent:FPR",
              overdispersion="true")
    assert round(res["phi"], 6) == 2.948033
    assert res["overdispersion"] is True
    assert res["tau2"] > 0
    assert plain["overdispersion"] is False
    # the adjusted limits: exp(+-z sqrt(1/E + tau2)) about 1 (FORMULAS.md 4b, SR + SHMI)
    for r in res["rows"]:
        for side, sign in (("lower", -1), ("upper", 1)):
            for level, z in (("95", 1.959963984540054), ("998", 3.090232306167813)):
                want = np.exp(sign * z * np.sqrt(1 / r["denominator"] + res["tau2"]))
                assert r[f"{side}_{level}"] == pytest.approx(want, rel=1e-12)
    wide, narrow = by_org(res["rows"])["FPR0"], by_org(plain["rows"])["FPR0"]
    assert wide["upper_95"] > narrow["upper_95"]


# --------------------------------------------------------------------------- SPC


def spc(client: TestClient, series: str, **params: Any) -> pd.DataFrame:
    res = get(client, f"/organisations/SPC_{series}/indicators/spc_y/spc", **params)
    return pd.DataFrame(res["points"])


def assert_limits(points: pd.DataFrame, ref: pd.DataFrame, prefix: str) -> None:
    np.testing.assert_allclose(
        points[["mean", "lower_limit", "upper_limit"]].to_numpy(dtype=float),
        ref[[f"{prefix}_mean", f"{prefix}_lpl", f"{prefix}_upl"]].to_numpy(), rtol=1e-12,
        atol=1e-12)


def assert_types(points: pd.DataFrame, ref: pd.DataFrame, prefix: str) -> None:
    assert points["special_cause"].tolist() == [POINT_TYPE[t] for t in ref[f"{prefix}_point_type"]]


@pytest.mark.parametrize(("series", "prefix", "screen"),
                         [("R1", "r1", True), ("R2", "r2", True), ("R2", "r3", False)])
def test_spc_nhsrplotthedots_example(api, series, prefix, screen):
    """NHSRplotthedots' own example: mean, process limits and point types, screened (its
    default) and unscreened."""
    ref = read(PTD)
    pts = spc(api, series, screen_outliers=str(screen).lower())
    assert pts["period"].tolist() == months(20)
    np.testing.assert_allclose(pts["value"].astype(float), ref.y if prefix == "r1"
                               else ref.y_with_15_eq_10, rtol=1e-15)
    assert_limits(pts, ref, prefix)
    assert_types(pts, ref, prefix)


def test_spc_fixed_limits(api):
    """``fix_after=20``: limits from the example's 20 points, carried over 10 later points."""
    ref = read(PTD)
    pts = spc(api, "FIX", fix_after=20)
    assert len(pts) == 30
    assert_limits(pts.iloc[:20], ref, "r1")
    assert_types(pts.iloc[:20], ref, "r1")
    later = pts.iloc[20:]
    for col, ref_col in (("mean", "r1_mean"), ("lower_limit", "r1_lpl"),
                         ("upper_limit", "r1_upl")):
        np.testing.assert_allclose(later[col].astype(float), ref[ref_col].iloc[0], rtol=1e-12)
    assert (later["special_cause"] == "none").all()  # alternating about the mean
    unfixed = spc(api, "FIX")
    assert unfixed["upper_limit"].iloc[-1] != pytest.approx(ref.r1_upl[0])  # the 10 count


@pytest.mark.parametrize(("screen", "second"), [(True, "r2"), (False, "r3")])
def test_spc_rebased_limits(api, screen, second):
    """The example then its variant with point 15 = 10, rebased where the variant starts:
    each segment has the limits and point types NHSRplotthedots gives that series alone."""
    ref = read(PTD)
    rebase = months(40)[20]
    pts = spc(api, "REB", rebase=rebase, screen_outliers=str(screen).lower())
    assert len(pts) == 40
    assert pts["segment"].nunique() == 2
    assert pts["segment"].iloc[19] != pts["segment"].iloc[20]
    if screen:
        assert_limits(pts.iloc[:20], ref, "r1")
        assert_types(pts.iloc[:20], ref, "r1")
    assert_limits(pts.iloc[20:], ref, second)
    assert_types(pts.iloc[20:], ref, second)
