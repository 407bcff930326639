"""Concurrency: several processes load overlapping files at once. No duplicate keys, no lost
update, and the final values and history equal those of some serial order of the loads.

The oracle replays the files in Python, in every order, with the pipeline's rules (a row equal
to the stored one is unchanged and keeps its load; a differing one is updated with a history
row; a new key is inserted with a history row) and requires one order to match exactly.
"""

from __future__ import annotations

import itertools
import multiprocessing
from pathlib import Path

import pytest
from sqlalchemy import text

from core.db import make_engine
from etl.pipeline import run_load
from tests.production.faults import (
    db_values,
    load_in_child,
    month_labels,
    national_practices,
    read_values,
    replay,
    write_national_base,
    write_national_values,
)

MONTHS = month_labels(2019, 4)
PRACTICES = 1_200
LOADERS = 3

def test_overlapping_loads_equal_a_serial_order(clonable, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Three loaders start together on overlapping files; the result is serialisable."""
    practices = national_practices(PRACTICES)
    orgs, inds = write_national_base(tmp_path, practices)
    first = tmp_path / "first.csv"
    write_national_values(first, practices, MONTHS[:2], seed=10)
    files = []
    for k in range(LOADERS):
        f = tmp_path / f"overlap_{k}.csv"
        write_national_values(f, practices, MONTHS, seed=100 + k, share=0.7)
        files.append(f)

    def prepare(engine):  # type: ignore[no-untyped-def]
        for kind, path in (("organisations", orgs), ("indicators", inds), ("values", first)):
            assert run_load(engine, path, kind=kind).status == "loaded"

    db = clonable(prepare)
    engine = make_engine(db.url)
    start, start_history = db_values(engine)
    engine.dispose()

    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    procs = [ctx.Process(target=load_in_child, args=(db.url, str(f), queue)) for f in files]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    outcomes = [queue.get(timeout=5) for _ in procs]
    problems = [o for o in outcomes if o[1] != "loaded"]
    assert not problems, f"concurrent loads did not all load: {problems}"

    engine = make_engine(db.url)
    try:
        with engine.connect() as c:
            dup = c.execute(text(
                "SELECT COUNT(*) FROM (SELECT ikey, period_id, org_id FROM "
                "indicator_values GROUP BY ikey, period_id, org_id HAVING COUNT(*) > 1) d"
            )).scalar_one()
            dup_periods = c.execute(text(
                "SELECT COUNT(*) FROM (SELECT period_type, label FROM periods "
                "GROUP BY period_type, label HAVING COUNT(*) > 1) d")).scalar_one()
        assert dup == 0
        assert dup_periods == 0
        final, history = db_values(engine)
    finally:
        engine.dispose()

    by_path = {Path(path).name: load_id for path, _s, load_id, _m in outcomes}
    loads = [(by_path[f.name], read_values(f)) for f in files]
    new_history = history - start_history
    matches = []
    for order in itertools.permutations(loads):
        state, hist = replay(start, list(order))
        if state == final and hist == new_history:
            matches.append([lid for lid, _ in order])
    assert matches, "the final values and history equal no serial order of the loads"


@pytest.fixture(autouse=True)
def _only_fork_platforms() -> None:
    if "fork" not in multiprocessing.get_all_start_methods():  # pragma: no cover
        pytest.skip("needs fork")
