"""Alerts benchmark: what computing a values load's alerts costs. One command, prints figures.

    python bench/bench_alerts.py [--rows 200000,1000000] [--backends sqlite,postgresql]
                                 [--old REV] [--dir /tmp/qidash_bench]

For each size and backend: a fresh database (SQLite file, or a PostgreSQL database created and
dropped here), the reference files, then the timed ``qidash load values`` of the generated file
(``run_load``, alerts included) as a first load, with the time of its alert step
(``raise_load_alerts`` as the load calls it); then, on the loaded database, the alert step
alone, reading the values back (``compute_load_alerts`` of that load, timed in its own
transaction and rolled back), and with ``--old REV`` the same step by the
``core/services/alerts.py`` of git revision REV (before and after on the same machine, same
load average; REV must import from today's modules, e.g. ``main`` before this work merges).
Then a monthly load of one new period (every practice and indicator, the values of the file's
last month again under the next month) and its alert step. The values are GENERATED on the
real national practice list (bench/generate_national.py). The machine is shared: the load
average is printed.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "bench")]

PG_ADMIN = os.environ.get(
    "QIDASH_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def old_module(rev: str) -> Any:
    """``core.services.alerts`` as it was at git revision ``rev`` (imported under another
    name; it uses today's other modules)."""
    src = subprocess.run(["git", "-C", str(REPO), "show", f"{rev}:core/services/alerts.py"],
                         check=True, capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / "alerts_old.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location("alerts_old", path)
    assert spec is not None
    assert spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["alerts_old"] = mod
    spec.loader.exec_module(mod)
    return mod


def timed_alerts(engine: Any, load_id: int, module: Any) -> tuple[float, int]:
    with engine.connect() as conn:
        trans = conn.begin()
        started = time.perf_counter()
        found = module.compute_load_alerts(conn, load_id)
        elapsed = time.perf_counter() - started
        trans.rollback()
    return elapsed, len(found)


def next_month_file(src: Path, out: Path) -> Path:
    """The file's last month again as the month after it (a monthly load of one new period)."""
    import pandas as pd

    frame = pd.read_csv(src, dtype={"period": str})
    last = frame["period"].max()
    year, month = int(last[:4]), int(last[5:7])
    year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    month_rows = frame[frame["period"] == last].assign(period=f"{year:04d}-{month:02d}")
    path = out / f"next_month_{len(frame)}.csv"
    month_rows.to_csv(path, index=False)
    return path


def run(url: str, directory: Path, values: Path, old: Any) -> dict[str, Any]:
    from core.db import ensure_schema, make_engine
    from core.services import alerts
    from etl.pipeline import run_load

    engine = make_engine(url)
    ensure_schema(engine)
    for kind, name in (("organisations", "organisations.csv"), ("indicators", "indicators.csv")):
        assert run_load(engine, directory / name, kind=kind, migrate=False).status == "loaded"
    out: dict[str, Any] = {}
    # the alert step inside the load, as the load runs it (from the rows it kept, if it
    # could): its reads, its computation (on a first load's bulk path while the database
    # builds the table's keys) and its writes, summed
    inside: list[float] = []
    steps = {name: getattr(alerts, name) for name in (
        "plan_load_alerts", "alerts_of_plan", "store_load_alerts")}

    def timed(step: Any) -> Any:
        def call(*a: Any, **k: Any) -> Any:
            t = time.perf_counter()
            try:
                return step(*a, **k)
            finally:
                inside.append(time.perf_counter() - t)
        return call

    for name, step in steps.items():
        setattr(alerts, name, timed(step))
    started = time.perf_counter()
    first = run_load(engine, values, kind="values", migrate=False)
    out["load"] = time.perf_counter() - started
    out["in_load"] = sum(inside)
    assert first.status == "loaded", first.as_json()
    out["load_alerts"] = first.alerts
    assert first.load_id is not None
    out["alerts"], out["n"] = timed_alerts(engine, first.load_id, alerts)
    if old is not None:
        out["old"], out["old_n"] = timed_alerts(engine, first.load_id, old)
    nxt = next_month_file(values, directory)
    inside.clear()  # (timed_alerts called the timed steps too)
    started = time.perf_counter()
    month = run_load(engine, nxt, kind="values", migrate=False)
    out["month_load"] = time.perf_counter() - started
    out["month_in_load"] = sum(inside)
    for name, step in steps.items():
        setattr(alerts, name, step)
    assert month.status == "loaded"
    assert month.load_id is not None
    out["month_alerts"], out["month_n"] = timed_alerts(engine, month.load_id, alerts)
    if old is not None:
        out["month_old"], out["month_old_n"] = timed_alerts(engine, month.load_id, old)
    engine.dispose()
    return out


def pg_database(name: str, create: bool) -> str:
    from sqlalchemy import create_engine, text

    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        if create:
            c.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="200000,1000000")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--old", default=None, help="git revision of the code to compare with")
    parser.add_argument("--dir", type=Path, default=Path("/tmp/qidash_bench"))
    args = parser.parse_args()
    import generate_national as gen

    args.dir.mkdir(parents=True, exist_ok=True)
    prac = gen.practices()
    gen.write_reference(args.dir, prac)
    old = old_module(args.old) if args.old else None
    for rows in (int(r) for r in args.rows.split(",")):
        values = args.dir / f"values_{rows}.csv"
        if not values.exists():
            gen.write_values(args.dir, prac, rows)
        for backend in args.backends.split(","):
            if backend == "sqlite":
                tmp = tempfile.mkdtemp()
                url, drop = f"sqlite:///{tmp}/bench.db", None
            else:
                name = f"qidash_alerts_{uuid.uuid4().hex[:8]}"
                url, drop = pg_database(name, True), name
            try:
                r = run(url, args.dir, values, old)
            finally:
                if drop:
                    pg_database(drop, False)
            load = os.getloadavg()[0]
            line = (f"{backend:10s} {rows:>9,} rows: first load {r['load']:.1f} s "
                    f"({r['load_alerts']} alerts; alert step in the load {r['in_load']:.2f} s); "
                    f"alert step from the database {r['alerts']:.2f} s ({r['n']})")
            if old is not None:
                line += f", old {r['old']:.2f} s ({r['old_n']})"
            line += (f"; next month's load {r['month_load']:.1f} s, alert step in it "
                     f"{r['month_in_load']:.2f} s, from the database {r['month_alerts']:.2f} s "
                     f"({r['month_n']})")
            if old is not None:
                line += f", old {r['month_old']:.2f} s ({r['month_old_n']})"
            print(line + f"  [load average {load:.1f}]", flush=True)


if __name__ == "__main__":
    main()
