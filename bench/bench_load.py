"""Load benchmarks: one command, prints figures.

    python bench/bench_load.py [--quick] [--rows 1000000] [--big-rows 10000000]

1. PostgreSQL: load the 1M-row canonical values file with ``run_load`` into a fresh database
   (created and dropped here), and in the same run ``COPY`` the same file into a bare table;
   print the ratio (target <= 3x). The whole load (with the alerts every values load raises),
   and the same load with the alert step switched off (the value store itself).
2. SQLite: the same 1M-row load into a fresh file, with and without the alert step (target
   < 5 s).
3. The database floor: the same rows, already resolved to ids, COPYed into a keyless copy of
   ``indicator_values`` and then given its primary key, index and foreign keys: the work no
   loader that keeps those guarantees can skip, as a ratio to the raw COPY; and the load as a
   ratio to that floor (what the loader adds to it).
4. Unless ``--quick``: a 10M-row load (PostgreSQL) in a child process, with its peak RSS
   (bounded memory: the file is streamed in chunks).

Each load runs in a child process so that its wall time and peak RSS are its own. The values
are GENERATED on the real national practice list (see bench/generate_national.py). The machine
is shared: the load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "bench")]

PG_ADMIN = os.environ.get(
    "QIDASH_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def child(url: str, directory: str, values_file: str) -> None:
    """Run in a child process: reference files, then the timed values load; print JSON.
    With ``QIDASH_BENCH_ALERTS=off`` the load's alert step is replaced by a no-op (the
    keys a bulk load dropped are still put back)."""
    from core.db import ensure_schema, make_engine
    from etl.pipeline import run_load

    if os.environ.get("QIDASH_BENCH_ALERTS") == "off":
        import etl.pipeline

        etl.pipeline._raise_alerts = lambda *a, **k: 0  # type: ignore

    engine = make_engine(url)
    ensure_schema(engine)
    d = Path(directory)
    for kind, name in (("organisations", "organisations.csv"), ("indicators", "indicators.csv")):
        r = run_load(engine, d / name, kind=kind, migrate=False)
        assert r.status in ("loaded", "unchanged"), r.as_json()
    started = time.perf_counter()
    result = run_load(engine, d / values_file, kind="values", migrate=False)
    elapsed = time.perf_counter() - started
    started = time.perf_counter()
    again = run_load(engine, d / values_file, kind="values", migrate=False)
    again_elapsed = time.perf_counter() - started
    engine.dispose()
    print(json.dumps({
        "status": result.status, "rows_inserted": result.rows_inserted, "seconds": elapsed,
        "again_status": again.status, "again_seconds": again_elapsed,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


def run_child(url: str, directory: Path, values_file: str, *, alerts: bool = True) -> dict:
    env = dict(os.environ, QIDASH_BENCH_ALERTS="on" if alerts else "off")
    out = subprocess.run(
        [sys.executable, __file__, "--child", url, str(directory), values_file],
        check=True, capture_output=True, text=True, cwd=REPO, env=env,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def pg_database(name: str, create: bool) -> str:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        if create:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)


def raw_copy_seconds(url: str, path: Path) -> float:
    """COPY the same CSV into a bare table (no keys, no indexes): the floor to compare with."""
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        conn.execute("CREATE TABLE bare (org_code text, indicator_id text, period text, "
                     "numerator double precision, denominator double precision)")
        conn.commit()
        started = time.perf_counter()
        with conn.cursor() as cur, cur.copy(
                "COPY bare FROM STDIN (FORMAT csv, HEADER true)") as cp, path.open("rb") as fh:
            while block := fh.read(1 << 20):
                cp.write(block)
        conn.commit()
        return time.perf_counter() - started


def database_floor(url: str) -> dict[str, float]:
    """The database work no loader can skip, timed on rows that are already resolved.

    The values ``run_load`` just wrote (organisation, indicator and period already ids: no
    reading, parsing, validating or code lookups left) are copied out, untimed, and then,
    timed: binary ``COPY`` (the loader's format) into a fresh table with
    ``indicator_values``' columns and no index or key (the cheapest way in), then the primary
    key on (indicator, period, organisation) that idempotent loads need, the secondary index
    the reads need, and the foreign keys that keep values pointing at real organisations,
    indicators, periods and loads, each built once in one pass
    (as PostgreSQL's manual advises for bulk loading). Returns seconds per step and in total.
    """
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    cols = "ikey, period_id, org_id, numerator, denominator, value, suppressed, load_id"
    steps: dict[str, float] = {}
    with psycopg.connect(dsn) as conn:
        buf = io.BytesIO()
        with conn.cursor() as cur, cur.copy(
                f"COPY (SELECT {cols} FROM indicator_values) TO STDOUT (FORMAT binary)") as cp:
            for block in cp:
                buf.write(block)
        data = buf.getvalue()
        indexes = [row[0] for row in conn.execute(
            "SELECT pg_get_indexdef(x.indexrelid) FROM pg_index x WHERE x.indrelid = "
            "'indicator_values'::regclass AND NOT x.indisunique")]
        conn.execute("CREATE TABLE floor_values (LIKE indicator_values INCLUDING DEFAULTS)")
        conn.execute("SET maintenance_work_mem = '256MB'")
        conn.commit()

        def timed(name: str, sql: str | None = None) -> None:
            started = time.perf_counter()
            with conn.cursor() as cur:
                if sql is None:
                    with cur.copy(f"COPY floor_values ({cols}) FROM STDIN (FORMAT binary)") as cp:
                        for i in range(0, len(data), 1 << 20):
                            cp.write(data[i:i + (1 << 20)])
                else:
                    cur.execute(sql)
            conn.commit()
            steps[name] = time.perf_counter() - started

        timed("copy")
        timed("primary key",
              "ALTER TABLE floor_values ADD PRIMARY KEY (ikey, period_id, org_id)")
        for definition in indexes:  # CREATE INDEX name ON public.indicator_values USING ...
            name = definition.split()[2]
            timed(f"index {name.removeprefix('ix_indicator_values_')}", definition.replace(
                f"{name} ON public.indicator_values ", f"floor_{name} ON floor_values "))
        for col, target, key in (("ikey", "indicators", "ikey"), ("period_id", "periods", "id"),
                                 ("org_id", "organisations", "id"), ("load_id", "loads", "id")):
            timed(f"fk {col}", f"ALTER TABLE floor_values ADD FOREIGN KEY ({col}) "
                  f"REFERENCES {target} ({key})")
        conn.execute("DROP TABLE floor_values")
        conn.commit()
    steps["total"] = sum(steps.values())
    return steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the 10M-row load")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--big-rows", type=int, default=10_000_000)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "qidash_bench")
    args = parser.parse_args()
    import generate_national as gen

    args.dir.mkdir(parents=True, exist_ok=True)
    prac = gen.practices()
    gen.write_reference(args.dir, prac)
    name = f"values_{args.rows}.csv"
    if not (args.dir / name).exists():
        gen.write_values(args.dir, prac, args.rows)
    size_mb = (args.dir / name).stat().st_size / 1e6
    print(f"values file: {args.rows:,} rows, {size_mb:.0f} MB, {len(prac):,} real practices, "
          "GENERATED values (bench/generate_national.py)")
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")

    db = f"qidash_bench_load_{uuid.uuid4().hex[:8]}"
    url = pg_database(db, create=True)
    try:
        pg = run_child(url, args.dir, name)
        copy = raw_copy_seconds(url, args.dir / name)
        floor = database_floor(url)
    finally:
        pg_database(db, create=False)
    db = f"qidash_bench_load_{uuid.uuid4().hex[:8]}"
    url = pg_database(db, create=True)
    try:
        pg_store = run_child(url, args.dir, name, alerts=False)
        copy2 = raw_copy_seconds(url, args.dir / name)
    finally:
        pg_database(db, create=False)
    print(f"PostgreSQL: run_load {pg['seconds']:.2f} s ({pg['status']}, "
          f"{pg['rows_inserted']:,} rows, peak RSS {pg['peak_rss_mb']:.0f} MB); raw COPY into "
          f"a bare table {copy:.2f} s; ratio {pg['seconds'] / copy:.1f}x (target <= 3x); "
          f"same file again {pg['again_seconds']:.2f} s ({pg['again_status']})")
    print(f"PostgreSQL without the alert step (the value store alone): run_load "
          f"{pg_store['seconds']:.2f} s; raw COPY {copy2:.2f} s; ratio "
          f"{pg_store['seconds'] / copy2:.1f}x; same file again {pg_store['again_seconds']:.2f} s "
          f"({pg_store['again_status']})")
    print(f"PostgreSQL database floor (the same rows already resolved to ids: COPY into a "
          f"keyless copy of indicator_values, then its primary key, secondary index and "
          f"foreign keys, each built once): {floor['total']:.2f} s = "
          f"{floor['total'] / copy:.1f}x the raw COPY, before any reading or validation ("
          + ", ".join(f"{k} {v:.2f}" for k, v in floor.items() if k != "total") + ")")
    print(f"PostgreSQL load against the database floor (what the loader adds to the work any "
          f"loader keeping the same keys, index and foreign keys must do): whole load "
          f"{pg['seconds'] / floor['total']:.2f}x the floor, without the alert step "
          f"{pg_store['seconds'] / floor['total']:.2f}x; the 3x target is "
          f"{'below' if floor['total'] / copy > 3 else 'above'} the floor "
          f"({floor['total'] / copy:.1f}x the raw COPY)")

    for alerts in (True, False):
        with tempfile.TemporaryDirectory() as tmp:
            lite = run_child(f"sqlite:///{tmp}/bench.db", args.dir, name, alerts=alerts)
        print(f"SQLite{'' if alerts else ' without the alert step'}: run_load "
              f"{lite['seconds']:.2f} s ({lite['status']}, {lite['rows_inserted']:,} rows, peak "
              f"RSS {lite['peak_rss_mb']:.0f} MB; target < 5 s); same file again "
              f"{lite['again_seconds']:.2f} s ({lite['again_status']})")

    if not args.quick:
        big = f"values_{args.big_rows}.csv"
        if not (args.dir / big).exists():
            gen.write_values(args.dir, prac, args.big_rows)
        db = f"qidash_bench_big_{uuid.uuid4().hex[:8]}"
        url = pg_database(db, create=True)
        try:
            res = run_child(url, args.dir, big)
        finally:
            pg_database(db, create=False)
        print(f"PostgreSQL {args.big_rows:,} rows: run_load {res['seconds']:.1f} s "
              f"({res['status']}), peak RSS {res['peak_rss_mb']:.0f} MB; same file again "
              f"{res['again_seconds']:.1f} s ({res['again_status']})")
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        child(*sys.argv[2:])
    else:
        main()
