"""Scratch (issue 18): COPY of 1M resolved rows, CSV (pyarrow) vs binary (numpy), FKs in place
or after, best of 3 each, with the raw COPY of the file in the same run."""
from __future__ import annotations

import io
import os
import sys
import time

import numpy as np
import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
DB = "qidash_scratch_lean2"


def binary(frame: pd.DataFrame) -> bytes:
    n = len(frame)
    fields = [("ikey", ">i4"), ("period_id", ">i4"), ("org_id", ">i4"), ("load_id", ">i4"),
              ("numerator", ">f8"), ("denominator", ">f8"), ("value", ">f8"),
              ("suppressed", "u1")]
    dt = [("n", ">i2")]
    for name, t in fields:
        dt += [("l_" + name, ">i4"), (name, t)]
    rec = np.empty(n, dtype=dt)
    rec["n"] = len(fields)
    for name, t in fields:
        rec["l_" + name] = np.dtype(t).itemsize
        rec[name] = frame[name].to_numpy()
    return (b"PGCOPY\n\xff\r\n\x00" + b"\x00" * 8 + rec.tobytes() + b"\xff\xff")


def main(path: str) -> None:
    with psycopg.connect(ADMIN, autocommit=True) as a:
        a.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
        a.execute(f"CREATE DATABASE {DB}")
    conn = psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{DB}", autocommit=True)
    conn.execute("SET maintenance_work_mem = '256MB'")  # as the loader's bulk path
    df = pd.read_csv(path, dtype={"org_code": str, "indicator_id": str, "period": str})
    df = df[df.denominator > 0]
    o, orgs = pd.factorize(df.org_code)
    p, pers = pd.factorize(df.period)
    k, inds = pd.factorize(df.indicator_id)
    conn.execute("CREATE TABLE loads (id int PRIMARY KEY); INSERT INTO loads VALUES (1)")
    conn.execute("CREATE TABLE organisations (id int PRIMARY KEY)")
    conn.execute(f"INSERT INTO organisations SELECT generate_series(1, {len(orgs)})")
    conn.execute("CREATE TABLE periods (id int PRIMARY KEY)")
    conn.execute(f"INSERT INTO periods SELECT generate_series(1, {len(pers)})")
    conn.execute("CREATE TABLE indicators (ikey int PRIMARY KEY)")
    conn.execute(f"INSERT INTO indicators SELECT generate_series(1, {len(inds)})")
    frame = pd.DataFrame({"ikey": k + 1, "period_id": p + 1, "org_id": o + 1, "load_id": 1,
                          "numerator": df.numerator.astype(float),
                          "denominator": df.denominator.astype(float),
                          "value": df.numerator / df.denominator * 100, "suppressed": False})
    cols = list(frame.columns)
    buf = io.BytesIO()
    pacsv.write_csv(pa.Table.from_pandas(frame, preserve_index=False), buf,
                    pacsv.WriteOptions(include_header=False))
    csv = buf.getvalue()
    t0 = time.perf_counter()
    for _ in range(3):
        pacsv.write_csv(pa.Table.from_pandas(frame, preserve_index=False), io.BytesIO(),
                        pacsv.WriteOptions(include_header=False))
    csv_make = (time.perf_counter() - t0) / 3
    t0 = time.perf_counter()
    for _ in range(3):
        binary(frame)
    bin_make = (time.perf_counter() - t0) / 3
    bindata = binary(frame)
    raw = open(path, "rb").read()
    lean = ("ikey int NOT NULL, period_id int NOT NULL, org_id int NOT NULL, load_id int, "
            "numerator double precision, denominator double precision, value double precision, "
            "lower_ci double precision, upper_ci double precision, suppressed boolean NOT NULL, "
            "note text")
    fks = ["FOREIGN KEY (ikey) REFERENCES indicators",
           "FOREIGN KEY (period_id) REFERENCES periods",
           "FOREIGN KEY (org_id) REFERENCES organisations",
           "FOREIGN KEY (load_id) REFERENCES loads"]

    def copy(sql: str, data: bytes) -> None:
        with conn.cursor() as cur, cur.copy(sql) as cp:
            for i in range(0, len(data), 1 << 20):
                cp.write(data[i:i + (1 << 20)])

    def best(label: str, setup: str | None, steps) -> None:  # noqa: ANN001
        times = []
        for _ in range(3):
            conn.execute("DROP TABLE IF EXISTS t")
            if setup:
                conn.execute(setup)
            conn.execute("BEGIN")
            t = time.perf_counter()
            parts = []
            for s in steps:
                t1 = time.perf_counter()
                s() if callable(s) else conn.execute(s)
                parts.append(time.perf_counter() - t1)
            conn.execute("COMMIT")
            times.append((time.perf_counter() - t, parts))
        total, parts = min(times)
        results.append((label, total, parts))

    results: list = []
    best("raw COPY of the file into a bare table (unit)",
         "CREATE TABLE t (org_code text, indicator_id text, period text, "
         "numerator double precision, denominator double precision)",
         [lambda: copy("COPY t FROM STDIN (FORMAT csv, HEADER true)", raw)])
    best("resolved rows, CSV COPY, no keys", f"CREATE TABLE t ({lean})",
         [lambda: copy(f"COPY t ({', '.join(cols)}) FROM STDIN (FORMAT csv)", csv)])
    best("resolved rows, binary COPY, no keys", f"CREATE TABLE t ({lean})",
         [lambda: copy(f"COPY t ({', '.join(cols)}) FROM STDIN (FORMAT binary)", bindata)])
    best("binary COPY, PK + ix (org, ikey) + 4 FKs after", f"CREATE TABLE t ({lean})",
         [lambda: copy(f"COPY t ({', '.join(cols)}) FROM STDIN (FORMAT binary)", bindata),
          "ALTER TABLE t ADD PRIMARY KEY (ikey, period_id, org_id)",
          "CREATE INDEX ON t (org_id, ikey)"] + [f"ALTER TABLE t ADD {f}" for f in fks])
    sorted_bin = binary(frame.sort_values(["ikey", "period_id", "org_id"]))
    best("binary COPY sorted by key, PK + ix (org, ikey) + 4 FKs after", f"CREATE TABLE t ({lean})",
         [lambda: copy(f"COPY t ({', '.join(cols)}) FROM STDIN (FORMAT binary)", sorted_bin),
          "ALTER TABLE t ADD PRIMARY KEY (ikey, period_id, org_id)",
          "CREATE INDEX ON t (org_id, ikey)"] + [f"ALTER TABLE t ADD {f}" for f in fks])
    if "--fk-in-place" in sys.argv:
        best("binary COPY with 4 FKs in place, then PK + ix after",
             f"CREATE TABLE t ({lean}, " + ", ".join(fks) + ")",
             [lambda: copy(f"COPY t ({', '.join(cols)}) FROM STDIN (FORMAT binary)", bindata),
              "ALTER TABLE t ADD PRIMARY KEY (ikey, period_id, org_id)",
              "CREATE INDEX ON t (org_id, ikey)"])
    best("binary COPY, PK + ix after, FKs added NOT VALID (not checked: for scale only)",
         f"CREATE TABLE t ({lean})",
         [lambda: copy(f"COPY t ({', '.join(cols)}) FROM STDIN (FORMAT binary)", bindata),
          "ALTER TABLE t ADD PRIMARY KEY (ikey, period_id, org_id)",
          "CREATE INDEX ON t (org_id, ikey)"] + [f"ALTER TABLE t ADD {f} NOT VALID" for f in fks])
    unit = results[0][1]
    print(f"load average {os.getloadavg()[0]:.1f}; {len(frame):,} rows; building the CSV "
          f"(pyarrow) {csv_make:.2f} s, the binary (numpy) {bin_make:.2f} s; best of 3:")
    for label, total, parts in results:
        print(f"{total:6.2f} s = {total / unit:4.1f}x  {label}: "
              + ", ".join(f"{x:.2f}" for x in parts))
    conn.close()
    with psycopg.connect(ADMIN, autocommit=True) as a:
        a.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")


if __name__ == "__main__":
    main(sys.argv[1])  # add --fk-in-place for the (slow) FK-in-place case
