"""API fixtures: a TestClient on ``api.app.create_api()`` pointed at a test database.

``client`` reads a seeded database shared by the module (SQLite and PostgreSQL in turn);
``wclient`` gets a fresh seeded database of its own for tests that write, with ``tokens``
for each role.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.app import create_api
from core import auth
from core.settings import Settings, get_settings, override_settings
from tests.conftest import BACKENDS
from tests.core.services.factories import Network, build_network, seeded_url


@pytest.fixture(scope="module", params=BACKENDS)
def seeded(request, module_database, database_factory) -> Iterator[tuple[str, Network]]:  # type: ignore[no-untyped-def]
    """``(url, network)`` on each backend, shared by a module (read-only)."""
    yield from seeded_url(module_database, database_factory, request.param)


def _client(**settings: object) -> TestClient:
    # raise_server_exceptions=False: a 500 must reach the test as the client would see it
    return TestClient(create_api(), raise_server_exceptions=False)


@pytest.fixture
def client(seeded) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    """A client on the module's seeded database."""
    url, _ = seeded
    override_settings(Settings(database_url=url))
    try:
        with _client() as c:
            yield c
    finally:
        override_settings(None)


@pytest.fixture
def wdb(engine) -> Network:  # type: ignore[no-untyped-def]
    """A fresh database of this test's backend with the small network (tests may write)."""
    with Session(engine) as s:
        net = build_network(s)
        s.commit()
    return net


@pytest.fixture
def tokens(engine, wdb) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """A bearer token per role: ``{"viewer": ..., "analyst": ..., "admin": ...}``."""
    out = {}
    with Session(engine) as s:
        for role in ("viewer", "analyst", "admin"):
            _info, token = auth.create_token(s, f"test-{role}", role)
            out[role] = token
        s.commit()
    return out


@pytest.fixture
def wclient(database_url, wdb, tokens) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    """A client on the fresh database (settings already point at it)."""
    assert get_settings().database_url == database_url
    with _client() as c:
        yield c


def bearer(token: str) -> dict[str, str]:
    """The Authorization header for ``token``."""
    return {"Authorization": f"Bearer {token}"}
