"""Shared fixtures: every database test runs on SQLite and on PostgreSQL.

Each test that asks for ``engine`` gets a fresh, migrated database of its own: on PostgreSQL a
``CREATE DATABASE ... TEMPLATE`` copy of one database migrated at the start of the run, on SQLite
a copy of one migrated file. The schema is always built by the Alembic migrations.

PostgreSQL is found at ``QIDASH_TEST_PG_URL`` (default the local server, user postgres). Each
run creates its own databases and drops them. Without a server the PostgreSQL cases are
skipped, except under ``CI=true``, where a skipped PostgreSQL suite is a failure.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from core.db import make_engine, migrate
from core.settings import Settings, override_settings

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
DATA = SHARED / "data"
REFERENCE = SHARED / "reference"

PG_ADMIN_URL = os.environ.get(
    "QIDASH_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
BACKENDS = ("sqlite", "postgresql")


def _run_tag() -> str:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    return f"{worker}_{os.getpid()}"


class DatabaseFactory:
    """Makes fresh migrated databases from a per-run template, and drops them afterwards."""

    def __init__(self, tmp_root: Path) -> None:
        self.tmp_root = tmp_root
        self._templates: dict[str, str] = {}
        self._created_pg: list[str] = []
        self._pg_admin: Engine | None = None
        self._pg_error: str | None = None

    # PostgreSQL -------------------------------------------------------------
    def _admin(self) -> Engine:
        if self._pg_admin is None:
            engine = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
            try:
                with engine.connect() as conn:
                    conn.execute(text("SELECT 1"))
            except Exception as exc:  # pragma: no cover - depends on the machine
                self._pg_error = f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc}"
                raise
            self._pg_admin = engine
        return self._pg_admin

    def _pg_create(self, name: str, template: str | None = None) -> str:
        admin = self._admin()
        with admin.connect() as conn:
            tmpl = f' TEMPLATE "{template}"' if template else ""
            conn.execute(text(f'CREATE DATABASE "{name}"{tmpl}'))
        self._created_pg.append(name)
        return make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)

    def _pg_drop(self, name: str) -> None:
        with self._admin().connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    # both ---------------------------------------------------------------------
    def template(self, backend: str) -> str:
        if backend not in self._templates:
            if backend == "sqlite":
                path = self.tmp_root / "template.db"
                url = f"sqlite:///{path}"
                engine = make_engine(url)
                migrate(engine)
                engine.dispose()
                self._templates[backend] = str(path)
            else:
                name = f"qidash_tmpl_{_run_tag()}"
                self._pg_drop(name)
                url = self._pg_create(name)
                engine = make_engine(url)
                migrate(engine)
                engine.dispose()
                self._templates[backend] = name
        return self._templates[backend]

    def create(self, backend: str) -> str:
        """A new migrated database; returns its SQLAlchemy URL."""
        tmpl = self.template(backend)
        tag = uuid.uuid4().hex[:10]
        if backend == "sqlite":
            path = self.tmp_root / f"db_{tag}.db"
            shutil.copyfile(tmpl, path)
            return f"sqlite:///{path}"
        return self._pg_create(f"qidash_t_{_run_tag()}_{tag}", template=tmpl)

    def drop(self, url: str) -> None:
        u = make_url(url)
        if u.get_backend_name() == "sqlite":
            for suffix in ("", "-wal", "-shm"):
                Path(f"{u.database}{suffix}").unlink(missing_ok=True)
        else:
            self._pg_drop(u.database or "")
            if u.database in self._created_pg:
                self._created_pg.remove(u.database)

    def close(self) -> None:
        if self._pg_admin is not None:
            for name in [*self._created_pg, *(
                [self._templates["postgresql"]] if "postgresql" in self._templates else []
            )]:
                try:
                    self._pg_drop(name)
                except Exception:  # pragma: no cover
                    pass
            self._pg_admin.dispose()


@pytest.fixture(scope="session")
def database_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatabaseFactory]:
    factory = DatabaseFactory(tmp_path_factory.mktemp("databases"))
    yield factory
    factory.close()


def _require_backend(factory: DatabaseFactory, backend: str) -> None:
    if backend != "postgresql":
        return
    try:
        factory._admin()
    except Exception as exc:
        message = f"PostgreSQL suite cannot run: {exc}"
        if IN_CI:
            pytest.fail(message + " (CI=true: a skipped PostgreSQL suite is a failure)")
        pytest.skip(message)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The database backend of this test case: ``sqlite`` or ``postgresql``."""
    return request.param


@pytest.fixture
def database_url(database_factory: DatabaseFactory, backend: str) -> Iterator[str]:
    """The URL of a fresh migrated database of this test's backend; the settings point at it."""
    _require_backend(database_factory, backend)
    url = database_factory.create(backend)
    override_settings(Settings(database_url=url))
    try:
        yield url
    finally:
        override_settings(None)
        from core.db import _engine_for

        _engine_for(url).dispose()
        _engine_for.cache_clear()
        database_factory.drop(url)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on a fresh migrated database (SQLite and PostgreSQL in turn)."""
    from core.db import get_engine

    eng = get_engine()
    yield eng
    eng.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session on the fresh database; the test may commit (the database is its own)."""
    with Session(engine, expire_on_commit=False) as s:
        yield s


@pytest.fixture(scope="session")
def module_database(
    database_factory: DatabaseFactory,
) -> Callable[[str], str]:
    """For module-scoped fixtures that load data once: ``url = module_database(backend)``.

    The caller owns the database and should call ``database_factory.drop(url)`` when done.
    """

    def make(backend: str) -> str:
        _require_backend(database_factory, backend)
        return database_factory.create(backend)

    return make


@pytest.fixture(autouse=True)
def _fresh_token_limiter() -> None:
    """Each test starts with no failed token checks counted against its address (the limiter
    is per process; tests that send bad tokens on purpose would otherwise add up)."""
    from core.auth import limiter

    limiter.reset()
