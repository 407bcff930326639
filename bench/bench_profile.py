"""Practice profile benchmark at many indicators (issue 18). One command, prints figures.

    python bench/bench_profile.py [--indicators 1000] [--months 2] [--history 120]
                                  [--profiled 6] [--rounds 3]
                                  [--old-repo /work/main] [--old-python PY] [--keep-db NAME]

A practice profile reads, for one practice, its own series of every indicator (for the SPC
icon of its latest point) and, per indicator, the latest period of every practice (the peers).
So the file is shaped to load in minutes yet give the profile a deployment's work: the real
national practice list (every open GP practice in England with its January 2021 list size, see
bench/generate_national.py) x ``--indicators`` monthly indicators x the last ``--months``
months for every practice, and ``--history`` months (10 years) for the ``--profiled``
practices whose profiles are timed. The values are GENERATED (seeded binomial draws around a
practice-specific rate; a quarter of the indicators lower-is-better, one in ten without a
judgement, one in five with a target): use them to measure speed, never as data.

One first load (``run_load``, in a child process) into a fresh PostgreSQL database created and
dropped here (``--keep-db NAME`` reuses / keeps a loaded one), ``ANALYZE``; then ``--rounds``
rounds, each timing the new code (this tree) and, with ``--old-repo``, the old code (that
tree, run by ``--old-python``, default its .venv) in turn, each in a fresh process:

- cold: the first profile of a data version (its per-version peer cache emptied first; the
  modules and the organisation directory warmed by one profile of another practice);
- warm: the median profile of the other profiled practices after it (peer cache filled);
- after a load: a values load (``run_load``) changing one practice's latest value of one
  indicator, then a profile (the summaries of the pairs the load did not change are kept),
  then the load reverted and a profile again;
- with the warmer a serving process runs (``core.services.warm``, new code only): its
  warm-up from an empty cache (as after a start) and the first profile after it; the same
  load again, the warmer's next check and the next profile;

and a hash of every profile's rows of the round (the same for both codes when they agree).
The machine is shared: the load average is printed with each round. The database is dropped
afterwards unless ``--keep-db``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(os.environ.get("QIDASH_BENCH_REPO") or Path(__file__).resolve().parents[1])
sys.path[:0] = [str(REPO), str(Path(__file__).resolve().parent)]

PG_ADMIN = os.environ.get(
    "QIDASH_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def write_files(out: Path, n_ind: int, months: int, history: int, profiled: int,
                seed: int = 20261203) -> tuple[Path, list[str], int]:
    """organisations.csv, indicators.csv, values.csv; returns the values file, the codes of
    the profiled practices (spread over the list) and the number of values."""
    import generate_national as gen
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.csv as pacsv

    out.mkdir(parents=True, exist_ok=True)
    prac = gen.practices()
    gen.write_reference(out, prac)
    n_prac = len(prac)
    ids = np.array([f"prof_{i:04d}" for i in range(n_ind)], dtype=object)
    polarity = np.where(np.arange(n_ind) % 10 == 9, "no_judgement",
                        np.where(np.arange(n_ind) % 4 == 3, "lower_is_better",
                                 "higher_is_better"))
    typical = np.resize(gen.TYPICAL_RATE, n_ind)
    target = np.where(np.arange(n_ind) % 5 == 0, np.round(typical * 100 - 2, 0), np.nan)
    pd.DataFrame({
        "indicator_id": ids,
        "name": [f"Profile bench indicator {i} (generated values)" for i in range(n_ind)],
        "value_type": "proportion", "multiplier": 100, "polarity": polarity,
        "target": target, "domain": [f"Domain {i % 7}" for i in range(n_ind)],
        "frequency": "month",
    }).to_csv(out / "indicators.csv", index=False)
    rng = np.random.default_rng(seed)
    share = np.resize(gen.DENOMINATOR_SHARE, n_ind)
    codes_all = prac["org_code"].to_numpy(dtype=object)
    picks = np.linspace(0, n_prac - 1, profiled).round().astype(int)
    base_den = np.outer(prac["list_size"].to_numpy(float), share)  # practices x indicators
    rate = np.clip(typical[None, :] + rng.normal(0, 0.05, base_den.shape), 0.01, 0.99)
    path = out / "values.csv"
    written = 0
    with path.open("wb") as fh:
        for m in range(history):
            rows = np.arange(n_prac) if m >= history - months else picks
            den = rng.poisson(np.maximum(base_den[rows] / 12, 1)).astype(np.int64).ravel()
            num = rng.binomial(den, rate[rows].ravel()).astype(np.int64)
            year, month = 2016 + m // 12, m % 12 + 1
            table = pa.table({
                "org_code": pa.array(np.repeat(codes_all[rows], n_ind), pa.string()),
                "indicator_id": pa.array(np.tile(ids, len(rows)), pa.string()),
                "period": pa.array(np.full(len(num), f"{year:04d}-{month:02d}", dtype=object),
                                   pa.string()),
                "numerator": num, "denominator": den,
            })
            pacsv.write_csv(table, fh, pacsv.WriteOptions(include_header=(m == 0),
                                                          quoting_style="none"))
            written += len(num)
    return path, [str(c) for c in codes_all[picks]], written


def pg_database(name: str, create: bool) -> str:
    """Drop database ``name`` and, with ``create``, make it again: bench_scale's."""
    from bench_scale import pg_database as scale_pg_database

    return scale_pg_database(name, create)


