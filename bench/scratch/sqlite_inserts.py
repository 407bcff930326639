"""Scratch (issue 18): ways of inserting 1M resolved rows into SQLite from Python, interleaved.

    python bench/scratch/sqlite_inserts.py [--rows 1000000] [--rounds 3]

Each round times, in turn, each form of writing the same rows (a national-sized first load:
6,400 organisations x 13 periods x 12 indicators, in key order) into a fresh ``WITHOUT ROWID``
table shaped like ``indicator_values`` in one transaction, the rows given as the loader has
them (numpy columns), converting them to Python values included:

- ``executemany``, one row a statement, every column bound (the loader before session K);
- the same with the constant columns (load id, ``suppressed``) written into the statement;
- ``INSERT ... VALUES (...), (...)`` of 100 and of 500 rows a statement, constants bound;
- 500 rows a statement with the constants written into it (the loader since session K).
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import tempfile
import time
from itertools import chain

import numpy as np

TABLE = ("CREATE TABLE t (ikey INTEGER NOT NULL, period_id INTEGER NOT NULL, "
         "org_id INTEGER NOT NULL, numerator REAL, denominator REAL, value REAL, "
         "lower_ci REAL, upper_ci REAL, suppressed BOOLEAN NOT NULL, note TEXT, "
         "load_id INTEGER, PRIMARY KEY (ikey, period_id, org_id)) WITHOUT ROWID")
NAMES = ("ikey", "period_id", "org_id", "numerator", "denominator", "value", "suppressed",
         "load_id")


def columns(n: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    i = np.arange(n)
    num = rng.integers(0, 100, n).astype(float)
    den = num + rng.integers(1, 100, n)
    return {"ikey": i // (6400 * 13) + 1, "period_id": (i // 6400) % 13 + 1,
            "org_id": i % 6400 + 1, "numerator": num, "denominator": den,
            "value": num / den * 100, "suppressed": np.zeros(n, bool),
            "load_id": np.ones(n, np.int64)}


def insert(db: sqlite3.Connection, cols: dict[str, np.ndarray], block: int,
           literals: bool) -> None:
    literal = {c: str(int(a[0])) for c, a in cols.items()
               if literals and a.dtype.kind in "iub" and (a == a[0]).all()}
    bound = [c for c in NAMES if c not in literal]
    flat = list(chain.from_iterable(zip(*(cols[c].tolist() for c in bound), strict=True)))
    width, rows = len(bound), len(cols["ikey"])
    row = "(" + ", ".join(literal.get(c, "?") for c in NAMES) + ")"
    head = f"INSERT INTO t ({', '.join(NAMES)}) VALUES "
    whole = rows - rows % block
    step = block * width
    db.executemany(head + ", ".join([row] * block),
                   (flat[i:i + step] for i in range(0, whole * width, step)))
    if rows > whole:
        db.execute(head + ", ".join([row] * (rows - whole)), flat[whole * width:])


FORMS = {
    "executemany, 1 row a statement": (1, False),
    "1 row a statement, constants written in": (1, True),
    "100 rows a statement": (100, False),
    "500 rows a statement": (500, False),
    "500 rows a statement, constants written in": (500, True),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    cols = columns(args.rows)
    times: dict[str, list[float]] = {name: [] for name in FORMS}
    print(f"{args.rows:,} rows; load average {os.getloadavg()[0]:.1f}")
    for _ in range(args.rounds):
        for name, (block, literals) in FORMS.items():
            with tempfile.TemporaryDirectory() as tmp:
                db = sqlite3.connect(f"{tmp}/x.db", isolation_level=None)
                db.execute("PRAGMA journal_mode = WAL")
                db.execute("PRAGMA synchronous = NORMAL")
                db.execute(TABLE)
                started = time.perf_counter()
                db.execute("BEGIN IMMEDIATE")
                insert(db, cols, block, literals)
                db.execute("COMMIT")
                times[name].append(time.perf_counter() - started)
                db.close()
    for name, got in times.items():
        print(f"{name:45} median {statistics.median(got):.2f} s "
              f"({', '.join(f'{t:.2f}' for t in got)})")


if __name__ == "__main__":
    main()
