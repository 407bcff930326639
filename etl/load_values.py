"""Loading values into the database: bulk, set-based, inside the caller's transaction.

Values go through a temporary staging table: PostgreSQL ``COPY`` (CSV written by pyarrow) or
SQLite ``executemany``; then one pass joins the staging table to ``indicator_values`` and keeps
only the rows that are new or differ (``qidash_diff``). From that table three set-based
statements record the history (what each key held before, for :mod:`etl.revert`), update the
changed values and insert the new ones. Unchanged rows are never written, which is what makes a
second load of the same file ``unchanged`` and a corrected file touch only what differs.

While the values table is small when a load starts (at most :data:`DIRECT_MAX_ROWS` rows: the
first national load), rows of (indicator, period) pairs that have no value yet can only be
inserts: they are written straight into ``indicator_values`` (the same ``COPY`` or
``executemany``), without the staging copy and the ``INSERT ... SELECT`` (see
:class:`ValueStage`). The rest of the load is unchanged: the same transaction, the same checks.

Readers are never blocked by a routine load. Plain inserts and updates with the indexes and
foreign keys in place take only row-level locks, so the API keeps reading the values table while
a load runs. Only a load that inserts at least :data:`BULK_FK_ROWS` rows AND at least doubles the
values table (the initial national load, when nobody reads yet) takes the bulk path: on
PostgreSQL its foreign keys are dropped and re-added (one validation pass instead of a trigger
per row) and the secondary indexes and unique key are rebuilt after the insert (a sort instead
of row-by-row maintenance). ``ALTER TABLE``/``DROP INDEX`` take an ACCESS EXCLUSIVE lock on
``indicator_values`` until commit, which is why it is kept for that case. SQLite rebuilds the
secondary indexes on the same condition (its WAL readers see the previous snapshot meanwhile).
The rebuild (:meth:`ValueStage.finish`) may run in a worker thread on the load's connection
while the load computes its alerts (:meth:`ValueStage.rebuilding`, ``etl.pipeline``): still in
the load's transaction, always before it commits.

The load's own record in ``loads`` (claiming, interrupted loads) is :mod:`etl.load_runs`;
the ids looked up before writing are :mod:`etl.lookups`; reverting a load is :mod:`etl.revert`.

Nothing here commits: the pipeline owns the transaction.
"""

from __future__ import annotations

import io
import logging
import sqlite3
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from itertools import chain

import numpy as np
import pandas as pd
from sqlalchemy import Connection, bindparam, select, text

from core.models import Indicator

log = logging.getLogger("qidash.etl")


VALUE_FIELDS = ("numerator", "denominator", "value", "lower_ci", "upper_ci", "suppressed", "note")
#: the staged columns: a chunk's indicator slugs become their integer keys (``ikey``)
STAGE_COLUMNS = ("org_id", "ikey", "period_id", *VALUE_FIELDS, "ref")
#: the columns a direct write puts into indicator_values (see :class:`ValueStage`)
DIRECT_COLUMNS = ("ikey", "period_id", "org_id", *VALUE_FIELDS, "load_id")
#: direct mode keeps the rows it writes (the columns the alerts read) up to this many, so that
#: the alerts of indicators new to the database are computed without reading their values
#: back (core.services.alerts; about 50 bytes a row)
WRITTEN_KEEP_MAX = 2_000_000
_KEPT_COLUMNS = ("ikey", "org_id", "period_id", "numerator", "denominator", "value",
                 "suppressed")
_NOT_NULL = ("org_id", "ikey", "period_id", "suppressed", "load_id")


#: a load inserting this many rows or more, into a values table holding no more rows than it
#: inserts, takes the bulk path (see the module docstring)
BULK_FK_ROWS = 100_000
#: a values load writes new (indicator, period) pairs straight into indicator_values, without
#: staging and diffing them, when the table holds at most this many rows as it starts
DIRECT_MAX_ROWS = 100_000
#: a direct load whose (indicator, period) pairs arrive split into pieces (one per chunk
#: holding some of a pair's rows) of fewer rows than this on average, i.e. less than half a
#: page of the values table each, is rewritten in key order on the bulk path (see
#: :attr:`ValueStage.scattered`): a comparison would read about 64 / n times the pages
SCATTERED_PIECE_ROWS = 32
#: write each chunk in a worker thread while the next one is read and validated (False: write
#: it before reading on, e.g. to profile the two apart)
BACKGROUND_WRITES = True
#: SQLite: rows per INSERT statement (at most: fewer when the build's limit on bound values a
#: statement, 32,766 since SQLite 3.32, would be passed; 12 columns x 500 rows bind 6,000)
SQLITE_ROWS_PER_INSERT = 500


