# ruff: noqa: E501
"""Apply the lean value store's code changes to a tree, by unique snippets (so that the same
edits apply before and after the module split: each old snippet is looked up in every module
under etl/, core/services/ and exports/ and must occur exactly once in all of them).

Already applied (commit "Lean value store: the loader and the reads on the integer key"): kept
only as the record of how the edits were carried across the module split; running it again
reports every edit as not applied."""
from __future__ import annotations

import sys
from pathlib import Path

EDITS: list[tuple[str, str]] = []


def edit(old: str, new: str) -> None:
    EDITS.append((old, new))


# ---- reads -------------------------------------------------------------------------------
edit("""    probe = select(IndicatorValue.id).where(
        IndicatorValue.indicator_id == indicator_id, IndicatorValue.period_id == Period.id
    )""", """    probe = select(IndicatorValue.org_id).where(
        IndicatorValue.ikey == ikey_of(indicator_id), IndicatorValue.period_id == Period.id
    )""")
edit("""        .where(IndicatorValue.indicator_id == indicator_id, IndicatorValue.period_id == period_id)
        .group_by(Organisation.org_type)""",
     """        .where(IndicatorValue.ikey == ikey_of(indicator_id),
               IndicatorValue.period_id == period_id)
        .group_by(Organisation.org_type)""")
edit("""        .where(
            IndicatorValue.indicator_id == indicator_id,
            IndicatorValue.period_id == period_id,
            Organisation.org_type == org_type,
        )""", """        .where(
            IndicatorValue.ikey == ikey_of(indicator_id),
            IndicatorValue.period_id == period_id,
            Organisation.org_type == org_type,
        )""")
edit("""        .join(Organisation, Organisation.id == IndicatorValue.org_id)
        .where(IndicatorValue.indicator_id == indicator_id)
    )
    if len(period_ids) == 1:""", """        .join(Organisation, Organisation.id == IndicatorValue.org_id)
        .where(IndicatorValue.ikey == ikey_of(indicator_id))
    )
    if len(period_ids) == 1:""")
edit("""    return select(*_VALUE_FIELDS).where(
        IndicatorValue.indicator_id == bindparam("indicator_id", None),""",
     """    return select(*_VALUE_FIELDS).where(
        IndicatorValue.ikey == ikey_of(bindparam("indicator_id", None)),""")
edit('''    "boolsend(coalesce(suppressed, false)), '') FROM indicator_values "
    "WHERE indicator_id = %s AND period_id = %s"''',
     '''    "boolsend(coalesce(suppressed, false)), '') FROM indicator_values "
    "WHERE ikey = (SELECT ikey FROM indicators WHERE id = %s) AND period_id = %s"''')
# profile: the slug through the (small) indicators table
edit("""    stmt = select(
        IndicatorValue.org_id, IndicatorValue.indicator_id, IndicatorValue.period_id,
        IndicatorValue.numerator, IndicatorValue.denominator, IndicatorValue.value,
        IndicatorValue.lower_ci, IndicatorValue.upper_ci, IndicatorValue.suppressed,
    ).where(IndicatorValue.org_id.in_(org_ids))
    if indicator_ids is not None:
        stmt = stmt.where(IndicatorValue.indicator_id.in_(indicator_ids))""",
     """    stmt = select(
        IndicatorValue.org_id, Indicator.id, IndicatorValue.period_id,
        IndicatorValue.numerator, IndicatorValue.denominator, IndicatorValue.value,
        IndicatorValue.lower_ci, IndicatorValue.upper_ci, IndicatorValue.suppressed,
    ).join(Indicator, Indicator.ikey == IndicatorValue.ikey).where(
        IndicatorValue.org_id.in_(org_ids))
    if indicator_ids is not None:
        stmt = stmt.where(Indicator.id.in_(indicator_ids))""")
# indicators
edit("""        .join(Organisation, Organisation.id == IndicatorValue.org_id)
        .where(IndicatorValue.indicator_id == indicator_id)
        .group_by(Organisation.org_type)""",
     """        .join(Organisation, Organisation.id == IndicatorValue.org_id)
        .where(IndicatorValue.ikey == ikey_of(indicator_id))
        .group_by(Organisation.org_type)""")
