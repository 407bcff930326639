"""Atomicity under faults: SIGKILL a loader at random points; the database is always exactly its
state before the load or after it (bench/bench_faults.py runs many more kills).

Each trial clones a prepared database (real national practice list, one earlier values load),
starts a loader in a child process, kills it with SIGKILL at a random moment, and compares
:func:`data_state` with the before and after states. A killed loader leaves its ``loads`` row
``running`` (it was committed in its own short transaction before the data transaction began);
no value, history row or error may point at it.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from core.db import make_engine
from etl.pipeline import run_load
from tests.production.faults import (
    PY,
    child_env,
    comparable,
    data_state,
    month_labels,
    national_practices,
    write_national_base,
    write_national_values,
)

MONTHS = month_labels(2018, 6)
#: practices in the in-suite file (about 18,000 rows); bench/bench_faults.py uses all of them
PRACTICES = 3_000


def _prepare_files(folder: Path) -> tuple[Path, Path, Path, Path]:
    practices = national_practices(PRACTICES)
    orgs, inds = write_national_base(folder, practices)
    first = folder / "values_first.csv"
    write_national_values(first, practices, MONTHS[:3], seed=1)
    big = folder / "values_big.csv"  # updates the first 3 months, inserts 3 more
    write_national_values(big, practices, MONTHS, seed=2)
    return orgs, inds, first, big


def _child_load(url: str, path: str) -> None:
    # a fresh engine in the child: nothing is shared with the parent's pool
    from core.db import make_engine as _make

    run_load(_make(url), path, kind="values", user="killed-child")


def _state(url: str) -> dict:
    engine = make_engine(url)
    try:
        return data_state(engine)
    finally:
        engine.dispose()


@pytest.fixture
def prepared(clonable, tmp_path: Path):  # type: ignore[no-untyped-def]
    """A clonable database with the base data and the first load, and the big file."""
    orgs, inds, first, big = _prepare_files(tmp_path)

    def prepare(engine):  # type: ignore[no-untyped-def]
        for kind, path in (("organisations", orgs), ("indicators", inds), ("values", first)):
            assert run_load(engine, path, kind=kind).status == "loaded"

    db = clonable(prepare)
    before, after, duration, result = _before_and_after(db, big)
    assert result.status == "loaded"
    assert result.rows_updated > 0
    assert result.rows_inserted > 0
    assert comparable(before) != comparable(after)
    return db, big, before, after, duration


def _before_and_after(db, big: Path, **load_options):  # type: ignore[no-untyped-def]
    """The state before the load of ``big``, and after it has run to completion on a copy
    (with its duration and result): the two states a killed load may leave."""
    before = _state(db.url)
    ref = db.clone()
    engine = make_engine(ref)
    started = time.perf_counter()
    result = run_load(engine, big, kind="values", user="killed-child", **load_options)
    duration = time.perf_counter() - started
    engine.dispose()
    after = _state(ref)
    db.drop(ref)
    return before, after, duration, result


def test_sigkill_leaves_before_or_after(prepared) -> None:  # type: ignore[no-untyped-def]
    """Kill a loader at random moments (run_load in a forked child, then the real ``qidash load
    values`` process): the state is before or after, never between, and nothing points at the
    'running' load a kill leaves behind."""
    db, big, before, after, duration = prepared
    _kill_trials(db, big, before, after, duration, seed=8)
    _kill_cli_loader(db, big, before, after, duration)


def _kill_cli_loader(db, big, before, after, duration) -> None:  # type: ignore[no-untyped-def]
    """The real ``qidash load values`` process, killed in the middle of its load."""
    from sqlalchemy import text

    url = db.clone()
    try:
        proc = subprocess.Popen([PY, "-m", "qidash.cli", "load", "values", str(big), "--json"],
                                env=child_env(url), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        # wait until the load has begun (its 'running' row exists), then kill mid-load
        engine = make_engine(url)
        deadline = time.monotonic() + 60
        try:
            while time.monotonic() < deadline and proc.poll() is None:
                with engine.connect() as c:
                    if c.execute(text("SELECT COUNT(*) FROM loads WHERE status = 'running'")
                                 ).scalar_one():
                        break
                time.sleep(0.02)
        finally:
            engine.dispose()
        time.sleep(duration * 0.4)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        state = _state(url)
        assert state["running_refs"] == 0
        assert comparable(state) in (comparable(before), comparable(after))
    finally:
        db.drop(url)


def test_sigkill_during_first_load_leaves_an_empty_table(clonable, tmp_path: Path,
                                                         monkeypatch) -> None:
    """The first values load writes straight into the empty table, on the bulk path (unique
    key, indexes and foreign keys dropped and rebuilt): a kill at any moment leaves the table
    empty with all of them in place, or the whole load committed."""
    import etl.load_values

    monkeypatch.setattr(etl.load_values, "BULK_FK_ROWS", 1_000)  # inherited by the forked children
    orgs, inds, _first, big = _prepare_files(tmp_path)

    def prepare(engine):  # type: ignore[no-untyped-def]
        for kind, path in (("organisations", orgs), ("indicators", inds)):
            assert run_load(engine, path, kind=kind).status == "loaded"

    db = clonable(prepare)
    before, after, duration, result = _before_and_after(db, big, chunk_rows=5_000)
    assert (result.status, result.rows_updated) == ("loaded", 0)

    def runs_again(url: str, outcome: str) -> None:
        # the unique key, indexes and foreign keys are all there: the load runs again
        engine = make_engine(url)
        try:
            again = run_load(engine, big, kind="values")
            assert again.status == ("unchanged" if outcome == "after" else "loaded")
        finally:
            engine.dispose()

    _kill_trials(db, big, before, after, duration, seed=9, then=runs_again)


def _until_running(url: str, proc) -> float:  # type: ignore[no-untyped-def]
    """Wait until the child's load has its 'running' row (its data transaction starts right
    after); returns the seconds waited."""
    from sqlalchemy import text

    started = time.monotonic()
    engine = make_engine(url)
    try:
        while time.monotonic() - started < 60 and proc.is_alive():
            with engine.connect() as c:
                if c.execute(text("SELECT COUNT(*) FROM loads WHERE status = 'running'")
                             ).scalar_one():
                    break
            time.sleep(0.01)
    finally:
        engine.dispose()
    return time.monotonic() - started


def _kill_trials(db, big, before, after, duration, *, seed: int, then=None) -> None:  # type: ignore[no-untyped-def]
    """Three loads in forked children, killed mid-load (trial 0) and at random moments a
    little past the end: each leaves the state before or after, nothing points at the killed
    load, and ``then(url, outcome)`` runs on each killed database."""
    rng = random.Random(seed)
    ctx = multiprocessing.get_context("fork")
    seen = []
    for trial in range(3):
        url = db.clone()
        try:
            # spread kills over the whole load, a little past its end as well; trial 0 is
            # killed once its load is under way (its 'running' row committed): a fixed share of
            # the reference load's time can fall after a fast child's commit
            delay = rng.uniform(0.05, duration * 1.15) if trial else 0.0
            proc = ctx.Process(target=_child_load, args=(url, str(big)))
            proc.start()
            if trial:
                time.sleep(delay)
            else:
                delay = _until_running(url, proc) + min(0.05, duration * 0.1)
                time.sleep(min(0.05, duration * 0.1))
            os.kill(proc.pid, signal.SIGKILL)
            proc.join(10)
            state = _state(url)
            assert state["running_refs"] == 0, "data points at a killed (running) load"
            got = comparable(state)
            assert got in (comparable(before), comparable(after)), (
                f"trial {trial}: killed after {delay:.2f}s, state is neither before nor after")
            seen.append("after" if got == comparable(after) else "before")
            if then is not None:
                then(url, seen[-1])
        finally:
            db.drop(url)
    assert "before" in seen  # the mid-load kill (trial 0) must roll back
