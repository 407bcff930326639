"""run_load on SQLite and PostgreSQL: atomic, idempotent, revertible, complete errors."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from core.models import Load
from etl.load_runs import get_load, list_loads
from etl.pipeline import run_load
from etl.revert import RevertError, revert_load
from tests.etl.conftest import INDICATORS, ORGS, count, counted, values_rows


@pytest.fixture(autouse=True, params=["direct", "staged"])
def write_mode(request, monkeypatch):
    """Every test runs with both ways values reach the table: "direct" (a small values table:
    rows of new indicator/period pairs are written straight into it) and "staged" (a large
    table: every row goes through the staging table and the diff)."""
    import etl.load_values

    if request.param == "staged":
        monkeypatch.setattr(etl.load_values, "DIRECT_MAX_ROWS", -1)
    return request.param


@pytest.fixture(autouse=True)
def counts_stay_true(request):
    """After every test here (loads, reloads, failures, reverts, both write modes, both
    databases), the counts the loads keep (``value_counts``) are the values table's."""
    seeded = request.getfixturevalue("seeded") if "seeded" in request.fixturenames else None
    yield
    if seeded is not None:
        kept, real = counted(seeded)
        assert kept == real


GOOD = ("org_code,indicator_id,period,numerator,denominator\n"
        "P1,mmr1,2019/20,90,100\n"
        "P2,mmr1,2019/20,40,50\n"
        "P1,mmr1,2020/21,95,100\n")


def test_load_then_same_file_is_unchanged(seeded, write):
    path = write("v.csv", GOOD)
    first = run_load(seeded, path, kind="values", user="ana")
    assert first.as_json() == {
        "load_id": first.load_id, "status": "loaded", "rows_read": 3, "rows_inserted": 3,
        "rows_updated": 0, "rows_unchanged": 0, "rows_rejected": 0, "errors": []}
    assert first.preview["periods"] == ["2019-20", "2020-21"]
    assert first.preview["organisation_types"] == {"practice": 2}
    again = run_load(seeded, path, kind="values")
    assert (again.status, again.rows_unchanged, again.rows_inserted) == ("unchanged", 3, 0)
    assert values_rows(seeded)[0] == ("P1", "mmr1", "2019-20", 90.0, 100.0, 90.0, False,
                                      first.load_id)
    assert count(seeded, "value_history") == 0  # inserts need no history to be reverted
    summary = get_load(seeded, first.load_id)
    assert summary.user == "ana"
    assert summary.status == "loaded"
    assert len(summary.sha256) == 64


def test_invalid_row_rejects_whole_file_and_records_errors(seeded, write):
    run_load(seeded, write("v.csv", GOOD), kind="values")
    before = values_rows(seeded)
    bad = write("bad.csv", "org_code,indicator_id,period,numerator,denominator\n"
                           "P1,mmr1,2019/20,91,100\n"
                           "P2,mmr1,2019/20,60,50\n"
                           "P1,mmr1,2021/22,1,2\n")
    result = run_load(seeded, bad, kind="values")
    assert result.status == "rejected"
    assert (result.rows_read, result.rows_rejected, result.rows_inserted) == (3, 1, 0)
    assert [(e["line"], e["column"]) for e in result.as_json()["errors"]] == [(3, "numerator")]
    assert values_rows(seeded) == before  # untouched, including line 2's correction
    with seeded.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM periods WHERE label = '2021-22'")
                            ).scalar_one() == 0
    recorded = get_load(seeded, result.load_id)
    assert recorded.status == "rejected"
    assert [(e.line, e.column, e.value) for e in recorded.errors] == [(3, "numerator", "60")]


def test_skip_invalid_loads_valid_rows_and_records_the_rest(seeded, write):
    bad = write("bad.csv", "org_code,indicator_id,period,numerator,denominator\n"
                           "P1,mmr1,2019/20,91,100\n"
                           "P9,mmr1,2019/20,60,50\n"
                           "P1,mmr1,2021/22,1,2\n")
    result = run_load(seeded, bad, kind="values", skip_invalid=True)
    assert (result.status, result.rows_inserted, result.rows_rejected) == ("loaded", 2, 1)
    assert [e.line for e in result.errors] == [3, 3]  # unknown org, and numerator > denominator
    assert len(values_rows(seeded)) == 2
    assert len(get_load(seeded, result.load_id).errors) == 2


