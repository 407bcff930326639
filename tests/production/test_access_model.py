"""The one access rule, at every entry point (issue 14).

* every API route that writes (any POST, PUT, PATCH or DELETE in the OpenAPI schema) refuses a
  request without a token (401) and one with a role too low (403), with QIDASH_REQUIRE_AUTH off;
  with it on, every read route but health refuses a request without a token;
* every Dash callback that reaches a function that writes (core.audit.WRITE_FUNCTIONS) is
  guarded, and each guarded callback, sent through the whole app as the browser sends it,
  refuses without an analyst: nothing is written. With an analyst it writes (so the refusal is
  the guard's doing, not a request that could never have written);
* with QIDASH_REQUIRE_AUTH on, no page, layout or callback answers a browser without a session;
  a viewer's session (or Bearer header) sees them; sessions need their CSRF token to change
  anything; sign-out ends them;
* the audit log records who did what, from where; admins read it.

The lists are enumerated from the running application, so a new write path is covered (or
fails here) without being added to this file.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import re
from collections.abc import Callable, Iterator
from typing import Any

import dash._callback
import dash._utils
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, text

from core import audit, auth
from core.db import session_scope
from core.models import (
    Action,
    AlertSetting,
    Annotation,
    AuditEntry,
    Load,
    Rebase,
    Subscription,
)
from core.settings import Settings, override_settings, reset_settings_cache
from dashboards.app import create_dash
from tests.dashboards.sample_data import load_sample

# Dash hands the callbacks registered by the pages (dash.callback) to the first app that
# serves a request, and to no other in the same process. Taken here, at collection (before
# any app has served), they are given back to each app these tests build, as a fresh process
# would have them.
create_dash()
CALLBACKS: dict[str, dict[str, Any]] = dict(dash._callback.GLOBAL_CALLBACK_MAP)
CALLBACK_LIST: list[Any] = list(dash._callback.GLOBAL_CALLBACK_LIST)

GOOD_CSV = (b"org_code,indicator_id,period,numerator,denominator\n"
            b"H82006,imm_6in1_12m,2021-22,12,40\n")


@pytest.fixture
def app_client(engine: Engine) -> Iterator[TestClient]:
    """The whole service (API, dashboards, the gate) on a fresh database with the sample."""
    from qidash.app import create_app

    load_sample(engine)
    dash._callback.GLOBAL_CALLBACK_MAP.clear()
    dash._callback.GLOBAL_CALLBACK_MAP.update(CALLBACKS)
    dash._callback.GLOBAL_CALLBACK_LIST[:] = CALLBACK_LIST
    with TestClient(create_app(), raise_server_exceptions=False) as c:
        yield c


def _token(name: str, role: str, expires_in: dt.timedelta | None = None) -> str:
    with session_scope() as s:
        return auth.create_token(s, name, role, expires_in=expires_in)[1]


def _bearer(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def _counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as c:
        return {t.__tablename__: c.execute(select(func.count()).select_from(t)).scalar_one()
                for t in (Load, Annotation, AuditEntry, Action, Subscription, AlertSetting,
                                  Rebase)}


def _require_auth(on: bool) -> None:
    from core.settings import get_settings

    override_settings(Settings(database_url=get_settings().database_url, require_auth=on))


# API ------------------------------------------------------------------------------------------
def _api_operations(client: TestClient) -> list[tuple[str, str]]:
    paths = client.get("/api/openapi.json").json()["paths"]
    out = []
    for path, ops in paths.items():
        concrete = re.sub(r"\{[^}]+\}", "1", path)
        out += [(method.upper(), concrete) for method in ops]
    return out


def test_every_api_write_refuses_without_the_role(app_client: TestClient,
                                                  engine: Engine) -> None:
    writes = [(m, p) for m, p in _api_operations(app_client) if m not in ("GET", "HEAD")]
    # the writes the issue names are all there: loads, revert, notes, groups, tokens
    assert {("POST", "/api/v1/loads"), ("POST", "/api/v1/loads/1/revert"),
            ("POST", "/api/v1/annotations"), ("DELETE", "/api/v1/annotations/1"),
            ("POST", "/api/v1/groups"), ("DELETE", "/api/v1/groups/1"),
            ("POST", "/api/v1/tokens"), ("DELETE", "/api/v1/tokens/1"),
            # the loop's: improvement actions and digest subscriptions
            ("POST", "/api/v1/actions"), ("PATCH", "/api/v1/actions/1"),
            ("DELETE", "/api/v1/actions/1"), ("POST", "/api/v1/subscriptions"),
            ("DELETE", "/api/v1/subscriptions/1"),
            # accepted rebases (accepting, withdrawing)
            ("POST", "/api/v1/rebases"), ("DELETE", "/api/v1/rebases/1")} <= set(writes)
    viewer = _token("viewer1", "viewer")
    analyst = _token("analyst1", "analyst")
    before = _counts(engine)
    for method, path in writes:
        r = app_client.request(method, path, json={})
        assert r.status_code == 401, (method, path, r.status_code, r.text)
        assert r.json()["error"]["code"] == "not_authenticated"
        r = app_client.request(method, path, json={}, headers=_bearer(viewer))
        assert r.status_code == 403, (method, path, r.status_code, r.text)
        if "/tokens" in path or "/audit" in path:  # admin only
            r = app_client.request(method, path, json={}, headers=_bearer(analyst))
            assert r.status_code == 403, (method, path, r.status_code)
    assert _counts(engine) == before
    # reads that only admins may make: the token list and the audit log
    for path in ("/api/v1/tokens", "/api/v1/audit"):
        assert app_client.get(path).status_code == 401
        assert app_client.get(path, headers=_bearer(analyst)).status_code == 403


#: reads for analysts only: the subscription list holds email addresses
ANALYST_READS = ("/api/v1/subscriptions",)


def test_every_api_read_needs_a_viewer_when_auth_is_required(app_client: TestClient) -> None:
    _require_auth(True)
    viewer, analyst = _token("viewer1", "viewer"), _token("analyst1", "analyst")
    reads = [p for m, p in _api_operations(app_client) if m == "GET"]
    assert len(reads) > 15
    for path in reads:
        r = app_client.get(path)
        if path in ("/api/v1/health", "/api/v1/ready"):
            assert r.status_code != 401, path  # probes stay open
            continue
        assert r.status_code == 401, (path, r.status_code)
        if path in ("/api/v1/tokens", "/api/v1/audit"):
            continue
        r = app_client.get(path, headers=_bearer(viewer))
        if path in ANALYST_READS:
            assert r.status_code == 403, (path, r.status_code)
            r = app_client.get(path, headers=_bearer(analyst))
        assert r.status_code not in (401, 403), (path, r.status_code, r.text)


# Dash callbacks -------------------------------------------------------------------------------
def _callback_map() -> dict[str, dict[str, Any]]:
    assert CALLBACKS, "no Dash callbacks were registered"
    return CALLBACKS


def _unwrap(fn: Callable[..., Any]) -> list[Callable[..., Any]]:
    chain = [fn]
    while hasattr(chain[-1], "__wrapped__"):
        chain.append(chain[-1].__wrapped__)
    return chain


def _import_every_writer() -> None:
    """Import every module of core, core.services and etl: their ``@audit.writes`` functions
    are listed only once imported, and the pages import the pipeline lazily (on a load)."""
    import importlib
    import pkgutil

    import core
    import core.services
    import etl

    for pkg in (core, core.services, etl):
        for m in pkgutil.iter_modules(pkg.__path__):
            importlib.import_module(f"{pkg.__name__}.{m.name}")
    assert "run_load" in {f.__name__ for f in audit.WRITE_FUNCTIONS.values()}


def _reaches_a_write(fn: Callable[..., Any]) -> bool:
    """Whether ``fn`` names a function that writes, directly or through the dashboards' own
    helpers (followed through their code, a few levels deep)."""
    _import_every_writer()
    write_names = {f.__name__ for f in audit.WRITE_FUNCTIONS.values()}
    seen: set[Any] = set()

    def names(code: Any) -> set[str]:
        out = set(code.co_names)
        for const in code.co_consts:
            if hasattr(const, "co_names"):
                out |= names(const)
        return out

    def visit(f: Any, depth: int) -> bool:
        if f in seen or depth > 4 or not hasattr(f, "__code__"):
            return False
        seen.add(f)
        found = names(f.__code__)
        if found & write_names:
            return True
        for name in found:
            target = f.__globals__.get(name)
            if callable(target) and getattr(target, "__module__", "").startswith("dashboards"):
                if visit(target, depth + 1):
                    return True
        return False

    return visit(_unwrap(fn)[-1], 0)


def _guarded(fn: Callable[..., Any]) -> bool:
    from dashboards.pages_auth import GUARDED

    return any(f in GUARDED for f in _unwrap(fn))


def test_every_dash_callback_that_writes_is_guarded() -> None:
    callbacks = {k: v for k, v in _callback_map().items() if "callback" in v}
    assert len(callbacks) > 10
    writing = {k for k, v in callbacks.items() if _reaches_a_write(v["callback"])}
    unguarded = [k for k in writing if not _guarded(callbacks[k]["callback"])]
    assert not unguarded, f"callbacks that write without the guard: {unguarded}"
    names = {_unwrap(callbacks[k]["callback"])[-1].__name__ for k in writing}
    # uploads, reverts, notes, the trend page's actions and accepted rebases
    assert {"check_or_load", "revert", "edit_notes", "add_action", "accept_rebase"} <= names


#: what a wildcard (ALL, ALLSMALLER) or MATCH stands for in the ids these requests name
_WILDCARDS = ('["ALL"]', '["ALLSMALLER"]', '["MATCH"]')


def _renderer_id(ident: str) -> Any:
    """An id as dash-renderer sends it: a pattern id as an object (its wildcards as 1)."""
    if not ident.startswith("{"):
        return ident
    return {k: (1 if isinstance(v, list) else v) for k, v in json.loads(ident).items()}


def _is_wildcard(ident: str) -> bool:
    return ident.startswith("{") and any(w in ident for w in _WILDCARDS[:2])


def _outputs(key: str) -> Any:
    def one(spec: str) -> Any:
        ident, _, prop = spec.rpartition(".")
        out = {"id": _renderer_id(ident), "property": prop}
        return [out] if _is_wildcard(ident) else out

    if key.startswith(".."):
        return [one(s) for s in key[2:-2].split("...")]
    return one(key)


def _payload(key: str, spec: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """The body dash-renderer posts to /_dash-update-component for this callback, with the
    click or change a user would make (n_clicks first): pattern ids as objects, an ALL
    pattern as a list of the components it matches (one here)."""
    def item(d: dict[str, str]) -> Any:
        one = {"id": _renderer_id(d["id"]), "property": d["property"],
               "value": values.get(f"{d['id']}.{d['property']}", 1)}
        return [one] if _is_wildcard(d["id"]) else one

    inputs = [item(d) for d in spec["inputs"]]
    first = [i[0] if isinstance(i, list) else i for i in inputs]
    trigger = next((d for d in first if "n_clicks" in d["property"]), first[0])
    ident = trigger["id"]
    if isinstance(ident, dict):
        ident = dash._utils.stringify_id(ident)
    return {"output": key, "outputs": _outputs(key), "inputs": inputs,
            "state": [item(d) for d in spec["state"]],
            "changedPropIds": [f"{ident}.{trigger['property']}"]}


def _realistic_values(engine: Engine) -> dict[str, Any]:
    """Input values with which each guarded callback would write if it were not guarded."""
    with engine.begin() as c:
        load_id = c.execute(select(Load.id).where(Load.kind == "values").limit(1)
                            ).scalar_one()
        c.execute(text("UPDATE loads SET status = 'loaded'"))
    with session_scope() as s:
        from core.services.annotations import create_annotation

        note = create_annotation(s, date=dt.date(2017, 6, 1), text="old", org="RF4",
                                 indicator="ae_4hr")
        from core.services.actions import create_action

        action = create_action(s, org="RF4", indicator="ae_4hr", date=dt.date(2017, 6, 1),
                               title="triage")
    data_url = "data:text/csv;base64," + base64.b64encode(GOOD_CSV).decode()
    return {"up-file.contents": data_url, "up-file.filename": "fix.csv",
            "up-kind.value": "values", "up-skip.value": False,
            "up-revert-pending.data": {"load": load_id},
            "trend-note-date.value": "2017-06-01", "trend-note-text.value": "a note",
            "trend-key.data": {"code": "RF4", "indicator": "ae_4hr"},
            "trend-del-pending.data": {"id": note["id"]},
            "trend-rebase.value": [], "trend-fix.value": None, "trend-chart.value": "xmr",
            "trend-accept-pending.data": {"period": "2018-01", "action": action["id"]},
            "trend-act-title.value": "new triage nurse", "trend-act-owner.value": "ED lead",
            "trend-act-date.value": "2018-02-01", "trend-act-review.value": None,
            "trend-act-status.value": "in_progress"}


def test_guarded_callbacks_refuse_without_an_analyst(app_client: TestClient,
                                                     engine: Engine) -> None:
    """Through the whole app, as the browser posts them, with QIDASH_REQUIRE_AUTH off: no
    sign-in, a bad token and a viewer are refused and nothing is written; an analyst writes."""
    values = _realistic_values(engine)
    viewer, analyst = _token("viewer1", "viewer"), _token("analyst1", "analyst")
    guarded = {k: v for k, v in _callback_map().items()
               if "callback" in v and _guarded(v["callback"])}
    assert len(guarded) >= 3
    before = _counts(engine)
    for key, spec in guarded.items():
        body = _payload(key, spec, values)
        for headers in ({}, _bearer(viewer)):
            r = app_client.post("/_dash-update-component", json=body, headers=headers)
            assert r.status_code == 200, (key, r.status_code, r.text[:300])
            assert "needs an analyst" in r.text, (key, r.text[:300])
        r = app_client.post("/_dash-update-component", json=body, headers=_bearer("qd_bad"))
        assert r.status_code == 401
    assert _counts(engine) == before, "a refused callback wrote"
    # the same requests from an analyst write, and the audit log says who, how, from where
    for key, spec in guarded.items():
        with engine.connect() as c:  # revert the load this analyst has just made
            values["up-revert-pending.data"] = {"load": c.execute(select(func.max(Load.id))
                                                                  ).scalar_one()}
        r = app_client.post("/_dash-update-component", json=_payload(key, spec, values),
                            headers=_bearer(analyst))
        assert r.status_code == 200, (key, r.text[:300])
        assert "needs an analyst" not in r.text
    after = _counts(engine)
    assert after["loads"] == before["loads"] + 1
    with session_scope() as s:
        entries = audit.list_entries(s)
    actions = {e["action"] for e in entries if e["actor"] == "analyst1"}
    assert {"load", "load.revert", "annotation.create", "action.create",
            "rebase.accept"} <= actions
    assert all(e["via"] == "dashboard" and e["source"] == "testclient" and e["role"] ==
               "analyst" for e in entries if e["actor"] == "analyst1")
    with engine.connect() as c:
        by = c.execute(select(Load.reverted_by).where(Load.status == "reverted")).scalars()
        assert "analyst1" in list(by)


def test_nothing_without_a_viewer_when_auth_is_required(app_client: TestClient) -> None:
    _require_auth(True)
    viewer = _token("viewer1", "viewer")
    for path in ("/", "/indicators/imm_mmr1_24m", "/organisations/H82006", "/upload",
                 "/networks/U33593", "/alerts", "/alerts?network=U33593"):
        r = app_client.get(path, follow_redirects=False)
        assert r.status_code == 303, path
        assert r.headers["location"].startswith("/sign-in?next=")
        assert app_client.get(path, headers=_bearer(viewer)).status_code == 200
    assert app_client.get("/_dash-layout").status_code == 401
    assert app_client.get("/_dash-dependencies").status_code == 401
    callbacks = {k: v for k, v in _callback_map().items() if "callback" in v}
    for key, spec in callbacks.items():
        r = app_client.post("/_dash-update-component", json=_payload(key, spec, {}))
        assert r.status_code == 401, key
    # the export button's link, opened by a browser without a session: the sign-in page
    r = app_client.get("/api/v1/exports/pack.pptx?org=H82006", follow_redirects=False,
                       headers={"Accept": "text/html"})
    assert r.status_code == 303
    # static files and the sign-in page stay reachable
    assert app_client.get("/sign-in").status_code == 200
    assert app_client.get("/assets/qidash.css").status_code == 200


def _sign_in(client: TestClient, token: str, next_url: str = "/") -> Any:
    return client.post("/sign-in", data={"token": token, "next": next_url},
                       headers={"Origin": str(client.base_url)}, follow_redirects=False)


def test_sign_in_session_csrf_and_sign_out(app_client: TestClient, engine: Engine) -> None:
    _require_auth(True)
    viewer = _token("viewer1", "viewer")
    analyst = _token("analyst1", "analyst")
    r = _sign_in(app_client, viewer, "/indicators/imm_mmr1_24m")
    assert r.status_code == 303
    assert r.headers["location"] == "/indicators/imm_mmr1_24m"
    cookies = r.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith(auth.SESSION_COOKIE + "="))
    csrf = next(c for c in cookies if c.startswith(auth.CSRF_COOKIE + "="))
    assert "httponly" in session.lower()
    assert "samesite=strict" in session.lower()
    assert "httponly" not in csrf.lower()
    assert "samesite=strict" in csrf.lower()
    assert "secure" not in session.lower()  # plain http here; Secure when served over https
    with engine.connect() as c:  # only hashes are stored
        stored = c.execute(text("SELECT session_hash, csrf_hash FROM auth_sessions")).one()
    sid = app_client.cookies[auth.SESSION_COOKIE]
    assert sid not in stored
    assert stored[0] == auth.hash_token(sid)
    # the session reads everything: layout, pages, API, the export link
    assert app_client.get("/_dash-layout").status_code == 200
    assert "viewer1 (viewer)" in app_client.get("/_dash-layout").text
    assert app_client.get("/api/v1/indicators").status_code == 200
    # callbacks (POST) need the CSRF header dash-renderer sends from the cookie
    spec_key, spec = next((k, v) for k, v in _callback_map().items()
                          if "callback" in v and k == "up-file-label.children")
    body = _payload(spec_key, spec, {"up-file.filename": "x.csv"})
    assert app_client.post("/_dash-update-component", json=body).status_code == 403
    r = app_client.post("/_dash-update-component", json=body,
                        headers={"X-CSRFToken": app_client.cookies[auth.CSRF_COOKIE]})
    assert r.status_code == 200
    assert "x.csv" in r.text
    # an API write with the session alone: CSRF refused; with it: the viewer role refused
    assert app_client.post("/api/v1/groups", json={"name": "g", "members": ["RF4"]}
                           ).status_code == 403
    # signing in from another site is refused (login CSRF)
    r = app_client.post("/sign-in", data={"token": analyst},
                        headers={"Origin": "https://evil.example"}, follow_redirects=False)
    assert r.status_code == 403
    # sign-out needs the CSRF token, then the session is gone
    assert app_client.post("/sign-out", data={"csrf": "wrong"}).status_code == 403
    r = app_client.post("/sign-out", data={"csrf": app_client.cookies[auth.CSRF_COOKIE]},
                        follow_redirects=False)
    assert r.status_code == 303
    with engine.connect() as c:
        assert c.execute(text("SELECT COUNT(*) FROM auth_sessions")).scalar_one() == 0
    app_client.cookies.set(auth.SESSION_COOKIE, sid)  # a stolen, ended session: nothing
    assert app_client.get("/_dash-layout").status_code == 401
    with session_scope() as s:
        actions = [e["action"] for e in audit.list_entries(s, action="session.")]
    assert actions == ["session.sign_out", "session.sign_in"]


def test_revoked_or_expired_token_ends_its_sessions(app_client: TestClient) -> None:
    _require_auth(True)
    analyst = _token("analyst1", "analyst")
    assert _sign_in(app_client, analyst).status_code == 303
    assert app_client.get("/_dash-layout").status_code == 200
    with session_scope() as s:
        auth.revoke_token(s, "analyst1")
    assert app_client.get("/_dash-layout").status_code == 401
    short = _token("short", "viewer", expires_in=dt.timedelta(minutes=1))
    assert _sign_in(app_client, short).status_code == 303
    assert app_client.get("/_dash-layout").status_code == 200
    with session_scope() as s:
        s.execute(text("UPDATE api_tokens SET expires_at = :t WHERE name = 'short'"),
                  {"t": dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)})
    assert app_client.get("/_dash-layout").status_code == 401
    r = app_client.get("/api/v1/indicators", headers=_bearer(short))
    assert r.status_code == 401
    assert "expired" in r.json()["error"]["message"]
    r = _sign_in(app_client, short)
    assert r.status_code == 401
    assert "expired" in r.text


def test_failed_token_checks_are_rate_limited(app_client: TestClient) -> None:
    viewer = _token("viewer1", "viewer")
    for i in range(auth.limiter.limit):
        assert app_client.get("/api/v1/indicators",
                              headers=_bearer(f"qd_guess{i}")).status_code == 401
    r = app_client.get("/api/v1/indicators", headers=_bearer(viewer))
    assert r.status_code == 429
    assert int(r.headers["retry-after"]) > 0
    assert _sign_in(app_client, viewer).status_code == 429
    assert app_client.get("/", headers=_bearer(viewer)).status_code == 429
    assert app_client.get("/api/v1/indicators").status_code == 200  # no token: not limited


def test_audit_log_api_and_cli(app_client: TestClient) -> None:
    from typer.testing import CliRunner

    from qidash.cli import app as cli

    admin, analyst = _token("boss", "admin"), _token("analyst1", "analyst")
    r = app_client.post("/api/v1/groups", json={"name": "Coastal", "members": ["RF4"]},
                        headers=_bearer(analyst))
    assert r.status_code == 201
    assert app_client.delete("/api/v1/groups/Coastal", headers=_bearer(analyst)
                             ).status_code == 204
    r = app_client.get("/api/v1/audit", headers=_bearer(admin))
    assert r.status_code == 200
    items = r.json()["items"]
    assert [e["action"] for e in items[:2]] == ["group.delete", "group.create"]
    assert items[0]["actor"] == "analyst1"
    assert items[0]["via"] == "api"
    assert items[0]["source"] == "testclient"
    assert items[0]["target"] == "Coastal"
    assert {e["action"] for e in items} >= {"token.create"}
    # an upload through the API (its pipeline runs in a worker thread): recorded as the caller
    r = app_client.post("/api/v1/loads", headers=_bearer(analyst), data={"kind": "values"},
                        files={"file": ("fix.csv", GOOD_CSV)})
    assert r.status_code == 200, r.text
    r = app_client.get("/api/v1/audit?action=load", headers=_bearer(admin))
    (entry,) = r.json()["items"]
    assert (entry["actor"], entry["via"], entry["details"]["file"]) == ("analyst1", "api",
                                                                        "fix.csv")
    r = app_client.get("/api/v1/audit?action=token.", headers=_bearer(admin))
    assert {e["action"] for e in r.json()["items"]} == {"token.create"}
    out = CliRunner().invoke(cli, ["audit", "--json", "--action", "group.delete"])
    assert out.exit_code == 0, out.output
    assert [e["target"] for e in json.loads(out.output)] == ["Coastal"]
    # tokens through the API (admin): create with expiry, list with last use, revoke
    r = app_client.post("/api/v1/tokens", json={"name": "kiosk", "role": "viewer",
                                                 "expires_in": "30d"}, headers=_bearer(admin))
    assert r.status_code == 201
    made = r.json()
    assert made["token"].startswith("qd_")
    assert made["expires_at"]
    assert app_client.get("/api/v1/health", headers=_bearer(made["token"])).status_code == 200
    app_client.get("/api/v1/indicators", headers=_bearer(made["token"]))
    listed = {t["name"]: t for t in app_client.get("/api/v1/tokens",
                                                    headers=_bearer(admin)).json()["items"]}
    assert listed["kiosk"]["last_used_at"]
    assert listed["kiosk"]["status"] == "active"
    assert "token" not in listed["kiosk"]
    assert app_client.delete("/api/v1/tokens/kiosk", headers=_bearer(admin)).status_code == 204
    assert app_client.get("/api/v1/indicators", headers=_bearer(made["token"])
                          ).status_code == 401
    bad = app_client.post("/api/v1/tokens", json={"name": "x", "expires_in": "soon"},
                          headers=_bearer(admin))
    assert bad.status_code == 422


def test_the_loops_writes_are_audited(app_client: TestClient, engine: Engine) -> None:
    """Actions, subscriptions and alert settings (the loop, written before the audit log) are
    marked writes and each API or CLI write leaves one entry: who, what, when, from where."""
    from typer.testing import CliRunner

    from qidash.cli import app as cli

    assert {"action.create", "action.update", "action.delete", "subscription.create",
            "subscription.delete", "alert_settings.set", "digest.send"
            } <= set(audit.WRITE_FUNCTIONS)
    h = _bearer(_token("analyst1", "analyst"))
    r = app_client.post("/api/v1/actions", json={
        "org": "H82006", "indicator": "imm_mmr1_24m", "date": "2020-01-01",
        "title": "Recall clinic"}, headers=h)
    assert r.status_code == 201, r.text
    action_id = r.json()["id"]
    r = app_client.patch(f"/api/v1/actions/{action_id}", json={"status": "done"}, headers=h)
    assert r.status_code == 200, r.text
    assert app_client.delete(f"/api/v1/actions/{action_id}", headers=h).status_code == 204
    r = app_client.post("/api/v1/subscriptions", json={"email": "lead@example.nhs.uk",
                                                       "network": "U33593"}, headers=h)
    assert r.status_code == 201, r.text
    sub_id = r.json()["id"]
    assert app_client.delete(f"/api/v1/subscriptions/{sub_id}", headers=h).status_code == 204
    # a refused write leaves no entry
    assert app_client.delete(f"/api/v1/actions/{action_id}", headers=h).status_code == 404
    out = CliRunner().invoke(cli, ["alerts", "settings", "imm_mmr1_24m",
                                   "--min-denominator", "20"])
    assert out.exit_code == 0, out.output
    with session_scope() as s:
        entries = audit.list_entries(s)
    got = [(e["action"], e["target"]) for e in reversed(entries)
           if e["action"].split(".")[0] in ("action", "subscription", "alert_settings")]
    assert got == [("action.create", str(action_id)), ("action.update", str(action_id)),
                   ("action.delete", str(action_id)), ("subscription.create", str(sub_id)),
                   ("subscription.delete", str(sub_id)),
                   ("alert_settings.set", "imm_mmr1_24m")]
    api_entries = [e for e in entries if e["actor"] == "analyst1"]
    assert len(api_entries) == 5
    assert all(e["via"] == "api" and e["source"] == "testclient" and e["role"] == "analyst"
               and e["at"] for e in api_entries)
    by_action = {e["action"]: e for e in entries}
    assert by_action["action.update"]["details"] == {"status": "done"}
    assert by_action["action.delete"]["details"]["title"] == "Recall clinic"
    assert by_action["subscription.create"]["details"]["network"] == "U33593"
    cli_entry = by_action["alert_settings.set"]
    assert cli_entry["via"] == "cli"
    assert "@" in cli_entry["source"]
    assert cli_entry["details"]["min_denominator"] == 20


def test_cli_writes_are_audited_as_the_host_user(engine: Engine) -> None:
    from typer.testing import CliRunner

    from qidash.cli import app as cli

    out = CliRunner().invoke(cli, ["tokens", "create", "--name", "ci", "--role", "analyst",
                                   "--expires-in", "12h", "--json"])
    assert out.exit_code == 0, out.output
    made = json.loads(out.output)
    expires = dt.datetime.fromisoformat(made["expires_at"])
    assert dt.timedelta(hours=11, minutes=59) < expires - dt.datetime.now(dt.UTC) \
        <= dt.timedelta(hours=12)
    bad = CliRunner().invoke(cli, ["tokens", "create", "--name", "y", "--expires-in", "0d"])
    assert bad.exit_code == 2
    assert "duration" in bad.output
    with session_scope() as s:
        entry = audit.list_entries(s, action="token.create")[0]
    assert entry["via"] == "cli"
    assert "@" in entry["source"]
    assert entry["target"] == "ci"


def test_secure_cookies_over_https(engine: Engine) -> None:
    from qidash.app import create_app

    _require_auth(True)
    viewer = _token("viewer1", "viewer")
    with TestClient(create_app(), base_url="https://qidash.example") as client:
        r = _sign_in(client, viewer)
    assert r.status_code == 303
    for cookie in r.headers.get_list("set-cookie"):
        assert "; secure" in cookie.lower(), cookie


def test_security_headers_everywhere(app_client: TestClient) -> None:
    """The headers on API, page, sign-in and refusal responses alike; scripts only from this
    origin and hashed inline scripts (no 'unsafe-eval', no 'unsafe-inline')."""
    _require_auth(True)
    viewer = _token("viewer1", "viewer")
    responses = [app_client.get("/api/v1/health"), app_client.get("/sign-in"),
                 app_client.get("/_dash-layout"),  # the gate's 401
                 app_client.get("/", headers=_bearer(viewer)),
                 app_client.get("/api/docs")]
    assert responses[2].status_code == 401
    for r in responses:
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["referrer-policy"] == "strict-origin-when-cross-origin"
        csp = r.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp
        scripts = re.search(r"script-src ([^;]*)", csp).group(1)  # type: ignore[union-attr]
        assert "unsafe" not in scripts
        assert "'sha256-" in scripts  # the docs page's inline set-up, at least
    # every inline script of the page served is allowed by the policy sent with it
    page = responses[3]
    import base64 as b64
    import hashlib

    from dashboards.app import _INLINE_SCRIPT
    for body in _INLINE_SCRIPT.findall(page.text):
        digest = b64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in page.headers["content-security-policy"]


def test_serve_warns_when_exposed_without_auth() -> None:
    from qidash.commands.serve import exposure_warning

    warning = exposure_warning("0.0.0.0", require_auth=False)
    assert warning is not None
    assert "QIDASH_REQUIRE_AUTH" in warning
    assert "anyone" in warning
    assert exposure_warning("0.0.0.0", require_auth=True) is None
    assert exposure_warning("127.0.0.1", require_auth=False) is None
    assert exposure_warning("::1", require_auth=False) is None


def test_serve_prints_the_warning(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """``qidash serve --host 0.0.0.0`` without QIDASH_REQUIRE_AUTH warns before it starts (the
    server itself is not started here: uvicorn.run is replaced)."""
    import uvicorn
    from typer.testing import CliRunner

    from qidash.cli import app as cli

    started: list[str] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: started.append(k["host"]))
    # (and the process's logging is left as the test runner set it)
    monkeypatch.setattr("qidash.middleware.configure_logging", lambda *a, **k: None)
    # serve exports its own address as QIDASH_PUBLIC_URL (for uvicorn's workers) and reads
    # the settings again: both are put back after the test, or every later subprocess and
    # settings read of this run would link to port 8999
    prior = os.environ.pop("QIDASH_PUBLIC_URL", None)
    reset_settings_cache()
    try:
        out = CliRunner().invoke(cli, ["serve", "--host", "0.0.0.0", "--port", "8999"])
        assert out.exit_code == 0, out.output
        assert started == ["0.0.0.0"]
        assert "WARNING: listening on 0.0.0.0" in out.output
        assert os.environ["QIDASH_PUBLIC_URL"] == "http://127.0.0.1:8999"
        out = CliRunner().invoke(cli, ["serve", "--host", "127.0.0.1", "--port", "8999"])
        assert "WARNING" not in out.output
    finally:
        os.environ.pop("QIDASH_PUBLIC_URL", None)
        if prior is not None:
            os.environ["QIDASH_PUBLIC_URL"] = prior
        reset_settings_cache()


def test_env_example_binds_to_loopback() -> None:
    from tests.conftest import REPO

    lines = (REPO / ".env.example").read_text().splitlines()
    assert "QIDASH_HOST=127.0.0.1" in lines
    assert not any(ln.startswith("QIDASH_HOST=0.0.0.0") for ln in lines)


def test_requests_dash_cannot_serve_get_a_4xx_not_a_500(app_client: TestClient,
                                                        engine: Engine) -> None:
    """Dash's own routes answered 500 (and logged a traceback) for a script no library has,
    for a callback body dash-renderer never sends, and 14 of the pages' 22 callbacks (and
    the trend and upload pages for one odd control among good ones) for a value their
    component cannot hold (a number for a search text, a list for a click
    count); now 404 and 400, saying why. Requests as the renderer sends them are answered."""
    from dashboards.app import callback_problem

    for path in ("/_dash-component-suites/dash/dcc/async-plotlyjs.js",
                 "/_dash-component-suites/nope/x.js",
                 "/_dash-component-suites/dash/deps/missing@1.0.0.min.js"):
        r = app_client.get(path)
        assert r.status_code == 404, (path, r.status_code)
        assert "Traceback" not in r.text
    values = _realistic_values(engine)
    callbacks = {k: v for k, v in _callback_map().items() if "callback" in v}
    # what each property holds in the browser (and the pages' stores as the pages write them)
    typical = {"n_clicks": 1, "submit_n_clicks": 1, "search_value": "ab", "value": None,
               "options": [{"label": "a", "value": "a"}], "selectedRows": [{"Load": 1}],
               "clickData": {"points": [{"y": 0}]}, "cellClicked": {"rowIndex": 0},
               "contents": None, "filename": None, "data": None}
    stores = {"net-key.data": {"code": "X", "name": "n", "members": []},
              "org-key.data": {"code": "RF4", "indicators": []},
              "ind-indicator.data": "ae_4hr"}
    for key, spec in callbacks.items():  # the renderer's bodies pass the check
        filled = {f"{d['id']}.{d['property']}": typical.get(d["property"], 1)
                  for d in [*spec["inputs"], *spec["state"]]}
        body = _payload(key, spec, {**filled, **stores, **values})
        assert callback_problem(body, callbacks) is None, key
    key, spec = next((k, v) for k, v in callbacks.items() if k == "trend-csv.data")
    good = _payload(key, spec, values)
    bad_bodies = [
        (None, "a JSON object"), ([], "a JSON object"), ({}, "no callback has that output"),
        ({**good, "output": "nope.children"}, "no callback has that output"),
        ({**good, "inputs": []}, f"takes {len(spec['inputs'])} inputs"),
        ({**good, "inputs": "x"}, "inputs must be a list"),
        ({**good, "state": [{"id": "x"}] * len(spec["state"])}, "an id and a property"),
        ({**good, "inputs": [{**good["inputs"][0], "value": "two"}]}, "n_clicks cannot hold"),
        ({**good, "state": [{**d, "value": {"code": 1}} if d["id"] == "trend-key" else d
                            for d in good["state"]]}, "trend-key does"),
        ({**good, "changedPropIds": [1]}, "changedPropIds"),
        ({**good, "outputs": 3}, "outputs do not name"),
        ({**good, "outputs": {"id": "trend-csv", "property": "children"}}, "do not name"),
    ]
    for body, says in bad_bodies:
        if body is None:
            r = app_client.post("/_dash-update-component", content=b"{not json",
                                headers={"Content-Type": "application/json"})
        else:
            r = app_client.post("/_dash-update-component", json=body)
        assert r.status_code == 400, (body, r.status_code, r.text[:200])
        assert says in r.json()["detail"], r.text
    r = app_client.post("/_dash-update-component", json=good)
    assert r.status_code == 200, r.text[:300]
    assert "spc_RF4_ae_4hr.csv" in r.text  # the download itself
    # every callback, every input and state holding a value of one wrong kind: never a 500
    for fill in (1, "x", {"a": 1}, [1], None):
        for key, spec in callbacks.items():
            body = _payload(key, spec, {})
            for part in ("inputs", "state"):
                for item in body[part]:
                    for one in (item if isinstance(item, list) else [item]):
                        one["value"] = fill
            r = app_client.post("/_dash-update-component", json=body)
            assert r.status_code < 500, (fill, key, r.status_code, r.text[:200])
    # ... and one control at a time, the rest as the page holds them (the stores included)
    real = {**stores, "trend-key.data": {"code": "RF4", "indicator": "ae_4hr"},
            "org-key.data": {"code": "RF4", "indicators": ["ae_4hr"]}, **values}
    for fill in (1, "x", {"a": 1}, [1], None, [{"a": 1}], 1.5):
        for key, spec in callbacks.items():
            for dep in [*spec["inputs"], *spec["state"]]:
                name = f"{dep['id']}.{dep['property']}"
                if dep["property"] == "data" and name in real:
                    continue  # the pages' own stores: checked above
                r = app_client.post("/_dash-update-component",
                                    json=_payload(key, spec, {**real, name: fill}))
                assert r.status_code < 500, (fill, key, name, r.status_code, r.text[:200])
