"""Scale benchmark on PostgreSQL: 10M and 100M values. One command, prints figures.

    python bench/bench_scale.py [--sizes 10000000,100000000] [--keep-files] [--dir DIR]
                                [--calls 7] [--quick]

``--quick``: 1M values only (a check that the bench runs; ``run_all.py --quick scale``).

For each size: a values file is GENERATED on the real national practice list (every open GP
practice in England with its January 2021 list size, see bench/generate_national.py), shaped
like a deployment: 120 months (10 years) x as many monthly proportion indicators as the size
needs (10M: 14 indicators; 100M: 131), written month by month to disk (bounded memory, never
the whole file in memory). Then, in a fresh PostgreSQL database created and dropped here:

1. ``qidash load values`` of the whole file as the first load (``run_load``: validation, the
   bulk path, alerts), in a child process: wall time and peak RSS;
2. the size of ``indicator_values`` with its indexes (summed over its partitions if it has
   any: ``pg_partition_tree``), the heap, the indexes and TOAST, and the whole database;
3. read latencies through the core services (no response cache in this path): the national
   comparison of one indicator (every practice, latest month), a practice's profile (every
   indicator) and an SPC chart (120 months); each the median of ``--calls`` calls on
   different indicators / practices after one warm-up call.

The values are GENERATED (seeded binomial draws around a practice-specific rate): no public
file holds national practice-level numerators and denominators. Use them to measure speed,
never as data. The machine is shared: the load average is printed with the figures. The files
are deleted afterwards unless ``--keep-files`` (10M: about 0.3 GB; 100M: about 3.3 GB).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "bench")]

PG_ADMIN = os.environ.get(
    "QIDASH_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
MONTHS = 120


def write_files(out: Path, rows: int, seed: int = 20261203) -> tuple[Path, int, str]:
    """organisations.csv, indicators.csv and values_<rows>.csv (exactly ``rows`` rows, month
    by month); returns the values file, the number of indicators and the last month that
    every practice and indicator has (the one the reads compare)."""
    import generate_national as gen
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.csv as pacsv

    out.mkdir(parents=True, exist_ok=True)
    prac = gen.practices()
    gen.write_reference(out, prac)  # organisations.csv (and a 10-indicator file, replaced)
    n_prac = len(prac)
    k = max(1, math.ceil(rows / (n_prac * MONTHS)))
    ind_ids = np.array([f"scale_{i:03d}" for i in range(k)], dtype=object)
    pd.DataFrame({
        "indicator_id": ind_ids,
        "name": [f"Scale indicator {i} (generated values)" for i in range(k)],
        "value_type": "proportion", "multiplier": 100, "polarity": "higher_is_better",
        "frequency": "month",
    }).to_csv(out / "indicators.csv", index=False)
    rng = np.random.default_rng(seed)
    share = np.resize(gen.DENOMINATOR_SHARE, k)
    typical = np.resize(gen.TYPICAL_RATE, k)
    per_month = n_prac * k
    codes = np.repeat(prac["org_code"].to_numpy(dtype=object), k)
    inds = np.tile(ind_ids, n_prac)
    base_den = np.outer(prac["list_size"].to_numpy(float), share).ravel()
    rate = np.clip(np.tile(typical, n_prac) + rng.normal(0, 0.05, per_month), 0.01, 0.99)
    path = out / f"values_{rows}.csv"
    written, m = 0, 0
    with path.open("wb") as fh:
        while written < rows:
            take = min(per_month, rows - written)
            year, month = 2015 + m // 12, m % 12 + 1
            den = rng.poisson(np.maximum(base_den[:take] / 12, 1)).astype(np.int64)
            num = rng.binomial(den, rate[:take]).astype(np.int64)
            table = pa.table({
                "org_code": pa.array(codes[:take], pa.string()),
                "indicator_id": pa.array(inds[:take], pa.string()),
                "period": pa.array(np.full(take, f"{year:04d}-{month:02d}", dtype=object),
                                   pa.string()),
                "numerator": num, "denominator": den,
            })
            pacsv.write_csv(table, fh, pacsv.WriteOptions(include_header=(m == 0),
                                                          quoting_style="none"))
            written += take
            m += 1
    full = m - 1 if take < per_month else m  # the last month written whole, 1-based
    full = max(full, 1)
    return path, k, f"{2015 + (full - 1) // 12:04d}-{(full - 1) % 12 + 1:02d}"


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


# ----------------------------------------------------------------------------- child steps
def timed_first_load(url: str, directory: str, values_file: str) -> tuple[Any, Any, float]:
    """The schema, the reference files of ``directory``, then the timed values load:
    ``(engine, load result, seconds)`` (shared with bench_profile.py)."""
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
    return engine, result, time.perf_counter() - started


def child_load(url: str, directory: str, values_file: str) -> None:
    """Reference files, then the timed values load (its own process: its own peak RSS)."""
    engine, result, elapsed = timed_first_load(url, directory, values_file)
    engine.dispose()
    print(json.dumps({
        "status": result.status, "rows_inserted": result.rows_inserted, "seconds": elapsed,
        "alerts": result.alerts,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


def child_reads(url: str, calls: int, period: str) -> None:
    """Median latencies of the read services (a fresh process: no warm caches but one call)."""
    from sqlalchemy import text
    from sqlalchemy.orm import Session

    from core.db import make_engine
    from core.services.comparison import comparison
    from core.services.profile import profile
    from core.services.spc import spc

    engine = make_engine(url)
    with engine.connect() as c:
        c.execute(text("ANALYZE"))
        c.commit()
        inds = [r[0] for r in c.execute(text("SELECT id FROM indicators ORDER BY id"))]
        practices = [r[0] for r in c.execute(text(
            "SELECT code FROM organisations WHERE org_type = 'practice' ORDER BY code"))]
    step = max(1, len(practices) // (calls + 1))
    picks = practices[::step][: calls + 1]
    out: dict[str, Any] = {"rows": None}

    def median_ms(fn: Any, args: list[Any]) -> float:
        times = []
        for k, a in enumerate(args):
            with Session(engine) as s:
                t = time.perf_counter()
                fn(s, a)
                if k:  # the first call warms up (imports, the organisation directory)
                    times.append((time.perf_counter() - t) * 1000)
        return statistics.median(times)

    def compare(s: Any, ind: str) -> None:
        res = comparison(s, ind, period=period)
        out["rows"] = len(res.rows)

    out["comparison_ms"] = median_ms(compare, [inds[k % len(inds)] for k in range(calls + 1)])
    out["profile_ms"] = median_ms(lambda s, code: profile(s, code, period=period), picks)
    out["spc_ms"] = median_ms(
        lambda s, pair: spc(s, pair[0], pair[1]),
        [(picks[k], inds[k % len(inds)]) for k in range(calls + 1)])
    engine.dispose()
    print(json.dumps(out))


def child_sizes(url: str) -> None:
    from sqlalchemy import text

    from core.db import make_engine

    engine = make_engine(url)
    with engine.connect() as c:
        # the table, or every partition of it if it is partitioned (pg_partition_tree gives
        # no rows for a plain table)
        rels = ("(SELECT relid FROM pg_partition_tree('indicator_values') "
                "UNION SELECT 'indicator_values'::regclass)")
        row = c.execute(text(
            "SELECT sum(pg_total_relation_size(relid)), sum(pg_relation_size(relid)), "
            f"sum(pg_indexes_size(relid)), count(*) FROM {rels} t")).one()
        indexes = [(r[0], int(r[1])) for r in c.execute(text(
            "SELECT i.indexrelid::regclass::text, pg_relation_size(i.indexrelid) "
            f"FROM pg_index i JOIN {rels} t ON t.relid = i.indrelid ORDER BY 2 DESC"))]
        db = int(c.execute(text("SELECT pg_database_size(current_database())")).scalar_one())
        history = int(c.execute(text(
            "SELECT coalesce(pg_total_relation_size(to_regclass('value_history')), 0)"))
            .scalar_one())
    engine.dispose()
    total, heap, idx, parts = (int(x or 0) for x in row)
    print(json.dumps({"total": total, "heap": heap, "indexes": idx,
                      "toast_fsm_vm": total - heap - idx, "relations": parts,
                      "index_list": indexes[:12], "database": db, "value_history": history}))


def run_child(*args: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, "--child", *args], check=True,
                         capture_output=True, text=True, cwd=REPO)
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def gb(n: float) -> str:
    return f"{n / 1e9:.2f} GB"


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        step, *rest = sys.argv[2:]
        if step == "load":
            child_load(*rest)
        elif step == "reads":
            child_reads(rest[0], int(rest[1]), rest[2])
        else:
            child_sizes(rest[0])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000000,100000000",
                        help="comma-separated numbers of values (default 10M and 100M)")
    parser.add_argument("--keep-files", action="store_true",
                        help="keep the generated files (default: deleted after each size)")
    parser.add_argument("--dir", type=Path, default=Path("/tmp/qidash_scale"))
    parser.add_argument("--calls", type=int, default=7,
                        help="timed calls per read service (median reported)")
    parser.add_argument("--quick", action="store_true", help="1M values only")
    args = parser.parse_args()
    sizes = [1_000_000] if args.quick else [int(s) for s in args.sizes.split(",") if s.strip()]
    print("GENERATED values on the real national practice list (speed only, never data); "
          "PostgreSQL; 2 shared cores", flush=True)
    for rows in sizes:
        folder = args.dir / f"n{rows}"
        started = time.perf_counter()
        values, k, period = write_files(folder, rows)
        gen_s = time.perf_counter() - started
        file_gb = values.stat().st_size / 1e9
        name = f"qidash_scale_{uuid.uuid4().hex[:8]}"
        url = pg_database(name, True)
        try:
            load = run_child("load", url, str(folder), values.name)
            load_avg = os.getloadavg()
            size = run_child("sizes", url)
            reads = run_child("reads", url, str(args.calls), period)
        finally:
            pg_database(name, False)
            if not args.keep_files:
                shutil.rmtree(folder, ignore_errors=True)
        per_row = size["total"] / max(rows, 1)
        print(f"\n{rows:,} values ({k} indicators x {MONTHS} months x 6,399 practices at most; "
              f"file {file_gb:.2f} GB written in {gen_s:.0f} s)", flush=True)
        print(f"  load (qidash load values, first load): {load['seconds']:.1f} s "
              f"= {rows / load['seconds']:,.0f} rows/s, peak RSS {load['peak_rss_mb']:.0f} MB, "
              f"{load['alerts']:,} alerts; load average after "
              f"{load_avg[0]:.1f} / {load_avg[1]:.1f} (1 / 5 min)")
        print(f"  indicator_values: {gb(size['total'])} in all ({per_row:.0f} bytes a value; "
              f"{size['relations']} relation(s)): heap {gb(size['heap'])}, indexes "
              f"{gb(size['indexes'])}, TOAST/FSM/VM {gb(size['toast_fsm_vm'])}; database "
              f"{gb(size['database'])}")
        for ix, n in size["index_list"]:
            print(f"    {ix}: {gb(n)}")
        print(f"  reads through core services, median of {args.calls} (no response cache): "
              f"national comparison ({reads['rows']:,} rows, {period}) "
              f"{reads['comparison_ms']:.0f} ms, "
              f"practice profile ({k} indicators) {reads['profile_ms']:.0f} ms, "
              f"SPC ({MONTHS} months) {reads['spc_ms']:.0f} ms", flush=True)


if __name__ == "__main__":
    main()
