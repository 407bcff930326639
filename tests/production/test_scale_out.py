"""Two ``qidash serve`` processes on one PostgreSQL database: how qidash scales out behind a
load balancer.

Both processes warm their response caches with the same comparison request (``X-Cache: hit``
on the second ask); new values are uploaded through ONE of them (the API, an analyst token);
the OTHER's next request must already show them (``X-Cache: miss``, the new value). Each
process's caches are keyed by the data version (core.services.version), which every finished
load changes, so no process needs telling. PostgreSQL only: that is what several app
processes share in production (the SQLite case is skipped; in CI a missing PostgreSQL fails).
"""

from __future__ import annotations

import datetime as dt
import json
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tests.conftest import REPO
from tests.production.faults import DEMO, PY, child_env, load_demo_base

INDICATOR = "ae_4hr_all"
PERIOD = "2019-03"
ORG = "R0A"
COMPARISON = f"/api/v1/indicators/{INDICATOR}/comparison?period={PERIOD}&org_type=trust"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_env(url: str) -> dict[str, str]:
    """A server's environment: no QIDASH_PUBLIC_URL, so that links name its own address;
    the profile's peer summaries warmed every half second (core.services.warm)."""
    env = child_env(url)
    env.pop("QIDASH_PUBLIC_URL", None)
    env["QIDASH_WARM_INTERVAL"] = "0.5"
    return env


def _get(base: str, path: str) -> tuple[int, dict, dict]:  # type: ignore[type-arg]
    with urllib.request.urlopen(base + path, timeout=30) as r:
        return int(r.status), dict(r.headers), json.loads(r.read())


def _upload(base: str, token: str, path):  # type: ignore[no-untyped-def]
    """Upload a values file through ``base``'s API as an analyst."""
    import httpx

    with path.open("rb") as fh:
        return httpx.post(base + "/api/v1/loads", headers={"Authorization": f"Bearer {token}"},
                          files={"file": (path.name, fh, "text/csv")},
                          data={"kind": "values"}, timeout=60)


def _row(body: dict, code: str) -> dict:  # type: ignore[type-arg]
    rows = [r for r in body["rows"] if r["org_code"] == code]
    assert len(rows) == 1, body["rows"][:3]
    return rows[0]


@pytest.fixture
def two_servers(engine: Engine, backend: str) -> Iterator[tuple[str, str, str]]:
    """Two ``qidash serve`` processes on one fresh PostgreSQL database with the real demo A&E
    values loaded; yields both base URLs and an analyst token."""
    if backend != "postgresql":
        pytest.skip("several app processes share PostgreSQL (SQLite is one process's file)")
    from core import auth
    from etl.pipeline import run_load

    load_demo_base(engine)
    r = run_load(engine, DEMO / "values_ae.csv", kind="values")
    assert r.status == "loaded", r.as_json()
    with Session(engine) as s:
        token = auth.create_token(s, f"scale-out-{uuid.uuid4().hex[:6]}", "analyst")[1]
        s.commit()
    url = engine.url.render_as_string(hide_password=False)
    procs, bases = [], []
    try:
        for _ in range(2):
            port = _free_port()
            procs.append(subprocess.Popen(
                [PY, "-m", "qidash.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
                cwd=REPO, env=serve_env(url), stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE, text=True))
            bases.append(f"http://127.0.0.1:{port}")
        for proc, base in zip(procs, bases, strict=True):
            deadline = time.monotonic() + 60
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"qidash serve exited: {proc.stderr.read()[-2000:]}")
                try:
                    urllib.request.urlopen(base + "/api/v1/ready", timeout=2)
                    break
                except (OSError, urllib.error.HTTPError):
                    if time.monotonic() > deadline:
                        raise RuntimeError("qidash serve did not get ready in 60 s") from None
                    time.sleep(0.3)
        yield bases[0], bases[1], token
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_a_load_through_one_process_is_seen_by_the_other(two_servers, tmp_path) -> None:  # type: ignore[no-untyped-def]
    a, b, token = two_servers
    before = {}
    for base in (a, b):
        status, headers, body = _get(base, COMPARISON)
        assert status == 200
        status, headers, body = _get(base, COMPARISON)
        assert headers.get("x-cache") == "hit", headers  # the cache is warm in both
        before[base] = _row(body, ORG)
    assert before[a] == before[b]
    old_num = before[a]["numerator"]
    den = before[a]["denominator"]
    new_num = old_num - 5000 if old_num > 5000 else old_num + 1000
    values = tmp_path / "revision.csv"
    values.write_text("org_code,indicator_id,period,numerator,denominator\n"
                      f"{ORG},{INDICATOR},{PERIOD},{new_num},{den}\n")
    r = _upload(a, token, values)
    assert r.status_code == 200, r.text
    assert r.json()["rows_updated"] == 1
    # the other process's very next request shows the new data
    status, headers, body = _get(b, COMPARISON)
    assert status == 200
    assert headers.get("x-cache") == "miss", headers
    after = _row(body, ORG)
    assert after["numerator"] == new_num
    assert after["value"] != before[b]["value"]
    # and so does the process that took the upload; then both cache the new answer
    assert _row(_get(a, COMPARISON)[2], ORG) == after
    assert _get(b, COMPARISON)[1].get("x-cache") == "hit"


