"""Every read endpoint answers in JSON and CSV on SQLite and PostgreSQL, with the engine's
figures."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pandas as pd
import pytest

from core import stats
from tests.api.hand_checks import CHECKS
from tests.core.services.factories import PRACTICES

V = "/api/v1"

READS = [
    "/organisations?type=practice",
    "/organisations/PCN1",
    "/indicators",
    "/indicators/imm",
    "/indicators/imm/comparison",
    "/indicators/imm/comparison?peers=parent:PCN1&benchmark=ENG&confidence=99.8",
    "/indicators/imm/comparison?peers=similar:A81001&similar_k=4&benchmark=target",
    "/indicators/ae_los/comparison",
    "/indicators/imm/funnel?overdispersion=true",
    "/indicators/ae_los/funnel",
    "/indicators/imm/opportunity?level=upper_quartile",
    "/organisations/A81001/indicators/imm/spc",
    "/organisations/A81001/indicators/imm/spc?rebase=2024-01&fix_after=6&screen_outliers=false",
    "/organisations/A81001/profile",
    "/networks/PCN2/triage",
    "/groups",
    "/annotations",
    "/loads",
    "/freshness",
    "/health",
]
TABLES = [u for u in READS if not u.startswith(("/organisations/PCN1", "/indicators/imm?",
                                                  "/freshness", "/health"))
          and u != "/indicators/imm"]


def _strict(text: str) -> object:
    """Parse JSON refusing NaN/Infinity (which json.loads would otherwise accept)."""
    def bad(token: str) -> object:
        raise AssertionError(f"non-finite number {token} in JSON")
    return json.loads(text, parse_constant=bad)


@pytest.mark.parametrize("url", READS)
def test_read_endpoints_answer_json(client, seeded, url):
    """Each read answers strict JSON whose figures equal the hand-worked ones
    (:mod:`tests.api.hand_checks`: plain SQL and the reference formulas written out)."""
    r = client.get(V + url)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = _strict(r.text)
    db_url, net = seeded
    CHECKS[url](body, db_url, net)


def _table(body: dict, header: list[str]) -> list[dict]:
    """The list of records in a JSON body whose keys hold every CSV column."""
    for key in ("rows", "items", "points"):
        recs = body.get(key)
        if isinstance(recs, list) and recs and set(header) <= set(recs[0]):
            return recs
    raise AssertionError(f"no table with columns {header} in {list(body)}")


@pytest.mark.parametrize("url", TABLES)
def test_table_endpoints_answer_csv(client, url):
    """The CSV download holds the JSON table's cells: same rows, same order, same numbers
    (the JSON's figures are checked by :func:`test_read_endpoints_answer_json`)."""
    sep = "&" if "?" in url else "?"
    r = client.get(V + url + sep + "format=csv")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert 'filename="' in r.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0]  # a header row
    assert "nan" not in r.text.lower().split(",")
    body = client.get(V + url).json()
    if len(rows) == 1:  # an empty table: the JSON has none either
        assert not any(isinstance(v, list) and v for v in body.values())
        return
    recs = _table(body, rows[0])
    assert len(rows) - 1 == len(recs)
    for line, rec in zip(rows[1:], recs, strict=True):
        for col, cell in zip(rows[0], line, strict=True):
            want = rec[col]
            if want is None:
                assert cell == "", (col, cell)
            elif isinstance(want, bool):
                assert cell.lower() == str(want).lower(), (col, cell)
            elif isinstance(want, int | float):
                assert float(cell) == pytest.approx(want, rel=1e-12), (col, cell)
            elif isinstance(want, list | dict):
                continue  # nested cells are flattened in the CSV
            else:
                assert cell == str(want), (col, cell)


