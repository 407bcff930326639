"""A load run and its record in ``loads``: one loader at a time (:func:`lock_for_load`),
the loader's liveness (:func:`claim_load`, :func:`mark_interrupted_loads`), and the recorded
loads as the CLI, the API and the upload page show them (:func:`list_loads`,
:func:`get_load`). Reverting a load is :mod:`etl.revert`.

A load's row in ``loads`` is committed ``running`` before the data transaction; a loader that
dies before committing (SIGKILL, power loss) is detected later and its row marked ``failed``
(:func:`mark_interrupted_loads`): on PostgreSQL by a session advisory lock the loader holds for
its lifetime (:func:`claim_load`), on SQLite by its pid on this host.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, select, text, update
from sqlalchemy.exc import OperationalError

from core.models import Load, LoadError
from etl.extract import RowError
from etl.load_values import is_postgres

log = logging.getLogger("qidash.etl")


_ADVISORY_KEY = 7_301_104
#: namespace (first int4 key) of the per-load session advisory locks: (namespace, load id)
_LOADER_LOCK = 7_301_105
#: the message of a load whose loader died (SIGKILL, power loss) before it committed
INTERRUPTED_MESSAGE = ("interrupted: the loading process ended before it committed; nothing "
                       "from this file was written")


def lock_for_load(conn: Connection) -> None:
    """Serialise concurrent loads: a PostgreSQL advisory lock; on SQLite the write lock.

    SQLite's deferred transactions are not enough: a load that read the database and then
    writes after another load committed fails with "database is locked" (SQLITE_BUSY_SNAPSHOT,
    which the busy timeout does not wait out; seen in bench/bench_faults.py races). ``BEGIN
    IMMEDIATE`` takes the write lock first, so a second load waits (up to the 30 s busy
    timeout) and then sees the first one's data.

    On PostgreSQL the transaction has no statement timeout. On SQLite, also give the load a
    larger page cache and in-memory temporary tables: index
    maintenance of a million-row insert is several times faster than with the 2 MB default.
    """
    if is_postgres(conn):
        # the requests' statement timeout (QIDASH_DB_STATEMENT_TIMEOUT) is not a load's: a
        # load waits for the one before it here, and its set-based statements may take minutes
        conn.execute(text("SET LOCAL statement_timeout = 0"))
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ADVISORY_KEY})
    else:
        conn.execute(text("PRAGMA cache_size = -262144"))
        conn.execute(text("PRAGMA temp_store = MEMORY"))
        raw = conn.connection.driver_connection
        if raw is not None and not raw.in_transaction:  # pysqlite has not begun one yet
            conn.exec_driver_sql("BEGIN IMMEDIATE")


def relax_commit_durability(conn: Connection) -> None:
    """PostgreSQL: ``SET LOCAL synchronous_commit = off`` for this load's transaction only.

    The commit returns without waiting for its WAL to reach the disk (the WAL writer flushes it
    within a fraction of a second). Atomicity and consistency are unchanged: the transaction
    still commits whole or not at all, and a crash never leaves half a load. The one thing
    relaxed is the durability of a load that has just committed: if the server crashes within
    that fraction of a second, the load is lost as a whole (its load row, left ``running``, is
    marked ``failed`` by :func:`mark_interrupted_loads`) and is simply loaded again. Other
    sessions keep the server's setting.
    """
    if is_postgres(conn):
        conn.execute(text("SET LOCAL synchronous_commit = off"))


def loader_identity() -> dict[str, Any]:
    """Who is loading: recorded in ``loads.options["loader"]`` when the load row is created."""
    return {"pid": os.getpid(), "host": socket.gethostname()}


def claim_load(conn: Connection, load_id: int) -> None:
    """PostgreSQL: take the session-level advisory lock (namespace, load id) on ``conn``.

    Call it in the transaction that inserts the ``running`` row, on the connection that then
    runs the data transaction: the row becomes visible to others only with the lock held, and
    the lock lives exactly as long as the session that could still commit the load (the server
    releases it when that session ends, whatever killed the client). So a ``running`` load whose
    lock is free can never commit any more. A session-level lock survives the transaction's end
    (even a rollback) until :func:`release_load`.
    """
    if is_postgres(conn):
        conn.execute(text("SELECT pg_advisory_lock(:ns, :id)"), {"ns": _LOADER_LOCK, "id": load_id})


def release_load(conn: Connection, load_id: int) -> None:
    """Give back the lock of :func:`claim_load` before the connection returns to the pool (a
    pooled session would otherwise hold it forever). A broken connection is discarded instead,
    which ends its session and so its locks."""
    if not is_postgres(conn):
        return
    try:
        conn.rollback()  # an aborted transaction would refuse the unlock
        conn.execute(text("SELECT pg_advisory_unlock(:ns, :id)"),
                     {"ns": _LOADER_LOCK, "id": load_id})
        conn.rollback()
    except Exception:  # whatever went wrong, the session must not be reused
        conn.invalidate()


def _pid_alive(pid: Any) -> bool:
    """Is this process alive on this host? Unknown pids count as alive (never mark a live load)."""
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by another user
    try:  # a killed child its parent has not reaped yet is a zombie: dead for our purpose
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def interrupted_loads(conn: Connection) -> list[int]:
    """Ids of ``running`` loads whose loader has gone without committing.

    PostgreSQL: the load's advisory lock (:func:`claim_load`) is free; the check takes it for
    this transaction only, so the loader cannot be mid-commit meanwhile. SQLite: the recorded
    pid is not alive on this host (a load started on another host is left alone: there is no
    way to tell from here). A load without a recorded loader (started by an older version) is
    left alone too.
    """
    t = Load.__table__
    rows = conn.execute(select(t.c.id, t.c.options).where(t.c.status == "running")).all()
    host = socket.gethostname()
    dead = []
    for load_id, options in rows:
        loader = (options or {}).get("loader") if isinstance(options, dict) else None
        if not isinstance(loader, dict):
            continue
        if is_postgres(conn):
            free = conn.execute(text("SELECT pg_try_advisory_xact_lock(:ns, :id)"),
                                {"ns": _LOADER_LOCK, "id": load_id}).scalar()
            if free:
                dead.append(int(load_id))
        elif loader.get("host") == host and not _pid_alive(loader.get("pid")):
            dead.append(int(load_id))
    return dead


def mark_interrupted_loads(engine: Engine) -> list[int]:
    """Record every interrupted load (:func:`interrupted_loads`) as ``failed`` with
    :data:`INTERRUPTED_MESSAGE`; returns their ids.

    Only rows still ``running`` are updated, so a load that committed meanwhile keeps its
    status. On SQLite a load in progress holds the write lock for its whole transaction: rather
    than wait for it, the update is then skipped (the ids are still returned, so a listing can
    show those loads as failed; a later call records it).
    """
    t = Load.__table__
    with engine.connect() as conn:
        pg = is_postgres(conn)
        raw = None if pg else conn.connection.driver_connection
        if raw is not None:
            raw.execute("PRAGMA busy_timeout = 0")
        try:
            with conn.begin():
                dead = interrupted_loads(conn)
                if dead:
                    conn.execute(update(t).where(t.c.id.in_(dead), t.c.status == "running")
                                 .values(status="failed", finished_at=dt.datetime.now(dt.UTC),
                                         message=INTERRUPTED_MESSAGE))
        except OperationalError:
            if pg:
                raise
            with conn.begin():
                dead = interrupted_loads(conn)
        finally:
            if raw is not None:
                raw.execute("PRAGMA busy_timeout = 30000")  # make_engine's 30 s timeout
    if dead:
        log.warning("loads %s were interrupted before they committed: marked failed", dead)
    return dead


@dataclass
class LoadSummary:
    """A recorded load, as ``qidash loads list/show`` and the API show it."""

    id: int
    file_name: str
    sha256: str
    kind: str
    format: str
    user: str | None
    started_at: dt.datetime
    finished_at: dt.datetime | None
    status: str
    rows_read: int
    rows_inserted: int
    rows_updated: int
    rows_unchanged: int
    rows_rejected: int
    message: str | None
    reverted_at: dt.datetime | None
    errors: list[RowError] | None = None

    def as_json(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in (
            "id", "file_name", "sha256", "kind", "format", "user", "status", "rows_read",
            "rows_inserted", "rows_updated", "rows_unchanged", "rows_rejected", "message")}
        for k in ("started_at", "finished_at", "reverted_at"):
            v = getattr(self, k)
            out[k] = v.isoformat() if v is not None else None
        if self.errors is not None:
            out["errors"] = [e.as_dict() for e in self.errors]
        return out


def _summary(row: Any, errors: list[RowError] | None = None) -> LoadSummary:
    return LoadSummary(
        id=row.id, file_name=row.file_name, sha256=row.sha256, kind=row.kind, format=row.format,
        user=row.user, started_at=row.started_at, finished_at=row.finished_at,
        status=row.status, rows_read=row.rows_read, rows_inserted=row.rows_inserted,
        rows_updated=row.rows_updated, rows_unchanged=row.rows_unchanged,
        rows_rejected=row.rows_rejected, message=row.message, reverted_at=row.reverted_at,
        errors=errors,
    )


def _interrupted(summary: LoadSummary, dead: list[int]) -> LoadSummary:
    """Show a load whose loader died as failed even when that could not be recorded yet (SQLite
    while another load holds the write lock)."""
    if summary.status == "running" and summary.id in dead:
        summary.status, summary.message = "failed", INTERRUPTED_MESSAGE
    return summary


def list_loads(engine: Engine, *, limit: int = 50, kind: str | None = None,
               status: str | None = None) -> list[LoadSummary]:
    """The most recent loads, newest first.

    A ``running`` load whose loader has ended without committing (killed, power loss) is
    recorded as ``failed`` first (:func:`etl.load_runs.mark_interrupted_loads`); a load still in
    progress in another process stays ``running``.
    """
    dead = mark_interrupted_loads(engine)
    t = Load.__table__
    q = select(t).order_by(t.c.id.desc()).limit(limit)
    if kind:
        q = q.where(t.c.kind == kind)
    if status:
        q = q.where(t.c.status == status)
    with engine.connect() as conn:
        out = [_interrupted(_summary(r), dead) for r in conn.execute(q)]
    return [s for s in out if not status or s.status == status]


def get_load(engine: Engine, load_id: int) -> LoadSummary | None:
    """One load with its errors (None when there is no such load); an interrupted load shows
    as ``failed`` (see :func:`list_loads`)."""
    dead = mark_interrupted_loads(engine)
    t = Load.__table__
    e = LoadError.__table__
    with engine.connect() as conn:
        row = conn.execute(select(t).where(t.c.id == load_id)).first()
        if row is None:
            return None
        errs = conn.execute(select(e).where(e.c.load_id == load_id).order_by(e.c.id)).all()
    errors = []
    for r in errs:
        if r.line is not None and r.sheet is None:
            ref: str | None = str(r.line)
        elif r.sheet is not None and r.line is not None:
            ref = f"{r.sheet}:{r.line}"
        else:
            ref = r.sheet
        errors.append(RowError(ref, r.column, r.value, r.message))
    return _interrupted(_summary(row, errors), dead)


def recount_values(engine: Engine) -> tuple[int, int]:
    """Count every indicator's values and organisations again into ``value_counts`` (which
    the loads and reverts keep: this is for values written by other means), in one
    transaction, serialised with loads (:func:`lock_for_load`). A read of the whole values
    table (half a minute at 770M values). Returns (values, indicators with values)."""
    from core.services import counts as count_service

    with engine.begin() as conn:
        lock_for_load(conn)
        return count_service.rebuild_counts(conn)