def test_alert_links_point_where_each_process_answers(two_servers) -> None:  # type: ignore[no-untyped-def]
    """Without QIDASH_PUBLIC_URL, an alert's link starts with the address its process serves
    (``serve --port`` included), not a default port nobody listens on."""
    for base in two_servers[:2]:
        status, _, body = _get(base, "/api/v1/alerts?limit=5")
        assert status == 200
        alerts = body["alerts"]
        assert alerts, "the demo's A&E load raises alerts for its latest month"
        assert all(a["url"].startswith(base + "/organisations/") for a in alerts), alerts


def _peer_cache(base: str) -> dict:  # type: ignore[type-arg]
    return _get(base, "/api/v1/health")[2]["peer_cache"]


def _warm_as_of(base: str, since: dt.datetime) -> dict:  # type: ignore[type-arg]
    """The process's peer cache once its warmer has warmed from the data as it was after
    ``since`` (a check made while a load ran warms again once it has finished)."""
    deadline = time.monotonic() + 60
    while True:
        state = _peer_cache(base)
        if state["state"] == "warm" and state["summaries"] > 0 and (
                dt.datetime.fromisoformat(state["as_of"]) > since):
            return state  # type: ignore[no-any-return]
        assert time.monotonic() < deadline, state
        time.sleep(0.2)


def test_each_process_warms_the_profile_peers_after_a_load_through_either(two_servers,
                                                                         tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Each process builds the profile's national peer summaries in the background at start
    and again after a load made through the OTHER process, so that the next profile it
    serves finds every summary built (hits only, no miss), and shows the new value."""
    a, b, token = two_servers
    started = dt.datetime.now(dt.UTC)  # the demo was loaded before the servers started
    warmed = {base: _warm_as_of(base, started - dt.timedelta(minutes=5)) for base in (a, b)}
    profile = f"/api/v1/organisations/{ORG}/profile"
    status, _, body = _get(b, profile)
    assert status == 200
    assert body["rows"]
    after_profile = _peer_cache(b)
    assert after_profile["misses"] == warmed[b]["misses"]  # every summary was built already
    assert after_profile["hits"] > warmed[b]["hits"]
    old = next(r for r in body["rows"] if r["indicator_id"] == INDICATOR)
    row = _row(_get(b, COMPARISON)[2], ORG)
    values = tmp_path / "revision.csv"
    new_num = row["numerator"] - 5000 if row["numerator"] > 5000 else row["numerator"] + 1000
    values.write_text("org_code,indicator_id,period,numerator,denominator\n"
                      f"{ORG},{INDICATOR},{PERIOD},{new_num},{row['denominator']}\n")
    r = _upload(a, token, values)
    assert r.status_code == 200, r.text
    assert r.json()["rows_updated"] == 1
    rewarmed = _warm_as_of(b, dt.datetime.now(dt.UTC))  # the load is committed by now
    status, _, body = _get(b, profile)
    assert status == 200
    assert _peer_cache(b)["misses"] == rewarmed["misses"]
    new = next(r for r in body["rows"] if r["indicator_id"] == INDICATOR)
    assert old["period"] == new["period"] == PERIOD  # the demo's latest month
    assert new["benchmark"] != old["benchmark"]  # the pooled value saw the revision
