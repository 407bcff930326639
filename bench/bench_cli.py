"""How long the command line takes to answer: ``python bench/bench_cli.py``.

Prints the wall time (median of 7 runs, each a new process) of ``qidash --help``, which imports
only typer and the command descriptions (goal: under 1 s), and of ``qidash db current``, which
imports SQLAlchemy and the settings.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

QIDASH = [sys.executable, "-m", "qidash.cli"]
ROOT = Path(__file__).resolve().parents[1]


def wall(args: list[str], runs: int = 7) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([*QIDASH, *args], cwd=ROOT, capture_output=True, check=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    for args in (["--help"], ["db", "current"]):
        print(f"qidash {' '.join(args):12s} {wall(args) * 1000:7.0f} ms (median of 7 processes)")


if __name__ == "__main__":
    main()
