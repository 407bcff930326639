"""Dashboard speed in headless Chromium: time to chart, fresh and second visit, and callbacks.

    python bench/bench_dashboards.py [--keep DIR]

Builds a national-scale SQLite database (REAL practices and list sizes from
../shared/data/gp_practice_national, GENERATED values: see bench/generate_national.py) plus the
real demo data, starts the whole service under uvicorn on a free port, and measures in Debian's
chromium (one new browser context per fresh visit, so nothing is cached):

* time to chart for a network-sized comparison (the 4 practices of a PCN, and 132 trusts);
* time to chart for about 6,500 practices, fresh and on a second visit in the same context;
* callback latency: from a control change to the redrawn summary (what the user sees), and
  the callback request's own round trip (server time plus transfer).

Time to chart = ``performance.now()`` (from navigation start) when the plot's SVG bars exist.
Targets (issue 5): network chart 1.5 s fresh; 6,500 practices 2.5 s fresh, 1 s second visit;
callbacks 300 ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

CHART = ".js-plotly-plot .main-svg .barlayer .point, .js-plotly-plot .main-svg .scatterlayer .point"


def build(db: Path) -> str:
    """A database with the demo data and ~6,500 practices x 10 generated indicators."""
    import generate_national as gen

    from core.db import make_engine, migrate
    from etl.pipeline import run_load

    url = f"sqlite:///{db}"
    engine = make_engine(url)
    migrate(engine)
    out = db.parent / "national"
    out.mkdir(exist_ok=True)
    prac = gen.practices()
    gen.write_reference(out, prac)
    values = gen.write_values(out, prac, rows=len(prac) * gen.N_INDICATORS)
    for kind, path in (("organisations", out / "organisations.csv"),
                       ("indicators", out / "indicators.csv"), ("values", values)):
        res = run_load(engine, path, kind=kind)
        print(f"loaded {kind}: {res.status}, {res.rows_inserted:,} rows")
    from qidash.commands.load import demo  # the bundled real demo (practices, PCNs, trusts)

    try:
        from core.settings import Settings, override_settings

        override_settings(Settings(database_url=url))
        demo()
    finally:
        override_settings(None)
    engine.dispose()
    return url


def time_to_chart(page, url: str) -> float:
    """Seconds from navigation start until the chart's marks are drawn."""
    page.goto(url)
    page.wait_for_selector(CHART, timeout=30000, state="attached")
    return page.evaluate("performance.now()") / 1000


def main(argv: list[str] | None = None) -> None:
    """Build or reuse the database, start the service, print the timings."""
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
          f"on {os.cpu_count()} cores (figures vary with it)")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keep", type=Path, help="build the database in DIR and keep it")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright

    sys.path.insert(0, str(REPO / "tests" / "browser"))
    from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, start_server

    workdir = args.keep or Path(tempfile.mkdtemp(prefix="qidash_bench_dash_"))
    workdir.mkdir(parents=True, exist_ok=True)
    db = workdir / "bench.db"
    t = time.perf_counter()
    url = f"sqlite:///{db}" if db.exists() else build(db)
    print(f"database ready in {time.perf_counter() - t:.1f} s: {db}")
    proc, base = start_server(url)
    cases = {
        "PCN comparison (4 practices)": "/indicators/imm_mmr1_24m?peers=parent:U33593"
                                        "&highlight=H82006",
        "trusts comparison (132 bars)": "/indicators/ae_4hr_type1?highlight=RF4",
        "national comparison (~6,500 practices)": "/indicators/bench_00",
    }
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                        args=CHROMIUM_ARGS)
            for name, path in cases.items():
                fresh, second = [], []
                for _ in range(args.runs):
                    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
                    page = ctx.new_page()
                    fresh.append(time_to_chart(page, base + path))
                    second.append(time_to_chart(page, base + path))
                    ctx.close()
                print(f"{name:42s} fresh {statistics.median(fresh):5.2f} s  "
                      f"second visit {statistics.median(second):5.2f} s  "
                      f"(median of {args.runs})")
            # callback latency: change the confidence and wait for the new summary
            for name, path in (("callback, PCN", cases["PCN comparison (4 practices)"]),
                               ("callback, 6,500 practices",
                                cases["national comparison (~6,500 practices)"])):
                ctx = browser.new_context(viewport={"width": 1280, "height": 900})
                page = ctx.new_page()
                time_to_chart(page, base + path)
                server: list[float] = []  # request sent -> response fully received
                page.on("requestfinished", lambda r, server=server: server.append(
                    r.timing["responseEnd"] - r.timing["requestStart"])
                    if "_dash-update-component" in r.url else None)
                lat = []
                for conf in ("99.8%", "95%", "99.8%", "95%"):
                    before = page.inner_text("#ind-summary")
                    t0 = time.perf_counter()
                    page.get_by_label(conf, exact=True).check()
                    page.wait_for_function(
                        "s => document.querySelector('#ind-summary').innerText !== s",
                        arg=before)
                    lat.append(time.perf_counter() - t0)
                ctx.close()
                print(f"{name:42s} {statistics.median(lat) * 1000:6.0f} ms "
                      f"(median of {len(lat)}, click to redrawn summary; the callback's "
                      f"round trip {statistics.median(server):.0f} ms)")
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


if __name__ == "__main__":
    main()