edit("""        select(
            IndicatorValue.indicator_id,
            func.count(func.distinct(IndicatorValue.period_id)),
            func.count(func.distinct(IndicatorValue.org_id)),
            func.max(Period.end_date),
        )
        .join(Period, Period.id == IndicatorValue.period_id)
        .group_by(IndicatorValue.indicator_id)
    ).all()
    by_id = {r[0]: r[1:] for r in stats}""", """        select(
            IndicatorValue.ikey,
            func.count(func.distinct(IndicatorValue.period_id)),
            func.count(func.distinct(IndicatorValue.org_id)),
            func.max(Period.end_date),
        )
        .join(Period, Period.id == IndicatorValue.period_id)
        .group_by(IndicatorValue.ikey)
    ).all()
    slugs = indicator_slugs(conn)
    by_id = {slugs[r[0]]: r[1:] for r in stats}""")
edit("""        select(IndicatorValue.indicator_id, Period.label, Period.period_type, Period.end_date)
        .join(Period, Period.id == IndicatorValue.period_id)
        .distinct()
    ).all()
    latest_label: dict[str, tuple[Any, int, str]] = {}
    fine = {"month": 0, "quarter": 1, "financial_year": 2, "year": 3}
    for ind, label, ptype, end in latest:""", """        select(IndicatorValue.ikey, Period.label, Period.period_type, Period.end_date)
        .join(Period, Period.id == IndicatorValue.period_id)
        .distinct()
    ).all()
    latest_label: dict[str, tuple[Any, int, str]] = {}
    fine = {"month": 0, "quarter": 1, "financial_year": 2, "year": 3}
    for ikey, label, ptype, end in latest:
        ind = slugs[ikey]""")
# loads (freshness)
edit("""        .where(select(IndicatorValue.id).where(IndicatorValue.period_id == Period.id).exists())""",
     """        .where(select(IndicatorValue.org_id).where(IndicatorValue.period_id == Period.id)
               .exists())""")
edit("""        select(func.count(func.distinct(IndicatorValue.indicator_id)))""",
     """        select(func.count(func.distinct(IndicatorValue.ikey)))""")
edit("""        written = conn.execute(
            select(IndicatorValue.indicator_id, func.count())
            .where(IndicatorValue.load_id == last_values[0])
            .group_by(IndicatorValue.indicator_id)
        ).all()
        updated = dict(conn.execute(
            select(VH.indicator_id, func.count())
            .where(VH.load_id == last_values[0], VH.action == "update")
            .group_by(VH.indicator_id)
        ).all())""", """        slugs = indicator_slugs(conn)
        written = [(slugs[k], n) for k, n in conn.execute(
            select(IndicatorValue.ikey, func.count())
            .where(IndicatorValue.load_id == last_values[0])
            .group_by(IndicatorValue.ikey)
        ).all()]
        updated = {slugs[k]: n for k, n in conn.execute(
            select(VH.ikey, func.count())
            .where(VH.load_id == last_values[0], VH.action == "update")
            .group_by(VH.ikey)
        ).all()}""")
# spc
edit("""            IndicatorValue.org_id == org.id,
            IndicatorValue.indicator_id == indicator.id,""",
     """            IndicatorValue.org_id == org.id,
            IndicatorValue.ikey == ikey_of(indicator.id),""")
edit("""        .where(IndicatorValue.org_id == org_id, IndicatorValue.indicator_id == indicator_id)""",
     """        .where(IndicatorValue.org_id == org_id,
               IndicatorValue.ikey == ikey_of(indicator_id))""")
# alerts (mechanical: the key)
edit("""            .where(IndicatorValue.indicator_id == ind.id, Period.period_type == period_type,""",
     """            .where(IndicatorValue.ikey == ikey_of(ind.id), Period.period_type == period_type,""")
edit("""    pairs = conn.execute(
        select(IndicatorValue.indicator_id, Period.period_type)
        .join(Period, Period.id == IndicatorValue.period_id)
        .where(IndicatorValue.load_id == load_id).distinct()
    ).all()""", """    slugs = indicator_slugs(conn)
    pairs = [(slugs[k], t) for k, t in conn.execute(
        select(IndicatorValue.ikey, Period.period_type)
        .join(Period, Period.id == IndicatorValue.period_id)
        .where(IndicatorValue.load_id == load_id).distinct()
    ).all()]""")
