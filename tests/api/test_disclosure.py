"""Disclosure control on every API route that returns data (SQLite and PostgreSQL).

With ``QIDASH_DISCLOSURE_CONTROL=true`` every GET route of the OpenAPI document is called, for
every indicator and for the organisations with small counts, as JSON and as CSV, on the real
sample with counts from 1 to 7: no count field may hold 1 to 7. Then the rule's effects one by
one: a suppressed row says so and shows no value, interval, rank, flag or place; aggregates
are computed from the true counts and disclosed themselves; the rule's settings work; values
suppressed at source behave as before.
"""

from __future__ import annotations

import csv
import io
import itertools
import statistics
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from api.app import create_api
from core.db import make_engine
from core.settings import Settings, get_settings, override_settings
from tests.conftest import BACKENDS
from tests.disclosure_data import (
    COUNT_KEYS,
    PERIOD,
    SMALL,
    SMALL_CODES,
    TINY_PCN,
    load_disclosure_sample,
    small_counts,
)

INDICATORS = ("imm_6in1_12m", "imm_mmr1_24m", "imm_mmr2_5y", "ae_4hr")
NOTE = "suppressed: small numbers"


@pytest.fixture(scope="module", params=BACKENDS)
def sample_url(request, module_database, database_factory) -> Iterator[str]:  # type: ignore[no-untyped-def]
    url = module_database(request.param)
    engine = make_engine(url)
    try:
        load_disclosure_sample(engine)
        yield url
    finally:
        engine.dispose()
        database_factory.drop(url)


class Client:
    """One API client; ``get`` with the control on (``rule``: the settings' rule fields),
    ``raw`` with it off. The settings are global, so each call sets them."""

    def __init__(self, url: str, client: TestClient) -> None:
        self.url, self.client = url, client
        self.rule: dict[str, object] = {}

    def _call(self, on: bool, path: str, **kw: object):  # type: ignore[no-untyped-def]
        before = get_settings()
        override_settings(Settings(database_url=self.url, disclosure_control=on,
                                   **(self.rule if on else {})))
        try:
            return self.client.get(path, **kw)  # type: ignore[arg-type]
        finally:
            override_settings(before)

    def get(self, path: str, **kw: object):  # type: ignore[no-untyped-def]
        return self._call(True, path, **kw)

    def raw(self, path: str, **kw: object):  # type: ignore[no-untyped-def]
        return self._call(False, path, **kw)


@pytest.fixture
def api(sample_url) -> Iterator[Client]:  # type: ignore[no-untyped-def]
    before = get_settings()
    override_settings(Settings(database_url=sample_url))
    try:
        with TestClient(create_api(), raise_server_exceptions=False) as c:
            yield Client(sample_url, c)
    finally:
        override_settings(before)


def _data_routes(client: TestClient) -> list[tuple[str, list[str], list[str]]]:
    """(path template, path parameters, query parameters) of every GET route in OpenAPI."""
    doc = client.get("/api/openapi.json").json()
    out = []
    for path, ops in doc["paths"].items():
        op = ops.get("get")
        if op is None or path.endswith((".pptx", ".pdf")):
            continue  # the packs: tests/exports/test_disclosure.py reads every text frame
        params = op.get("parameters", [])
        out.append((path, [p["name"] for p in params if p["in"] == "path"],
                    [p["name"] for p in params if p["in"] == "query"]))
    return out


def _csv_counts(text: str) -> list[str]:
    out = []
    for i, row in enumerate(csv.DictReader(io.StringIO(text))):
        for k in COUNT_KEYS:
            v = row.get(k)
            if v not in (None, "") and 1 <= float(v) <= 7:
                out.append(f"row {i} {k}={v}")
    return out