def is_postgres(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


#: the tables a values load writes that have foreign keys (checked by check_foreign_keys)
_CHECKED_TABLES = ("indicator_values", "value_history", "organisations", "indicators",
                   "load_errors", "value_counts")


class ForeignKeyError(RuntimeError):
    """A row written with SQLite's foreign key enforcement off points at nothing."""


def relax_foreign_keys(conn: Connection) -> bool:
    """SQLite: turn foreign key enforcement off for a values load into a small values table.

    SQLite checks every foreign key of every inserted row (four lookups per value): about a
    third of the time of a first national load's inserts. ``PRAGMA foreign_keys`` cannot change
    inside a transaction, so this runs before ``BEGIN IMMEDIATE`` and only when the values
    table holds at most :data:`DIRECT_MAX_ROWS` rows (the load then writes directly, see
    :class:`ValueStage`): :func:`check_foreign_keys` re-checks every row of the tables a load
    writes, in the same transaction before it commits, which costs a scan of those tables.
    (A values load deletes nothing from the parent tables, so no ``ON DELETE`` action is
    missed.) :func:`restore_foreign_keys` turns enforcement back on after the transaction.
    Returns whether enforcement was turned off. PostgreSQL: nothing (see the bulk path).
    """
    if is_postgres(conn):
        return False
    raw = conn.connection.driver_connection
    if raw is None or raw.in_transaction or not raw.execute("PRAGMA foreign_keys").fetchone()[0]:
        return False  # (enforcement already off: nothing to relax, and nothing to turn back on)
    before = raw.execute("SELECT COUNT(*) FROM (SELECT 1 FROM indicator_values LIMIT ?)",
                         (DIRECT_MAX_ROWS + 1,)).fetchone()[0]
    if before > DIRECT_MAX_ROWS:
        return False
    raw.execute("PRAGMA foreign_keys = OFF")
    return True


def check_foreign_keys(conn: Connection) -> None:
    """SQLite, before commit when :func:`relax_foreign_keys` turned enforcement off: every row
    of the tables a load writes must point at existing rows (``PRAGMA foreign_key_check``, a
    scan of each table; raises :class:`ForeignKeyError`, which rolls the load back)."""
    for table in _CHECKED_TABLES:
        bad = conn.exec_driver_sql(f"PRAGMA foreign_key_check({table})").first()
        if bad is not None:
            raise ForeignKeyError(
                f"{table} row {bad[1]} points at a missing row of {bad[2]}; nothing was loaded")


def restore_foreign_keys(conn: Connection) -> None:
    """SQLite, after the load's transaction ended: foreign key enforcement back on. A
    connection that cannot be put back (still in a transaction) is discarded, never pooled."""
    raw = conn.connection.driver_connection
    try:
        raw.execute("PRAGMA foreign_keys = ON")  # type: ignore[union-attr]
        on = raw.execute("PRAGMA foreign_keys").fetchone()[0]  # type: ignore[union-attr]
    except Exception:  # whatever went wrong, the connection must not be reused
        on = 0
    if not on:
        conn.invalidate()


# values --------------------------------------------------------------------------------------
@dataclass
class ApplyCounts:
    inserted: int
    updated: int
    unchanged: int


def _line_numbers(refs: pd.Series) -> np.ndarray:
    """CSV line references as integers (-1 for workbook references such as ``Sheet:12``)."""
    try:
        return refs.to_numpy(dtype=object).astype(np.int64)
    except (TypeError, ValueError):
        return pd.to_numeric(refs, errors="coerce").fillna(-1).astype("int64").to_numpy()


class ValueStage:
    """Where a load's clean rows go, chunk by chunk, in the current transaction.

    Normally a temporary staging table, diffed against ``indicator_values`` by :meth:`apply`.
    With ``direct`` (a load that can commit: not a dry run) and a values table holding at most
    :data:`DIRECT_MAX_ROWS` rows when the load starts (the first national load, or one after a
    small demo), the rows of every (indicator, period) pair that has no value in the database
    yet go straight into ``indicator_values`` (PostgreSQL ``COPY``, SQLite ``executemany``):
    they can only be inserts, so staging and diffing them would be wasted work. Rows of pairs
    that already have values are staged and diffed as usual. The pairs present are read once
    when the load starts (a small table). A load whose direct rows reach
    :data:`BULK_FK_ROWS` and at least double the table takes the bulk path before writing
    them (see the module docstring). The caller checks keys repeated across chunks before
    :meth:`add` (:class:`ChunkKeys`): direct rows carry no line number, so when one is found
    the caller starts the file again without ``direct`` (see ``etl.pipeline``).
    """

    def __init__(self, conn: Connection, *, direct: bool = False,
                 load_id: int | None = None) -> None:
        self.conn = conn
        self.pg = is_postgres(conn)
        self.load_id = load_id
        #: rows in the staging table, and the chunks that staged some
        self.staged = 0
        self.chunks = 0
        #: rows written straight into indicator_values
        self.direct_rows = 0
        #: indicator key -> [rows inserted, rows updated] by this load (:meth:`changes`)
        self._changes: dict[int, list[int]] = {}
        #: the (indicator key, period) pairs staged: a pair with no value in the database yet
        #: needs no diff (its rows can only be inserts)
        self.pairs: set[tuple[int, int]] = set()
        #: indicator slug -> integer key (read when the stage starts; again for a new slug)
        self.ikeys: dict[str, int] = {}
        #: the bulk path: dropped foreign keys (table, name, definition) and the statements
        #: that rebuild the dropped indexes, put back by :meth:`finish`
        self.bulk = False
        self.held: list[tuple[str, str, str]] = []
        self.rebuilt: list[str] = []
        #: PostgreSQL's dropped primary key of indicator_values: the statement in
        #: :attr:`rebuilt` that puts it back, and its name (what :meth:`finish` clusters on)
        self.primary_key: tuple[str, str] | None = None
        #: direct mode: the pairs that had values when the load started, and how many rows
        self.existing: set[tuple[int, int]] | None = None
        self.before_rows = 0
        #: direct mode: the (indicator, period) pairs written directly, and in how many
        #: chunks' pieces (see :meth:`scattered`)
        self._direct_pairs: set[tuple[int, int]] = set()
        self._direct_pieces = 0
        #: the background writer (see :meth:`_submit`)
        self._pool: ThreadPoolExecutor | None = None
        self._pending: Future[None] | None = None
        self._background: bool | None = None  # decided at the first write
        self._write_seconds = self._wait_seconds = 0.0
        if direct and load_id is not None:
            self._snapshot()
        #: direct mode: the rows written directly, kept for the alerts (see :meth:`written`)
        self._kept: list[pd.DataFrame] | None = [] if self.existing is not None else None
        self._kept_rows = 0
        #: indicator key -> organisations with a value, for indicators that had none when the
        #: load started and whose rows it kept (set by :meth:`written`): no count needed
        self.known_orgs: dict[int, int] = {}
        conn.execute(text("DROP TABLE IF EXISTS qidash_stage"))
        conn.execute(text("DROP TABLE IF EXISTS qidash_diff"))
        on_commit = " ON COMMIT DROP" if self.pg else ""
        conn.execute(text(
            "CREATE TEMPORARY TABLE qidash_stage (org_id INTEGER NOT NULL, "
            "ikey INTEGER NOT NULL, period_id INTEGER NOT NULL, "
            "numerator DOUBLE PRECISION, denominator DOUBLE PRECISION, value DOUBLE PRECISION, "
            "lower_ci DOUBLE PRECISION, upper_ci DOUBLE PRECISION, suppressed BOOLEAN NOT NULL, "
            f"note TEXT, ref BIGINT){on_commit}"
        ))

    @property
    def rows(self) -> int:
        """Rows added (staged and direct)."""
        return self.staged + self.direct_rows

    def _count_upto(self, n: int) -> int:
        """How many rows indicator_values holds, counting no further than ``n``."""
        return int(self.conn.execute(text(
            "SELECT COUNT(*) FROM (SELECT 1 FROM indicator_values LIMIT :n) AS t"
        ), {"n": n}).scalar_one())

    @property
    def direct(self) -> bool:
        """Are rows of new (indicator, period) pairs written straight into the values table?"""
        return self.existing is not None

    def _snapshot(self) -> None:
        """Direct mode when the values table is small: remember which pairs it has."""
        before = self._count_upto(DIRECT_MAX_ROWS + 1)
        if before > DIRECT_MAX_ROWS:
            return
        self.before_rows = before
        self.existing = {(int(i), int(p)) for i, p in self.conn.execute(text(
            "SELECT DISTINCT ikey, period_id FROM indicator_values")).all()} \
            if before else set()

    def _ikeys(self, slugs: pd.Series) -> np.ndarray:
        """The integer keys of a chunk's indicator slugs (every slug is a known indicator:
        validation checked it)."""
        codes, uniques = pd.factorize(slugs)
        if any(u not in self.ikeys for u in uniques):
            self.ikeys = {str(i): int(k) for i, k in self.conn.execute(
                select(Indicator.id, Indicator.ikey)).all()}
        remap = np.array([self.ikeys[u] for u in uniques], dtype=np.int64)
        return remap[codes] if len(codes) else np.zeros(0, np.int64)

    def add(self, frame: pd.DataFrame) -> None:
        """Add clean rows (columns :data:`STAGE_COLUMNS`): staged, or in direct mode written
        straight into ``indicator_values`` when their (indicator, period) pair is new. The
        write finishes in the background (:meth:`wait`)."""
        if frame.empty:
            return
        self.wait()
        ikey = self._ikeys(frame["indicator_id"])
        pid = frame["period_id"].to_numpy(dtype=np.int64)
        org = frame["org_id"].to_numpy(dtype=np.int64)
        # in key order: the table's key (and SQLite's clustered table) fills left to right,
        # a rebuilt key sorts presorted input, and a comparison reads contiguous pages. Only
        # the columns written are reordered (plain numpy columns: the file's text columns
        # are not carried along)
        order = np.lexsort((org, pid, ikey))
        source = frame
        frame = pd.DataFrame({"org_id": org[order], "ikey": ikey[order], "period_id": pid[order],
                              **{c: source[c].to_numpy()[order] for c in VALUE_FIELDS}})
        ikey, pid = ikey[order], pid[order]
        width = int(pid.max()) + 1
        keys, inverse = np.unique(ikey * width + pid, return_inverse=True)
        pairs = [(int(k), int(p)) for k, p in (divmod(k, width) for k in keys.tolist())]
        staged = None
        if self.existing is not None:
            old = np.array([p in self.existing for p in pairs], dtype=bool)
            staged = old[inverse]
            if not staged.all():
                new_pairs = [p for p, o in zip(pairs, old.tolist(), strict=True) if not o]
                self._direct_pairs.update(new_pairs)
                self._direct_pieces += len(new_pairs)
                self._insert_direct(frame if not staged.any() else frame[~staged])
            if not staged.any():
                return
            frame = frame[staged]
            pairs = [p for p, o in zip(pairs, old.tolist(), strict=True) if o]
        self.pairs.update(pairs)
        self.chunks += 1
        self.staged += len(frame)
        # the line number is all the staging table needs to report a cross-chunk duplicate
        lines = _line_numbers(source["ref"])[order]
        frame = frame.assign(ref=lines if staged is None else lines[staged])
        self._submit(frame[list(STAGE_COLUMNS)], "qidash_stage", STAGE_COLUMNS)

    def _insert_direct(self, frame: pd.DataFrame) -> None:
        n = len(frame)
        if not self.bulk and self.direct_rows + n >= BULK_FK_ROWS \
                and self.before_rows <= self.direct_rows + n:
            self._enter_bulk(("indicator_values",))
        if self._kept is not None:
            if self._kept_rows + n > WRITTEN_KEEP_MAX:
                self._kept = None  # too many to keep: the alerts read them back
            else:
                self._kept.append(frame[list(_KEPT_COLUMNS)])
                self._kept_rows += n
        frame = frame[list(DIRECT_COLUMNS[:-1])].assign(load_id=self.load_id)
        self._submit(frame, "indicator_values", DIRECT_COLUMNS)
        self.direct_rows += n
        keys, counts = np.unique(frame["ikey"].to_numpy(), return_counts=True)
        for key, count in zip(keys.tolist(), counts.tolist(), strict=True):
            self._changes.setdefault(int(key), [0, 0])[0] += int(count)

    def changes(self) -> dict[str, list[int]]:
        """Indicator slug -> ``[inserted, updated]``: what :meth:`apply` wrote (or would
        write, without ``write``) per indicator, for the load's record (the start page's
        "what the last load changed", without a scan of the values by load id)."""
        slugs = {k: slug for slug, k in self.ikeys.items()}
        return {slugs.get(k, str(k)): list(v) for k, v in sorted(self._changes.items())
                if v[0] or v[1]}

    def inserted_by_key(self) -> dict[int, int]:
        """Indicator key -> values :meth:`apply` inserted, for every indicator it inserted
        into (``core.services.counts.apply_value_changes``; an update changes no count)."""
        return {k: v[0] for k, v in sorted(self._changes.items()) if v[0]}

    def _count_changes(self, sql: str) -> None:
        for key, inserted, updated in self.conn.execute(text(sql)).all():
            entry = self._changes.setdefault(int(key), [0, 0])
            entry[0] += int(inserted)
            entry[1] += int(updated)

    def _new_indicators(self) -> dict[int, str]:
        """The indicators (key -> slug) that had no value when the load started and whose
        rows direct mode kept (at most :data:`WRITTEN_KEEP_MAX`): what :meth:`written`
        gives."""
        if not self._kept or self.existing is None:
            return {}
        had = {i for i, _ in self.existing} | {i for i, _ in self.pairs}
        keys = set().union(*(np.unique(f["ikey"].to_numpy()).tolist() for f in self._kept))
        slug_of = {k: i for i, k in self.ikeys.items()}
        return {int(k): slug_of[int(k)] for k in keys if int(k) not in had}

    def written_indicators(self) -> set[str]:
        """The indicators :meth:`written` gives (without building their arrays)."""
        return set(self._new_indicators().values())

    def written(self) -> dict[str, dict[str, np.ndarray]]:
        """Every row this load wrote of each indicator that had no value when it started (so
        those rows are the indicator's whole series), as arrays of
        ``core.services.alerts.WRITTEN_COLUMNS``: what the alerts of a first load need without
        reading the values back. Empty unless direct mode kept them (at most
        :data:`WRITTEN_KEEP_MAX` rows). Once: the kept rows are released (the arrays are a
        copy of them)."""
        new = self._new_indicators()
        if not new:
            return {}
        assert self._kept is not None
        frame = pd.concat(self._kept, ignore_index=True)
        self._kept = None
        cols = {
            "org_id": frame["org_id"].to_numpy(dtype=np.int64),
            "period_id": frame["period_id"].to_numpy(dtype=np.int64),
            "numerator": frame["numerator"].to_numpy(dtype=float, na_value=np.nan),
            "denominator": frame["denominator"].to_numpy(dtype=float, na_value=np.nan),
            "value": frame["value"].to_numpy(dtype=float, na_value=np.nan),
            "suppressed": frame["suppressed"].to_numpy(dtype=bool, na_value=False),
        }
        out: dict[str, dict[str, np.ndarray]] = {}
        keys = frame["ikey"].to_numpy(dtype=np.int64)
        for key, idx in pd.Series(keys).groupby(keys, sort=False).indices.items():
            if int(key) in new:
                out[new[int(key)]] = {k: v[idx] for k, v in cols.items()}
                # an indicator new to the database: its organisations are these rows' own
                self.known_orgs[int(key)] = len(np.unique(cols["org_id"][idx]))
        return out

    def _submit(self, frame: pd.DataFrame, table: str, columns: tuple[str, ...]) -> None:
        """Write rows in the background: the ``COPY`` (or ``executemany``) of one chunk runs in
        a worker thread while the caller reads and validates the next one. The connection is
        the worker's until :meth:`wait` returns: call it before any other use."""
        self.wait()
        if self._background is None:
            self._background = BACKGROUND_WRITES and self._worker_can_write()
        if not self._background:
            self._timed_write(frame, table, columns)
            return
        assert self._pool is not None
        self._pending = self._pool.submit(self._timed_write, frame, table, columns)

    def _timed_write(self, frame: pd.DataFrame, table: str, columns: tuple[str, ...]) -> None:
        started = time.perf_counter()
        (self._copy if self.pg else self._executemany)(frame, table, columns)
        self._write_seconds += time.perf_counter() - started

    def _worker_can_write(self) -> bool:
        """Start the worker thread; False (and no worker) when the driver connection refuses
        to be used from another thread (an in-memory SQLite database, or one opened with
        ``check_same_thread``): then every chunk is written before the next one is read."""
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qidash-load")
        if self.pg:
            return True

        raw = self.conn.connection.driver_connection
        try:
            self._pool.submit(raw.execute, "SELECT 1").result()  # type: ignore[union-attr]
        except sqlite3.ProgrammingError:
            self._pool.shutdown()
            self._pool = None
            return False
        return True

    def wait(self, *, quiet: bool = False) -> None:
        """Block until the rows handed to the worker are written; re-raise its error (unless
        ``quiet``: the caller is already failing with its own)."""
        pending, self._pending = self._pending, None
        if pending is None:
            return
        started = time.perf_counter()
        try:
            pending.result()
        except BaseException:
            if not quiet:
                raise
        finally:
            self._wait_seconds += time.perf_counter() - started

    def _copy(self, frame: pd.DataFrame, table: str, columns: tuple[str, ...]) -> None:
        import pyarrow as pa
        import pyarrow.csv as pacsv

        binary = _binary_copy(frame, columns)
        raw = self.conn.connection.driver_connection
        if binary is not None:
            names, data = binary
            with raw.cursor() as cur, cur.copy(  # type: ignore[union-attr]
                f"COPY {table} ({', '.join(names)}) FROM STDIN (FORMAT binary)"
            ) as cp:
                cp.write(data)
            return
        types = {"org_id": pa.int64(), "ikey": pa.int64(), "period_id": pa.int64(),
                 "suppressed": pa.bool_(), "note": pa.string(), "ref": pa.int64(),
                 "load_id": pa.int64()}
        # columns empty in the whole chunk (often the intervals and notes) default to NULL:
        # fewer fields for the server to parse
        columns = tuple(c for c in columns if c in _NOT_NULL or frame[c].notna().any())
        arrow = pa.Table.from_pandas(frame[list(columns)], preserve_index=False, schema=pa.schema(
            [(c, types.get(c, pa.float64())) for c in columns]))
        buf = io.BytesIO()
        pacsv.write_csv(arrow, buf, pacsv.WriteOptions(include_header=False))
        with raw.cursor() as cur, cur.copy(  # type: ignore[union-attr]
            f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT csv)"
        ) as cp:
            cp.write(buf.getbuffer())

    def _executemany(self, frame: pd.DataFrame, table: str, columns: tuple[str, ...]) -> None:
        """SQLite: insert the chunk :data:`SQLITE_ROWS_PER_INSERT` rows to a statement.

        One ``INSERT ... VALUES (...), (...), ...`` per block of rows rather than
        ``executemany`` of a one-row statement: the statement is stepped and reset once per
        block instead of once per row, and an integer column holding one value in the whole
        chunk (the load id; ``suppressed``, mostly) is written into the statement rather than
        bound a million times. Together they write a million rows in a third of the time
        (1.63 s against 5.21 s, medians of three in ``bench/scratch/sqlite_inserts.py``). NaN
        (numbers and empty notes alike) binds as NULL; columns empty in the whole chunk (often
        the intervals and notes) are left to default to NULL."""
        if frame.empty:
            return
        names = [c for c in columns if c in _NOT_NULL or frame[c].notna().any()]
        arrays = {c: frame[c].to_numpy() for c in names}
        literal = {c: str(int(a[0])) for c, a in arrays.items()
                   if a.dtype.kind in "iub" and (a == a[0]).all()}
        bound = [c for c in names if c not in literal]
        flat = list(chain.from_iterable(zip(*(arrays[c].tolist() for c in bound), strict=True)))
        width = len(bound)
        rows = len(frame)
        row = "(" + ", ".join(literal.get(c, "?") for c in names) + ")"
        head = f"INSERT INTO {table} ({', '.join(names)}) VALUES "
        raw = self.conn.connection.driver_connection
        limit = raw.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)  # type: ignore[union-attr]
        block = max(1, min(SQLITE_ROWS_PER_INSERT, limit // max(width, 1)))
        whole = rows - rows % block
        cur = raw.cursor()  # type: ignore[union-attr]
        try:
            if whole:
                step = block * width
                sql = head + ", ".join([row] * block)
                if width:
                    cur.executemany(sql, (flat[i:i + step] for i in range(0, whole * width, step)))
                else:  # (every column constant: nothing to bind)
                    cur.executemany(sql, ([] for _ in range(whole // block)))
            if rows > whole:
                cur.execute(head + ", ".join([row] * (rows - whole)), flat[whole * width:])
        finally:
            cur.close()

    def duplicates(self) -> list[tuple[str, str, int, int, int]]:
        """Keys staged more than once (only possible across chunks): (ref, first ref, ...).

        Only called when :class:`ChunkKeys` saw a key in two chunks (rare), because a GROUP BY
        over the whole staging table costs seconds on a million rows.
        """
        self.wait()
        if self.chunks < 2:
            return []
        rows = self.conn.execute(text(
            "SELECT s.ref, d.first_ref, s.org_id, s.ikey, s.period_id FROM qidash_stage s "
            "JOIN (SELECT org_id, ikey, period_id, MIN(ref) AS first_ref, "
            "COUNT(*) AS n FROM qidash_stage GROUP BY org_id, ikey, period_id "
            "HAVING COUNT(*) > 1) d ON d.org_id = s.org_id AND d.ikey = s.ikey "
            "AND d.period_id = s.period_id"
        )).all()
        return [tuple(r) for r in rows]

    def delete_keys(self, keys: set[tuple[int, int, int]]) -> None:
        """Remove every staged row of these keys, (org id, indicator key, period id) as
        :meth:`duplicates` gives them (used by --skip-invalid for duplicates)."""
        self.wait()
        if not keys:
            return
        self.conn.execute(
            text("DELETE FROM qidash_stage WHERE org_id = :o AND ikey = :i "
                 "AND period_id = :p"),
            [{"o": o, "i": i, "p": p} for o, i, p in keys],
        )
        self.staged = self.conn.execute(text("SELECT COUNT(*) FROM qidash_stage")).scalar_one()

    def apply(self, load_id: int | None, *, write: bool = True,
              rebuild: bool = True) -> ApplyCounts:
        """Diff the staged rows against the database; record history, update and insert
        (unless ``write``); then end the bulk path if one was taken (unless ``rebuild`` is
        false: then the caller ends it, with :meth:`finish` or :meth:`rebuilding`). Direct
        rows count as inserted.

        History rows are written for updated values only: an inserted value needs none, because
        reverting its load deletes the values that still carry the load's id (a later load that
        overwrote one records an ``update`` row naming this load as ``prev_load_id``, which
        blocks the revert until that later load is reverted).

        When no staged (indicator, period) pair has a value in the database yet (a first load,
        or a new period of known indicators, the usual monthly append), every staged row is an
        insert: the diff is skipped and the staging table is inserted as it is. (In direct
        mode only the pairs that had values are staged.)
        """
        self.wait()
        t0 = time.perf_counter()
        counts = self._apply_staged(load_id, write=write, t0=t0)
        counts.inserted += self.direct_rows
        if write and rebuild:
            self.finish(t0)
        return counts

    @property
    def rebuild_pending(self) -> bool:
        """Has the bulk path keys, an index or foreign keys still to put back (:meth:`finish`)?"""
        return bool(self.rebuilt or self.held)

    @contextmanager
    def rebuilding(self) -> Iterator[None]:
        """Put back what the bulk path dropped (:meth:`finish`: the primary key, the index and
        the foreign keys, in this transaction) in a worker thread while the caller's block
        runs, and wait for it when the block ends (re-raising its error). The block must not
        use the connection: the database builds the keys while the block computes (a first
        load's alerts, see ``etl.pipeline``; the driver waits for the server without holding
        the GIL). Where rows could not be written in the background (see
        :meth:`_worker_can_write`) the keys are rebuilt before the block runs."""
        if not self.rebuild_pending:
            yield
            return
        if not self._background:
            self.finish()
            yield
            return
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qidash-rebuild")
        try:
            done = pool.submit(self.finish)
            try:
                yield
            except BaseException:
                with suppress(BaseException):  # the block's error is the one to report,
                    done.result()  # once the connection is free again (for the rollback)
                raise
            done.result()
        finally:
            pool.shutdown()

    def _apply_staged(self, load_id: int | None, *, write: bool, t0: float) -> ApplyCounts:
        conn = self.conn
        if not self.staged:
            return ApplyCounts(0, 0, 0)
        fresh = not self.direct and not self._existing_pairs()
        if fresh:
            log.debug("no staged indicator/period has values yet: %.2f s",
                      time.perf_counter() - t0)
            self._count_changes("SELECT ikey, COUNT(*), 0 FROM qidash_stage GROUP BY ikey")
            if write:
                self._write(load_id, source="qidash_stage", inserted=self.staged, updated=0,
                            t0=t0)
            return ApplyCounts(self.staged, 0, 0)
        eq = "IS NOT DISTINCT FROM" if self.pg else "IS"
        same = " AND ".join(f"v.{c} {eq} s.{c}" for c in VALUE_FIELDS)
        prev = ", ".join(f"v.{c} AS p_{c}" for c in VALUE_FIELDS)
        on_commit = " ON COMMIT DROP" if self.pg else ""
        if self.pg:
            conn.execute(text("ANALYZE qidash_stage"))  # temp tables have no statistics
        conn.execute(text(
            f"CREATE TEMPORARY TABLE qidash_diff{on_commit} AS "
            "SELECT s.org_id, s.ikey, s.period_id, "
            + ", ".join(f"s.{c}" for c in VALUE_FIELDS)
            + f", v.ikey AS vid, {prev}, v.load_id AS p_load_id "
            "FROM qidash_stage s LEFT JOIN indicator_values v ON v.ikey = s.ikey "
            "AND v.period_id = s.period_id AND v.org_id = s.org_id "
            f"WHERE v.ikey IS NULL OR NOT ({same})"
        ))
        total, updated = conn.execute(
            text("SELECT COUNT(*), COUNT(vid) FROM qidash_diff")).one()
        inserted = total - updated
        if total:
            self._count_changes("SELECT ikey, COUNT(*) - COUNT(vid), COUNT(vid) FROM qidash_diff "
                                "GROUP BY ikey")
        log.debug("diff of %s staged rows: %.2f s", self.staged, time.perf_counter() - t0)
        if write and total:
            self._write(load_id, source="qidash_diff", inserted=inserted, updated=updated, t0=t0)
        return ApplyCounts(inserted, updated, self.staged - total)

    def _existing_pairs(self) -> bool:
        """Does any staged (indicator, period) pair already have a value in the database?

        One probe per indicator through the primary key's (ikey, period_id) prefix.
        """
        by_indicator: dict[int, list[int]] = {}
        for ind, period in self.pairs:
            by_indicator.setdefault(ind, []).append(period)
        probe = text(
            "SELECT 1 FROM indicator_values WHERE ikey = :i AND period_id IN :p LIMIT 1"
        ).bindparams(bindparam("p", expanding=True))
        for ind, periods in by_indicator.items():
            periods.sort()
            for i in range(0, len(periods), 500):
                if self.conn.execute(probe, {"i": ind, "p": periods[i:i + 500]}).first():
                    return True
        return False

    def _write(self, load_id: int | None, *, source: str, inserted: int, updated: int,
               t0: float) -> None:
        """History for the updated values, then the update and the insert, from ``source``
        (``qidash_diff``, or ``qidash_stage`` when every staged row is new)."""
        conn = self.conn
        params = {"load_id": load_id}
        # the bulk path (constraints and indexes dropped, then rebuilt in one pass each) locks
        # the values table against readers until commit: only for a load that at least
        # doubles it (the initial national load, when nobody reads yet); every other load
        # inserts with the indexes and foreign keys in place, and readers never wait. Rows
        # written directly count as this load's inserts (they are in the table already).
        total = inserted + self.direct_rows
        if not self.bulk and total >= BULK_FK_ROWS and self._rows_at_most(
                total + self.direct_rows):
            self._enter_bulk(("indicator_values",))
        if self.bulk and updated >= BULK_FK_ROWS:
            self._enter_bulk(("value_history",))
        log.debug("%s path for %s inserts, %s updates", "bulk" if self.bulk else "plain",
                  inserted, updated)
        if updated:
            conn.execute(text(
                "INSERT INTO value_history (load_id, ikey, period_id, org_id, action, "
                + ", ".join(f"prev_{c}" for c in VALUE_FIELDS) + ", prev_load_id) "
                "SELECT :load_id, ikey, period_id, org_id, 'update', "
                + ", ".join(f"p_{c}" for c in VALUE_FIELDS) + ", p_load_id FROM qidash_diff "
                "WHERE vid IS NOT NULL"
            ), params)
            log.debug("history: %.2f s", time.perf_counter() - t0)
            conn.execute(text(
                "UPDATE indicator_values SET "
                + ", ".join(f"{c} = d.{c}" for c in VALUE_FIELDS)
                + ", load_id = :load_id FROM qidash_diff d "
                "WHERE d.vid IS NOT NULL AND indicator_values.ikey = d.ikey "
                "AND indicator_values.period_id = d.period_id "
                "AND indicator_values.org_id = d.org_id"
            ), params)
        if inserted:
            new_rows = " WHERE vid IS NULL" if source == "qidash_diff" else ""
            # in the key's order: the key (SQLite: the clustered table) fills left to right
            order = " ORDER BY ikey, period_id, org_id"
            conn.execute(text(
                "INSERT INTO indicator_values (ikey, period_id, org_id, "
                + ", ".join(VALUE_FIELDS) + ", load_id) "
                "SELECT ikey, period_id, org_id, " + ", ".join(VALUE_FIELDS)
                + ", :load_id FROM " + source + new_rows + order
            ), params)
        log.debug("update and insert: %.2f s", time.perf_counter() - t0)

    def _enter_bulk(self, tables: tuple[str, ...]) -> None:
        """Take the bulk path (see the module docstring): on PostgreSQL drop the foreign keys
        of ``tables``; the first time, drop the secondary indexes too (and on PostgreSQL the
        unique key). :meth:`finish` puts everything back in the same transaction."""
        if self.pg:
            self.held += self._drop_foreign_keys(tables)
        if not self.bulk:
            self.bulk = True
            self.rebuilt = self._drop_secondary_indexes()

    @property
    def scattered(self) -> bool:
        """Did the rows written directly arrive with their (indicator, period) pairs split into
        small pieces (fewer than :data:`SCATTERED_PIECE_ROWS` rows a piece on average)?

        Each chunk is sorted by the key before it is written, so a pair is one run of rows per
        chunk that holds it. A file in indicator or period order keeps each pair in one or two
        chunks; a file in organisation order with a long history per organisation (hundreds of
        indicators x years of months) has a piece of one or two rows per chunk, and a
        comparison then reads a page per row: 6,425 pages for 6,399 rows, 12.6 ms in memory,
        against about a hundred pages and 1.5 ms in key order."""
        pieces = self._direct_pieces
        return pieces > len(self._direct_pairs) and \
            self.direct_rows < SCATTERED_PIECE_ROWS * pieces

    def finish(self, t0: float | None = None) -> None:
        """End the bulk path: rebuild the dropped indexes (a sort each), then re-add the foreign
        keys (one set-based check each instead of one trigger call per row). On PostgreSQL, when
        the rows arrived :attr:`scattered`, the table is rewritten in key order (``CLUSTER`` on
        the rebuilt primary key) before the other indexes are built, so that each pair's rows
        are together on disk, as a comparison reads them."""
        t0 = time.perf_counter() if t0 is None else t0
        if self.rebuilt and self.pg:
            # index builds sort in memory instead of spilling to disk (this transaction only)
            self.conn.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))
        # the constraints come back before the indexes (see _drop_secondary_indexes), so a
        # rewrite right after the primary key is rebuilt leaves only the indexes to build
        cluster = self.primary_key if self.pg and self.scattered else None
        for statement in self.rebuilt:
            self.conn.execute(text(statement))
            if cluster is not None and statement == cluster[0]:
                self.conn.execute(text(f'CLUSTER indicator_values USING "{cluster[1]}"'))
                log.debug("rows scattered over %s pieces of %s pairs: table rewritten in key "
                          "order: %.2f s", self._direct_pieces, len(self._direct_pairs),
                          time.perf_counter() - t0)
        if self.rebuilt:
            log.debug("indexes rebuilt: %.2f s", time.perf_counter() - t0)
        for table, name, definition in self.held:
            self.conn.execute(text(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}'))
        if self.held:
            log.debug("foreign keys checked: %.2f s", time.perf_counter() - t0)
        self.rebuilt, self.held, self.primary_key = [], [], None

    def _drop_foreign_keys(self, tables: tuple[str, ...]) -> list[tuple[str, str, str]]:
        """Drop the values' and history's foreign keys for this transaction (PostgreSQL).

        PostgreSQL checks a foreign key with a trigger per inserted row; for a bulk insert that
        costs more than the insert itself. As its manual advises for bulk loading, the
        constraints are dropped and re-added (re-validated in one pass) inside the same
        transaction, so a failure restores them. The price: readers of the values table wait
        until the load commits, which is why this is done only for a load that at least doubles
        the table (the bulk path, see the module docstring).
        """
        held = []
        for table in tables:
            rows = self.conn.execute(text(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = CAST(:t AS regclass) AND contype = 'f'"), {"t": table}).all()
            for name, definition in rows:
                self.conn.execute(text(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"'))
                held.append((table, name, definition))
        return held

    def _rows_at_most(self, n: int) -> bool:
        """Does indicator_values hold at most ``n`` rows (before this load's inserts)?

        Counted exactly but bounded (at most ``n + 1`` rows are read, a fraction of the load's
        own cost): the planner's estimate (``reltuples``) is unknown until the table is first
        analysed, and a stale one would send a routine load down the bulk path.
        """
        return self._count_upto(n + 1) <= n

    def _drop_secondary_indexes(self) -> list[str]:
        """When a load at least doubles the values table, build its secondary index once
        after the insert (a sort) instead of maintaining it row by row; on PostgreSQL the
        primary key is rebuilt too, which re-checks it (SQLite's is the table itself: a
        ``WITHOUT ROWID`` table). Returns the statements that put them back."""
        conn = self.conn
        statements = []
        if not self.pg:
            # SQLite: the primary key is the (clustered) table and stays; the index is rebuilt
            for name, sql in conn.execute(text(
                    "SELECT name, sql FROM sqlite_master WHERE type = 'index' "
                    "AND tbl_name = 'indicator_values' AND sql IS NOT NULL")).all():
                conn.execute(text(f'DROP INDEX "{name}"'))
                statements.append(sql)
            return statements
        for name, definition, kind in conn.execute(text(
                "SELECT conname, pg_get_constraintdef(oid), contype FROM pg_constraint "
                "WHERE conrelid = CAST('indicator_values' AS regclass) "
                "AND contype IN ('p', 'u')")):
            conn.execute(text(f'ALTER TABLE indicator_values DROP CONSTRAINT "{name}"'))
            statements.append(f'ALTER TABLE indicator_values ADD CONSTRAINT "{name}" {definition}')
            if kind == "p":
                self.primary_key = (statements[-1], name)
        for name, definition in conn.execute(text(
                "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x "
                "JOIN pg_class i ON i.oid = x.indexrelid "
                "WHERE x.indrelid = CAST('indicator_values' AS regclass) AND NOT x.indisprimary "
                "AND NOT x.indisunique")):
            conn.execute(text(f'DROP INDEX "{name}"'))
            statements.append(definition)
        return statements

    def end_writes(self, *, quiet: bool = False) -> None:
        """No more rows: wait for the last background write (see :meth:`wait`), stop the
        worker thread."""
        try:
            self.wait(quiet=quiet)
        finally:
            if self._pool is not None:
                self._pool.shutdown()
                self._pool = None
                log.debug("rows written in the background in %.2f s, %.2f s of it waited for",
                          self._write_seconds, self._wait_seconds)

    def close(self) -> None:
        """Drop the temporary tables (PostgreSQL drops them at commit anyway)."""
        self.end_writes()
        if not self.pg:
            self.conn.execute(text("DROP TABLE IF EXISTS qidash_stage"))
            self.conn.execute(text("DROP TABLE IF EXISTS qidash_diff"))


class ChunkKeys:
    """Finds keys repeated across chunks of one file, in memory (8 bytes per row).

    Each chunk's keys (organisation id, indicator, period id packed into one int64) are kept
    sorted in a few levels that merge like a log-structured tree, so checking and adding a
    chunk costs O(k log n) instead of a GROUP BY over the staging table.
    """

    def __init__(self) -> None:
        self.levels: list[np.ndarray] = []
        self.found = False
        self.indicators: dict[str, int] = {}

    def add(self, org_id: np.ndarray, indicator_id: np.ndarray | pd.Series,
            period_id: np.ndarray) -> None:
        """Record one chunk's keys; sets ``found`` if one was already seen in another chunk.
        (``indicator_id`` as a Series of pandas' strings is factorized as it is: no Python
        string per row, 0.01 s instead of 0.09 s per million rows.)"""
        codes, uniques = pd.factorize(indicator_id if isinstance(indicator_id, pd.Series)
                                      else pd.Series(indicator_id, dtype=object))
        remap = np.array([self.indicators.setdefault(u, len(self.indicators)) for u in uniques],
                         dtype=np.int64)
        ind = remap[codes] if len(codes) else np.zeros(0, np.int64)
        if (len(org_id) and (org_id.max() >= 1 << 31 or period_id.max() >= 1 << 20)) or len(
                self.indicators) >= 1 << 12:
            self.found = True  # cannot pack: let the database check
            return
        keys = np.sort((org_id.astype(np.int64) << 32) | (ind << 20) | period_id.astype(np.int64))
        for level in self.levels:
            pos = np.searchsorted(level, keys)
            pos = np.minimum(pos, len(level) - 1)
            if (level[pos] == keys).any():
                self.found = True
        self.levels.append(keys)
        while len(self.levels) > 1 and len(self.levels[-2]) <= 2 * len(self.levels[-1]):
            last = self.levels.pop()
            self.levels[-1] = np.sort(np.concatenate([self.levels[-1], last]), kind="mergesort")


#: binary COPY layouts: (column, PostgreSQL binary type) of the fixed-width columns
_BINARY_TYPES = {"ikey": ">i4", "period_id": ">i4", "org_id": ">i4", "load_id": ">i4",
                 "ref": ">i8", "numerator": ">f8", "denominator": ">f8", "value": ">f8",
                 "lower_ci": ">f8", "upper_ci": ">f8", "suppressed": "u1"}


def _binary_copy(frame: pd.DataFrame, columns: tuple[str, ...]
                 ) -> tuple[list[str], bytes] | None:
    """The rows as PostgreSQL's binary ``COPY`` format, built by numpy (no text to format
    here or to parse on the server: about 0.6 s less per million rows than CSV), or None when
    a column is not fixed-width (a chunk with notes goes as CSV).

    Each tuple is a field count and, per field, a length and the big-endian value, or length
    -1 for NULL. Columns NULL in the whole chunk are left out (they default to NULL); the
    others are NULL-free in most chunks (one record layout). Otherwise the rows are grouped
    by which of their columns are NULL, one layout per group (the order of rows in a COPY does
    not matter: the key is built or checked after it).
    """
    names = [c for c in columns if c in _NOT_NULL or frame[c].notna().any()]
    if any(c not in _BINARY_TYPES for c in names):
        return None
    n = len(frame)
    data = {c: frame[c].to_numpy() for c in names}
    nulls = np.zeros(n, dtype=np.int64)
    for bit, c in enumerate(names):
        if c not in _NOT_NULL:
            nulls |= pd.isna(data[c]).astype(np.int64) << bit
    parts = [b"PGCOPY\n\xff\r\n\x00" + bytes(8)]
    for mask in np.unique(nulls).tolist():
        rows = np.flatnonzero(nulls == mask) if mask else (
            slice(None) if not nulls.any() else np.flatnonzero(nulls == 0))
        present = [c for bit, c in enumerate(names) if not (mask >> bit) & 1]
        layout: list[tuple[str, str]] = [("n", ">i2")]
        for c in names:
            layout.append((f"l_{c}", ">i4"))
            if c in present:
                layout.append((c, _BINARY_TYPES[c]))
        sub = data if isinstance(rows, slice) else {c: data[c][rows] for c in present}
        rec = np.empty(n if isinstance(rows, slice) else len(rows), dtype=layout)
        rec["n"] = len(names)
        for c in names:
            if c in present:
                rec[f"l_{c}"] = np.dtype(_BINARY_TYPES[c]).itemsize
                rec[c] = sub[c]
            else:
                rec[f"l_{c}"] = -1
        parts.append(rec.tobytes())
    parts.append(b"\xff\xff")
    return names, b"".join(parts)