edit("""            .where(IndicatorValue.load_id == load_id,
                   IndicatorValue.indicator_id == indicator_id, Period.period_type == ptype))})""",
     """            .where(IndicatorValue.load_id == load_id,
                   IndicatorValue.ikey == ikey_of(indicator_id), Period.period_type == ptype))})""")
# exports
edit("""    probe = select(IndicatorValue.id).where(
        IndicatorValue.indicator_id == Indicator.id, IndicatorValue.org_id.in_(scope)
    )""", """    probe = select(IndicatorValue.org_id).where(
        IndicatorValue.ikey == Indicator.ikey, IndicatorValue.org_id.in_(scope)
    )""")
edit("""        select(Load.id, Load.file_name, Load.finished_at, func.count(IndicatorValue.id))
        .join(IndicatorValue, IndicatorValue.load_id == Load.id)
        .where(IndicatorValue.indicator_id == indicator_id,""",
     """        select(Load.id, Load.file_name, Load.finished_at, func.count())
        .join(IndicatorValue, IndicatorValue.load_id == Load.id)
        .where(IndicatorValue.ikey == ikey_of(indicator_id),""")


# ---- loader ------------------------------------------------------------------------------
edit('''STAGE_COLUMNS = ("org_id", "indicator_id", "period_id", *VALUE_FIELDS, "ref")
#: the columns a direct write puts into indicator_values (see :class:`ValueStage`)
DIRECT_COLUMNS = ("indicator_id", "period_id", "org_id", *VALUE_FIELDS, "load_id")
_NOT_NULL = ("org_id", "indicator_id", "period_id", "suppressed", "load_id")''',
     '''#: the staged columns: a chunk's indicator slugs become their integer keys (``ikey``)
STAGE_COLUMNS = ("org_id", "ikey", "period_id", *VALUE_FIELDS, "ref")
#: the columns a direct write puts into indicator_values (see :class:`ValueStage`)
DIRECT_COLUMNS = ("ikey", "period_id", "org_id", *VALUE_FIELDS, "load_id")
_NOT_NULL = ("org_id", "ikey", "period_id", "suppressed", "load_id")''')
edit('''        for ind, ptype in conn.execute(
                select(IndicatorValue.indicator_id, Period.period_type)
                .join(Period, Period.id == IndicatorValue.period_id)
                .where(IndicatorValue.indicator_id.in_(undeclared[i:i + 500]))
                .group_by(IndicatorValue.indicator_id, Period.period_type)):''',
     '''        for ind, ptype in conn.execute(
                select(Indicator.id, Period.period_type)
                .join(IndicatorValue, IndicatorValue.ikey == Indicator.ikey)
                .join(Period, Period.id == IndicatorValue.period_id)
                .where(Indicator.id.in_(undeclared[i:i + 500]))
                .group_by(Indicator.id, Period.period_type)):''')
edit('''        #: the (indicator, period) pairs staged: a pair with no value in the database yet needs
        #: no diff (its rows can only be inserts)
        self.pairs: set[tuple[str, int]] = set()''',
     '''        #: the (indicator key, period) pairs staged: a pair with no value in the database yet
        #: needs no diff (its rows can only be inserts)
        self.pairs: set[tuple[int, int]] = set()
        #: indicator slug -> integer key (read when the stage starts; again for a new slug)
        self.ikeys: dict[str, int] = {}''')
edit('''        self.existing: set[tuple[str, int]] | None = None''',
     '''        self.existing: set[tuple[int, int]] | None = None''')
edit('''            "CREATE TEMPORARY TABLE qidash_stage (org_id INTEGER NOT NULL, "
            "indicator_id VARCHAR(100) NOT NULL, period_id INTEGER NOT NULL, "''',
     '''            "CREATE TEMPORARY TABLE qidash_stage (org_id INTEGER NOT NULL, "
            "ikey INTEGER NOT NULL, period_id INTEGER NOT NULL, "''')
