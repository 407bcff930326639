"""Load benchmarks: one command, prints figures.

    python bench/bench_load.py [--quick] [--rows 1000000] [--big-rows 10000000]

1. PostgreSQL: load the 1M-row canonical values file with ``run_load`` into a fresh database
   (created and dropped here), and in the same run ``COPY`` the same file into a bare table;
   print the ratio (target <= 3x).
2. SQLite: the same 1M-row load into a fresh file (target < 10 s).
3. Unless ``--quick``: a 10M-row load (PostgreSQL) in a child process, with its peak RSS
   (bounded memory: the file is streamed in chunks).

Each load runs in a child process so that its wall time and peak RSS are its own. The values
are GENERATED on the real national practice list (see bench/generate_national.py). The machine
is shared: the load average is printed with the figures.
"""

from __future__ import annotations

import argparse
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
    """Run in a child process: reference files, then the timed values load; print JSON."""
    from core.db import ensure_schema, make_engine
    from etl.pipeline import run_load

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


def run_child(url: str, directory: Path, values_file: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", url, str(directory), values_file],
        check=True, capture_output=True, text=True, cwd=REPO,
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
    finally:
        pg_database(db, create=False)
    print(f"PostgreSQL: run_load {pg['seconds']:.2f} s ({pg['status']}, "
          f"{pg['rows_inserted']:,} rows, peak RSS {pg['peak_rss_mb']:.0f} MB); raw COPY into "
          f"a bare table {copy:.2f} s; ratio {pg['seconds'] / copy:.1f}x (target <= 3x); "
          f"same file again {pg['again_seconds']:.2f} s ({pg['again_status']})")

    with tempfile.TemporaryDirectory() as tmp:
        lite = run_child(f"sqlite:///{tmp}/bench.db", args.dir, name)
    print(f"SQLite: run_load {lite['seconds']:.2f} s ({lite['status']}, "
          f"{lite['rows_inserted']:,} rows, peak RSS {lite['peak_rss_mb']:.0f} MB; target < 10 s); "
          f"same file again {lite['again_seconds']:.2f} s ({lite['again_status']})")

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
