"""Benchmark the statistics engine (issue 3). Run: python bench/bench_stats.py

Targets: all statistics for one indicator across 6,500 organisations < 10 ms;
XmR SPC for 6,500 series of 60 points < 1 s.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.stats import (
    aggregate,
    funnel,
    opportunity,
    peer_comparison,
    run_chart_signals,
    xmr_batch,
)


def best_of(fn, repeat: int = 15) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    rng = np.random.default_rng(2024)
    n_orgs = 6500
    den = rng.integers(0, 8000, n_orgs).astype(float)
    num = rng.binomial(den.astype(int), np.clip(rng.normal(0.7, 0.05, n_orgs), 0, 1))
    frame = pd.DataFrame({"numerator": num.astype(float), "denominator": den,
                          "icb": rng.integers(0, 42, n_orgs)})

    def one_indicator() -> None:
        peer_comparison(frame, polarity="higher_is_better", value_type="proportion",
                        multiplier=100, target=70)
        funnel(frame.numerator, frame.denominator, value_type="proportion", multiplier=100)
        opportunity(frame, polarity="higher_is_better", multiplier=100, group="icb")
        aggregate(frame, "icb", value_type="proportion", multiplier=100)

    parts = {
        "peer_comparison": lambda: peer_comparison(
            frame, polarity="higher_is_better", value_type="proportion", multiplier=100,
            target=70),
        "funnel (proportion)": lambda: funnel(frame.numerator, frame.denominator,
                                              value_type="proportion", multiplier=100),
        "funnel (proportion, overdispersion)": lambda: funnel(
            frame.numerator, frame.denominator, value_type="proportion", multiplier=100,
            overdispersion=True),
        "funnel (ratio, exact Poisson)": lambda: funnel(
            frame.numerator, frame.denominator * 0.7, value_type="ratio", multiplier=100),
        "opportunity (by ICB)": lambda: opportunity(
            frame, polarity="higher_is_better", multiplier=100, group="icb"),
        "aggregate (ICB)": lambda: aggregate(frame, "icb", value_type="proportion",
                                             multiplier=100),
    }
    total = best_of(one_indicator)
    print(f"one indicator x {n_orgs} organisations (peer + funnel + opportunity + "
          f"aggregate): {total * 1000:.2f} ms  (target < 10 ms)")
    for name, fn in parts.items():
        print(f"  {name:<40s} {best_of(fn) * 1000:8.2f} ms")

    series = rng.normal(50, 5, size=(6500, 60))
    series[rng.random(series.shape) < 0.01] = np.nan
    t = best_of(lambda: xmr_batch(series, improvement_direction="increase", target=55),
                repeat=5)
    print(f"XmR for 6500 series x 60 points (xmr_batch): {t * 1000:.1f} ms  (target < 1000 ms)")
    t = best_of(lambda: xmr_batch(series, rebase_at=[30], fix_after=20), repeat=5)
    print(f"  with rebase + fix_after:                  {t * 1000:.1f} ms")
    t = best_of(lambda: [run_chart_signals(s) for s in series[:1000]], repeat=3)
    print(f"  run_chart_signals, 1000 series (loop):    {t * 1000:.1f} ms")


if __name__ == "__main__":
    main()
