"""The response cache: a hit only under the data version it was filled in; a load, a revert,
a group or an annotation write makes the next request a miss with the new data."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.app import create_api
from api.cache import make_cache
from tests.api.conftest import bearer

V = "/api/v1"
CMP = V + "/indicators/imm/comparison"
GOOD = (b"org_code,indicator_id,period,numerator,denominator\n"
        b"A81001,imm,2025-01,30,40\nA81002,imm,2025-01,50,60\n")


def _upload(client, data: bytes, headers):
    return client.post(V + "/loads", files={"file": ("values.csv", data, "text/csv")},
                       data={"kind": "values"}, headers=headers)


def test_hit_after_miss_with_the_same_body_and_normalised_parameters(wclient):
    a = wclient.get(CMP + "?confidence=95&benchmark=peers")
    assert a.status_code == 200
    assert a.headers["x-cache"] == "miss"
    b = wclient.get(CMP + "?benchmark=peers&confidence=95")  # other order: same entry
    assert b.headers["x-cache"] == "hit"
    assert b.content == a.content
    assert b.headers["content-type"] == a.headers["content-type"]
    c = wclient.get(CMP + "?confidence=99.8&benchmark=peers")
    assert c.headers["x-cache"] == "miss"
    assert c.json()["confidence"] == 99.8
    csv1 = wclient.get(CMP + "?format=csv")
    csv2 = wclient.get(CMP + "?format=csv")
    assert (csv1.headers["x-cache"], csv2.headers["x-cache"]) == ("miss", "hit")
    assert csv2.headers["content-type"].startswith("text/csv")
    assert csv2.headers["content-disposition"] == csv1.headers["content-disposition"]
    assert csv2.content == csv1.content


def test_errors_are_not_cached(wclient):
    for _ in range(2):
        r = wclient.get(CMP + "?period=1999-01")
        assert r.status_code == 404
        assert "x-cache" not in r.headers


def test_a_load_and_its_revert_invalidate(wclient, tokens):
    h = bearer(tokens["analyst"])
    assert wclient.get(CMP).headers["x-cache"] == "miss"
    assert wclient.get(CMP).headers["x-cache"] == "hit"
    before = wclient.get(CMP).json()
    done = _upload(wclient, GOOD, h)
    assert done.status_code == 200, done.text
    after = wclient.get(CMP)
    assert after.headers["x-cache"] == "miss"
    assert after.json()["period"]["label"] == "2025-01"  # the new latest period
    assert before["period"]["label"] != "2025-01"
    assert wclient.get(CMP).headers["x-cache"] == "hit"
    rv = wclient.post(f"{V}/loads/{done.json()['load_id']}/revert", headers=h)
    assert rv.status_code == 200, rv.text
    back = wclient.get(CMP)
    assert back.headers["x-cache"] == "miss"
    assert back.json()["period"] == before["period"]
    assert back.json()["rows"] == before["rows"]


def test_groups_and_annotations_invalidate(wclient, tokens):
    h = bearer(tokens["analyst"])
    spc = V + "/organisations/A81001/indicators/imm/spc"
    assert wclient.get(spc).json()["annotations"] == []
    assert wclient.get(spc).headers["x-cache"] == "hit"
    r = wclient.post(V + "/annotations", json={"org": "A81001", "indicator": "imm",
                                               "date": "2024-03-01", "text": "recall"},
                     headers=h)
    assert r.status_code == 201, r.text
    fresh = wclient.get(spc)
    assert fresh.headers["x-cache"] == "miss"
    assert [a["text"] for a in fresh.json()["annotations"]] == ["recall"]
    grp = CMP + "?peers=group:locality"
    assert wclient.get(grp).status_code == 404  # no such group yet (and not cached)
    r = wclient.post(V + "/groups", json={"name": "locality", "members": ["A81001", "A81002"]},
                     headers=h)
    assert r.status_code == 201, r.text
    rows = wclient.get(grp).json()["rows"]
    assert {x["org_code"] for x in rows} == {"A81001", "A81002"}
    assert wclient.get(grp).headers["x-cache"] == "hit"
    assert wclient.delete(V + "/groups/locality", headers=h).status_code == 204
    assert wclient.get(grp).status_code == 404


def test_cache_can_be_turned_off_and_is_bounded(monkeypatch, wclient):
    monkeypatch.setenv("QIDASH_RESPONSE_CACHE_MB", "0")
    with TestClient(create_api()) as c:
        assert "x-cache" not in c.get(CMP).headers
        assert "x-cache" not in c.get(CMP).headers
    monkeypatch.setenv("QIDASH_RESPONSE_CACHE_MB", "0.001")  # ~1 kB: a comparison never fits
    monkeypatch.setenv("QIDASH_RESPONSE_CACHE_ENTRIES", "7")
    cache = make_cache()
    assert cache.maxsize == 7
    assert cache.maxbytes == 1048
    app = create_api()
    with TestClient(app) as c:
        assert c.get(CMP).headers["x-cache"] == "miss"
        assert c.get(CMP).headers["x-cache"] == "miss"
    assert len(app.state.response_cache) == 0


@pytest.mark.parametrize("path", [
    CMP, V + "/indicators/imm/funnel", V + "/indicators/imm/opportunity",
    V + "/organisations/A81001/indicators/imm/spc", V + "/organisations/A81001/profile",
    V + "/networks/PCN1/triage",
])
def test_cached_endpoints_answer_the_same_as_uncached(monkeypatch, wclient, path):
    first = wclient.get(path)
    second = wclient.get(path)
    assert (first.headers["x-cache"], second.headers["x-cache"]) == ("miss", "hit")
    monkeypatch.setenv("QIDASH_RESPONSE_CACHE_MB", "0")
    with TestClient(create_api()) as c:
        assert c.get(path).content == second.content


def test_peer_views_read_outside_a_transaction_block_on_postgresql(engine, wdb):
    """api.deps.autocommit_reads: on PostgreSQL a peer view's queries run in autocommit (no
    BEGIN / ROLLBACK round trips) and the pooled connection gets its transactions back when
    returned; a session that already holds a connection keeps its transaction; SQLite is
    unchanged."""
    from psycopg.pq import TransactionStatus
    from sqlalchemy import text
    from sqlalchemy.orm import Session

    from api.deps import autocommit_reads
    from core.services.comparison import comparison

    pg = engine.dialect.name == "postgresql"
    with Session(engine) as s:
        autocommit_reads(s)
        assert len(comparison(s, "imm").columns["org_code"])
        driver = s.connection().connection.driver_connection
        if pg:
            assert driver.autocommit
            assert driver.info.transaction_status == TransactionStatus.IDLE
    with Session(engine) as s:  # the same pooled connection, transactions as before
        s.execute(text("SELECT 1"))
        autocommit_reads(s)  # already holds a connection: left alone
        driver = s.connection().connection.driver_connection
        if pg:
            assert not driver.autocommit
            assert driver.info.transaction_status == TransactionStatus.INTRANS