def test_corrected_file_updates_only_differing_values_and_revert_restores(seeded, write):
    first = run_load(seeded, write("v.csv", GOOD), kind="values")
    fixed = write("v2.csv", GOOD.replace("P2,mmr1,2019/20,40,50", "P2,mmr1,2019/20,45,50")
                  + "P2,mmr1,2020/21,*,48\n")
    second = run_load(seeded, fixed, kind="values")
    assert (second.rows_inserted, second.rows_updated, second.rows_unchanged) == (1, 1, 2)
    rows = {(r[0], r[2]): r for r in values_rows(seeded)}
    assert rows[("P2", "2019-20")][3:] == (45.0, 50.0, 90.0, False, second.load_id)
    assert rows[("P1", "2019-20")][-1] == first.load_id  # unchanged rows keep their load
    assert rows[("P2", "2020-21")][3:6] == (None, 48.0, None)
    assert rows[("P2", "2020-21")][6]
    # the first load's values were overwritten: it cannot be reverted before the second
    with pytest.raises(RevertError, match=f"load\\(s\\) {second.load_id}"):
        revert_load(seeded, first.load_id)
    reverted = revert_load(seeded, second.load_id)
    assert reverted.status == "reverted"
    rows = {(r[0], r[2]): r for r in values_rows(seeded)}
    assert rows[("P2", "2019-20")][3:] == (40.0, 50.0, 80.0, False, first.load_id)
    assert ("P2", "2020-21") not in rows
    with pytest.raises(RevertError, match="already reverted"):
        revert_load(seeded, second.load_id)
    revert_load(seeded, first.load_id)
    assert values_rows(seeded) == []
    statuses = [s.status for s in list_loads(seeded)]
    assert statuses[:2] == ["reverted", "reverted"]


def test_history_only_for_updates_and_revert_of_inserts(seeded, write):
    """A first load writes no history; a correction records one row per updated value. A
    later load that overwrote an inserted value blocks the revert until it is reverted."""
    first = run_load(seeded, write("v.csv", GOOD), kind="values")
    assert (first.rows_inserted, count(seeded, "value_history")) == (3, 0)
    # a new period of known indicators (no diff needed) mixed into a later load
    more = write("v2.csv", GOOD.replace("P1,mmr1,2020/21,95,100", "P1,mmr1,2020/21,96,100")
                 + "P1,mmr1,2021/22,9,10\n")
    second = run_load(seeded, more, kind="values")
    assert (second.rows_inserted, second.rows_updated, second.rows_unchanged) == (1, 1, 2)
    with seeded.connect() as conn:
        history = conn.execute(text("SELECT load_id, action, prev_numerator, prev_load_id "
                                    "FROM value_history")).all()
    assert [tuple(h) for h in history] == [(second.load_id, "update", 95.0, first.load_id)]
    with pytest.raises(RevertError, match=f"load\\(s\\) {second.load_id}"):
        revert_load(seeded, first.load_id)  # its insert of P1 2020-21 was overwritten
    revert_load(seeded, second.load_id)
    assert [r[2:4] for r in values_rows(seeded)] == [
        ("2019-20", 90.0), ("2020-21", 95.0), ("2019-20", 40.0)]
    revert_load(seeded, first.load_id)  # allowed once the later load is reverted
    assert values_rows(seeded) == []
    third = run_load(seeded, write("v.csv", GOOD), kind="values")
    assert third.rows_inserted == 3  # a fresh load again after both reverts
    revert_load(seeded, third.load_id)
    assert values_rows(seeded) == []


def test_revert_refuses_loads_that_wrote_nothing(seeded, write):
    path = write("v.csv", GOOD)
    run_load(seeded, path, kind="values")
    same = run_load(seeded, path, kind="values")
    with pytest.raises(RevertError, match="unchanged"):
        revert_load(seeded, same.load_id)
    with pytest.raises(RevertError, match="only values loads"):
        revert_load(seeded, 1)  # the organisations load
    with pytest.raises(RevertError, match="no load 999"):
        revert_load(seeded, 999)


def test_dry_run_counts_but_writes_nothing(seeded, write):
    loads_before = count(seeded, "loads")
    result = run_load(seeded, write("v.csv", GOOD), kind="values", dry_run=True)
    assert (result.status, result.rows_inserted, result.load_id) == ("loaded", 3, None)
    assert values_rows(seeded) == []
    assert count(seeded, "loads") == loads_before
    assert count(seeded, "periods") == 0


