"""Run every benchmark in bench/ and print their figures: ``python bench/run_all.py [--quick]``.

Each ``bench_*.py`` is a standalone script that prints its own figures; this runs them one
after another with the same interpreter (``--quick`` is passed on to those that accept it, for
a shorter run) and prints a summary of what passed. ``bench_scale.py`` (10M and 100M values,
hours and gigabytes) runs only when named: ``python bench/run_all.py scale``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: benchmarks that run only when named on the command line
ONLY_WHEN_NAMED = ("scale",)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="shorter runs where supported")
    parser.add_argument("only", nargs="*", help="names to run, e.g. stats load api")
    args = parser.parse_args()
    scripts = sorted(HERE.glob("bench_*.py"))
    if args.only:
        scripts = [s for s in scripts if s.stem.removeprefix("bench_") in args.only]
    else:
        scripts = [s for s in scripts if s.stem.removeprefix("bench_") not in ONLY_WHEN_NAMED]
    results = []
    for script in scripts:
        print(f"\n===== {script.name} =====", flush=True)
        cmd = [sys.executable, str(script)]
        if args.quick and "--quick" in script.read_text():
            cmd.append("--quick")
        start = time.perf_counter()
        rc = subprocess.call(cmd, cwd=HERE.parent)
        results.append((script.name, rc, time.perf_counter() - start))
    print("\n===== summary =====")
    for name, rc, secs in results:
        print(f"{name:28s} {'ok' if rc == 0 else f'FAILED (exit {rc})':18s} {secs:7.1f} s")
    return 0 if all(rc == 0 for _, rc, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
