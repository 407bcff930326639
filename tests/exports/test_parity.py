"""The pack's numbers are the API's: the same read services with the same parameters give the
same figures in the deck as in the API's JSON (on SQLite and PostgreSQL)."""

from __future__ import annotations

import math

import pytest
from fastapi.testclient import TestClient

from api.app import create_api
from exports.data import gather_pack

IND = "imm_menb_12m"
PCN = "U08235"  # Regis Healthcare PCN: 6 practices
TRUST = "RYR"  # University Hospitals Sussex: A&E monthly, 36 months


@pytest.fixture(scope="module")
def api(pack_db) -> TestClient:
    return TestClient(create_api())


def _get(api: TestClient, path: str, **params) -> dict:
    r = api.get(f"/api/v1{path}", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def _close(a, b) -> bool:
    if a is None or b is None or (isinstance(a, float) and math.isnan(a)):
        return (a is None or math.isnan(a)) and (b is None or math.isnan(b))
    return a == pytest.approx(b, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("confidence", [95.0, 99.8])
def test_network_pack_equals_the_api(pack_session, api, confidence):
    ind = gather_pack(pack_session, org_code=PCN, indicators=IND, period="2021-22",
                      confidence=confidence, overdispersion=True).indicators[0]
    q = {"period": "2021-22", "org_type": "practice"}
    cmp = _get(api, f"/indicators/{IND}/comparison", confidence=confidence, **q)
    assert ind.benchmark == pytest.approx(cmp["benchmark"]["value"])
    assert list(ind.quartiles) == pytest.approx(
        [cmp["quartiles"][k] for k in ("q1", "median", "q3")])
    by_code = {r["org_code"]: r for r in cmp["rows"]}
    assert len(by_code) == len(ind.peers_frame) == cmp["n"]
    for r in ind.peers_frame.itertuples():
        api_row = by_code[r.org_code]
        assert _close(r.value, api_row["value"])
        assert _close(r.lower, api_row["lower_ci"])
        assert _close(r.upper, api_row["upper_ci"])
        assert r.comparison == api_row["comparison"]

    fun = _get(api, f"/indicators/{IND}/funnel", overdispersion="true", **q)
    assert ind.funnel_phi == pytest.approx(fun["phi"])
    assert ind.funnel_centre == pytest.approx(fun["target"])
    flags = {r["org_code"]: r["flag"] for r in fun["rows"]}
    assert dict(zip(ind.peers_frame["org_code"], ind.peers_frame["funnel_flag"],
                                 strict=True)) == flags

    opp = _get(api, f"/indicators/{IND}/opportunity", level="median", **q)
    members = set(ind.member_codes)
    assert ind.opportunity_level == pytest.approx(opp["level"])
    assert ind.opportunity_extra == pytest.approx(
        sum(r["extra"] or 0 for r in opp["rows"] if r["org_code"] in members))

    # the network's own value is the triage service's pooled value (a ratio of sums)
    tri = _get(api, f"/networks/{PCN}/triage", indicator=IND, confidence=confidence)
    summary = next(s for s in tri["summary"] if s["indicator_id"] == IND)
    assert summary["period"] == "2021-22"
    assert ind.org_value["value"] == pytest.approx(summary["network_value"])
    assert sorted(r["org_code"] for r in tri["rows"]) == ind.member_codes
    worse = sum(r["comparison"] == "worse" for r in tri["rows"])
    assert worse == int((ind.members["comparison"] == "worse").sum())


def test_organisation_pack_equals_the_api(pack_session, api):
    ind = gather_pack(pack_session, org_code=TRUST, indicators="ae_4hr_all").indicators[0]
    assert ind.member_codes == [TRUST]
    cmp = _get(api, "/indicators/ae_4hr_all/comparison", period=ind.period.label,
               org_type="trust")
    mine = next(r for r in cmp["rows"] if r["org_code"] == TRUST)
    assert ind.org_value["value"] == pytest.approx(mine["value"])
    assert ind.org_value["lower"] == pytest.approx(mine["lower_ci"])
    assert ind.org_value["category"] == mine["comparison"]
    spc = _get(api, f"/organisations/{TRUST}/indicators/ae_4hr_all/spc",
               period_type=ind.period.period_type)
    assert ind.spc_points == len(spc["points"]) == 36
    assert ind.spc_variation == spc["variation"]
    assert ind.spc_assurance == spc["assurance"]
    assert list(ind.spc_frame["value"]) == pytest.approx([p["value"] for p in spc["points"]])
    assert list(ind.spc_frame["upl"]) == pytest.approx([p["upper_limit"] for p in spc["points"]])
    prof = _get(api, f"/organisations/{TRUST}/profile")
    row = next(r for r in prof["rows"] if r["indicator_id"] == "ae_4hr_all")
    assert row["period"] == ind.period.label
    assert ind.org_value["value"] == pytest.approx(row["value"])
    assert ind.benchmark == pytest.approx(row["benchmark"])
    assert ind.spc_variation == row["spc_variation"]
    assert ind.opportunity_extra == pytest.approx(row["opportunity"] or 0.0)