def test_no_route_lets_a_count_from_1_to_7_out(api: Client) -> None:
    routes = _data_routes(api.client)
    names = {p for _, ps, _ in routes for p in ps}
    assert {"indicator_id", "code"} <= names
    # the practices with small counts, their PCNs, the small PCN and England
    values = {"indicator_id": INDICATORS,
              "code": (*SMALL_CODES, "U37037", "U80779", "U06871", TINY_PCN, "E92000001")}
    called, leaks, shown_when_off = 0, [], 0
    for path, pnames, qnames in routes:
        if any(p not in values for p in pnames):
            continue
        for combo in itertools.product(*(values[p] for p in pnames)):
            url = path
            for p, v in zip(pnames, combo, strict=True):
                url = url.replace("{" + p + "}", v)
            queries = [{}]
            if "period" in qnames:
                queries.append({"period": PERIOD})
            if "format" in qnames:
                queries += [{**q, "format": "csv"} for q in list(queries)]
            for q in queries:
                r = api.get(url, params=q)
                assert r.status_code < 500, (url, q, r.text[:300])
                if r.status_code != 200:
                    continue
                called += 1
                if r.headers["content-type"].startswith("text/csv"):
                    found = _csv_counts(r.text)
                    before = _csv_counts(api.raw(url, params=q).text)
                else:
                    found = small_counts(r.json())
                    before = small_counts(api.raw(url, params=q).json())
                leaks += [f"{url} {q}: {f}" for f in found]
                shown_when_off += bool(before)
    assert called > 60, called
    assert not leaks, leaks[:20]
    # the same walk without the control finds the small counts (the test can fail)
    assert shown_when_off > 10, shown_when_off


def _row(rows: list[dict], code: str) -> dict:
    return next(r for r in rows if r["org_code"] == code)


def test_comparison_row_suppressed_and_out_of_rank(api: Client) -> None:
    q = {"period": PERIOD, "org_type": "practice"}
    body = api.get("/api/v1/indicators/imm_6in1_12m/comparison", params=q).json()
    raw = api.raw("/api/v1/indicators/imm_6in1_12m/comparison", params=q).json()
    rows = body["rows"]
    for code in ("H82010", "H82621", "TINY1", "TINY2"):
        r = _row(rows, code)
        assert r["disclosure"] == NOTE
        assert r["numerator"] is None
        assert r["denominator"] is None
        for k in ("value", "lower_ci", "upper_ci", "rank", "percentile", "quartile", "decile",
                  "meets_target"):
            assert r[k] is None, (code, k)
        assert r["comparison"] == "not_compared"
        assert _row(raw["rows"], code)["rank"] is not None  # ranked without the control
    # a suppressed row does not sit at its rank: ranked rows come first
    ranked = [r["rank"] is not None for r in rows]
    assert ranked == sorted(ranked, reverse=True)
    shown = [r for r in rows if r["numerator"] is not None]
    assert shown
    assert all(r["numerator"] % 5 == 0 and r["denominator"] % 5 == 0 for r in shown)
    assert all(r["disclosure"] is None for r in shown)
    # statistics on the true counts: the pooled benchmark and the ranks are the same
    assert body["benchmark"] == raw["benchmark"]
    # the quartiles are over the values shown (a quartile of hidden values can be one)
    vals = [r["value"] for r in rows if r["value"] is not None]
    assert [body["quartiles"][k] for k in ("q1", "median", "q3")] == pytest.approx(
        np.percentile(vals, [25, 50, 75]).tolist())
    assert body["quartiles"] != raw["quartiles"]
    # ranks and percentiles among the rows shown: the raw order, without the gaps that
    # would say where a suppressed row ranked
    ranks = [r["rank"] for r in shown if r["rank"] is not None]
    assert ranks == sorted(ranks)
    assert all(k == 1 + sum(x < k for x in ranks) for k in ranks)
    raw_ranks = [_row(raw["rows"], r["org_code"])["rank"] for r in shown
                 if r["rank"] is not None]
    assert raw_ranks == sorted(raw_ranks)
    assert max(raw_ranks) > max(ranks)  # the raw ranks had gaps
    # percentiles: the percent rank among the values shown (ties share the lowest)
    ranked_rows = [r for r in shown if r["percentile"] is not None]
    vals = pd.Series([r["value"] for r in ranked_rows])
    expected = ((vals.rank(method="min") - 1) / (len(vals) - 1) * 100).tolist()
    assert [r["percentile"] for r in ranked_rows] == pytest.approx(expected)
    # the CSV says it too
    text = api.get("/api/v1/indicators/imm_6in1_12m/comparison",
                  params={**q, "format": "csv"}).text
    row = next(r for r in csv.DictReader(io.StringIO(text)) if r["org_code"] == "H82010")
    assert row["disclosure"] == NOTE
    assert row["value"] == ""
    assert row["numerator"] == ""