def pg_url(name: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)


def child_load(url: str, directory: str) -> None:
    from bench_scale import timed_first_load
    from sqlalchemy import text

    engine, result, elapsed = timed_first_load(url, directory, "values.csv")
    with engine.connect() as c:
        c.execute(text("ANALYZE"))
        c.commit()
    engine.dispose()
    print(json.dumps({"status": result.status, "rows": result.rows_inserted,
                      "seconds": elapsed}))


def child_reads(url: str, codes: list[str]) -> None:
    """Cold then warm profiles of ``codes`` by the code of ``REPO``."""
    from sqlalchemy.orm import Session

    from core.db import make_engine
    from core.services.profile import profile
    from core.services.version import engine_cache

    engine = make_engine(url)
    out: dict[str, Any] = {"repo": str(REPO)}

    digest = hashlib.sha256()
    last: list[Any] = []

    def one(code: str, record: bool = True) -> float:
        with Session(engine) as s:
            t = time.perf_counter()
            p = profile(s, code)
            took = (time.perf_counter() - t) * 1000
            out["indicators"] = len(p.rows)
            if record:
                digest.update(p.rows.to_csv(index=False).encode())
            last[:] = [p.rows]
            return took

    one(codes[0])  # imports, the organisation directory, the indicator list
    with Session(engine) as s:
        for name in ("peer_stats", "peer_summary"):  # the old code's cache, the new one's
            engine_cache(s, name).clear()
    out["cold_ms"] = one(codes[1])
    out["warm_ms"] = [one(c) for c in codes[2:] + codes[:1]]
    out["digest"] = digest.hexdigest()[:16]  # every profile's rows, to compare old and new
    # a load that changes one indicator (one practice's latest value), then the next profile:
    # code that keeps the summaries of the pairs a load did not change builds one; then the
    # load is reverted, so that every round reads the same data
    import tempfile

    from etl.pipeline import run_load
    from etl.revert import revert_load

    row = last[0].iloc[0]

    def load_one() -> Any:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "one_indicator.csv"
            path.write_text("org_code,indicator_id,period,numerator,denominator\n"
                            f"{codes[0]},{row['indicator_id']},{row['period']},1,1000\n")
            return run_load(engine, path, kind="values", migrate=False)

    result = load_one()
    if result.status == "loaded" and result.load_id is not None:
        out["after_load_ms"] = one(codes[1], record=False)
        revert_load(engine, result.load_id)
        out["after_revert_ms"] = one(codes[2], record=False)
    try:
        from core.services.warm import PeerWarmer
    except ImportError:  # older code: no warmer
        PeerWarmer = None  # noqa: N806
    if PeerWarmer is not None:
        # a serving process's warmer: its warm-up as after a start (empty cache), the first
        # profile after it; the same load again, the warmer's next check, the next profile
        with Session(engine) as s:
            engine_cache(s, "peer_summary").clear()
        warmer = PeerWarmer(engine, 30.0)
        t = time.perf_counter()
        warmer.tick()
        out["warmup_ms"] = (time.perf_counter() - t) * 1000
        out["warmed_ms"] = one(codes[1], record=False)
        result = load_one()
        if result.status == "loaded" and result.load_id is not None:
            t = time.perf_counter()
            warmer.tick()
            out["rewarm_ms"] = (time.perf_counter() - t) * 1000
            out["warmed_after_load_ms"] = one(codes[2], record=False)
            revert_load(engine, result.load_id)
    engine.dispose()
    print(json.dumps(out))


