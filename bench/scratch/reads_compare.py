"""Scratch (issue 18): the same reads timed on two code trees (before/after the lean store).

    PYTHONDONTWRITEBYTECODE=1 python bench/scratch/reads_compare.py REPO DIR [ROUNDS]

Loads DIR's organisations, indicators and values_1000000.csv into a fresh PostgreSQL database
with REPO's own code and schema (alerts switched off: only the store is compared), then times
REPO's services: spc() of 40 practices x 1 indicator, profile() of 20 practices, comparison()
of the 10 indicators (response cache not involved: services called directly). Median ms.
"""
from __future__ import annotations

import os
import statistics
import sys
import time
import uuid
from pathlib import Path

REPO = Path(sys.argv[1]).resolve()
sys.path.insert(0, str(REPO))


def main() -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.orm import Session

    import core.services.alerts
    from core.db import ensure_schema, make_engine
    from core.services.comparison import comparison
    from core.services.profile import profile
    from core.services.spc import spc
    from etl.pipeline import run_load

    assert Path(core.services.alerts.__file__).resolve().is_relative_to(REPO)
    core.services.alerts.raise_load_alerts = lambda *a, **k: 0  # type: ignore
    d = Path(sys.argv[2])
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    admin = create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
                          isolation_level="AUTOCOMMIT")
    name = f"qidash_reads_{uuid.uuid4().hex[:8]}"
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    try:
        engine = make_engine(url)
        ensure_schema(engine)
        for kind, f in (("organisations", "organisations.csv"), ("indicators", "indicators.csv"),
                        ("values", "values_1000000.csv")):
            t0 = time.perf_counter()
            r = run_load(engine, d / f, kind=kind, migrate=False)
            assert r.status == "loaded", r.as_json()
        load_s = time.perf_counter() - t0
        with engine.connect() as c:
            c.execute(text("ANALYZE"))
            codes = [r[0] for r in c.execute(text(
                "SELECT code FROM organisations WHERE org_type = 'practice' ORDER BY code"))]
        picks = codes[::max(1, len(codes) // 40)][:40]
        times: dict[str, list[float]] = {"spc": [], "profile": [], "comparison": []}
        with Session(engine) as s:
            for _ in range(rounds):
                for code in picks:
                    t0 = time.perf_counter()
                    spc(s, code, "bench_03")
                    times["spc"].append((time.perf_counter() - t0) * 1000)
                for code in picks[:20]:
                    t0 = time.perf_counter()
                    profile(s, code)
                    times["profile"].append((time.perf_counter() - t0) * 1000)
                for i in range(10):
                    t0 = time.perf_counter()
                    comparison(s, f"bench_{i:02d}")
                    times["comparison"].append((time.perf_counter() - t0) * 1000)
                s.rollback()
        engine.dispose()
        print(f"{REPO.name}: load (no alerts) {load_s:.1f} s; load average "
              f"{os.getloadavg()[0]:.1f}; median ms: " + ", ".join(
                  f"{k} {statistics.median(v):.2f} (p90 {sorted(v)[int(len(v) * .9)]:.2f})"
                  for k, v in times.items()))
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