edit('''        self.existing = {(str(i), int(p)) for i, p in self.conn.execute(text(
            "SELECT DISTINCT indicator_id, period_id FROM indicator_values")).all()} \\
            if before else set()''',
     '''        self.existing = {(int(i), int(p)) for i, p in self.conn.execute(text(
            "SELECT DISTINCT ikey, period_id FROM indicator_values")).all()} \\
            if before else set()

    def _ikeys(self, slugs: np.ndarray) -> np.ndarray:
        """The integer keys of a chunk's indicator slugs (every slug is a known indicator:
        validation checked it)."""
        codes, uniques = pd.factorize(pd.Series(slugs, dtype=object))
        if any(u not in self.ikeys for u in uniques):
            self.ikeys = {str(i): int(k) for i, k in self.conn.execute(
                select(Indicator.id, Indicator.ikey)).all()}
        remap = np.array([self.ikeys[u] for u in uniques], dtype=np.int64)
        return remap[codes] if len(codes) else np.zeros(0, np.int64)''')
edit('''        self.wait()
        codes, uniques = pd.factorize(frame["indicator_id"].to_numpy(dtype=object))
        pid = frame["period_id"].to_numpy(dtype=np.int64)
        width = int(pid.max()) + 1
        keys, inverse = np.unique(codes.astype(np.int64) * width + pid, return_inverse=True)
        pairs = [(str(uniques[code]), period)
                 for code, period in (divmod(k, width) for k in keys.tolist())]''',
     '''        self.wait()
        ikey = self._ikeys(frame["indicator_id"].to_numpy(dtype=object))
        pid = frame["period_id"].to_numpy(dtype=np.int64)
        org = frame["org_id"].to_numpy(dtype=np.int64)
        # in key order: the table's key (and SQLite's clustered table) fills left to right,
        # a rebuilt key sorts presorted input, and a comparison reads contiguous pages
        order = np.lexsort((org, pid, ikey))
        frame = frame.iloc[order].assign(ikey=ikey[order])
        ikey, pid = ikey[order], pid[order]
        width = int(pid.max()) + 1
        keys, inverse = np.unique(ikey * width + pid, return_inverse=True)
        pairs = [(int(k), int(p)) for k, p in (divmod(k, width) for k in keys.tolist())]''')
edit('''    def _copy(self, frame: pd.DataFrame, table: str, columns: tuple[str, ...]) -> None:
        import pyarrow as pa
        import pyarrow.csv as pacsv

        types = {"org_id": pa.int64(), "indicator_id": pa.string(), "period_id": pa.int64(),''',
     '''    def _copy(self, frame: pd.DataFrame, table: str, columns: tuple[str, ...]) -> None:
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
        types = {"org_id": pa.int64(), "ikey": pa.int64(), "period_id": pa.int64(),''')
edit('''        pacsv.write_csv(arrow, buf, pacsv.WriteOptions(include_header=False))
        raw = self.conn.connection.driver_connection
        with raw.cursor() as cur, cur.copy(''',
     '''        pacsv.write_csv(arrow, buf, pacsv.WriteOptions(include_header=False))
        with raw.cursor() as cur, cur.copy(''')
edit('''            "SELECT s.ref, d.first_ref, s.org_id, s.indicator_id, s.period_id FROM qidash_stage s "
            "JOIN (SELECT org_id, indicator_id, period_id, MIN(ref) AS first_ref, "
            "COUNT(*) AS n FROM qidash_stage GROUP BY org_id, indicator_id, period_id "
            "HAVING COUNT(*) > 1) d ON d.org_id = s.org_id AND d.indicator_id = s.indicator_id "
            "AND d.period_id = s.period_id"''',
     '''            "SELECT s.ref, d.first_ref, s.org_id, s.ikey, s.period_id FROM qidash_stage s "
            "JOIN (SELECT org_id, ikey, period_id, MIN(ref) AS first_ref, "
            "COUNT(*) AS n FROM qidash_stage GROUP BY org_id, ikey, period_id "
            "HAVING COUNT(*) > 1) d ON d.org_id = s.org_id AND d.ikey = s.ikey "
            "AND d.period_id = s.period_id"''')
edit('''    def duplicates(self) -> list[tuple[str, str, int, str, int]]:''',
     '''    def duplicates(self) -> list[tuple[str, str, int, int, int]]:''')