def test_duplicates_across_chunks_are_found(seeded, write):
    path = write("v.csv", GOOD + "P1,mmr1,2019-20,1,2\n")
    result = run_load(seeded, path, kind="values", chunk_rows=2)
    assert result.status == "rejected"
    assert sorted(e.line for e in result.errors) == [2, 5]
    assert values_rows(seeded) == []
    result = run_load(seeded, path, kind="values", chunk_rows=2, skip_invalid=True)
    assert (result.rows_inserted, result.rows_rejected) == (2, 2)


def test_ambiguous_period_type_option(seeded, write):
    path = write("v.csv", "org_code,indicator_id,period,numerator,denominator\n"
                          "P1,rate,2011-12,1,2\n")
    result = run_load(seeded, path, kind="values")
    assert result.status == "rejected"
    assert "--period-type" in result.errors[0].message
    result = run_load(seeded, path, kind="values", period_type="financial_year")
    assert result.status == "loaded"
    assert values_rows(seeded)[0][2:6] == ("2011-12", 1.0, 2.0, 500.0)


def test_organisations_parents_anywhere_cycles_and_updates(engine, write):
    orgs = write("o.csv", "org_code,name,org_type,parent_code,list_size\n"
                          "P1,One,practice,PCN1,5000\n"
                          "PCN1,Net,pcn,ENG,\n"
                          "ENG,England,nation,,\n")
    assert run_load(engine, orgs, kind="organisations").rows_inserted == 3
    cyc = write("c.csv", "org_code,name,org_type,parent_code\n"
                         "ENG,England,nation,P1\n"
                         "X1,X,practice,NOPE\n")
    result = run_load(engine, cyc, kind="organisations")
    assert result.status == "rejected"
    assert [(e.line, e.column) for e in result.errors] == [(2, "parent_code"), (3, "parent_code")]
    assert "cycle: ENG -> P1 -> PCN1 -> ENG" in result.errors[0].message
    moved = write("m.csv", "org_code,name,org_type,parent_code,list_size\n"
                           "P1,One,practice,PCN2,5100\n"
                           "PCN2,Net Two,pcn,ENG,\n")
    result = run_load(engine, moved, kind="organisations")
    assert (result.rows_inserted, result.rows_updated, result.rows_unchanged) == (1, 1, 0)
    with engine.connect() as conn:
        row = conn.execute(text("SELECT p.code, o.attributes FROM organisations o "
                                "JOIN organisations p ON p.id = o.parent_id "
                                "WHERE o.code = 'P1'")).one()
    assert row[0] == "PCN2"
    attrs = row[1] if isinstance(row[1], dict) else __import__("json").loads(row[1])
    assert attrs == {"list_size": 5100}


def test_bulk_path_restores_foreign_keys(seeded, write, monkeypatch):
    """Large loads re-check foreign keys in one pass (PostgreSQL); they must come back."""
    import sqlalchemy.exc

    import etl.load_values

    monkeypatch.setattr(etl.load_values, "BULK_FK_ROWS", 1)
    result = run_load(seeded, write("v.csv", GOOD), kind="values")
    assert result.rows_inserted == 3
    with pytest.raises(sqlalchemy.exc.IntegrityError), seeded.begin() as conn:
        conn.execute(text("INSERT INTO indicator_values (ikey, period_id, org_id, "
                          "suppressed) VALUES ((SELECT ikey FROM indicators "
                          "WHERE id = 'mmr1'), 999, 1, false)"))
    with pytest.raises(sqlalchemy.exc.IntegrityError), seeded.begin() as conn:
        conn.execute(text("INSERT INTO indicator_values (ikey, period_id, org_id, "
                          "suppressed) SELECT ikey, period_id, org_id, suppressed "
                          "FROM indicator_values"))  # the primary key is back
    with seeded.connect() as conn:
        indexes = {i["name"] for i in sqlalchemy.inspect(conn).get_indexes("indicator_values")}
    assert {"ix_indicator_values_org_ikey"} <= indexes
    revert_load(seeded, result.load_id)
    assert values_rows(seeded) == []


def test_duplicates_across_chunks_read_again_through_the_stage(seeded, write, caplog, write_mode):
    """A direct load that meets a key repeated across chunks starts again from its savepoint
    through the staging table (which keeps the line numbers), then loads the valid rows."""
    import logging

    path = write("v.csv", GOOD + "P2,mmr1,2019/20,1,2\nP2,mmr1,2021/22,1,2\n")
    with caplog.at_level(logging.INFO, logger="qidash.etl"):
        result = run_load(seeded, path, kind="values", chunk_rows=2, skip_invalid=True)
    assert (result.rows_inserted, result.rows_rejected) == (3, 2)
    assert sorted(e.line for e in result.errors) == [3, 5]
    assert ("reading the file again" in caplog.text) == (write_mode == "direct")
    assert sorted((r[0], r[2]) for r in values_rows(seeded)) == [
        ("P1", "2019-20"), ("P1", "2020-21"), ("P2", "2021-22")]
    again = run_load(seeded, path, kind="values", chunk_rows=2, skip_invalid=True)
    assert (again.status, again.rows_unchanged) == ("unchanged", 3)


