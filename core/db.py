"""Database engine, sessions and migrations.

SQLite is the embedded default, PostgreSQL (psycopg 3) the production database. The schema is
built only by the Alembic migrations in ``migrations/`` (:func:`migrate`), never ``create_all``.
The edge (a request, a CLI command, an ETL run) owns the transaction: services may ``flush()``,
never ``commit()``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect, make_url, text
from sqlalchemy.orm import Session, sessionmaker

from core.settings import get_settings

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def make_engine(url: str, **kwargs: object) -> Engine:
    """Create an engine with the settings each backend needs."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    settings = get_settings()
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    kwargs.setdefault("pool_timeout", settings.db_pool_timeout)
    query = make_url(url).query
    connect_args: dict[str, Any] = dict(kwargs.pop("connect_args", None) or {})  # type: ignore[call-overload]
    for key, value in _pg_connect_args(settings).items():
        if key not in query:  # the URL's own parameters win
            connect_args.setdefault(key, value)
    engine = create_engine(url, connect_args=connect_args, **kwargs)
    _fail_fast(engine)
    return engine


def _pg_connect_args(settings: Any) -> dict[str, Any]:
    """libpq parameters that keep an unreachable or silent server from holding a request:
    a connect timeout, a server-side statement timeout, and TCP keepalives / a user timeout
    that notice a server gone quiet in the middle of a session."""
    args: dict[str, Any] = {
        "connect_timeout": settings.db_connect_timeout,
        "keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10,
        "keepalives_count": 3, "tcp_user_timeout": 30_000,
    }
    if settings.db_statement_timeout:
        args["options"] = f"-c statement_timeout={int(settings.db_statement_timeout * 1000)}"
    return args


def _fail_fast(engine: Engine) -> None:
    """While the database is down (the last connection attempt failed), one attempt at a time
    goes to the server; requests that need a connection meanwhile fail at once with the last
    error (the API answers 503 at once) instead of each waiting for the connect timeout
    against a silent server. The first attempt that succeeds ends the outage: recovery needs no
    waiting period.
    """
    state: dict[str, Any] = {"error": None}
    probing = threading.Lock()

    @event.listens_for(engine, "do_connect")
    def _connect(dialect, _conn_rec, cargs, cparams):
        error = state["error"]
        probe = error is not None
        if probe and not probing.acquire(blocking=False):
            raise type(error)(f"the database is unreachable ({error}); another connection "
                              "attempt is under way")
        try:
            conn = dialect.loaded_dbapi.connect(*cargs, **cparams)
        except dialect.loaded_dbapi.OperationalError as exc:
            state["error"] = exc
            raise
        finally:
            if probe:
                probing.release()
        state["error"] = None
        return conn


@lru_cache(maxsize=8)
def _engine_for(url: str) -> Engine:
    return make_engine(url)


def get_engine() -> Engine:
    """The engine for the configured database URL (one per URL per process)."""
    return _engine_for(get_settings().database_url)


def session_factory(engine: Engine | None = None) -> sessionmaker[Session]:
    return sessionmaker(bind=engine or get_engine(), expire_on_commit=False)


@contextmanager
def session_scope(engine: Engine | None = None) -> Iterator[Session]:
    """One session, one transaction: commit on success, roll back on any error."""
    session = session_factory(engine)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def alembic_config(url: str):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def migrate(engine: Engine | None = None, revision: str = "head") -> None:
    """Bring the schema up to ``revision`` by running the Alembic migrations."""
    from alembic import command

    engine = engine or get_engine()
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":  # a migration is not a request: no time limit
            conn.execute(text("SET LOCAL statement_timeout = 0"))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


@lru_cache(maxsize=1)
def head_revision() -> str | None:
    """The newest revision in ``migrations/`` (read once per process: the scripts change only
    with a new release, and reading them took about 6 ms, twice per ``/api/v1/health``)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def schema_version(engine: Engine | None = None) -> str | None:
    """The Alembic revision the database is at (None for an empty database)."""
    engine = engine or get_engine()
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def ensure_schema(engine: Engine | None = None) -> None:
    """Migrate a new or older database to head (used by ``load``, ``demo`` and ``serve``)."""
    engine = engine or get_engine()
    if schema_version(engine) != head_revision():
        migrate(engine)