edit('''    def delete_keys(self, keys: set[tuple[int, str, int]]) -> None:
        """Remove every staged row of these keys (used by --skip-invalid for duplicates)."""''',
     '''    def delete_keys(self, keys: set[tuple[int, int, int]]) -> None:
        """Remove every staged row of these keys, (org id, indicator key, period id) as
        :meth:`duplicates` gives them (used by --skip-invalid for duplicates)."""''')
edit('''            text("DELETE FROM qidash_stage WHERE org_id = :o AND indicator_id = :i "''',
     '''            text("DELETE FROM qidash_stage WHERE org_id = :o AND ikey = :i "''')
edit('''            "SELECT s.org_id, s.indicator_id, s.period_id, "
            + ", ".join(f"s.{c}" for c in VALUE_FIELDS)
            + f", v.id AS vid, {prev}, v.load_id AS p_load_id "
            "FROM qidash_stage s LEFT JOIN indicator_values v ON v.indicator_id = s.indicator_id "
            "AND v.period_id = s.period_id AND v.org_id = s.org_id "
            f"WHERE v.id IS NULL OR NOT ({same})"''',
     '''            "SELECT s.org_id, s.ikey, s.period_id, "
            + ", ".join(f"s.{c}" for c in VALUE_FIELDS)
            + f", v.ikey AS vid, {prev}, v.load_id AS p_load_id "
            "FROM qidash_stage s LEFT JOIN indicator_values v ON v.ikey = s.ikey "
            "AND v.period_id = s.period_id AND v.org_id = s.org_id "
            f"WHERE v.ikey IS NULL OR NOT ({same})"''')
edit('''        One probe per indicator through the unique key's (indicator_id, period_id) prefix.
        """
        by_indicator: dict[str, list[int]] = {}''',
     '''        One probe per indicator through the primary key's (ikey, period_id) prefix.
        """
        by_indicator: dict[int, list[int]] = {}''')
edit('''            "SELECT 1 FROM indicator_values WHERE indicator_id = :i AND period_id IN :p LIMIT 1"''',
     '''            "SELECT 1 FROM indicator_values WHERE ikey = :i AND period_id IN :p LIMIT 1"''')
edit('''                "INSERT INTO value_history (load_id, indicator_id, period_id, org_id, action, "
                + ", ".join(f"prev_{c}" for c in VALUE_FIELDS) + ", prev_load_id) "
                "SELECT :load_id, indicator_id, period_id, org_id, 'update', "''',
     '''                "INSERT INTO value_history (load_id, ikey, period_id, org_id, action, "
                + ", ".join(f"prev_{c}" for c in VALUE_FIELDS) + ", prev_load_id) "
                "SELECT :load_id, ikey, period_id, org_id, 'update', "''')
edit('''                + ", load_id = :load_id FROM qidash_diff d "
                "WHERE indicator_values.id = d.vid"''',
     '''                + ", load_id = :load_id FROM qidash_diff d "
                "WHERE d.vid IS NOT NULL AND indicator_values.ikey = d.ikey "
                "AND indicator_values.period_id = d.period_id "
                "AND indicator_values.org_id = d.org_id"''')
edit('''            # in the unique key's order, so that the indexes kept are filled left to right
            order = "" if self.rebuilt else " ORDER BY indicator_id, period_id, org_id"
            conn.execute(text(
                "INSERT INTO indicator_values (indicator_id, period_id, org_id, "
                + ", ".join(VALUE_FIELDS) + ", load_id) "
                "SELECT indicator_id, period_id, org_id, " + ", ".join(VALUE_FIELDS)''',
     '''            # in the key's order: the key (SQLite: the clustered table) fills left to right
            order = " ORDER BY ikey, period_id, org_id"
            conn.execute(text(
                "INSERT INTO indicator_values (ikey, period_id, org_id, "
                + ", ".join(VALUE_FIELDS) + ", load_id) "
                "SELECT ikey, period_id, org_id, " + ", ".join(VALUE_FIELDS)''')
