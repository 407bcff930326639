"""A lean value store: values keyed by integers (indicator ikey, period, organisation).

- ``indicators.ikey``: an integer surrogate for each indicator (the slug ``indicators.id``
  stays the public id); PostgreSQL: an identity column; SQLite: numbered by a trigger.
- ``indicator_values``: no bigint ``id``; primary key (ikey, period_id, org_id) instead of the
  unique key on (indicator slug, period, org); one secondary index (org_id, ikey); no index on
  ``load_id``. SQLite: ``WITHOUT ROWID``.
- ``value_history``: keyed by (load_id, ikey, period_id, org_id), no ``id``; only the values a
  load changed (``update`` rows) are kept: the ``insert`` rows older versions wrote are not
  needed by a revert (a load's inserts are the values still carrying its id, and a later load
  that changed one recorded an ``update`` naming it) and are dropped. History rows of
  indicators deleted since (whose values are gone) are dropped too.

The data is copied into the new tables (PostgreSQL: the keys, index and foreign keys are built
after the copy), so values, loads, history and reverts carry over; the downgrade copies back.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 02:30:00
"""
from alembic import op


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

_VALUES = ("numerator", "denominator", "value", "lower_ci", "upper_ci", "suppressed", "note")
_V = ", ".join(_VALUES)
_PREV = ", ".join(f"prev_{c}" for c in _VALUES)

_PG_VALUES = """
CREATE TABLE indicator_values_lean (
    ikey INTEGER NOT NULL,
    period_id INTEGER NOT NULL,
    org_id INTEGER NOT NULL,
    load_id INTEGER,
    numerator DOUBLE PRECISION,
    denominator DOUBLE PRECISION,
    value DOUBLE PRECISION,
    lower_ci DOUBLE PRECISION,
    upper_ci DOUBLE PRECISION,
    suppressed BOOLEAN NOT NULL,
    note TEXT
)"""
_PG_VALUE_KEYS = (
    "ALTER TABLE indicator_values ADD CONSTRAINT pk_indicator_values "
    "PRIMARY KEY (ikey, period_id, org_id)",
    "CREATE INDEX ix_indicator_values_org_ikey ON indicator_values (org_id, ikey)",
    "ALTER TABLE indicator_values ADD CONSTRAINT fk_indicator_values_ikey_indicators "
    "FOREIGN KEY (ikey) REFERENCES indicators (ikey) ON DELETE CASCADE",
    "ALTER TABLE indicator_values ADD CONSTRAINT fk_indicator_values_period_id_periods "
    "FOREIGN KEY (period_id) REFERENCES periods (id) ON DELETE CASCADE",
    "ALTER TABLE indicator_values ADD CONSTRAINT fk_indicator_values_org_id_organisations "
    "FOREIGN KEY (org_id) REFERENCES organisations (id) ON DELETE CASCADE",
    "ALTER TABLE indicator_values ADD CONSTRAINT fk_indicator_values_load_id_loads "
    "FOREIGN KEY (load_id) REFERENCES loads (id) ON DELETE SET NULL",
)
_PG_HISTORY = """
CREATE TABLE value_history_lean (
    load_id INTEGER NOT NULL,
    ikey INTEGER NOT NULL,
    period_id INTEGER NOT NULL,
    org_id INTEGER NOT NULL,
    action VARCHAR(8) NOT NULL,
    prev_load_id INTEGER,
    prev_numerator DOUBLE PRECISION,
    prev_denominator DOUBLE PRECISION,
    prev_value DOUBLE PRECISION,
    prev_lower_ci DOUBLE PRECISION,
    prev_upper_ci DOUBLE PRECISION,
    prev_suppressed BOOLEAN,
    prev_note TEXT
)"""