def test_first_load_failing_after_its_writes_leaves_nothing(seeded, write, monkeypatch):
    """A first load (direct, bulk path: keys and indexes dropped) that fails after writing
    every row, just before commit, leaves the values table as it was, with its unique key,
    indexes and foreign keys; the same file then loads, reloads unchanged and reverts."""
    import sqlalchemy

    import etl.load_values
    from etl import pipeline

    monkeypatch.setattr(etl.load_values, "BULK_FK_ROWS", 1)

    finish = pipeline._finish_load
    written = []

    def fail(conn, result, load_id):  # type: ignore[no-untyped-def]
        if result.status == "failed":  # recording the failure, after the rollback
            return finish(conn, result, load_id)
        written.append(conn.execute(text("SELECT COUNT(*) FROM indicator_values")).scalar_one())
        raise RuntimeError("the disk is full")

    path = write("v.csv", GOOD)
    with monkeypatch.context() as m:
        m.setattr(pipeline, "_finish_load", fail)
        with pytest.raises(RuntimeError, match="disk is full"):
            run_load(seeded, path, kind="values", chunk_rows=2)
    assert written == [3]
    assert values_rows(seeded) == []
    assert list_loads(seeded)[0].status == "failed"
    with seeded.connect() as conn:
        inspector = sqlalchemy.inspect(conn)
        indexes = {i["name"] for i in inspector.get_indexes("indicator_values")}
        fks = {tuple(f["constrained_columns"]) for f in inspector.get_foreign_keys(
            "indicator_values")}
        key = inspector.get_pk_constraint("indicator_values")["constrained_columns"]
    assert {"ix_indicator_values_org_ikey"} <= indexes
    assert fks == {("ikey",), ("period_id",), ("org_id",), ("load_id",)}
    assert key == ["ikey", "period_id", "org_id"]
    first = run_load(seeded, path, kind="values", chunk_rows=2)
    assert (first.status, first.rows_inserted) == ("loaded", 3)
    again = run_load(seeded, path, kind="values", chunk_rows=2)
    assert (again.status, again.rows_unchanged) == ("unchanged", 3)
    fixed = run_load(seeded, write("v2.csv", GOOD.replace("40,50", "41,50")), kind="values")
    assert (fixed.rows_updated, fixed.rows_unchanged) == (1, 2)
    revert_load(seeded, fixed.load_id)
    revert_load(seeded, first.load_id)
    assert values_rows(seeded) == []


def _fail_with_a_row_pointing_at_nothing(seeded, write, monkeypatch) -> None:
    """Load GOOD with one more value, written just before the load finishes, whose period
    exists nowhere: the load must fail with a foreign-key error and leave no value."""
    import sqlalchemy.exc

    from etl import pipeline
    from etl.load_values import ForeignKeyError

    finish = pipeline._finish_load

    def sneak(conn, result, load_id):  # type: ignore[no-untyped-def]
        if result.status != "failed":
            conn.execute(text("INSERT INTO indicator_values (ikey, period_id, org_id, "
                              "suppressed) VALUES ((SELECT ikey FROM indicators "
                              "WHERE id = 'mmr1'), 999, 1, false)"))
        return finish(conn, result, load_id)

    with monkeypatch.context() as m:
        m.setattr(pipeline, "_finish_load", sneak)
        with pytest.raises((ForeignKeyError, sqlalchemy.exc.IntegrityError)):
            run_load(seeded, write("v.csv", GOOD), kind="values")
    assert values_rows(seeded) == []
    assert list_loads(seeded)[0].status == "failed"


def test_a_row_pointing_at_nothing_fails_the_load(seeded, write, monkeypatch):
    """SQLite checks a first load's foreign keys once before commit (enforcement is off while it
    inserts): a row pointing at nothing fails the whole load, and enforcement is back on for
    the next user of the connection."""
    import sqlalchemy.exc

    _fail_with_a_row_pointing_at_nothing(seeded, write, monkeypatch)
    with seeded.connect() as conn:
        if conn.dialect.name == "sqlite":
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1
    with pytest.raises(sqlalchemy.exc.IntegrityError), seeded.begin() as conn:
        conn.execute(text("INSERT INTO indicator_values (ikey, period_id, org_id, "
                          "suppressed) VALUES ((SELECT ikey FROM indicators "
                          "WHERE id = 'mmr1'), 999, 1, false)"))


