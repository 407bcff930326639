"""Faults at scale: SIGKILL the real loader many times, and race several loaders.

    python bench/bench_faults.py [--quick] [--backend sqlite|postgresql|both] [--kills 20]

1. **Kills.** A database holds the real national practice list (NHS Digital list sizes,
   January 2021) and one earlier values load. ``qidash load values BIG.csv`` (a subprocess, the
   real CLI) is killed with SIGKILL at a uniformly random moment of its run, ``--kills`` times,
   each on a fresh copy. After every kill the database must equal exactly the state before the
   load or after it (tests/production/faults.py ``data_state``), and nothing may point at the
   ``running`` load the kill leaves behind. BIG.csv has ~120,000 rows by default, above the
   pipeline's PostgreSQL bulk threshold (etl/load_values.py BULK_FK_ROWS), so the foreign-key
   drop/re-add path is killed too.
2. **Races.** ``--rounds`` times, ``--loaders`` processes load overlapping files at once; the
   final values and history must equal some serial order of the loads.

Counts are generated from real list sizes (no public file has national practice numerators);
the figures measure robustness, not data. Prints a line per phase; exits 1 on any violation.
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from core.db import make_engine, migrate  # noqa: E402
from etl.pipeline import run_load  # noqa: E402
from tests.production.faults import (  # noqa: E402
    PY,
    child_env,
    comparable,
    data_state,
    db_values,
    load_in_child,
    month_labels,
    national_practices,
    read_values,
    replay,
    write_national_base,
    write_national_values,
)

PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


class Databases:
    """Create, clone and drop databases of one backend."""

    def __init__(self, backend: str, folder: Path) -> None:
        self.backend = backend
        self.folder = folder
        self.admin = create_engine(PG, isolation_level="AUTOCOMMIT") if backend != "sqlite" \
            else None

    def create(self) -> str:
        name = f"qidash_faults_{uuid.uuid4().hex[:8]}"
        if self.admin is None:
            return f"sqlite:///{self.folder / (name + '.db')}"
        with self.admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
        return make_url(PG).set(database=name).render_as_string(hide_password=False)

    def clone(self, url: str) -> str:
        name = f"qidash_faults_{uuid.uuid4().hex[:8]}"
        if self.admin is None:
            dst = self.folder / (name + ".db")
            shutil.copyfile(make_url(url).database or "", dst)
            return f"sqlite:///{dst}"
        with self.admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{make_url(url).database}"'))
        return make_url(PG).set(database=name).render_as_string(hide_password=False)

    def drop(self, url: str) -> None:
        if self.admin is None:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{make_url(url).database}{suffix}").unlink(missing_ok=True)
            return
        with self.admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))


def state_of(url: str) -> dict:  # type: ignore[type-arg]
    engine = make_engine(url)
    try:
        return data_state(engine)
    finally:
        engine.dispose()


def run_cli(url: str, big: Path, kill_after: float | None = None) -> tuple[float, float, int]:
    """Run ``qidash load values big``; returns (seconds until its load row appeared, seconds
    until it ended, exit code). With ``kill_after``, SIGKILL it that long after the load row
    appeared (the load has begun: process start-up is not what is being tested)."""
    engine = make_engine(url)
    t0 = time.perf_counter()
    proc = subprocess.Popen([PY, "-m", "qidash.cli", "load", "values", str(big)],
                            env=child_env(url), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    began = None
    try:
        while proc.poll() is None and began is None:
            with engine.connect() as c:
                if c.execute(text("SELECT COUNT(*) FROM loads WHERE status = 'running'")
                             ).scalar_one():
                    began = time.perf_counter() - t0
            if began is None:
                time.sleep(0.01)
    finally:
        engine.dispose()
    if began is None:  # finished between two polls
        began = time.perf_counter() - t0
    if kill_after is not None:
        time.sleep(kill_after)
        proc.send_signal(signal.SIGKILL)
    code = proc.wait(600)
    return began, time.perf_counter() - t0, code


def kills(dbs: Databases, folder: Path, n_kills: int, months: int, rng: random.Random) -> bool:
    practices = national_practices()
    orgs, inds = write_national_base(folder, practices)
    labels = month_labels(2012, months)
    first = folder / "first.csv"
    write_national_values(first, practices, labels[: months // 2], seed=1)
    big = folder / "big.csv"
    rows = write_national_values(big, practices, labels, seed=2)
    base = dbs.create()
    engine = make_engine(base)
    migrate(engine)
    for kind, path in (("organisations", orgs), ("indicators", inds), ("values", first)):
        assert run_load(engine, path, kind=kind).status == "loaded"
    engine.dispose()
    before = comparable(state_of(base))
    ref = dbs.clone(base)
    began, full, code = run_cli(ref, big)
    assert code == 0, f"the reference load failed (exit {code})"
    after = comparable(state_of(ref))
    dbs.drop(ref)
    window = full - began  # from the load's 'running' row to the process's exit
    print(f"[{dbs.backend}] kills: {rows:,}-row load via the CLI: process start {began:.1f} s, "
          f"load {window:.1f} s; killing it {n_kills} times at random moments of the load",
          flush=True)
    tally = {"before": 0, "after": 0, "VIOLATION": 0}
    leftover_running = 0
    for i in range(n_kills):
        url = dbs.clone(base)
        try:
            delay = rng.uniform(0.0, window * 1.05)
            run_cli(url, big, kill_after=delay)
            st = state_of(url)
            leftover_running += st["running_loads"]
            got = comparable(st)
            outcome = ("before" if got == before else "after" if got == after
                       else "VIOLATION")
            if st["running_refs"]:
                outcome = "VIOLATION"
            tally[outcome] += 1
            print(f"  kill {i + 1:3d} {delay:5.2f} s into the load -> {outcome}", flush=True)
        finally:
            dbs.drop(url)
    dbs.drop(base)
    print(f"[{dbs.backend}] kills: {tally['before']} before, {tally['after']} after, "
          f"{tally['VIOLATION']} violations; {leftover_running} 'running' load rows left "
          "behind by kills (no data points at them)", flush=True)
    return tally["VIOLATION"] == 0


def races(dbs: Databases, folder: Path, rounds: int, loaders: int) -> bool:
    practices = national_practices(3_000)
    orgs, inds = write_national_base(folder, practices)
    labels = month_labels(2019, 6)
    first = folder / "race_first.csv"
    write_national_values(first, practices, labels[:2], seed=10)
    base = dbs.create()
    engine = make_engine(base)
    migrate(engine)
    for kind, path in (("organisations", orgs), ("indicators", inds), ("values", first)):
        assert run_load(engine, path, kind=kind).status == "loaded"
    engine.dispose()
    ctx = multiprocessing.get_context("fork")
    ok = 0
    started = time.perf_counter()
    for r in range(rounds):
        files = []
        for k in range(loaders):
            f = folder / f"race_{r}_{k}.csv"
            write_national_values(f, practices, labels, seed=1000 * r + k, share=0.7)
            files.append(f)
        url = dbs.clone(base)
        try:
            engine = make_engine(url)
            start_values, start_history = db_values(engine)
            engine.dispose()
            queue = ctx.Queue()
            procs = [ctx.Process(target=load_in_child, args=(url, str(f), queue)) for f in files]
            for p in procs:
                p.start()
            for p in procs:
                p.join(300)
            outcomes = [queue.get(timeout=10) for _ in procs]
            bad = [o for o in outcomes if o[1] != "loaded"]
            engine = make_engine(url)
            final, history = db_values(engine)
            engine.dispose()
            by_name = {Path(p).name: lid for p, _s, lid, _m in outcomes}
            loads = [(by_name[f.name], read_values(f)) for f in files]
            new_history = history - start_history
            import itertools

            serial = any(replay(start_values, list(order)) == (final, new_history)
                         for order in itertools.permutations(loads))
            if not bad and serial:
                ok += 1
            else:
                print(f"  round {r + 1}: failed loads {bad}; serialisable: {serial}", flush=True)
        finally:
            dbs.drop(url)
    dbs.drop(base)
    print(f"[{dbs.backend}] races: {ok}/{rounds} rounds of {loaders} concurrent loaders "
          f"({len(practices) * 6 * 7 // 10:,} rows each) equal a serial order; "
          f"{time.perf_counter() - started:.1f} s", flush=True)
    return ok == rounds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="5 kills, 6 months, 2 rounds")
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--months", type=int, default=18, help="months in the big file")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--loaders", type=int, default=4)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    if args.quick:
        args.kills, args.months, args.rounds, args.loaders = 5, 6, 2, 3
    rng = random.Random(args.seed)
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    good = True
    with tempfile.TemporaryDirectory(prefix="qidash_faults_") as tmp:
        for backend in backends:
            dbs = Databases(backend, Path(tmp))
            good &= kills(dbs, Path(tmp), args.kills, args.months, rng)
            good &= races(dbs, Path(tmp), args.rounds, args.loaders)
    print("OK: every kill left the before or the after state; every race was serialisable"
          if good else "FAILED: see the violations above")
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
