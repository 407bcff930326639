"""Routine large loads never block readers of indicator_values (PostgreSQL).

The initial load (it at least doubles the table, nobody reads yet) takes the bulk path: foreign
keys and indexes dropped and rebuilt, an ACCESS EXCLUSIVE lock until commit. A routine load of
100,000 rows into a table that already holds more takes plain inserts: a reader with
``lock_timeout = 2s`` reads while it runs. The reader runs from inside the load's transaction
(after every write, just before commit: the moment the load holds the most locks), so the
overlap is certain rather than a matter of timing.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from etl import pipeline
from etl.load_values import BULK_FK_ROWS
from etl.pipeline import run_load
from tests.production.faults import (
    month_labels,
    national_practices,
    write_national_base,
    write_national_values,
)

PRACTICES = 2_000  # real practice codes and list sizes (NHS Digital, January 2021)


def test_routine_large_load_does_not_block_readers(engine, tmp_path: Path, monkeypatch):
    if engine.dialect.name != "postgresql":
        pytest.skip("the bulk path's table locks are PostgreSQL's (SQLite readers use WAL)")
    practices = national_practices(PRACTICES)
    orgs, inds = write_national_base(tmp_path, practices)
    for kind, path in (("organisations", orgs), ("indicators", inds)):
        assert run_load(engine, path, kind=kind).status == "loaded"
    months = month_labels(2010, 125)
    first, routine = tmp_path / "first.csv", tmp_path / "routine.csv"
    n_first = write_national_values(first, practices, months[:75], seed=1)
    n_routine = write_national_values(routine, practices, months[75:], seed=2)
    assert n_routine >= BULK_FK_ROWS
    assert n_first > n_routine

    seen: list[tuple[str, bool, int | str]] = []
    finish = pipeline._finish_load

    def read_before_commit(conn, result, load_id):  # type: ignore[no-untyped-def]
        exclusive = conn.execute(text(
            "SELECT COUNT(*) FROM pg_locks WHERE pid = pg_backend_pid() AND relation = "
            "CAST('indicator_values' AS regclass) AND mode = 'AccessExclusiveLock'")).scalar_one()
        with engine.connect() as reader:
            reader.execute(text("SET lock_timeout = '2s'"))
            try:
                got: int | str = reader.execute(text(
                    "SELECT COUNT(*) FROM indicator_values WHERE org_id = "
                    "(SELECT id FROM organisations WHERE code = :c)"),
                    {"c": practices[0][0]}).scalar_one()
            except OperationalError as exc:
                got = type(exc.orig).__name__
        seen.append((result.file_name, bool(exclusive), got))
        finish(conn, result, load_id)

    monkeypatch.setattr(pipeline, "_finish_load", read_before_commit)
    assert run_load(engine, first, kind="values").rows_inserted == n_first
    result = run_load(engine, routine, kind="values")
    assert (result.status, result.rows_inserted) == ("loaded", n_routine)
    # the initial load doubled the table: bulk path, the reader timed out waiting
    assert seen[0] == ("first.csv", True, "LockNotAvailable")
    # the routine load: no exclusive lock, and the reader saw the committed rows (75 months)
    assert seen[1] == ("routine.csv", False, 75)
    with engine.connect() as c:  # constraints and indexes are all in place afterwards
        assert c.execute(text(
            "SELECT COUNT(*) FROM pg_constraint WHERE conrelid = "
            "CAST('indicator_values' AS regclass) AND contype IN ('f', 'p')")).scalar_one() == 5
        assert c.execute(text("SELECT COUNT(*) FROM indicator_values")).scalar_one() == (
            n_first + n_routine)
