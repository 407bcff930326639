"""A load whose process dies mid-way (SIGKILL) shows as failed, never as running forever; a load
still running in another process is left alone. Both backends: PostgreSQL by the load's
session advisory lock, SQLite by the loader's pid on this host."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from core.db import make_engine
from etl.load_runs import INTERRUPTED_MESSAGE, get_load, list_loads
from etl.pipeline import run_load
from tests.etl.conftest import count

VALUES = ("org_code,indicator_id,period,numerator,denominator\n"
          "P1,mmr1,2019/20,90,100\n"
          "P2,mmr1,2019/20,40,50\n")

if not hasattr(os, "fork"):  # pragma: no cover - the kill harness forks
    pytest.skip("needs fork", allow_module_level=True)

CTX = multiprocessing.get_context("fork")


def _child(url: str, path: str, staged: Any, release: str) -> None:
    """Load in a fresh engine; after the rows are staged (data transaction open, load row
    committed) say so and wait until the file ``release`` exists (or to be killed).

    A file, not an Event: setting an Event a killed process was waiting on hangs the setter.
    """
    engine = make_engine(url)

    def pause(_rows: int) -> None:
        staged.set()
        deadline = time.monotonic() + 60
        while not os.path.exists(release) and time.monotonic() < deadline:
            time.sleep(0.01)

    run_load(engine, path, kind="values", user="child", progress=pause)
    engine.dispose()


class Release:
    """Lets the paused child go on (creates its release file)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def set(self) -> None:
        self.path.touch()


def _start(url: str, path: Path) -> tuple[Any, Release]:
    staged = CTX.Event()
    release = Release(path.with_suffix(".release"))
    proc = CTX.Process(target=_child, args=(url, str(path), staged, str(release.path)))
    proc.start()
    assert staged.wait(60), "the child never reached the middle of its load"
    return proc, release


def _status(engine, load_id: int) -> tuple[str, str | None]:  # type: ignore[no-untyped-def]
    with engine.connect() as c:
        return tuple(c.execute(text("SELECT status, message FROM loads WHERE id = :i"),
                               {"i": load_id}).one())


def _child_load_id(engine) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as c:
        return c.execute(text("SELECT MAX(id) FROM loads WHERE \"user\" = 'child'")).scalar_one()


def _listed_once_session_ended(engine, load_id: int):  # type: ignore[no-untyped-def]
    """list_loads' view of the load once the server has ended the killed client's session.

    PostgreSQL frees the session's locks when its backend sees the connection closed, a few
    milliseconds after the kill: until then the load is (honestly) still running.
    """
    deadline = time.monotonic() + 10
    while True:
        listed = next(s for s in list_loads(engine) if s.id == load_id)
        if listed.status != "running" or time.monotonic() > deadline:
            return listed
        time.sleep(0.02)


def _wait_session_ended(engine) -> None:  # type: ignore[no-untyped-def]
    """PostgreSQL: wait until no other session holds a load's advisory lock."""
    if engine.dialect.name != "postgresql":
        return
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with engine.connect() as c:
            if not c.execute(text("SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' "
                                  "AND database = (SELECT oid FROM pg_database WHERE datname "
                                  "= current_database())")).scalar_one():
                return
        time.sleep(0.02)


def test_running_load_stays_running_and_killed_load_shows_failed(seeded, database_url, write):
    path = write("v.csv", VALUES)
    proc, release = _start(database_url, path)
    try:
        load_id = _child_load_id(seeded)
        # genuinely running in another process: listed and shown as running, left alone
        assert next(s for s in list_loads(seeded) if s.id == load_id).status == "running"
        assert get_load(seeded, load_id).status == "running"
        assert _status(seeded, load_id) == ("running", None)
        with seeded.connect() as c:
            options = c.execute(text("SELECT options FROM loads WHERE id = :i"),
                                {"i": load_id}).scalar_one()
        options = json.loads(options) if isinstance(options, str) else options
        assert options["loader"]["pid"] == proc.pid
        os.kill(proc.pid, signal.SIGKILL)
        proc.join(10)
    finally:
        release.set()
        if proc.is_alive():
            proc.kill()
            proc.join(10)
    listed = _listed_once_session_ended(seeded, load_id)
    assert (listed.status, listed.message) == ("failed", INTERRUPTED_MESSAGE)
    assert listed.finished_at is not None
    assert _status(seeded, load_id) == ("failed", INTERRUPTED_MESSAGE)  # recorded, not only shown
    assert get_load(seeded, load_id).status == "failed"
    assert count(seeded, "indicator_values") == 0  # nothing of the killed load was written
    # the same file loads afterwards, whole
    again = run_load(seeded, path, kind="values")
    assert (again.status, again.rows_inserted) == ("loaded", 2)


def test_a_running_load_finishes_after_being_listed(seeded, database_url, write):
    """Listing while a load runs elsewhere does not disturb it: it commits as loaded."""
    path = write("v.csv", VALUES)
    proc, release = _start(database_url, path)
    try:
        load_id = _child_load_id(seeded)
        assert get_load(seeded, load_id).status == "running"
        release.set()
        proc.join(60)
        assert proc.exitcode == 0
    finally:
        release.set()
        if proc.is_alive():
            proc.kill()
            proc.join(10)
    assert _status(seeded, load_id) == ("loaded", None)
    assert count(seeded, "indicator_values") == 2


def test_next_load_marks_a_killed_load_failed(seeded, database_url, write):
    path = write("v.csv", VALUES)
    proc, release = _start(database_url, path)
    load_id = _child_load_id(seeded)
    os.kill(proc.pid, signal.SIGKILL)
    proc.join(10)
    release.set()
    _wait_session_ended(seeded)
    assert _status(seeded, load_id) == ("running", None)  # nobody has looked yet
    result = run_load(seeded, path, kind="values")
    assert result.status == "loaded"
    assert _status(seeded, load_id) == ("failed", INTERRUPTED_MESSAGE)


def test_loads_without_a_known_loader_are_left_alone(seeded):
    """Rows of older versions (no loader recorded) and, on SQLite, loads started on another
    host cannot be judged from here: they stay running."""
    import datetime as dt

    from core.models import Load

    with seeded.begin() as c:
        for options in ({}, {"loader": {"pid": 999_999_999, "host": "elsewhere.invalid"}}):
            c.execute(Load.__table__.insert().values(
                file_name="x.csv", sha256="0" * 64, kind="values", format="canonical",
                started_at=dt.datetime.now(dt.UTC), status="running", rows_read=0,
                rows_inserted=0, rows_updated=0, rows_unchanged=0, rows_rejected=0,
                options=options))
    is_pg = seeded.dialect.name == "postgresql"
    statuses = [s.status for s in list_loads(seeded) if s.file_name == "x.csv"]
    # newest first; PostgreSQL judges by the lock alone: the other host's load holds none, so
    # it can no longer commit
    assert statuses == (["failed", "running"] if is_pg else ["running", "running"])
