"""A monthly load at national scale, and the reads a load makes every worker redo.

    python bench/bench_monthly.py

On ``bench/bench_api.py``'s database (built there if missing: the real national practice list
with GENERATED values, 20 indicators x 60 months, about 7.7M values), loads one new month of
every indicator for every practice (each practice's value drawn around its own latest rate
with its latest denominator: ordinary month-to-month variation), through ``run_load`` as
``qidash load values`` does, then reverts it, so the database is left as it was. Prints:

* the load's time, with the split of its alert step (reading every touched indicator's whole
  series, computing, storing), the number of alerts it raised, and the time it spent keeping
  the counts of values and organisations per indicator (``core.services.counts``);
* the indicator list (``list_indicators``, what ``GET /api/v1/indicators`` serves; it reads
  those counts): before the load, after it and after the revert;
* in the same run, the organisations of every indicator recounted both ways the list can:
  each indicator's key range read, and one probe of the (org_id, ikey) index per
  organisation (what the list chooses for an indicator this deep).
"""

from __future__ import annotations

import csv
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "bench")]


def _month_file(engine, directory: Path) -> tuple[Path, int]:  # type: ignore[no-untyped-def]
    """One month after the latest with values, for every (practice, indicator) of that month."""
    from sqlalchemy import text

    with engine.connect() as conn:
        latest = conn.execute(text(  # the latest month with values (a probe of the key)
            "SELECT max(p.id) FROM periods p WHERE p.period_type = 'month' AND EXISTS ("
            "SELECT 1 FROM indicator_values v WHERE v.ikey = (SELECT min(ikey) FROM "
            "indicators) AND v.period_id = p.id)")).scalar_one()
        start = conn.execute(text("SELECT start_date FROM periods WHERE id = :p"),
                             {"p": latest}).scalar_one()
        rows = conn.execute(text(
            "SELECT o.code, i.id, v.numerator, v.denominator FROM indicator_values v "
            "JOIN organisations o ON o.id = v.org_id JOIN indicators i ON i.ikey = v.ikey "
            "WHERE v.period_id = :p AND v.denominator > 0"), {"p": latest}).all()
    month = f"{start.year + start.month // 12}-{start.month % 12 + 1:02d}"
    rng = np.random.default_rng(2026)
    path = directory / f"month_{month}.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["org_code", "indicator_id", "period", "numerator", "denominator"])
        for code, ind, num, den in rows:
            d = int(den)
            w.writerow([code, ind, month, int(rng.binomial(d, min(max(num / den, 0.0), 1.0))),
                        d])
    return path, len(rows)


def _timed(fn):  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main() -> None:
    import bench_api
    from sqlalchemy.orm import Session

    import core.services.alerts as alerts
    import core.services.counts as counts
    from core.db import make_engine
    from core.services import indicators as ind
    from etl.pipeline import run_load
    from etl.revert import revert_load

    url, n_values = bench_api.build(rebuild=False)
    engine = make_engine(url)
    spent: dict[str, float] = {"read": 0.0, "compute": 0.0, "store": 0.0, "counts": 0.0}

    def timing(name, fn):  # type: ignore[no-untyped-def]
        def wrapped(*a, **k):  # type: ignore[no-untyped-def]
            t0 = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                spent[name] += time.perf_counter() - t0
        return wrapped

    alerts.fetch_indicator_series = timing("read", alerts.fetch_indicator_series)
    alerts.compute_load_alerts = timing("compute", alerts.compute_load_alerts)
    alerts.store_load_alerts = timing("store", alerts.store_load_alerts)
    counts.apply_value_changes = timing("counts", counts.apply_value_changes)

    def listed() -> float:
        with Session(engine) as s:
            frame, secs = _timed(lambda: ind.list_indicators(s))
        assert len(frame)
        return secs

    with tempfile.TemporaryDirectory() as tmp:
        path, n_rows = _month_file(engine, Path(tmp))
        print(f"database: {n_values:,} values; monthly file: {n_rows:,} values, one new month "
              f"of every indicator ({path.name})")
        first, warm = listed(), listed()
        print(f"indicator list before the load: first {first:.2f} s, "
              f"warm {warm * 1000:.1f} ms")
        result, secs = _timed(lambda: run_load(engine, path, kind="values"))
        assert result.status == "loaded", result.as_json()
        read = spent["read"]
        print(f"monthly load: {secs:.1f} s, {result.rows_inserted:,} values inserted, "
              f"{result.alerts:,} alerts; alert step: read the touched series {read:.1f} s, "
              f"compute (with the read) {spent['compute']:.1f} s, store "
              f"{spent['store']:.1f} s; counts of values and organisations kept "
              f"{spent['counts']:.2f} s")
        after = listed()
        with Session(engine) as s:
            slugs = sorted(ind.indicator_slugs(s).values())
            periods: dict[int, int] = {}
            for k, *_ in s.execute(ind.pairs_with_values_query()):
                periods[k] = periods.get(k, 0) + 1
            ranged, t_range = _timed(lambda: ind._recount_orgs(s, slugs))
            probed, t_probe = _timed(lambda: dict(s.execute(ind.org_count_query(slugs)).all()))
        assert {k: int(n) for k, n in probed.items() if n} == {
            k: n for k, n in ranged.items() if n}
        revert_load(engine, result.load_id)
        reverted = listed()
    print(f"indicator list after the load: {after:.2f} s; after its revert: {reverted:.2f} s")
    print(f"organisations of all {len(slugs)} indicators recounted: by their key ranges "
          f"{t_range:.2f} s, by probes of the organisation index {t_probe:.2f} s "
          f"(median {statistics.median(periods.values()) if periods else 0:.0f} periods an "
          f"indicator; the list probes when periods x organisations > "
          f"{ind.PROBE_ROWS} x all organisations)")
    engine.dispose()


if __name__ == "__main__":
    main()