def _keys_of_values(engine):  # type: ignore[no-untyped-def]
    """The values table's index names, foreign key columns and primary key."""
    import sqlalchemy

    with engine.connect() as conn:
        inspector = sqlalchemy.inspect(conn)
        return ({i["name"] for i in inspector.get_indexes("indicator_values")},
                {tuple(f["constrained_columns"]) for f in inspector.get_foreign_keys(
                    "indicator_values")},
                inspector.get_pk_constraint("indicator_values")["constrained_columns"])


KEYS_OF_VALUES = ({"ix_indicator_values_org_ikey"},
                  {("ikey",), ("period_id",), ("org_id",), ("load_id",)},
                  ["ikey", "period_id", "org_id"])


def test_bulk_load_whose_alerts_fail_while_the_keys_rebuild_leaves_nothing(
        seeded, write, monkeypatch, write_mode):
    """A first load on the bulk path computes its alerts while the database rebuilds the
    values table's keys (direct mode: from the rows it kept). If the computation fails, the
    load waits for the rebuild, rolls back and is recorded as failed: the table is as it was,
    with its keys, and the same file then loads."""
    import threading

    import etl.load_values
    from core.services import alerts as alert_service

    monkeypatch.setattr(etl.load_values, "BULK_FK_ROWS", 1)
    during: list[bool] = []

    def fail(plan, written=None, conn=None):  # type: ignore[no-untyped-def]
        during.append(any(t.name.startswith("qidash-rebuild") for t in threading.enumerate()))
        raise RuntimeError("out of memory")

    path = write("v.csv", GOOD)
    with monkeypatch.context() as m:
        m.setattr(alert_service, "alerts_of_plan", fail)
        with pytest.raises(RuntimeError, match="out of memory"):
            run_load(seeded, path, kind="values")
    # only a direct load keeps its rows (the staged one reads them back after the rebuild)
    assert during == ([True] if write_mode == "direct" else [False])
    assert values_rows(seeded) == []
    assert list_loads(seeded)[0].status == "failed"
    assert _keys_of_values(seeded) == KEYS_OF_VALUES
    first = run_load(seeded, path, kind="values")
    assert (first.status, first.rows_inserted) == ("loaded", 3)
    assert _keys_of_values(seeded) == KEYS_OF_VALUES


def test_bulk_load_whose_keys_fail_while_alerts_compute_fails(seeded, write, monkeypatch,
                                                              write_mode):
    """A row pointing at nothing, written while the bulk path's foreign keys were dropped,
    fails the rebuild that runs while the alerts are computed: the load fails with that
    error (not the alerts'), and leaves nothing."""
    import etl.load_values

    monkeypatch.setattr(etl.load_values, "BULK_FK_ROWS", 1)
    _fail_with_a_row_pointing_at_nothing(seeded, write, monkeypatch)
    assert _keys_of_values(seeded) == KEYS_OF_VALUES
    assert run_load(seeded, write("v.csv", GOOD), kind="values").status == "loaded"


def test_a_connection_without_foreign_keys_keeps_them_off(tmp_path, write):
    """An engine whose connections do not enforce foreign keys (not made by make_engine) is
    left as it was: the loader restores the setting it found, it does not switch it on."""
    from sqlalchemy import create_engine
    from sqlalchemy.pool import StaticPool

    from core.db import ensure_schema

    engine = create_engine(f"sqlite:///{tmp_path / 'plain.db'}", poolclass=StaticPool)
    try:
        ensure_schema(engine)
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 0
        for kind, name, body in (("organisations", "o.csv", ORGS),
                                 ("indicators", "i.csv", INDICATORS), ("values", "v.csv", GOOD)):
            assert run_load(engine, write(name, body), kind=kind).status == "loaded"
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 0
    finally:
        engine.dispose()


