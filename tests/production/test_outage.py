"""Database outages: readiness, 503 in the error shape, and recovery without a restart.

The app reaches PostgreSQL through a TCP proxy that the test cuts (every connection dropped,
new ones refused) and restores; a second test terminates the app's backends with
``pg_terminate_backend`` from an admin connection while requests run. Readiness is also checked
against an empty (unmigrated) database and an unreachable one.
"""

from __future__ import annotations

import threading
import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from api.app import create_api
from core.db import _engine_for
from core.settings import Settings, override_settings
from tests.production.conftest import CuttableProxy, load_demo_base

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