def test_comparison_json_equals_engine(client, seeded):
    _, net = seeded
    body = client.get(V + "/indicators/imm/comparison").json()
    assert body["period"]["label"] == net.months[-1]
    assert body["peers"]["org_type"] == "practice"
    assert body["indicator"]["id"] == "imm"
    rows = pd.DataFrame(body["rows"]).set_index("org_code").sort_index()
    assert list(rows.index) == sorted(PRACTICES)
    ref = stats.peer_comparison(rows[["numerator", "denominator"]], polarity="higher_is_better",
                                value_type="proportion", multiplier=100.0, target=95.0)
    np.testing.assert_allclose(rows["lower_ci"], ref.rows["lower"], rtol=1e-12)
    np.testing.assert_allclose(rows["upper_ci"], ref.rows["upper"], rtol=1e-12)
    assert rows["rank"].tolist() == ref.rows["rank"].tolist()
    assert rows["comparison"].tolist() == ref.rows["comparison"].tolist()
    assert body["benchmark"]["value"] == pytest.approx(ref.pooled)
    assert body["quartiles"]["median"] == pytest.approx(ref.quartiles[1])
    assert len(body["deciles"]) == 9
    assert [r["rank"] for r in body["rows"]] == sorted(r["rank"] for r in body["rows"])


def test_comparison_csv_matches_json(client):
    j = client.get(V + "/indicators/imm/comparison?peers=parent:PCN2").json()["rows"]
    c = pd.read_csv(io.StringIO(client.get(
        V + "/indicators/imm/comparison?peers=parent:PCN2&format=csv").text))
    assert c["org_code"].tolist() == [r["org_code"] for r in j]
    np.testing.assert_allclose(c["value"], [r["value"] for r in j])


def test_suppressed_value_is_null_in_json(client):
    rows = client.get(V + "/indicators/ae_los/comparison").json()["rows"]
    a10 = next(r for r in rows if r["org_code"] == "A81010")
    assert a10["value"] is None
    assert a10["rank"] is None
    assert a10["comparison"] == "not_compared"


def test_funnel_json(client):
    body = client.get(V + "/indicators/imm/funnel?overdispersion=true").json()
    assert body["overdispersion_requested"] is True
    assert body["phi"] > 0
    assert len(body["limits"]) == 100
    assert {r["flag"] for r in body["rows"]} <= {"above_998", "above_95", "within",
                                                "below_95", "below_998"}
    ref = stats.funnel([r["numerator"] for r in body["rows"]],
                       [r["denominator"] for r in body["rows"]], value_type="proportion",
                       multiplier=100.0, overdispersion=True)
    assert body["phi"] == pytest.approx(ref.phi)
    assert [r["flag"] for r in body["rows"]] == ref.rows["flag"].tolist()


def test_spc_json(client, seeded):
    _, net = seeded
    body = client.get(V + "/organisations/A81001/indicators/imm/spc").json()
    assert [p["period"] for p in body["points"]] == net.months
    values = np.array([p["value"] for p in body["points"]], dtype=float)
    ref = stats.xmr(values, improvement_direction="increase", target=95.0)
    np.testing.assert_allclose([p["mean"] for p in body["points"]], ref.points["mean"])
    assert body["variation"] == ref.variation
    assert body["assurance"] == ref.assurance
    assert {p["special_cause"] for p in body["points"]} <= {"improvement", "concern",
                                                           "neutral", "none"}
    rebased = client.get(V + "/organisations/A81001/indicators/imm/spc?rebase=2024-01").json()
    assert rebased["rebase"] == ["2024-01"]
    assert rebased["points"][-1]["segment"] == 1


def test_organisations_paging_and_detail(client):
    page = client.get(V + "/organisations?type=practice&limit=4&offset=4").json()
    assert page["total"] == 10
    assert [i["code"] for i in page["items"]] == ["A81005", "A81006", "A81007", "A81008"]
    d = client.get(V + "/organisations/A81001").json()
    assert [a["code"] for a in d["ancestors"]] == ["PCN1", "ICB1", "ENG"]
    assert d["attributes"]["imd_score"] == 12.0


def test_profile_and_triage_json(client):
    p = client.get(V + "/organisations/A81002/profile").json()
    imm = next(r for r in p["rows"] if r["indicator_id"] == "imm")
    cmp_row = next(r for r in client.get(V + "/indicators/imm/comparison").json()["rows"]
                   if r["org_code"] == "A81002")
    assert imm["value"] == pytest.approx(cmp_row["value"])
    assert imm["percentile"] == pytest.approx(cmp_row["percentile"])
    t = client.get(V + "/networks/PCN2/triage?indicator=imm").json()
    assert {r["indicator_id"] for r in t["rows"]} == {"imm"}
    assert t["member_type"] == "practice"
    for r in t["rows"]:
        assert r["significantly_worse"] == (r["comparison"] == "worse")