def test_failures_while_a_chunk_is_written_in_the_background(seeded, write, monkeypatch):
    """Each chunk is written by a worker thread while the next one is read: a write that fails
    fails the load, and so does a failure of the reading side while a write is in flight; the
    database is untouched either way and the next load runs normally."""
    import time

    import etl.load_values
    from etl import pipeline

    path = write("v.csv", GOOD)
    write_chunk = etl.load_values.ValueStage._timed_write
    calls = []

    def broken(self, frame, table, columns):  # type: ignore[no-untyped-def]
        calls.append(table)
        if len(calls) == 2:
            raise RuntimeError("the write failed")
        return write_chunk(self, frame, table, columns)

    with monkeypatch.context() as m:
        m.setattr(etl.load_values.ValueStage, "_timed_write", broken)
        with pytest.raises(RuntimeError, match="the write failed"):
            run_load(seeded, path, kind="values", chunk_rows=1)
    assert values_rows(seeded) == []
    assert list_loads(seeded)[0].status == "failed"

    validate = pipeline.validate_values
    seen = []

    def slow(self, frame, table, columns):  # type: ignore[no-untyped-def]
        time.sleep(0.2)  # the reading side fails while this write is in flight
        return write_chunk(self, frame, table, columns)

    def failing(frame, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(len(frame))
        if len(seen) == 3:
            raise ValueError("the reader broke")
        return validate(frame, **kwargs)

    with monkeypatch.context() as m:
        m.setattr(etl.load_values.ValueStage, "_timed_write", slow)
        m.setattr(pipeline, "validate_values", failing)
        with pytest.raises(ValueError, match="the reader broke"):
            run_load(seeded, path, kind="values", chunk_rows=1)
    assert values_rows(seeded) == []
    result = run_load(seeded, path, kind="values", chunk_rows=1)
    assert (result.status, result.rows_inserted) == ("loaded", 3)


def test_in_memory_sqlite_writes_without_the_worker_thread(tmp_path):
    """An in-memory SQLite connection refuses other threads: chunks are then written in turn."""
    from sqlalchemy import create_engine

    from core.db import ensure_schema
    from tests.etl.conftest import INDICATORS, ORGS

    engine = create_engine("sqlite://")
    ensure_schema(engine)
    for kind, name, content in (("organisations", "o.csv", ORGS), ("indicators", "i.csv",
                                                                   INDICATORS),
                                ("values", "v.csv", GOOD)):
        (tmp_path / name).write_text(content)
        assert run_load(engine, tmp_path / name, kind=kind, chunk_rows=1).status == "loaded"
    again = run_load(engine, tmp_path / "v.csv", kind="values", chunk_rows=1)
    assert (again.status, again.rows_unchanged) == ("unchanged", 3)
    engine.dispose()


def _scanned_changes(engine, load_id: int) -> list[dict]:
    """What a load changed per indicator, read back from the values (the rows that carry its
    id) and the history (its updates): how freshness read it before loads kept it."""
    with engine.connect() as conn:
        written = dict(conn.execute(text(
            "SELECT i.id, COUNT(*) FROM indicator_values v JOIN indicators i ON i.ikey = v.ikey "
            "WHERE v.load_id = :l GROUP BY i.id"), {"l": load_id}).all())
        updated = dict(conn.execute(text(
            "SELECT i.id, COUNT(*) FROM value_history h JOIN indicators i ON i.ikey = h.ikey "
            "WHERE h.load_id = :l AND h.action = 'update' GROUP BY i.id"), {"l": load_id}).all())
    return [{"indicator_id": ind, "inserted": n - updated.get(ind, 0),
             "updated": updated.get(ind, 0)} for ind, n in sorted(written.items())]


def test_a_load_keeps_what_it_changed_per_indicator(seeded, write):
    """Each values load keeps its inserts and updates per indicator with it, in its
    transaction (``options["changes"]``), and the start page's freshness shows them (no scan
    of the values by load id): the same as read back from the values and the history, for a
    first load (direct or staged), a load read again through the stage (a key repeated across
    chunks), and a load that updates some values, inserts others and leaves the rest."""
    from core.services.loads import freshness

    def check(result) -> list[dict]:
        with Session(seeded) as s:
            kept = s.get(Load, result.load_id).options["changes"]
            fresh = freshness(s)
        scanned = _scanned_changes(seeded, result.load_id)
        assert fresh.last_values_load["id"] == result.load_id
        assert fresh.changes == scanned
        assert kept == {
            c["indicator_id"]: [c["inserted"], c["updated"]] for c in scanned}
        return scanned

    first = run_load(seeded, write("a.csv", GOOD + "P1,rate,2021-01,3,1000\n"), kind="values")
    assert check(first) == [{"indicator_id": "mmr1", "inserted": 3, "updated": 0},
                            {"indicator_id": "rate", "inserted": 1, "updated": 0}]
    twice = run_load(seeded, write("b.csv", "org_code,indicator_id,period,numerator,"
                                   "denominator\nP2,mmr1,2021/22,1,2\nP1,mmr1,2021/22,3,4\n"
                                   "P1,mmr1,2021/22,3,4\n"),
                     kind="values", chunk_rows=2, skip_invalid=True)
    assert twice.rows_rejected == 2
    assert check(twice) == [{"indicator_id": "mmr1", "inserted": 1, "updated": 0}]
    mixed = run_load(seeded, write("c.csv", "org_code,indicator_id,period,numerator,"
                                   "denominator\nP1,mmr1,2019/20,91,100\nP2,mmr1,2019/20,40,50\n"
                                   "P2,mmr1,2020/21,9,10\nP1,rate,2021-01,4,1000\n"),
                     kind="values")
    assert (mixed.rows_inserted, mixed.rows_updated, mixed.rows_unchanged) == (1, 2, 1)
    assert check(mixed) == [{"indicator_id": "mmr1", "inserted": 1, "updated": 1},
                            {"indicator_id": "rate", "inserted": 0, "updated": 1}]
    # a load recorded before loads kept their changes: freshness reads them back
    from core.services.version import engine_cache

    with Session(seeded) as s:
        row = s.get(Load, mixed.load_id)
        row.options = {k: v for k, v in row.options.items() if k != "changes"}
        s.commit()
        engine_cache(s, "freshness").clear()
        assert freshness(s).changes == _scanned_changes(seeded, mixed.load_id)


def test_loads_and_reverts_keep_the_counts_the_readers_show(seeded, write, monkeypatch,
                                                            write_mode):
    """Each indicator's values and organisations are kept by the loads and reverts
    (``value_counts``), which count the organisations again only for the indicators they
    changed; the indicator list and the start page read them and never count the values
    table. Equal to a full count after a load, an unchanged reload, a load that updates only,
    a revert, a revert of a load that did not keep its changes (an older one), and a load
    made and reverted between two reads."""
    from sqlalchemy import func, select

    from core.models import IndicatorValue
    from core.services import indicators as ind_service
    from core.services import loads as load_service
    from core.services.version import engine_cache

    recounted: list[list[str]] = []
    recount = ind_service._recount_orgs

    def spy(conn, slugs, *args, **kw):
        recounted.append(list(slugs))
        return recount(conn, slugs, *args, **kw)

    monkeypatch.setattr(ind_service, "_recount_orgs", spy)

    def shown() -> tuple[dict[str, int], int]:
        with Session(seeded) as s:
            engine_cache(s, "freshness").clear()
            engine_cache(s, "indicator_value_summary").clear()
            reads = len(recounted)
            frame = ind_service.list_indicators(s)
            orgs = {str(k): int(n) for k, n in zip(frame["id"], frame["organisations"],
                                                   strict=True)}
            values = load_service.freshness(s).values
            assert len(recounted) == reads  # the readers count nothing
            full = dict(s.execute(
                select(IndicatorValue.ikey, func.count(func.distinct(IndicatorValue.org_id)))
                .group_by(IndicatorValue.ikey)).all())
            keys = dict(s.execute(text("SELECT id, ikey FROM indicators")).all())
        assert orgs == {i: full.get(keys[i], 0) for i in orgs}
        assert values == count(seeded, "indicator_values")
        return orgs, values

    assert shown() == ({"mmr1": 0, "rate": 0}, 0)
    first = run_load(seeded, write("a.csv", GOOD), kind="values")
    assert shown() == ({"mmr1": 2, "rate": 0}, 3)
    # a first load written directly counts the organisations of the rows it kept for alerts
    assert recounted == ([] if write_mode == "direct" else [["mmr1"]])
    recounted.clear()
    assert run_load(seeded, write("a2.csv", GOOD), kind="values").status == "unchanged"
    upd = run_load(seeded, write("u.csv", "org_code,indicator_id,period,numerator,"
                                 "denominator\nP1,mmr1,2019/20,91,100\n"), kind="values")
    assert upd.rows_updated == 1
    assert shown() == ({"mmr1": 2, "rate": 0}, 3)
    assert recounted == []  # an update changes no count: none counted again
    recounted.clear()
    second = run_load(seeded, write("b.csv", "org_code,indicator_id,period,numerator,"
                                    "denominator\nP1,rate,2021-01,3,1000\n"), kind="values")
    assert shown() == ({"mmr1": 2, "rate": 1}, 4)
    # mmr1 was not counted again (nor rate, new to the database, when written directly)
    assert recounted == ([] if write_mode == "direct" else [["rate"]])
    recounted.clear()
    revert_load(seeded, second.load_id)
    assert shown() == ({"mmr1": 2, "rate": 0}, 3)
    assert recounted == []  # (no value of rate left: nothing to count)
    made = run_load(seeded, write("c.csv", "org_code,indicator_id,period,numerator,"
                                  "denominator\nP2,mmr1,2021/22,1,2\n"), kind="values")
    revert_load(seeded, made.load_id)
    assert shown() == ({"mmr1": 2, "rate": 0}, 3)  # made and reverted between two reads
    revert_load(seeded, upd.load_id)
    with Session(seeded) as s:  # a load kept before loads kept their changes
        row = s.get(Load, first.load_id)
        row.options = {k: v for k, v in row.options.items() if k != "changes"}
        s.commit()
    revert_load(seeded, first.load_id)
    assert shown() == ({"mmr1": 0, "rate": 0}, 0)


@pytest.mark.parametrize("per_statement", [1, 4, 500])
def test_rows_written_in_blocks_are_the_file_s_rows(seeded, write, monkeypatch, per_statement):
    """SQLite writes a chunk as multi-row INSERTs (``SQLITE_ROWS_PER_INSERT`` rows each, a
    shorter last one) and puts a column that is one integer in the whole chunk into the
    statement instead of binding it: every row arrives, each value in its own column, notes
    and NULLs intact, whether a block is one row, a few, or more than the chunk; with chunks
    of 3 rows, so some chunks have constant columns that others do not."""
    import etl.load_values

    monkeypatch.setattr(etl.load_values, "SQLITE_ROWS_PER_INSERT", per_statement)
    lines = ["org_code,indicator_id,period,numerator,denominator,suppressed,note"]
    expected = []
    for i, (org, year) in enumerate([(o, y) for y in range(2011, 2019) for o in ("P1", "P2")]):
        period = f"{year}/{(year + 1) % 100:02d}"
        hidden = i % 5 == 3
        num, den = (None, None) if hidden else (i, 10 * i + 7)
        note = f"row {i}, with a comma" if i % 4 == 1 else ""
        lines.append(f"{org},mmr1,{period},{'' if num is None else num},"
                     f"{'' if den is None else den},{'true' if hidden else 'false'},"
                     f"\"{note}\"")
        expected.append((org, f"{year}-{(year + 1) % 100:02d}", num, den, hidden, note or None))
    result = run_load(seeded, write("v.csv", "\n".join(lines) + "\n"), kind="values",
                      chunk_rows=3)
    assert (result.status, result.rows_inserted) == ("loaded", 16), result.as_json()
    with seeded.connect() as conn:
        got = [tuple(r) for r in conn.execute(text(
            "SELECT o.code, p.label, v.numerator, v.denominator, v.suppressed, v.note, "
            "v.load_id, v.value FROM indicator_values v "
            "JOIN organisations o ON o.id = v.org_id JOIN periods p ON p.id = v.period_id "
            "ORDER BY p.label, o.code"))]
    assert [(o, p, n, d, bool(s), note) for o, p, n, d, s, note, _, _ in got] == expected
    assert {row[6] for row in got} == {result.load_id}
    assert [v for *_, v in got] == [None if n is None else pytest.approx(100 * n / d)
                                    for _, _, n, d, _, _ in expected]


def test_blocks_stay_within_sqlite_s_limit_on_bound_values(seeded, write, monkeypatch):
    """A SQLite built with a lower limit on values bound a statement (999 before 3.32) gets
    blocks that fit it (199 rows of five bound values), not an error."""
    if seeded.dialect.name != "sqlite":
        pytest.skip("SQLite's limit on bound values")
    import sqlite3

    from sqlalchemy import event

    def low_limit(dbapi_conn, _record):
        dbapi_conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 999)

    event.listen(seeded, "connect", low_limit)
    seeded.dispose()
    orgs = "".join(f"Q{i},Practice {i},practice,PCN1,{1000 + i}\n" for i in range(300))
    assert run_load(seeded, write("o.csv", ORGS + orgs), kind="organisations").status == "loaded"
    rows = "".join(f"Q{i},mmr1,{year}/{(year + 1) % 100:02d},{i % 50},{60 + i}\n"
                   for year in (2019, 2020) for i in range(300))
    result = run_load(seeded, write("v.csv", "org_code,indicator_id,period,numerator,"
                                             "denominator\n" + rows), kind="values")
    assert (result.status, result.rows_inserted) == ("loaded", 600), result.as_json()
    assert count(seeded, "indicator_values") == 600
