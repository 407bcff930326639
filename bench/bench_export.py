"""Benchmark: a 10-indicator network slide pack from real data (quality bar: under 15 s).

Loads the bundled demo through the product's pipeline (``qidash demo``: West Sussex GP-practice
immunisations from UKHSA/NHS Digital COVER via psychty/child_immunisations, OGL v3.0; 81
practices, 3 years) into a fresh SQLite database, then times ``build_pack`` for Regis
Healthcare PCN (6 practices) with 10 indicators: cold (the first pack in the process, including
starting Chromium) and warm, with and without member profile slides. Prints the machine's load
average, which the timings depend on (2 shared cores). ``python bench/bench_export.py [--quick]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy.orm import Session  # noqa: E402

from core.db import make_engine  # noqa: E402
from etl.demo import run_demo  # noqa: E402
from exports.data import indicators_for_org  # noqa: E402
from exports.pack import build_pack  # noqa: E402
from exports.render import stop_renderer  # noqa: E402

PCN_CODE = "U08235"  # Regis Healthcare PCN

BAR_SECONDS = 15.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="one warm run instead of three")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="qidash-bench-export-") as tmp:
        engine = make_engine(f"sqlite:///{tmp}/bench.db")
        t = time.perf_counter()
        run_demo(engine)
        with Session(engine) as s:
            from core.services.organisations import get_org

            available = indicators_for_org(s, get_org(s, PCN_CODE))
        print(f"data: the demo loaded in {time.perf_counter() - t:.2f} s; {len(available)} "
              f"indicators for {PCN_CODE}; load average {os.getloadavg()[0]:.2f}")
        # PCV1/PCV2 at 12 months stop in 2020-21 (the schedule changed): ten of the others.
        chosen = [i for i in available if i.startswith("imm_") and "pcv1" not in i
                  and "pcv2" not in i]
        inds = ",".join(chosen[:10])
        out = Path(tmp) / "pack.pptx"
        rows = []
        with Session(engine) as s:
            runs = [("cold (starts Chromium)", False)] + [("warm", False)] * (1 if args.quick
                                                                               else 3)
            runs.append(("warm, --per-member", True))
            for label, per_member in runs:
                t = time.perf_counter()
                r = build_pack(s, org_code=PCN_CODE, period="2021-22", indicators=inds,
                               per_member=per_member, output=out)
                secs = time.perf_counter() - t
                rows.append((label, secs, r.slides, r.charts, out.stat().st_size))
        stop_renderer()
        engine.dispose()
    print(f"{'10-indicator network pack':32s} {'seconds':>8s} {'slides':>7s} {'charts':>7s} "
          f"{'MB':>6s}")
    for label, secs, slides, charts, size in rows:
        print(f"{label:32s} {secs:8.2f} {slides:7d} {charts:7d} {size / 1e6:6.2f}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    worst = max(secs for label, secs, *_ in rows if "per-member" not in label)
    ok = worst < BAR_SECONDS
    print(f"quality bar: 10-indicator network pack under {BAR_SECONDS:.0f} s: "
          f"{'PASS' if ok else 'FAIL'} (worst {worst:.2f} s)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
