"""The demo data (real West Sussex immunisations and trusts' A&E, loaded by ``run_demo``)
answer every read endpoint on SQLite and PostgreSQL.

Sources: data/README.md (NHS England / NHS Digital publications, OGL v3.0).
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from api.app import create_api
from core.db import make_engine
from core.settings import Settings, override_settings
from tests.api import demo_checks
from tests.conftest import BACKENDS

V = "/api/v1"


@pytest.fixture(scope="module", params=BACKENDS)
def demo_url(request, module_database, database_factory) -> Iterator[str]:  # type: ignore[no-untyped-def]
    from etl.demo import run_demo

    url = module_database(request.param)
    engine = make_engine(url)
    try:
        run_demo(engine)
        yield url
    finally:
        engine.dispose()
        database_factory.drop(url)


@pytest.fixture
def demo(demo_url) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    override_settings(Settings(database_url=demo_url))
    try:
        with TestClient(create_api(), raise_server_exceptions=False) as c:
            yield c
    finally:
        override_settings(None)


DEMO_READS = [
    "/health",
    "/freshness",
    "/organisations?type=practice&limit=500",
    "/organisations?q=surgery",
    "/organisations/U33593",
    "/organisations/H82006",
    "/indicators",
    "/indicators/imm_mmr1_24m",
    "/indicators/imm_mmr1_24m/comparison",
    "/indicators/imm_mmr1_24m/comparison?peers=parent:U33593&benchmark=target",
    "/indicators/imm_mmr1_24m/comparison?peers=similar:H82006&confidence=99.8",
    "/indicators/imm_mmr1_24m/funnel?overdispersion=true",
    "/indicators/imm_mmr1_24m/opportunity?level=target",
    "/indicators/ae_4hr_all/comparison",
    "/indicators/ae_4hr_all/comparison?peers=parent:Y62",
    "/indicators/ae_4hr_all/funnel",
    "/indicators/ae_4hr_all/opportunity?level=upper_quartile",
    "/organisations/H82006/indicators/imm_mmr1_24m/spc",
    "/organisations/R0A/indicators/ae_4hr_all/spc",
    "/organisations/R0A/indicators/ae_4hr_all/spc?chart=p",
    "/organisations/H82006/profile",
    "/organisations/R0A/profile",
    "/networks/U33593/triage",
    "/networks/70F/triage",
    "/loads",
    "/groups",
    "/annotations?org=R0A",
]


def test_demo_answers_every_endpoint(demo, demo_url):
    """Every read answers, and its figures are the bundled files' (read here with pandas,
    not through the loader) under the reference formulas (:mod:`tests.api.demo_checks`)."""
    for url in DEMO_READS:
        r = demo.get(V + url)
        assert r.status_code == 200, (url, r.text[:500])
        demo_checks.check(url, r.json(), demo_url)
        if "?" in url and url.split("?")[0].rsplit("/", 1)[-1] in (
                "comparison", "funnel", "opportunity", "triage"):
            c = demo.get(V + url + "&format=csv")
            assert c.status_code == 200, url
            assert c.headers["content-type"].startswith("text/csv")
            table = pd.read_csv(io.StringIO(c.text))
            assert len(table) == len(r.json()["rows"]), url
            assert table["org_code"].tolist() == [row["org_code"] for row in r.json()["rows"]]


def test_demo_figures(demo):
    body = demo.get(V + "/indicators/imm_mmr1_24m/comparison").json()
    assert body["peers"]["org_type"] == "practice"
    assert body["period"]["period_type"] == "financial_year"
    assert len(body["rows"]) > 50
    assert body["benchmark"]["kind"] == "peers"
    ae = demo.get(V + "/indicators/ae_4hr_all/comparison").json()
    assert ae["peers"]["org_type"] == "trust"
    assert ae["period"]["period_type"] == "month"
    spc = demo.get(V + "/organisations/R0A/indicators/ae_4hr_all/spc").json()
    assert len(spc["points"]) >= 12
    assert spc["target"] == 95
    triage = demo.get(V + "/networks/U33593/triage").json()
    assert triage["member_type"] == "practice"
    assert triage["summary"]
    loads = demo.get(V + "/loads").json()["items"]
    assert {item["kind"] for item in loads} == {"organisations", "indicators", "values"}
