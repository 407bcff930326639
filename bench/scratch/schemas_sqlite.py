"""Scratch (issue 18): candidate value-store schemas on SQLite, 1M resolved rows, one run."""
from __future__ import annotations

import os
import sqlite3
import sys
import tempfile
import time

import numpy as np
import pandas as pd


def main(path: str) -> None:
    df = pd.read_csv(path, dtype={"org_code": str, "indicator_id": str, "period": str})
    o = pd.factorize(df.org_code)[0] + 1
    p = pd.factorize(df.period)[0] + 1
    k = pd.factorize(df.indicator_id)[0] + 1
    num = df.numerator.to_numpy(float)
    den = df.denominator.to_numpy(float)
    val = num / den * 100
    base = {"ikey": k, "period_id": p, "org_id": o, "load_id": np.ones(len(df), np.int64),
            "numerator": num, "denominator": den, "value": val,
            "suppressed": np.zeros(len(df), np.int64)}
    frame = pd.DataFrame(base)
    sorted_frame = frame.sort_values(["ikey", "period_id", "org_id"])
    text_frame = frame.assign(ikey=df.indicator_id)
    lean = ("ikey INTEGER NOT NULL, period_id INTEGER NOT NULL, org_id INTEGER NOT NULL, "
            "load_id INTEGER, numerator REAL, denominator REAL, value REAL, lower_ci REAL, "
            "upper_ci REAL, suppressed BOOLEAN NOT NULL, note TEXT")
    today = ("id INTEGER PRIMARY KEY, ikey VARCHAR(100) NOT NULL, period_id INTEGER NOT NULL, "
             "org_id INTEGER NOT NULL, load_id INTEGER, numerator REAL, denominator REAL, "
             "value REAL, lower_ci REAL, upper_ci REAL, suppressed BOOLEAN NOT NULL, note TEXT")
    cases = [
        ("today: text key + id, UNIQUE in place, ix (org, ind) + ix load after", today,
         ", UNIQUE (ikey, period_id, org_id))", text_frame,
         ["CREATE INDEX a ON t (org_id, ikey)", "CREATE INDEX b ON t (load_id)"]),
        ("rowid table, int key: UNIQUE in place, ix (org, ikey) after", lean,
         ", UNIQUE (ikey, period_id, org_id))", frame, ["CREATE INDEX a ON t (org_id, ikey)"]),
        ("rowid table, int key, sorted rows: UNIQUE in place, ix (org, ikey) after", lean,
         ", UNIQUE (ikey, period_id, org_id))", sorted_frame,
         ["CREATE INDEX a ON t (org_id, ikey)"]),
        ("WITHOUT ROWID PK (ikey, period, org), file order, ix (org, ikey) after", lean,
         ", PRIMARY KEY (ikey, period_id, org_id)) WITHOUT ROWID", frame,
         ["CREATE INDEX a ON t (org_id, ikey)"]),
        ("WITHOUT ROWID PK (ikey, period, org), sorted rows, ix (org, ikey) after", lean,
         ", PRIMARY KEY (ikey, period_id, org_id)) WITHOUT ROWID", sorted_frame,
         ["CREATE INDEX a ON t (org_id, ikey)"]),
    ]
    print(f"load average {os.getloadavg()[0]:.1f}")
    for name, cols, tail, fr, after in cases:
        with tempfile.TemporaryDirectory() as tmp:
            db = sqlite3.connect(f"{tmp}/x.db", isolation_level=None)
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")
            db.execute("PRAGMA cache_size = -262144")
            db.execute("PRAGMA temp_store = MEMORY")
            db.execute(f"CREATE TABLE t ({cols}{tail}")
            names = list(fr.columns)
            rows = list(zip(*[fr[c].to_numpy().tolist() for c in names], strict=True))
            t0 = time.perf_counter()
            db.execute("BEGIN IMMEDIATE")
            db.executemany(f"INSERT INTO t ({', '.join(names)}) VALUES "
                           f"({', '.join('?' * len(names))})", rows)
            t1 = time.perf_counter()
            for s in after:
                db.execute(s)
            db.execute("COMMIT")
            t2 = time.perf_counter()
            db.execute("ANALYZE")
            q1 = db.execute("EXPLAIN QUERY PLAN SELECT org_id, value FROM t WHERE ikey = ? "
                            "AND period_id = 8", (fr.ikey.iloc[0],)).fetchall()
            t3 = time.perf_counter()
            for _ in range(20):
                db.execute("SELECT org_id, numerator, denominator, value FROM t WHERE ikey = ? "
                           "AND period_id = 8", (fr.ikey.iloc[0],)).fetchall()
            fetch = (time.perf_counter() - t3) / 20
            q2 = db.execute("EXPLAIN QUERY PLAN SELECT ikey, period_id, value FROM t "
                            "WHERE org_id = 2345").fetchall()
            print(f"{t2 - t0:5.2f} s (insert {t1 - t0:.2f}, indexes {t2 - t1:.2f}); "
                  f"fetch one indicator+period {fetch * 1000:.1f} ms  {name}\n"
                  f"      {q1[-1][-1]} | {q2[-1][-1]}")
            db.close()


if __name__ == "__main__":
    main(sys.argv[1])