_SQLITE_VALUES = """
CREATE TABLE indicator_values_lean (
    ikey INTEGER NOT NULL REFERENCES indicators (ikey) ON DELETE CASCADE,
    period_id INTEGER NOT NULL REFERENCES periods (id) ON DELETE CASCADE,
    org_id INTEGER NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
    load_id INTEGER REFERENCES loads (id) ON DELETE SET NULL,
    numerator FLOAT, denominator FLOAT, value FLOAT, lower_ci FLOAT, upper_ci FLOAT,
    suppressed BOOLEAN NOT NULL,
    note TEXT,
    CONSTRAINT pk_indicator_values PRIMARY KEY (ikey, period_id, org_id)
) WITHOUT ROWID"""
_SQLITE_HISTORY = """
CREATE TABLE value_history_lean (
    load_id INTEGER NOT NULL REFERENCES loads (id) ON DELETE CASCADE,
    ikey INTEGER NOT NULL,
    period_id INTEGER NOT NULL,
    org_id INTEGER NOT NULL,
    action VARCHAR(8) NOT NULL,
    prev_load_id INTEGER,
    prev_numerator FLOAT, prev_denominator FLOAT, prev_value FLOAT, prev_lower_ci FLOAT,
    prev_upper_ci FLOAT, prev_suppressed BOOLEAN, prev_note TEXT,
    CONSTRAINT pk_value_history PRIMARY KEY (load_id, ikey, period_id, org_id)
) WITHOUT ROWID"""
#: SQLite has no identity column: an indicator inserted without ikey gets the next number
_SQLITE_IKEY_TRIGGER = """
CREATE TRIGGER tr_indicators_ikey AFTER INSERT ON indicators
FOR EACH ROW WHEN NEW.ikey IS NULL
BEGIN
    UPDATE indicators SET ikey = (SELECT COALESCE(MAX(ikey), 0) + 1 FROM indicators)
    WHERE id = NEW.id;
END"""


def upgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    ex = op.execute
    # indicators: the integer surrogate, numbered in slug order
    ex("ALTER TABLE indicators ADD COLUMN ikey INTEGER")
    ex("UPDATE indicators SET ikey = (SELECT COUNT(*) FROM indicators i2 "
       "WHERE i2.id <= indicators.id)")
    if pg:
        ex("ALTER TABLE indicators ALTER COLUMN ikey SET NOT NULL")
        ex("ALTER TABLE indicators ALTER COLUMN ikey ADD GENERATED BY DEFAULT AS IDENTITY")
        ex("SELECT setval(pg_get_serial_sequence('indicators', 'ikey'), "
           "(SELECT COALESCE(MAX(ikey), 0) + 1 FROM indicators), false)")
        ex("ALTER TABLE indicators ADD CONSTRAINT uq_indicators_ikey UNIQUE (ikey)")
        ex("SET LOCAL maintenance_work_mem = '256MB'")
        ex(_PG_VALUES)
    else:
        ex("CREATE UNIQUE INDEX uq_indicators_ikey ON indicators (ikey)")
        ex(_SQLITE_IKEY_TRIGGER)
        ex(_SQLITE_VALUES)
    # values: copied in key order (SQLite fills its clustered key left to right)
    ex(f"INSERT INTO indicator_values_lean (ikey, period_id, org_id, load_id, {_V}) "
       f"SELECT i.ikey, v.period_id, v.org_id, v.load_id, "
       + ", ".join(f"v.{c}" for c in _VALUES)
       + " FROM indicator_values v JOIN indicators i ON i.id = v.indicator_id "
       "ORDER BY i.ikey, v.period_id, v.org_id")
    ex(_PG_HISTORY if pg else _SQLITE_HISTORY)
    ex(f"INSERT INTO value_history_lean (load_id, ikey, period_id, org_id, action, "
       f"prev_load_id, {_PREV}) "
       f"SELECT h.load_id, i.ikey, h.period_id, h.org_id, h.action, h.prev_load_id, "
       + ", ".join(f"h.prev_{c}" for c in _VALUES)
       + " FROM value_history h JOIN indicators i ON i.id = h.indicator_id "
       "WHERE h.action = 'update' ORDER BY h.load_id, i.ikey, h.period_id, h.org_id")
    ex("DROP TABLE indicator_values")
    ex("DROP TABLE value_history")
    ex("ALTER TABLE indicator_values_lean RENAME TO indicator_values")
    ex("ALTER TABLE value_history_lean RENAME TO value_history")
    if pg:
        for statement in _PG_VALUE_KEYS:
            ex(statement)
        ex("ALTER TABLE value_history ADD CONSTRAINT pk_value_history "
           "PRIMARY KEY (load_id, ikey, period_id, org_id)")
        ex("ALTER TABLE value_history ADD CONSTRAINT fk_value_history_load_id_loads "
           "FOREIGN KEY (load_id) REFERENCES loads (id) ON DELETE CASCADE")
        ex("ANALYZE indicator_values")
        ex("ANALYZE value_history")
    else:
        ex("CREATE INDEX ix_indicator_values_org_ikey ON indicator_values (org_id, ikey)")