def run_child(python: str, repo: Path, *args: str) -> dict[str, Any]:
    env = {**os.environ, "QIDASH_BENCH_REPO": str(repo)}
    out = subprocess.run([python, __file__, "--child", *args], check=True,
                         capture_output=True, text=True, cwd=repo, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        step, *rest = sys.argv[2:]
        if step == "load":
            child_load(*rest)
        else:
            child_reads(rest[0], rest[1].split(","))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--indicators", type=int, default=1000)
    parser.add_argument("--months", type=int, default=2,
                        help="months that every practice has (the peers' periods)")
    parser.add_argument("--history", type=int, default=120,
                        help="months that the profiled practices have (their SPC series)")
    parser.add_argument("--profiled", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--old-repo", type=Path, default=None,
                        help="a checkout of the code to compare with (e.g. /work/main)")
    parser.add_argument("--old-python", default=None,
                        help="its Python (default OLD_REPO/.venv/bin/python)")
    parser.add_argument("--keep-db", default=None,
                        help="load into / reuse this database and keep it")
    parser.add_argument("--dir", type=Path, default=Path("/tmp/qidash_profile_bench"))
    args = parser.parse_args()
    print("GENERATED values on the real national practice list (speed only, never data); "
          "PostgreSQL; 2 shared cores", flush=True)
    import generate_national as gen
    import numpy as np

    n_prac = len(gen.practices())
    picks = np.linspace(0, n_prac - 1, args.profiled).round().astype(int)
    codes = [str(c) for c in gen.practices()["org_code"].to_numpy()[picks]]
    name = args.keep_db or f"qidash_profile_{uuid.uuid4().hex[:8]}"
    reuse = False
    if args.keep_db:
        from sqlalchemy import create_engine, text

        admin = create_engine(PG_ADMIN)
        with admin.connect() as c:
            reuse = bool(c.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"),
                                   {"n": name}).scalar())
        admin.dispose()
    try:
        if reuse:
            url = pg_url(name)
            print(f"reusing database {name}", flush=True)
        else:
            url = pg_database(name, True)
            started = time.perf_counter()
            _, codes, n = write_files(args.dir, args.indicators, args.months, args.history,
                                      args.profiled)
            print(f"{n:,} values ({args.indicators} indicators x {args.months} months x "
                  f"{n_prac:,} practices, {args.history} months for {args.profiled} "
                  f"profiled practices) written in {time.perf_counter() - started:.0f} s",
                  flush=True)
            load = run_child(sys.executable, REPO, "load", url, str(args.dir))
            print(f"first load {load['seconds']:.0f} s ({load['rows'] / load['seconds']:,.0f} "
                  f"rows/s)", flush=True)
        sides = [("new", sys.executable, REPO)]
        if args.old_repo is not None:
            sides.append(("old", args.old_python or str(args.old_repo / ".venv/bin/python"),
                          args.old_repo))
        got: dict[str, list[dict[str, Any]]] = {s[0]: [] for s in sides}
        for k in range(args.rounds):
            order = sides if k % 2 == 0 else sides[::-1]
            for label, python, repo in order:
                r = run_child(python, repo, "reads", url, ",".join(codes))
                got[label].append(r)
                la = os.getloadavg()
                print(f"round {k + 1} {label}: {r['indicators']} indicators, cold "
                      f"{r['cold_ms']:.0f} ms, warm {statistics.median(r['warm_ms']):.0f} ms "
                      f"(median of {len(r['warm_ms'])}: "
                      f"{', '.join(f'{x:.0f}' for x in r['warm_ms'])}; rows {r['digest']}); "
                      "after a load changing one indicator "
                      f"{r.get('after_load_ms', float('nan')):.0f} ms, after its revert "
                      f"{r.get('after_revert_ms', float('nan')):.0f} ms  "
                      f"[load average {la[0]:.1f}]", flush=True)
                if "warmup_ms" in r:
                    print(f"  with the warmer (core.services.warm): warm-up after a start "
                          f"{r['warmup_ms']:.0f} ms, then the first profile "
                          f"{r['warmed_ms']:.0f} ms; after a load changing one indicator "
                          f"its check {r.get('rewarm_ms', float('nan')):.0f} ms, then the "
                          f"next profile {r.get('warmed_after_load_ms', float('nan')):.0f} ms",
                          flush=True)
        digests = {label: {r["digest"] for r in runs} for label, runs in got.items()}
        same = len({d for ds in digests.values() for d in ds}) == 1
        print(f"profile rows identical across runs and code: {same} ({digests})", flush=True)
        for label, runs in got.items():
            cold = statistics.median(r["cold_ms"] for r in runs)
            warm = statistics.median(x for r in runs for x in r["warm_ms"])
            n = runs[0]["indicators"]
            print(f"{label}: {n} indicators: cold {cold:.0f} ms ({cold / n:.2f} ms an "
                  f"indicator), warm {warm:.0f} ms ({warm / n:.2f} ms an indicator)",
                  flush=True)
    finally:
        if not args.keep_db:
            pg_database(name, False)


if __name__ == "__main__":
    main()
