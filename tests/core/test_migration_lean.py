"""The lean value store's migration upgrades a database holding data, on both databases.

The database is built at the migration's ``down_revision`` (read from the script, so that the
test follows when the migration is re-chained), filled there with values, two loads and the
history of the second (which changed a value of the first), then upgraded: the values, loads
and history carry over, reverts still work and refuse in the same order, new indicators get
the next integer key; the downgrade puts the old tables back with the same data.
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select, text

from core.db import alembic_config, head_revision, make_engine, migrate, schema_version

MIGRATION = "0005"


def _down_revision() -> str:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    down = script.get_revision(MIGRATION).down_revision
    assert isinstance(down, str)
    return down


@pytest.fixture
def empty_url(database_factory, backend, tmp_path: Path):
    from tests.conftest import _require_backend

    _require_backend(database_factory, backend)
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
    else:
        url = database_factory._pg_create(f"qidash_mig_{uuid.uuid4().hex[:10]}")
    yield url
    if backend != "sqlite":
        from core.db import _engine_for

        _engine_for.cache_clear()
        database_factory.drop(url)


def _fill_old(conn) -> None:
    now = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    for load_id in (1, 2):
        conn.execute(text(
            "INSERT INTO loads (id, file_name, sha256, kind, format, started_at, finished_at, "
            "status, rows_read, rows_inserted, rows_updated, rows_unchanged, rows_rejected, "
            "options) VALUES (:id, :f, :s, 'values', 'canonical', :t, :t, 'loaded', 3, "
            ":ins, :upd, 0, 0, '{}')"),
            {"id": load_id, "f": f"v{load_id}.csv", "s": f"{load_id:064d}", "t": now,
             "ins": 3 if load_id == 1 else 0, "upd": 0 if load_id == 1 else 1})
    conn.execute(text(
        "INSERT INTO organisations (id, code, name, org_type, is_active, attributes, "
        "updated_at) VALUES (1, 'A1', 'Practice A', 'practice', true, '{}', :t), "
        "(2, 'B2', 'Practice B', 'practice', true, '{}', :t)"), {"t": now})
    # inserted out of slug order: the integer keys follow the slugs
    for slug in ("zeta", "alpha"):
        conn.execute(text(
            "INSERT INTO indicators (id, name, value_type, multiplier, polarity, thresholds, "
            "tags, decimals, updated_at) VALUES (:i, :i, 'proportion', 100, "
            "'higher_is_better', '[]', '[]', 1, :t)"), {"i": slug, "t": now})
    conn.execute(text(
        "INSERT INTO periods (id, label, period_type, start_date, end_date) "
        "VALUES (1, '2024-01', 'month', '2024-01-01', '2024-01-31')"))
    conn.execute(text(
        "INSERT INTO indicator_values (indicator_id, period_id, org_id, numerator, "
        "denominator, value, lower_ci, upper_ci, suppressed, note, load_id) VALUES "
        "('alpha', 1, 1, 5, 10, 50, 20.1, 79.9, false, NULL, 1), "
        "('zeta', 1, 1, 1, 4, 25, NULL, NULL, false, 'corrected', 2), "
        "('zeta', 1, 2, NULL, NULL, NULL, NULL, NULL, true, 'small numbers', 1)"))
    # load 1's inserts (older versions recorded them) and load 2's update of one of them
    conn.execute(text(
        "INSERT INTO value_history (load_id, indicator_id, period_id, org_id, action, "
        "prev_numerator, prev_denominator, prev_value, prev_lower_ci, prev_upper_ci, "
        "prev_suppressed, prev_note, prev_load_id) VALUES "
        "(1, 'alpha', 1, 1, 'insert', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL), "
        "(1, 'zeta', 1, 1, 'insert', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL), "
        "(1, 'zeta', 1, 2, 'insert', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL), "
        "(2, 'zeta', 1, 1, 'update', 1, 2, 50, NULL, NULL, false, NULL, 1)"))


VALUES_SQL = (
    "SELECT i.id, v.period_id, o.code, v.numerator, v.denominator, v.value, v.lower_ci, "
    "v.upper_ci, v.suppressed, v.note, v.load_id FROM indicator_values v "
    "JOIN indicators i ON {join} JOIN organisations o ON o.id = v.org_id "
    "ORDER BY i.id, o.code")


def _values(conn, join: str) -> list[tuple]:
    return [(r[0], r[1], r[2], *r[3:8], bool(r[8]), r[9], r[10])
            for r in conn.execute(text(VALUES_SQL.format(join=join))).all()]


def _counts(conn) -> dict[int, tuple[int, int]]:
    return {int(k): (int(n), int(o)) for k, n, o in conn.execute(text(
        "SELECT ikey, n_values, n_orgs FROM value_counts")).all()}


OLD = [
    ("alpha", 1, "A1", 5.0, 10.0, 50.0, 20.1, 79.9, False, None, 1),
    ("zeta", 1, "A1", 1.0, 4.0, 25.0, None, None, False, "corrected", 2),
    ("zeta", 1, "B2", None, None, None, None, None, True, "small numbers", 1),
]


def test_upgrade_keeps_values_history_and_reverts(empty_url: str, backend: str) -> None:
    from core.models import Indicator
    from etl.revert import revert_load

    down = _down_revision()
    engine = make_engine(empty_url)
    migrate(engine, down)
    with engine.begin() as conn:
        _fill_old(conn)
        assert _values(conn, "i.id = v.indicator_id") == OLD
    migrate(engine)
    assert schema_version(engine) == head_revision()
    with engine.begin() as conn:
        keys = dict(conn.execute(select(Indicator.id, Indicator.ikey)).all())
        assert keys == {"alpha": 1, "zeta": 2}
        assert _values(conn, "i.ikey = v.ikey") == OLD
        history = conn.execute(text(
            "SELECT load_id, ikey, period_id, org_id, action, prev_numerator, prev_value, "
            "prev_load_id FROM value_history")).all()
        # only the change is kept; the inserts are reverted by their load id
        assert [tuple(r) for r in history] == [(2, 2, 1, 1, "update", 1.0, 50.0, 1)]
        # (0006) each indicator's values and organisations, counted from the values
        assert _counts(conn) == {1: (1, 1), 2: (2, 2)}
        # a new indicator gets the next key (PostgreSQL identity, SQLite trigger)
        conn.execute(Indicator.__table__.insert().values(
            id="beta", name="Beta", value_type="proportion", multiplier=100,
            polarity="higher_is_better", thresholds=[], tags=[], decimals=1))
        assert conn.execute(select(Indicator.ikey).where(Indicator.id == "beta")).scalar() == 3

    # load 1's value was changed by load 2: load 1 cannot be reverted first
    with pytest.raises(ValueError, match="revert those first"):
        revert_load(engine, 1)
    assert revert_load(engine, 2).status == "reverted"
    with engine.connect() as conn:
        assert _values(conn, "i.ikey = v.ikey")[1] == (
            "zeta", 1, "A1", 1.0, 2.0, 50.0, None, None, False, None, 1)
    with engine.connect() as conn:
        assert _counts(conn) == {1: (1, 1), 2: (2, 2)}  # an update reverted: the same
    # (loads made before loads kept their changes: the rows are counted as they go)
    assert revert_load(engine, 1).status == "reverted"
    with engine.connect() as conn:
        assert _values(conn, "i.ikey = v.ikey") == []
        assert _counts(conn) == {}
    engine.dispose()


def test_downgrade_puts_the_old_tables_back(empty_url: str, backend: str) -> None:
    down = _down_revision()
    engine = make_engine(empty_url)
    migrate(engine, down)
    with engine.begin() as conn:
        _fill_old(conn)
    migrate(engine)
    from alembic import command

    cfg = alembic_config(empty_url)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, down)
    assert schema_version(engine) == down
    with engine.begin() as conn:
        assert _values(conn, "i.id = v.indicator_id") == OLD
        history = conn.execute(text(
            "SELECT load_id, indicator_id, action, prev_value, prev_load_id "
            "FROM value_history")).all()
        assert [tuple(r) for r in history] == [(2, "zeta", "update", 50.0, 1)]
        # the old surrogate id still numbers new rows
        conn.execute(text(
            "INSERT INTO indicator_values (indicator_id, period_id, org_id, suppressed) "
            "VALUES ('alpha', 1, 2, false)"))
        assert conn.execute(text("SELECT COUNT(DISTINCT id) FROM indicator_values")).scalar() \
            == 4
    migrate(engine)  # and up again
    with engine.connect() as conn:
        assert len(_values(conn, "i.ikey = v.ikey")) == 4
    engine.dispose()
