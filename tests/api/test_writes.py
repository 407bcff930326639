"""Roles and tokens, groups, annotations and loads (uploads through the ETL pipeline)."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core import auth
from core.models import ApiToken
from core.settings import Settings, get_settings, override_settings
from tests.api.conftest import bearer

V = "/api/v1"


@pytest.fixture
def require_auth(database_url):
    override_settings(Settings(database_url=database_url, require_auth=True))
    yield
    override_settings(Settings(database_url=database_url))


# tokens and roles ---------------------------------------------------------------------------


def test_tokens_store_only_a_hash(engine, wdb):
    with Session(engine) as s:
        info, token = auth.create_token(s, "alice", "analyst")
        s.commit()
        stored = s.execute(select(ApiToken.token_hash).where(ApiToken.name == "alice")).scalar()
    assert token.startswith("qd_")
    assert len(token) > 40
    assert stored == auth.hash_token(token)
    assert token not in stored
    with Session(engine) as s:
        assert auth.verify_token(s, token).role == "analyst"
        assert auth.verify_token(s, token + "x") is None
        assert auth.verify_token(s, "") is None
        auth.revoke_token(s, "alice")
        s.commit()
        assert auth.verify_token(s, token) is None


def test_role_order():
    assert auth.role_at_least("admin", "analyst")
    assert auth.role_at_least("analyst", "analyst")
    assert not auth.role_at_least("viewer", "analyst")
    assert not auth.role_at_least("nobody", "viewer")


def test_reads_open_by_default_but_tokens_are_checked(wclient, tokens):
    assert not get_settings().require_auth
    assert wclient.get(V + "/indicators").status_code == 200
    r = wclient.get(V + "/indicators", headers=bearer("qd_wrong"))
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    r = wclient.get(V + "/indicators", headers={"Authorization": "Basic abc"})
    assert r.status_code == 401


def test_require_auth_for_reads(wclient, tokens, require_auth):
    r = wclient.get(V + "/indicators")
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "not_authenticated"
    assert wclient.get(V + "/indicators", headers=bearer(tokens["viewer"])).status_code == 200
    assert wclient.get(V + "/health").status_code == 200  # health stays open for probes


def test_writes_need_analyst(wclient, tokens):
    body = {"name": "Worthing", "members": ["A81001", "A81002"]}
    assert wclient.post(V + "/groups", json=body).status_code == 401
    r = wclient.post(V + "/groups", json=body, headers=bearer(tokens["viewer"]))
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "permission_denied"
    assert wclient.post(V + "/groups", json=body,
                        headers=bearer(tokens["admin"])).status_code == 201


def test_revoked_token_is_refused(wclient, tokens, engine):
    with Session(engine) as s:
        auth.revoke_token(s, "test-analyst")
        s.commit()
    r = wclient.post(V + "/groups", json={"name": "x", "members": ["A81001"]},
                     headers=bearer(tokens["analyst"]))
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "not_authenticated"
    assert "revoked" in r.json()["error"]["message"]
    assert wclient.get(V + "/groups").json()["items"] == []  # nothing was written


def test_token_use_is_recorded(wclient, tokens, engine):
    wclient.get(V + "/indicators", headers=bearer(tokens["viewer"]))
    with Session(engine) as s:
        used = s.execute(select(ApiToken.last_used_at)
                         .where(ApiToken.name == "test-viewer")).scalar()
    assert used is not None


# groups -------------------------------------------------------------------------------------


def test_groups_crud_and_use_as_peers(wclient, tokens):
    h = bearer(tokens["analyst"])
    body = {"name": "Worthing locality", "description": "three practices",
            "members": ["A81001", "A81004", "A81009"]}
    r = wclient.post(V + "/groups", json=body, headers=h)
    assert r.status_code == 201, r.text
    assert r.json()["size"] == 3
    assert r.json()["created_by"] == "test-analyst"
    assert wclient.post(V + "/groups", json=body, headers=h).status_code == 409
    got = wclient.get(V + "/groups/Worthing locality").json()
    assert [m["code"] for m in got["members"]] == ["A81001", "A81004", "A81009"]
    cmp = wclient.get(V + "/indicators/imm/comparison",
                      params={"peers": "group:Worthing locality"}).json()
    assert sorted(r["org_code"] for r in cmp["rows"]) == ["A81001", "A81004", "A81009"]
    assert cmp["peers"]["kind"] == "group"
    csv_text = wclient.get(V + "/groups?format=csv").text
    assert "Worthing locality,A81004" in csv_text
    bad = wclient.post(V + "/groups", json={"name": "x", "members": ["NOPE1"]}, headers=h)
    assert bad.status_code == 422
    assert bad.json()["error"]["details"]["parameter"] == "members"
    assert "NOPE1" in bad.json()["error"]["message"]
    empty = wclient.post(V + "/groups", json={"name": "x", "members": []}, headers=h)
    assert empty.status_code == 422
    assert wclient.delete(V + "/groups/Worthing locality", headers=h).status_code == 204
    assert wclient.delete(V + "/groups/Worthing locality", headers=h).status_code == 404
    assert wclient.get(V + "/groups").json() == {"items": []}


# annotations --------------------------------------------------------------------------------


def test_annotations_crud_and_on_spc(wclient, tokens):
    h = bearer(tokens["analyst"])
    r = wclient.post(V + "/annotations", json={"org": "A81001", "indicator": "imm",
                                               "date": "2024-04-01",
                                               "text": "New recall system"}, headers=h)
    assert r.status_code == 201, r.text
    ann = r.json()
    assert ann["author"] == "test-analyst"
    wclient.post(V + "/annotations", json={"org": "A81002", "indicator": "imm",
                                           "date": "2024-05-01", "text": "other"}, headers=h)
    listed = wclient.get(V + "/annotations?org=A81001").json()["items"]
    assert [a["text"] for a in listed] == ["New recall system"]
    spc = wclient.get(V + "/organisations/A81001/indicators/imm/spc").json()
    assert [a["text"] for a in spc["annotations"]] == ["New recall system"]
    for body, param in (({"org": "NOPE", "date": "2024-01-01", "text": "x"}, None),
                        ({"date": "not a date", "text": "x"}, "date"),
                        ({"date": "2024-01-01", "text": ""}, "text")):
        r = wclient.post(V + "/annotations", json=body, headers=h)
        assert r.status_code == (404 if param is None else 422), r.text
        if param:
            assert r.json()["error"]["details"]["parameter"] == param
    assert wclient.delete(f"{V}/annotations/{ann['id']}",
                          headers=bearer(tokens["viewer"])).status_code == 403
    assert wclient.delete(f"{V}/annotations/{ann['id']}", headers=h).status_code == 204
    assert wclient.delete(f"{V}/annotations/{ann['id']}", headers=h).status_code == 404


# loads --------------------------------------------------------------------------------------

GOOD = (b"org_code,indicator_id,period,numerator,denominator\n"
        b"A81001,imm,2025-01,30,40\nA81002,imm,2025-01,50,60\n")
BAD = (b"org_code,indicator_id,period,numerator,denominator\n"
       b"A81001,imm,2025-02,30,40\nZZZ99,imm,2025-02,50,-60\n")


def _upload(client, data: bytes, headers, **form: str):
    return client.post(V + "/loads", files={"file": ("values.csv", data, "text/csv")},
                       data={"kind": "values", **form}, headers=headers)


def test_upload_dry_run_then_load_then_revert(wclient, tokens):
    h = bearer(tokens["analyst"])
    dry = _upload(wclient, GOOD, h, dry_run="true")
    assert dry.status_code == 200, dry.text
    assert dry.json()["dry_run"] is True
    assert dry.json()["load_id"] is None
    assert wclient.get(V + "/indicators/imm/comparison?period=2025-01").status_code == 404
    before = wclient.get(V + "/freshness").json()  # kept per data version from here on
    done = _upload(wclient, GOOD, h)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "loaded"
    assert done.json()["rows_inserted"] == 2
    load_id = done.json()["load_id"]
    cmp = wclient.get(V + "/indicators/imm/comparison?period=2025-01").json()
    assert {r["org_code"] for r in cmp["rows"]} == {"A81001", "A81002"}
    again = _upload(wclient, GOOD, h)
    assert again.json()["status"] == "unchanged"
    assert wclient.get(V + "/loads").json()["items"][0]["user"] == "test-analyst"
    fresh = wclient.get(V + "/freshness").json()
    assert fresh["last_values_load"]["id"] == load_id
    assert fresh["changes"] == [{"indicator_id": "imm", "inserted": 2, "updated": 0}]
    assert fresh["values"] == before["values"] + 2
    rv = wclient.post(f"{V}/loads/{load_id}/revert", headers=h)
    assert rv.status_code == 200, rv.text
    assert rv.json()["status"] == "reverted"
    # the revert moves the data version: the counts are read again, not the kept ones
    assert wclient.get(V + "/freshness").json()["values"] == before["values"]
    assert wclient.post(f"{V}/loads/{load_id}/revert", headers=h).status_code == 409
    assert wclient.post(f"{V}/loads/9999/revert", headers=h).status_code == 404
    assert wclient.get(V + "/indicators/imm/comparison?period=2025-01").status_code == 404


def test_upload_rejected_lists_rows(wclient, tokens):
    h = bearer(tokens["analyst"])
    r = _upload(wclient, BAD, h)
    assert r.status_code == 422
    e = r.json()["error"]
    assert e["code"] == "rejected"
    assert {(x["line"], x["column"]) for x in e["details"]["errors"]} >= {
        (3, "org_code"), (3, "denominator")}
    load_id = e["details"]["load_id"]
    detail = wclient.get(f"{V}/loads/{load_id}").json()
    assert detail["status"] == "rejected"
    assert detail["errors_total"] >= 2
    csv_text = wclient.get(f"{V}/loads/{load_id}?format=csv").text
    assert csv_text.startswith("line,sheet,column,value,message")
    assert "ZZZ99" in csv_text
    partial = _upload(wclient, BAD, h, skip_invalid="true")
    assert partial.status_code == 200
    assert partial.json()["rows_inserted"] == 1
    assert partial.json()["rows_rejected"] == 1


def test_upload_bad_requests(wclient, tokens, database_url):
    h = bearer(tokens["analyst"])
    assert _upload(wclient, GOOD, bearer(tokens["viewer"])).status_code == 403
    assert _upload(wclient, GOOD, {}).status_code == 401
    r = wclient.post(V + "/loads", files={"file": ("v.csv", GOOD, "text/csv")},
                     data={"kind": "patients"}, headers=h)
    assert r.json()["error"]["details"]["parameter"] == "kind"
    r = wclient.post(V + "/loads", data={"kind": "values"}, headers=h)
    assert r.status_code == 422
    r = _upload(wclient, GOOD, h, dry_run="perhaps")
    assert r.json()["error"]["details"]["parameter"] == "dry_run"
    r = _upload(wclient, b"\x00\x01\x02not a csv", h)
    assert r.status_code == 422
    assert "Traceback" not in r.text
    override_settings(Settings(database_url=database_url, max_upload_mb=1))
    header = b"org_code,indicator_id,period,numerator,denominator\n"
    big = header + b"A81001,imm,2025-03,1,2\n" * 60000
    r = _upload(wclient, big, h)
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "payload_too_large"


@pytest.mark.parametrize(("kind", "data"), [
    # a megabyte-long header cell: one "unexpected column" error, quoted in part
    ("values", b"org_code,indicator_id,period,numerator,denominator," + b"a" * 1_000_000
     + b"\nA81001,imm,2025-01,1,2,\n"),
    # a megabyte-long cell in a known column: the error quotes a bounded piece of it
    ("values", b"org_code,indicator_id,period,numerator,denominator\n" + b"A" * 1_000_000
     + b",imm,2025-01,1,2\n"),
    # one line of junk with no line break at all
    ("values", b"x" * 2_000_000),
    ("organisations", b"org_code,name,org_type,parent_code\nX1," + b"n" * 5_000
     + b"," + b"t" * 500 + b",\n"),
    ("indicators", b"indicator_id,name,value_type,multiplier,polarity\n" + b"i" * 500
     + b",x,proportion,100,higher_is_better\n"),
])
def test_upload_of_huge_fields_is_a_clear_rejection(wclient, tokens, kind, data):
    """Huge cells and headers (PostgreSQL enforces the column lengths that SQLite ignores):
    a 422 whose errors quote a bounded piece of the cell, never a 500."""
    r = wclient.post(V + "/loads", files={"file": ("big.csv", data, "text/csv")},
                     data={"kind": kind}, headers=bearer(tokens["analyst"]))
    assert r.status_code == 422, r.text[:500]
    assert len(r.content) < 50_000  # the response does not echo the megabytes back
    err = r.json()["error"]
    assert err["message"]
    for e in err["details"].get("errors", []):
        assert len(e["message"]) <= 4000
        assert e["column"] is None or len(e["column"]) <= 200
        assert e["value"] is None or len(str(e["value"])) <= 2000
    listed = wclient.get(V + "/loads", headers=bearer(tokens["analyst"])).json()["items"]
    assert listed[0]["status"] in ("rejected", "failed")


# hostile input (found by schemathesis fuzzing the running API) ------------------------------


def test_hostile_input_is_a_4xx_never_a_500(wclient, tokens):
    """Values a validation error cannot echo as JSON (an integer beyond 64 bits, a lone
    surrogate) and text with a NUL or a lone surrogate that passes validation: each is a
    clear 4xx (or a stored group), never a 500."""
    h = bearer(tokens["analyst"])
    r = wclient.post(V + "/groups", headers=h,
                     json={"name": False, "members": [3051071441089187020800]})
    assert r.status_code == 422, r.text
    problems = r.json()["error"]["details"]["problems"]
    assert "3051071441089187020800" in {str(p["input"]) for p in problems}
    raw = b'{"name": 7, "members": ["\\ud800"], "description": "\\udc00"}'
    r = wclient.post(V + "/groups", headers={**h, "Content-Type": "application/json"},
                     content=raw)
    assert r.status_code in (404, 422), r.text
    raw = b'{"name": "\\ud800x", "members": ["A81001"], "description": "a\\u0000b"}'
    r = wclient.post(V + "/groups", headers={**h, "Content-Type": "application/json"},
                     content=raw)
    assert r.status_code == 422, r.text
    assert {p["parameter"] for p in r.json()["error"]["details"]["problems"]} == {
        "name", "description"}
    messages = {p["parameter"]: p["message"] for p in r.json()["error"]["details"]["problems"]}
    assert "NUL character" in messages["description"]
    raw = b'{"org": "A81001", "date": "2024-01-01", "text": "recall \\u0000"}'
    r = wclient.post(V + "/annotations", headers={**h, "Content-Type": "application/json"},
                     content=raw)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["details"]["parameter"] == "text"
    r = wclient.get(V + "/organisations/%00")
    assert r.status_code == 422
    assert r.json()["error"]["details"]["parameter"] == "path"
    r = wclient.get(V + "/indicators/imm/comparison?period=2024%00")
    assert r.json()["error"]["details"]["parameter"] == "period"
    for path in ("/indicators/%ED%A0%80", "/organisations/%00", "/organisations?q=%ED%A0%80",
                 "/indicators/imm/comparison?period=%00", "/indicators/imm/comparison?"
                 "similar_k=99999999999999999999999", "/organisations/A81001/profile?"
                 "confidence=1e400"):
        r = wclient.get(V + path)
        assert r.status_code < 500, (path, r.status_code, r.text)
        assert r.headers["content-type"].startswith("application/json")
