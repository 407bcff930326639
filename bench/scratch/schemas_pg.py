"""Scratch (issue 18): candidate value-store schemas on PostgreSQL against a raw COPY, one run.

    python bench/scratch/schemas_pg.py /tmp/lean_bench/values_1000000.csv

Reference tables are filled from the file; the values are resolved to ids in Python (untimed),
as the loader sends them; then each candidate is timed: COPY of the resolved rows plus every
key, index and foreign key it keeps. The raw COPY of the file itself into a bare table is the
unit. The two read shapes are EXPLAINed on each.
"""
from __future__ import annotations

import os
import sys
import time

import pandas as pd
import psycopg

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
DB = "qidash_scratch_lean"
VALS = "numerator double precision, denominator double precision, value double precision, " \
       "lower_ci double precision, upper_ci double precision, suppressed boolean NOT NULL, " \
       "note text"


def main(path: str) -> None:
    with psycopg.connect(ADMIN, autocommit=True) as a:
        a.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
        a.execute(f"CREATE DATABASE {DB}")
    conn = psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{DB}", autocommit=True)
    conn.execute("SET maintenance_work_mem = '256MB'")
    df = pd.read_csv(path, dtype={"org_code": str, "indicator_id": str, "period": str})
    orgs = sorted(df.org_code.unique())
    inds = sorted(df.indicator_id.unique())
    pers = sorted(df.period.unique())
    conn.execute("CREATE TABLE loads (id int PRIMARY KEY)")
    conn.execute("INSERT INTO loads VALUES (1)")
    conn.execute("CREATE TABLE organisations (id int PRIMARY KEY, code text UNIQUE)")
    conn.execute("CREATE TABLE periods (id int PRIMARY KEY, label text)")
    conn.execute("CREATE TABLE indicators (id text PRIMARY KEY, ikey int NOT NULL UNIQUE)")
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO organisations VALUES (%s, %s)",
                        [(i + 1, c) for i, c in enumerate(orgs)])
        cur.executemany("INSERT INTO periods VALUES (%s, %s)",
                        [(i + 1, c) for i, c in enumerate(pers)])
        cur.executemany("INSERT INTO indicators VALUES (%s, %s)",
                        [(c, i + 1) for i, c in enumerate(inds)])
    conn.execute("ANALYZE")
    o = df.org_code.map({c: i + 1 for i, c in enumerate(orgs)})
    p = df.period.map({c: i + 1 for i, c in enumerate(pers)})
    k = df.indicator_id.map({c: i + 1 for i, c in enumerate(inds)})
    value = df.numerator / df.denominator * 100
    text_rows = pd.DataFrame({"indicator_id": df.indicator_id, "period_id": p, "org_id": o,
                              "numerator": df.numerator, "denominator": df.denominator,
                              "value": value, "suppressed": "f", "load_id": 1})
    int_rows = text_rows.assign(indicator_id=k).rename(columns={"indicator_id": "ikey"})
    # the loader's order: the file's (period, org, indicator); no sort
    text_csv = text_rows.to_csv(index=False, header=False).encode()
    int_csv = int_rows.to_csv(index=False, header=False).encode()

    def copy(table: str, cols: str, data: bytes) -> None:
        with conn.cursor() as cur, cur.copy(f"COPY {table} ({cols}) FROM STDIN (FORMAT csv)") as cp:
            for i in range(0, len(data), 1 << 20):
                cp.write(data[i:i + (1 << 20)])

    def timed(steps: list[tuple[str, object]]) -> dict[str, float]:
        out = {}
        conn.execute("BEGIN")
        for name, step in steps:
            t = time.perf_counter()
            if callable(step):
                step()
            else:
                conn.execute(step)
            out[name] = time.perf_counter() - t
        conn.execute("COMMIT")
        out["total"] = sum(out.values())
        return out

    # the unit: the file into a bare table
    conn.execute("CREATE TABLE bare (org_code text, indicator_id text, period text, "
                 "numerator double precision, denominator double precision)")
    raw = open(path, "rb").read()

    def raw_copy() -> None:
        with conn.cursor() as cur, cur.copy("COPY bare FROM STDIN (FORMAT csv, HEADER true)") as cp:
            for i in range(0, len(raw), 1 << 20):
                cp.write(raw[i:i + (1 << 20)])

    results: dict[str, dict[str, float]] = {}
    results["raw COPY of the file (unit)"] = timed([("copy", raw_copy)])
    unit = results["raw COPY of the file (unit)"]["total"]
    tcols = "indicator_id, period_id, org_id, numerator, denominator, value, suppressed, load_id"
    icols = tcols.replace("indicator_id", "ikey")
    fks_t = [("fk ind", "ALTER TABLE {t} ADD FOREIGN KEY (indicator_id) REFERENCES indicators(id)"),
             ("fk period", "ALTER TABLE {t} ADD FOREIGN KEY (period_id) REFERENCES periods(id)"),
             ("fk org", "ALTER TABLE {t} ADD FOREIGN KEY (org_id) REFERENCES organisations(id)"),
             ("fk load", "ALTER TABLE {t} ADD FOREIGN KEY (load_id) REFERENCES loads(id)")]
    fks_i = [(n, s.replace("(indicator_id) REFERENCES indicators(id)",
                           "(ikey) REFERENCES indicators(ikey)")) for n, s in fks_t]

    def f(steps, t):  # noqa: ANN001
        return [(n, s.format(t=t) if isinstance(s, str) else s) for n, s in steps]

    # A. today's schema, bulk path: keys and indexes after the COPY
    conn.execute(f"CREATE TABLE a_vals (id bigserial, indicator_id varchar(100) NOT NULL, "
                 f"period_id int NOT NULL, org_id int NOT NULL, {VALS}, load_id int)")
    results["A today's schema (text key, bigint id, unique + 2 indexes + 4 FKs), built after"] = \
        timed(f([("copy", lambda: copy("a_vals", tcols, text_csv)),
                 ("unique", "ALTER TABLE {t} ADD UNIQUE (indicator_id, period_id, org_id)"),
                 ("pk id", "ALTER TABLE {t} ADD PRIMARY KEY (id)"),
                 ("ix org,ind", "CREATE INDEX ON {t} (org_id, indicator_id)"),
                 ("ix load", "CREATE INDEX ON {t} (load_id)"), *fks_t], "a_vals"))
    lean = (f"ikey int NOT NULL, period_id int NOT NULL, org_id int NOT NULL, load_id int, "
            f"{VALS}")
    by_pio = int_rows.sort_values(["period_id", "ikey", "org_id"]).to_csv(
        index=False, header=False).encode()
    by_ipo = int_rows.sort_values(["ikey", "period_id", "org_id"]).to_csv(
        index=False, header=False).encode()
    for label, pk, data, after in (
        ("file order, PK (ikey, period, org) after", "ikey, period_id, org_id", int_csv, True),
        ("file order, PK (ikey, period, org) in place", "ikey, period_id, org_id", int_csv, False),
        ("sorted (period, ikey, org), PK (period, ikey, org) in place", "period_id, ikey, org_id",
         by_pio, False),
        ("sorted (period, ikey, org), PK (period, ikey, org) after", "period_id, ikey, org_id",
         by_pio, True),
        ("sorted (ikey, period, org), PK (ikey, period, org) in place", "ikey, period_id, org_id",
         by_ipo, False),
        ("sorted (ikey, period, org), PK (ikey, period, org) after", "ikey, period_id, org_id",
         by_ipo, True),
    ):
        t = "v_" + str(len(results))
        conn.execute(f"CREATE TABLE {t} ({lean}" + ("" if after else f", PRIMARY KEY ({pk})")
                     + ")")
        steps = [("copy", lambda t=t, data=data: copy(t, icols, data))]
        if after:
            steps.append(("pk", f"ALTER TABLE {t} ADD PRIMARY KEY ({pk})"))
        steps += [("ix org,ikey", f"CREATE INDEX ON {t} (org_id, ikey)")]
        steps += [(n, s.format(t=t)) for n, s in fks_i]
        results[f"{label} + ix (org, ikey) + 4 FKs after [{t}]"] = timed(steps)
    # the same with the org index in place during the COPY
    conn.execute(f"CREATE TABLE v_inplace ({lean}, PRIMARY KEY (period_id, ikey, org_id))")
    conn.execute("CREATE INDEX ON v_inplace (org_id, ikey)")
    results["sorted (period, ikey, org), PK and ix (org, ikey) in place, FKs after"] = timed(
        [("copy", lambda: copy("v_inplace", icols, by_pio))]
        + [(n, s.format(t="v_inplace")) for n, s in fks_i])
    # D. partitioned by ikey
    conn.execute(f"CREATE TABLE d_vals ({lean}, PRIMARY KEY (ikey, period_id, org_id)) "
                 "PARTITION BY LIST (ikey)")
    conn.execute("CREATE INDEX ON d_vals (org_id, ikey)")
    for _n, s in fks_i:
        conn.execute(s.format(t="d_vals"))
    parts = {kk: int_rows[int_rows.ikey == kk].sort_values(["period_id", "org_id"]).to_csv(
        index=False, header=False).encode() for kk in sorted(int_rows.ikey.unique())}

    def d_steps() -> list:
        steps = []
        for kk, data in parts.items():
            t = f"d_vals_{kk}"
            steps += [(f"create {kk}", f"CREATE TABLE {t} (LIKE d_vals INCLUDING DEFAULTS)"),
                      (f"copy {kk}", (lambda t=t, data=data: copy(t, icols, data))),
                      (f"pk {kk}", f"ALTER TABLE {t} ADD PRIMARY KEY (ikey, period_id, org_id)"),
                      (f"ix {kk}", f"CREATE INDEX ON {t} (org_id, ikey)"),
                      (f"check {kk}", f"ALTER TABLE {t} ADD CHECK (ikey = {kk})"),
                      (f"attach {kk}", f"ALTER TABLE d_vals ATTACH PARTITION {t} "
                                       f"FOR VALUES IN ({kk})")]
        return steps
    results["D partition per indicator (rows sorted): COPY fresh table, PK, index, CHECK, "
            "attach (FKs on parent)"] = timed(d_steps())

    print(f"load average {os.getloadavg()[0]:.1f}; unit = raw COPY {unit:.2f} s")
    for name, r in results.items():
        detail = ", ".join(f"{k} {v:.2f}" for k, v in r.items() if k != "total" and v > 0.02
                           and k.split()[0] not in ("create", "check"))
        if name.startswith("D"):
            agg: dict[str, float] = {}
            for k2, v in r.items():
                if k2 != "total":
                    agg[k2.split()[0]] = agg.get(k2.split()[0], 0) + v
            detail = ", ".join(f"{k} {v:.2f}" for k, v in agg.items())
        print(f"{r['total']:6.2f} s = {r['total'] / unit:4.1f}x  {name}: {detail}")
    conn.execute("ANALYZE")
    for t, ind in (("a_vals", "'bench_03'"), ("v_2", "4"), ("v_4", "4"), ("v_inplace", "4"),
                   ("d_vals", "4")):
        col = "indicator_id" if t == "a_vals" else "ikey"
        for shape, sql in (
            ("one indicator and period, all organisations",
             f"SELECT o.code, v.numerator, v.denominator, v.value FROM {t} v JOIN organisations o "
             f"ON o.id = v.org_id WHERE v.{col} = {ind} AND v.period_id = 8"),
            ("one organisation, all indicators and periods",
             f"SELECT v.{col}, v.period_id, v.value FROM {t} v WHERE v.org_id = 2345"),
        ):
            print(f"--- {t}: {shape}")
            for _ in range(2):
                plan = conn.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + sql).fetchall()
            print("\n".join(r[0] for r in plan))
    conn.close()
    with psycopg.connect(ADMIN, autocommit=True) as a:
        a.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")


if __name__ == "__main__":
    main(sys.argv[1])