_OLD_VALUES_PG = """
CREATE TABLE indicator_values_old (
    id BIGSERIAL NOT NULL,
    indicator_id VARCHAR(100) NOT NULL,
    period_id INTEGER NOT NULL,
    org_id INTEGER NOT NULL,
    numerator DOUBLE PRECISION, denominator DOUBLE PRECISION, value DOUBLE PRECISION,
    lower_ci DOUBLE PRECISION, upper_ci DOUBLE PRECISION, suppressed BOOLEAN NOT NULL,
    note TEXT, load_id INTEGER
)"""
_OLD_VALUES_SQLITE = """
CREATE TABLE indicator_values_old (
    id INTEGER NOT NULL,
    indicator_id VARCHAR(100) NOT NULL,
    period_id INTEGER NOT NULL,
    org_id INTEGER NOT NULL,
    numerator FLOAT, denominator FLOAT, value FLOAT, lower_ci FLOAT, upper_ci FLOAT,
    suppressed BOOLEAN NOT NULL, note TEXT, load_id INTEGER,
    CONSTRAINT pk_indicator_values PRIMARY KEY (id),
    CONSTRAINT fk_indicator_values_indicator_id_indicators FOREIGN KEY(indicator_id)
        REFERENCES indicators (id) ON DELETE CASCADE,
    CONSTRAINT fk_indicator_values_load_id_loads FOREIGN KEY(load_id)
        REFERENCES loads (id) ON DELETE SET NULL,
    CONSTRAINT fk_indicator_values_org_id_organisations FOREIGN KEY(org_id)
        REFERENCES organisations (id) ON DELETE CASCADE,
    CONSTRAINT fk_indicator_values_period_id_periods FOREIGN KEY(period_id)
        REFERENCES periods (id) ON DELETE CASCADE,
    CONSTRAINT uq_indicator_values_indicator_id_period_id_org_id
        UNIQUE (indicator_id, period_id, org_id)
)"""
_OLD_HISTORY_PG = """
CREATE TABLE value_history_old (
    id BIGSERIAL NOT NULL,
    load_id INTEGER NOT NULL,
    indicator_id VARCHAR(100) NOT NULL,
    period_id INTEGER NOT NULL,
    org_id INTEGER NOT NULL,
    action VARCHAR(8) NOT NULL,
    prev_numerator DOUBLE PRECISION, prev_denominator DOUBLE PRECISION,
    prev_value DOUBLE PRECISION, prev_lower_ci DOUBLE PRECISION,
    prev_upper_ci DOUBLE PRECISION, prev_suppressed BOOLEAN, prev_note TEXT,
    prev_load_id INTEGER
)"""
_OLD_HISTORY_SQLITE = """
CREATE TABLE value_history_old (
    id INTEGER NOT NULL,
    load_id INTEGER NOT NULL,
    indicator_id VARCHAR(100) NOT NULL,
    period_id INTEGER NOT NULL,
    org_id INTEGER NOT NULL,
    action VARCHAR(8) NOT NULL,
    prev_numerator FLOAT, prev_denominator FLOAT, prev_value FLOAT, prev_lower_ci FLOAT,
    prev_upper_ci FLOAT, prev_suppressed BOOLEAN, prev_note TEXT, prev_load_id INTEGER,
    CONSTRAINT pk_value_history PRIMARY KEY (id),
    CONSTRAINT fk_value_history_load_id_loads FOREIGN KEY(load_id)
        REFERENCES loads (id) ON DELETE CASCADE
)"""


def downgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    ex = op.execute
    ex(_OLD_VALUES_PG if pg else _OLD_VALUES_SQLITE)
    ex(f"INSERT INTO indicator_values_old (indicator_id, period_id, org_id, {_V}, load_id) "
       f"SELECT i.id, v.period_id, v.org_id, " + ", ".join(f"v.{c}" for c in _VALUES)
       + ", v.load_id FROM indicator_values v JOIN indicators i ON i.ikey = v.ikey "
       "ORDER BY i.id, v.period_id, v.org_id")
    ex(_OLD_HISTORY_PG if pg else _OLD_HISTORY_SQLITE)
    ex(f"INSERT INTO value_history_old (load_id, indicator_id, period_id, org_id, action, "
       f"{_PREV}, prev_load_id) SELECT h.load_id, i.id, h.period_id, h.org_id, h.action, "
       + ", ".join(f"h.prev_{c}" for c in _VALUES)
       + ", h.prev_load_id FROM value_history h JOIN indicators i ON i.ikey = h.ikey "
       "ORDER BY h.load_id, i.id, h.period_id, h.org_id")
    ex("DROP TABLE indicator_values")
    ex("DROP TABLE value_history")
    ex("ALTER TABLE indicator_values_old RENAME TO indicator_values")
    ex("ALTER TABLE value_history_old RENAME TO value_history")
    if pg:
        ex("ALTER TABLE indicator_values ADD CONSTRAINT pk_indicator_values PRIMARY KEY (id)")
        ex("ALTER TABLE indicator_values ADD CONSTRAINT "
           "uq_indicator_values_indicator_id_period_id_org_id "
           "UNIQUE (indicator_id, period_id, org_id)")
        for col, target, action in (("indicator_id", "indicators", "CASCADE"),
                                    ("period_id", "periods", "CASCADE"),
                                    ("org_id", "organisations", "CASCADE"),
                                    ("load_id", "loads", "SET NULL")):
            ex(f"ALTER TABLE indicator_values ADD CONSTRAINT "
               f"fk_indicator_values_{col}_{target} FOREIGN KEY ({col}) "
               f"REFERENCES {target} (id) ON DELETE {action}")
        ex("ALTER TABLE value_history ADD CONSTRAINT pk_value_history PRIMARY KEY (id)")
        ex("ALTER TABLE value_history ADD CONSTRAINT fk_value_history_load_id_loads "
           "FOREIGN KEY (load_id) REFERENCES loads (id) ON DELETE CASCADE")
    ex("CREATE INDEX ix_indicator_values_load_id ON indicator_values (load_id)")
    ex("CREATE INDEX ix_indicator_values_org_indicator ON indicator_values "
       "(org_id, indicator_id)")
    ex("CREATE INDEX ix_value_history_load_id ON value_history (load_id)")
    if pg:
        ex("ALTER TABLE indicators DROP CONSTRAINT uq_indicators_ikey")
        ex("ALTER TABLE indicators DROP COLUMN ikey")
    else:
        ex("DROP TRIGGER tr_indicators_ikey")
        ex("DROP INDEX uq_indicators_ikey")
        ex("ALTER TABLE indicators DROP COLUMN ikey")
