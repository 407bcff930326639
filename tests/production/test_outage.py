"""Database outages: readiness, 503 in the error shape, and recovery without a restart.

The app reaches PostgreSQL through a TCP proxy that the test cuts (every connection dropped,
new ones refused) and restores; a second test terminates the app's backends with
``pg_terminate_backend`` from an admin connection while requests run. Readiness is also checked
against an empty (unmigrated) database and an unreachable one.
"""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from api.app import create_api
from core.db import _engine_for
from core.settings import Settings, override_settings
from tests.production.conftest import CuttableProxy, SilentServer
from tests.production.faults import PY, child_env, load_demo_base

READ = "/api/v1/indicators"


def _assert_unavailable(r) -> None:  # type: ignore[no-untyped-def]
    assert r.status_code == 503, r.text[:300]
    err = r.json()["error"]
    assert err["code"] == "unavailable"
    assert "database is unavailable" in err["message"]
    assert r.headers.get("retry-after") == "5"


def test_ready_at_head(engine: Engine) -> None:
    """/ready answers 200 on a migrated database (both backends)."""
    client = TestClient(create_api(), raise_server_exceptions=False)
    r = client.get("/api/v1/ready")
    assert r.status_code == 200
    assert r.json()["ready"] is True


def test_ready_503_when_not_migrated(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """An empty database: 503 with 'run qidash db upgrade'."""
    override_settings(Settings(database_url=f"sqlite:///{tmp_path / 'empty.db'}"))
    try:
        r = TestClient(create_api(), raise_server_exceptions=False).get("/api/v1/ready")
    finally:
        override_settings(None)
        _engine_for.cache_clear()
    assert r.status_code == 503
    assert "qidash db upgrade" in r.json()["message"]


def test_ready_and_reads_503_when_unreachable() -> None:
    """Nothing listens at the URL: /ready, /health and reads answer 503, not 500."""
    override_settings(Settings(
        database_url="postgresql+psycopg://postgres@127.0.0.1:9/none?connect_timeout=2"))
    try:
        client = TestClient(create_api(), raise_server_exceptions=False)
        assert client.get("/api/v1/ready").status_code == 503
        assert client.get("/api/v1/health").status_code == 503
        _assert_unavailable(client.get(READ))
    finally:
        override_settings(None)
        _engine_for.cache_clear()


@pytest.fixture
def pg_base(engine: Engine, backend: str) -> str:
    """A PostgreSQL database with the demo base data (the proxy tests need a TCP server)."""
    if backend != "postgresql":
        pytest.skip("the proxy and pg_terminate_backend need PostgreSQL")
    load_demo_base(engine)
    return engine.url.render_as_string(hide_password=False)


def test_cut_and_restore(pg_base: str) -> None:
    """The connection is cut: 503 with a clear message; restored: 200 again by itself."""
    url = make_url(pg_base)
    proxy = CuttableProxy(url.host or "127.0.0.1", url.port or 5432)
    proxied = url.set(port=proxy.port, query={"connect_timeout": "3"}).render_as_string(
        hide_password=False)
    override_settings(Settings(database_url=proxied))
    try:
        client = TestClient(create_api(), raise_server_exceptions=False)
        assert client.get(READ).status_code == 200
        assert client.get("/api/v1/ready").status_code == 200
        proxy.cut()
        _assert_unavailable(client.get(READ))
        assert client.get("/api/v1/ready").status_code == 503
        _assert_unavailable(client.get(READ))
        proxy.restore()
        # the pool's pre-ping replaces the dead connections: no restart, no error
        r = client.get(READ)
        assert r.status_code == 200, r.text[:300]
        assert len(r.json()["items"]) == 17
        assert client.get("/api/v1/ready").status_code == 200
    finally:
        override_settings(None)
        _engine_for(proxied).dispose()
        _engine_for.cache_clear()
        proxy.close()


def test_backends_terminated_mid_request(pg_base: str) -> None:
    """pg_terminate_backend on the app's connections while requests run: every answer is 200
    or 503 (never 500) and the service is healthy again as soon as the killing stops."""
    database = make_url(pg_base).database
    admin = create_engine(make_url(pg_base).set(database="postgres"),
                          isolation_level="AUTOCOMMIT")
    stop = threading.Event()
    killed = []

    def killer() -> None:
        with admin.connect() as conn:
            while not stop.is_set():
                n = conn.execute(text(
                    "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = :d AND pid <> pg_backend_pid()"), {"d": database}).scalar()
                killed.append(n)
                time.sleep(0.01)

    client = TestClient(create_api(), raise_server_exceptions=False)
    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    statuses = []
    try:
        for _ in range(60):
            r = client.get(READ)
            statuses.append(r.status_code)
            if r.status_code == 503:
                _assert_unavailable(r)
    finally:
        stop.set()
        thread.join(5)
        admin.dispose()
    print("statuses:", {s: statuses.count(s) for s in set(statuses)}, "killed:", sum(killed))
    assert set(statuses) <= {200, 503}, statuses
    assert sum(killed) > 0
    assert client.get(READ).status_code == 200
    assert client.get("/api/v1/ready").status_code == 200


# a silent database, start-up without a database, a loader cut off (issue 14) -----------------
def test_silent_database_503_within_seconds() -> None:
    """A server that accepts connections and never answers: each request gets a 503 within
    the connect timeout (5 s by default; was 130 s), and requests arriving while one attempt
    is already waiting get theirs at once."""
    silent = SilentServer()
    url = f"postgresql+psycopg://postgres@127.0.0.1:{silent.port}/qidash"
    override_settings(Settings(database_url=url))
    try:
        client = TestClient(create_api(), raise_server_exceptions=False)
        started = time.monotonic()
        _assert_unavailable(client.get(READ))
        first = time.monotonic() - started
        assert first < 8, first
        # eight clients at once: one connection attempt waits, the others fail fast
        answers: list[tuple[int, float]] = []

        def one() -> None:
            t = time.monotonic()
            r = client.get(READ)
            answers.append((r.status_code, time.monotonic() - t))

        threads = [threading.Thread(target=one) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert [s for s, _ in answers] == [503] * 8, answers
        assert max(d for _, d in answers) < 8, answers
        assert sorted(d for _, d in answers)[-2] < 2, answers  # all but the probe: at once
        health = client.get("/api/v1/health")
        assert health.status_code == 503
    finally:
        override_settings(None)
        _engine_for(url).dispose()
        _engine_for.cache_clear()
        silent.close()
    print(f"first 503 after {first:.1f} s; concurrent: {sorted(round(d, 2) for _, d in answers)}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=15) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return 0


def test_serve_starts_without_database_and_recovers(pg_base: str) -> None:
    """``qidash serve`` against an unreachable database starts (a warning, no traceback), its
    /health answers 503 while the database is away and 200 once it is back, without a restart.
    """
    url = make_url(pg_base)
    proxy = CuttableProxy(url.host or "127.0.0.1", url.port or 5432)
    proxy.cut()  # refused: the database is down as the service starts
    proxied = url.set(port=proxy.port).render_as_string(hide_password=False)
    port = _free_port()
    proc = subprocess.Popen([PY, "-m", "qidash.cli", "serve", "--port", str(port)],
                            env=child_env(proxied), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    health = f"http://127.0.0.1:{port}/api/v1/health"
    try:
        statuses = []
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            statuses.append(_get(health))
            if statuses[-1] == 503:
                break
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.5)
        assert statuses[-1] == 503, statuses
        proxy.restore()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and _get(health) != 200:
            time.sleep(0.5)
        assert _get(health) == 200
        assert _get(f"http://127.0.0.1:{port}{READ}") == 200
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=60)
        proxy.close()
    assert "unreachable" in err, err[-2000:]
    assert "Traceback" not in out + err, err[-3000:]


def test_loader_connection_cut_gives_json_summary(pg_base: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A loader whose connection is cut mid-load: exit 3, one JSON object saying so, no
    traceback; nothing of the load is kept."""
    from tests.production.faults import data_state

    lines = ["org_code,indicator_id,period,numerator,denominator"]
    for code in ("R0A", "R1F", "RA2", "RA4", "RA7", "RA9"):
        lines += [f"{code},ae_4hr_all,{y}-{m:02d},{m},{m + 20}" for y in range(1950, 2200)
                  for m in range(1, 13)]
    values = tmp_path / "values.csv"
    values.write_text("\n".join(lines) + "\n")
    url = make_url(pg_base)
    admin = create_engine(url)
    before = data_state(admin)
    proxy = CuttableProxy(url.host or "127.0.0.1", url.port or 5432)
    proxied = url.set(port=proxy.port).render_as_string(hide_password=False)
    proc = subprocess.Popen([PY, "-m", "qidash.cli", "load", "values", str(values), "--json"],
                            env=child_env(proxied), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        running = 0
        while time.monotonic() < deadline and not running and proc.poll() is None:
            with admin.connect() as c:
                running = c.execute(text(
                    "SELECT COUNT(*) FROM loads WHERE status = 'running'")).scalar_one()
            time.sleep(0.05)
        assert running, "the load never started"
        proxy.cut()
        out, err = proc.communicate(timeout=120)
    finally:
        proxy.close()
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 3, (proc.returncode, out, err[-3000:])
    assert "Traceback" not in out + err, err[-3000:]
    lines_out = out.strip().splitlines()
    assert len(lines_out) == 1, out
    summary = json.loads(lines_out[0])
    assert summary["status"] == "error"
    assert "database" in summary["message"]
    assert "did not finish" in summary["message"]
    after = data_state(admin)
    for key in ("values", "value_count", "history", "periods"):
        assert after[key] == before[key], key
    admin.dispose()