def test_funnel_opportunity_spc_profile_triage(api: Client) -> None:
    q = {"period": PERIOD, "org_type": "practice"}
    f = api.get("/api/v1/indicators/imm_6in1_12m/funnel", params=q).json()
    r = _row(f["rows"], "H82010")
    assert r["value"] is None
    assert r["flag"] is None
    assert r["lower_95"] is None
    assert r["disclosure"] == NOTE
    assert f["target"] == api.raw("/api/v1/indicators/imm_6in1_12m/funnel",
                                  params=q).json()["target"]

    o = api.get("/api/v1/indicators/imm_6in1_12m/opportunity", params=q).json()
    o_raw = api.raw("/api/v1/indicators/imm_6in1_12m/opportunity", params=q).json()
    assert _row(o["rows"], "TINY2")["extra"] is None
    extras = [x["extra"] for x in o["rows"] if x["extra"] is not None]
    assert extras
    assert all(e == 0 or (e >= 10 and e % 5 == 0) for e in extras)
    assert extras == sorted(extras, reverse=True)
    assert o["total"] % 5 == 0
    assert abs(o["total"] - o_raw["total"]) <= 2.5
    for p in o["by_parent"]:
        assert p["extra"] is None or p["extra"] == 0 or p["extra"] >= 10

    s = api.get("/api/v1/organisations/H82010/indicators/imm_6in1_12m/spc").json()
    last = s["points"][-1]
    assert last["period"] == PERIOD
    assert last["value"] is None
    assert last["numerator"] is None
    assert last["disclosure"] == NOTE
    assert last["special_cause"] is None
    assert all(p["value"] is not None for p in s["points"][:-1])
    # 3 points: a run chart (no mean or limits); its median leaves the suppressed point out
    # (with it, the centre could give it away)
    assert s["points"][0]["mean"] is None
    shown = sorted(p["value"] for p in s["points"] if p["value"] is not None)
    assert s["run_chart"]["centre"] == pytest.approx(statistics.median(shown))
    raw = api.raw("/api/v1/organisations/H82010/indicators/imm_6in1_12m/spc").json()
    assert raw["points"][-1]["value"] == pytest.approx(100.0)
    raw_all = [p["value"] for p in raw["points"]]
    assert raw["run_chart"]["centre"] == pytest.approx(statistics.median(raw_all))

    prof = api.get("/api/v1/organisations/H82029/profile").json()
    mmr2 = next(x for x in prof["rows"] if x["indicator_id"] == "imm_mmr2_5y")
    assert mmr2["disclosure"] == NOTE
    assert mmr2["period"] == PERIOD
    for k in ("value", "lower_ci", "upper_ci", "rank", "percentile", "opportunity",
              "spc_variation", "meets_target", "numerator", "denominator"):
        assert mmr2[k] is None, k
    assert mmr2["comparison"] == "not_compared"
    # the peers' lowest value is not a suppressed peer's own value
    p6 = next(x for x in api.get("/api/v1/organisations/H82006/profile").json()["rows"]
              if x["indicator_id"] == "imm_mmr2_5y")
    assert p6["peer_min"] != pytest.approx(4 / 6 * 100)

    t = api.get(f"/api/v1/networks/{TINY_PCN}/triage").json()
    for x in t["rows"]:
        if x["indicator_id"] == "imm_6in1_12m":
            assert x["value"] is None
            assert x["flags"] == []
            assert x["disclosure"] == NOTE
    summ = next(x for x in t["summary"] if x["indicator_id"] == "imm_6in1_12m")
    # the network's own counts (5 of 7) are small: its value is suppressed too
    assert summ["network_value"] is None
    assert summ["significantly_worse"] == 0
    raw = next(x for x in api.raw(f"/api/v1/networks/{TINY_PCN}/triage").json()["summary"]
               if x["indicator_id"] == "imm_6in1_12m")
    assert raw["network_value"] == pytest.approx(5 / 7 * 100)


def test_rule_settings(api: Client) -> None:
    api.rule = {"disclosure_suppress_max": 10, "disclosure_round_to": 10}
    rows = api.get("/api/v1/indicators/imm_6in1_12m/comparison",
                   params={"period": PERIOD, "org_type": "practice"}).json()["rows"]
    shown = [r for r in rows if r["numerator"] is not None]
    assert all(r["numerator"] > 10 and r["numerator"] % 10 == 0 for r in shown)
    # H82008 has 10 of 10 in 2021-22: suppressed under this rule, not under the default
    assert _row(rows, "H82008")["disclosure"] == NOTE


