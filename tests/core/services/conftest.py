"""Fixtures for the read services: a seeded database per backend, shared by a module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session

from core.db import make_engine
from tests.conftest import BACKENDS
from tests.core.services.factories import Network, seeded_url


@pytest.fixture(scope="module", params=BACKENDS)
def seeded(request, module_database, database_factory) -> Iterator[tuple[str, Network]]:  # type: ignore[no-untyped-def]
    """``(url, network)``: the small network of :func:`build_network`, on SQLite and on
    PostgreSQL in turn (read-only: tests must not write)."""
    yield from seeded_url(module_database, database_factory, request.param)


@pytest.fixture
def rs(seeded) -> Iterator[Session]:  # type: ignore[no-untyped-def]
    """A read session on the seeded database (rolled back after the test)."""
    url, _ = seeded
    engine = make_engine(url)
    with Session(engine) as s:
        yield s
        s.rollback()
    engine.dispose()


@pytest.fixture
def built(monkeypatch) -> list[str]:  # type: ignore[no-untyped-def]
    """The indicators whose profile peer summaries are built, in order
    (``core.services.profile._make_summary`` counted)."""
    from core.services import profile as prof

    made: list[str] = []
    make = prof._make_summary

    def counting(ind, pv, rule):  # type: ignore[no-untyped-def]
        made.append(ind.id)
        return make(ind, pv, rule)

    monkeypatch.setattr(prof, "_make_summary", counting)
    return made