edit('''        """When a load at least doubles the values table, build its secondary indexes once
        after the insert (a sort) instead of maintaining them row by row; the unique key is
        rebuilt too, which re-checks it. Returns the statements that put them back."""''',
     '''        """When a load at least doubles the values table, build its secondary index once
        after the insert (a sort) instead of maintaining it row by row; on PostgreSQL the
        primary key is rebuilt too, which re-checks it (SQLite's is the table itself: a
        ``WITHOUT ROWID`` table). Returns the statements that put them back."""''')
edit('''            # SQLite: the unique key is an automatic index and stays; the others are rebuilt''',
     '''            # SQLite: the primary key is the (clustered) table and stays; the index is rebuilt''')
edit('''                "WHERE conrelid = CAST('indicator_values' AS regclass) AND contype = 'u'")):''',
     '''                "WHERE conrelid = CAST('indicator_values' AS regclass) "
                "AND contype IN ('p', 'u')")):''')
edit('''        "SELECT DISTINCT v.load_id FROM value_history h JOIN indicator_values v "
        "ON v.indicator_id = h.indicator_id AND v.period_id = h.period_id AND v.org_id = h.org_id "''',
     '''        "SELECT DISTINCT v.load_id FROM value_history h JOIN indicator_values v "
        "ON v.ikey = h.ikey AND v.period_id = h.period_id AND v.org_id = h.org_id "''')
edit('''        "AND indicator_values.indicator_id = h.indicator_id "''',
     '''        "AND indicator_values.ikey = h.ikey "''')
edit('''# revert --------------------------------------------------------------------------------------
class RevertError(ValueError):''', '''#: binary COPY layouts: (column, PostgreSQL binary type) of the fixed-width columns
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
    parts = [b"PGCOPY\\n\\xff\\r\\n\\x00" + bytes(8)]
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
    parts.append(b"\\xff\\xff")
    return names, b"".join(parts)


# revert --------------------------------------------------------------------------------------
class RevertError(ValueError):''')

edit('''    fields = [c.name for c in table.columns if c.name not in ("id", "load_id", "updated_at")]''',
     '''    # ikey: numbered by the database (an identity column; SQLite: a trigger)
    fields = [c.name for c in table.columns
              if c.name not in ("id", "ikey", "load_id", "updated_at")]''')


def main(root: Path) -> None:
    files = [p for d in ("etl", "core/services", "exports") for p in (root / d).rglob("*.py")]
    texts = {p: p.read_text() for p in files}
    failed = 0
    for old, new in EDITS:
        hits = [p for p, t in texts.items() if t.count(old) == 1]
        many = [p for p, t in texts.items() if t.count(old) > 1]
        if old == new:
            continue
        if len(hits) != 1 or many:
            print(f"NOT APPLIED ({len(hits)} files, {len(many)} with repeats): {old[:90]!r}")
            failed += 1
            continue
        texts[hits[0]] = texts[hits[0]].replace(old, new)
    edited = []
    for p, t in texts.items():
        if t != p.read_text():
            p.write_text(t)
            edited.append(p)
            print("edited", p.relative_to(root))
    fix_imports(root, edited)
    sys.exit(1 if failed else 0)


def fix_imports(root: Path, files: list[Path]) -> None:
    """Import the models' names the edits use (ruff F821), then let ruff sort and prune."""
    import json
    import subprocess

    ruff = str(Path(sys.executable).parent / "ruff")
    out = subprocess.run([ruff, "check", "--select", "F821", "--output-format", "json",
                          *(str(f.resolve()) for f in files)], capture_output=True, text=True, cwd=root)
    wanted: dict[str, set[str]] = {}
    for d in json.loads(out.stdout or "[]"):
        name = d["message"].split("`")[1]
        if name in ("Indicator", "ikey_of", "indicator_slugs"):
            wanted.setdefault(d["filename"], set()).add(name)
    for filename, names in wanted.items():
        p = Path(filename)
        lines = p.read_text().splitlines(keepends=True)
        at = next(i for i, line in enumerate(lines) if line.startswith("from core.models import"))
        lines.insert(at, f"from core.models import {', '.join(sorted(names))}\n")
        p.write_text("".join(lines))
    subprocess.run([ruff, "check", "--fix", "--select", "I,F401", *(str(f.resolve()) for f in files)], cwd=root)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