def test_source_suppressed_values_unchanged(api: Client) -> None:
    # H82029 has no 6-in-1 numerator in 2021-22 (0 eligible): as today, with or without
    q = {"period": PERIOD, "org_type": "practice"}
    a = _row(api.get("/api/v1/indicators/imm_6in1_12m/comparison", params=q).json()["rows"],
             "H82029")
    b = _row(api.raw("/api/v1/indicators/imm_6in1_12m/comparison", params=q).json()["rows"],
             "H82029")
    assert a["disclosure"] is None
    assert {k: a[k] for k in b} == b


def test_control_off_changes_nothing(api: Client) -> None:
    body = api.raw("/api/v1/indicators/imm_6in1_12m/comparison",
                   params={"period": PERIOD, "org_type": "practice"}).json()
    assert "disclosure" not in body["rows"][0]
    assert _row(body["rows"], "H82010")["numerator"] == 5
    assert SMALL[("imm_6in1_12m", "H82010")] == (5, 5)


def test_aggregates_of_small_peer_sets(api: Client) -> None:
    # the tiny PCN's two practices (3 of 4, 2 of 3): their pooled benchmark is 5 of 7 and
    # their quartiles are their own values, so neither is shown; the funnel has no centre
    q = {"period": PERIOD, "peers": f"parent:{TINY_PCN}"}
    body = api.get("/api/v1/indicators/imm_6in1_12m/comparison", params=q).json()
    assert body["benchmark"]["value"] is None
    assert set(body["quartiles"].values()) == {None}
    assert all(v is None for v in body["deciles"])
    raw = api.raw("/api/v1/indicators/imm_6in1_12m/comparison", params=q).json()
    assert raw["benchmark"]["value"] == pytest.approx(5 / 7 * 100)
    f = api.get("/api/v1/indicators/imm_6in1_12m/funnel", params=q).json()
    assert f["target"] is None
    assert f["limits"] == []
    assert api.raw("/api/v1/indicators/imm_6in1_12m/funnel", params=q).json()["limits"]
    # a large peer set keeps its benchmark; quartiles are over the values shown
    q = {"period": PERIOD, "peers": "parent:U80779"}
    body = api.get("/api/v1/indicators/imm_6in1_12m/comparison", params=q).json()
    shown = sorted(r["value"] for r in body["rows"] if r["value"] is not None)
    assert body["benchmark"]["value"] is not None
    assert body["quartiles"]["median"] == pytest.approx(float(pd.Series(shown).median()))


def test_load_error_reports_withhold_rejected_text_from_non_analysts(api: Client) -> None:
    """A rejected cell (and the message quoting it) can be a small count: under the control
    only an analyst sees it; the line and column stay, so the report still says where."""
    from sqlalchemy.orm import Session

    from api.routes.loads import WITHHELD
    from core import auth
    from etl.pipeline import run_load

    engine = make_engine(api.url)
    try:
        res = run_load(engine, b"org_code,indicator_id,period,numerator,denominator\n"
                               b"H82006,imm_6in1_12m,2021-22,3,-5\n",
                       kind="values", file_name="small.csv")
        with Session(engine) as s:
            analyst = auth.create_token(s, "disclosure-analyst", "analyst")[1]
            viewer = auth.create_token(s, "disclosure-viewer", "viewer")[1]
            s.commit()
    finally:
        engine.dispose()
    assert res.status == "rejected"
    path = f"/api/v1/loads/{res.load_id}"
    raw = api.raw(path).json()["errors"]
    assert any(e["value"] == "-5" for e in raw)
    for headers in ({}, {"Authorization": f"Bearer {viewer}"}):
        shown = api.get(path, headers=headers).json()["errors"]
        assert [(e["line"], e["column"]) for e in shown] == [(e["line"], e["column"])
                                                            for e in raw]
        assert all(e["value"] is None and e["message"] == WITHHELD for e in shown)
        csv_text = api.get(path, params={"format": "csv"}, headers=headers).text
        assert "-5" not in csv_text
    as_analyst = api.get(path, headers={"Authorization": f"Bearer {analyst}"}).json()["errors"]
    assert as_analyst == raw
