"""Write a national-scale canonical values file for the load benchmarks.

    python bench/generate_national.py [--rows 1000000] [--out /tmp/qidash_bench]

The organisations are REAL: every open GP practice in England (ODS epraccur, status A,
prescribing setting 4) that has a registered list size in January 2021, under its CCG, under
England, from ../shared/data/gp_practice_national. The indicator VALUES ARE GENERATED (seeded,
reproducible): no public file holds national practice-level numerators and denominators, so
each practice gets denominators proportional to its real list size and numerators drawn from a
binomial with a practice-specific rate. Use these files to measure speed, never as data.

Files written: organisations.csv, indicators.csv, values_<rows>.csv (org_code, indicator_id,
period, numerator, denominator; monthly periods from 2010-01 onwards, 10 indicators).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "gp_practice_national"
N_INDICATORS = 10
#: share of the list size that forms each indicator's denominator, and the typical rate
DENOMINATOR_SHARE = np.array([0.02, 0.05, 0.08, 0.12, 0.15, 0.2, 0.25, 0.3, 0.01, 0.6])
TYPICAL_RATE = np.array([0.95, 0.9, 0.75, 0.6, 0.8, 0.5, 0.7, 0.85, 0.92, 0.4])


def practices(shared: Path = SHARED) -> pd.DataFrame:
    """Open GP practices with their CCG and January 2021 list size (real, about 6,500)."""
    epr = pd.read_csv(shared / "epraccur.csv", header=None, dtype=str)
    epr = epr[(epr[12] == "A") & (epr[25] == "4")][[0, 1]]
    epr.columns = ["org_code", "name"]
    sizes = pd.read_csv(shared / "gp-reg-pat-prac-all_jan2021.csv", dtype={"CCG_CODE": str})
    sizes = sizes[["CODE", "CCG_CODE", "NUMBER_OF_PATIENTS"]]
    sizes.columns = ["org_code", "ccg", "list_size"]
    out = epr.merge(sizes, on="org_code", how="inner")
    return out.sort_values("org_code").reset_index(drop=True)


def write_reference(out: Path, prac: pd.DataFrame) -> None:
    """organisations.csv (England -> CCGs -> practices) and indicators.csv."""
    rows = [{"org_code": "E92000001", "name": "England", "org_type": "nation",
             "parent_code": "", "list_size": ""}]
    rows += [{"org_code": f"CCG{c}", "name": f"CCG {c}", "org_type": "sub_icb",
              "parent_code": "E92000001", "list_size": ""} for c in sorted(prac["ccg"].unique())]
    orgs = pd.DataFrame(rows)
    prac_rows = pd.DataFrame({"org_code": prac["org_code"], "name": prac["name"].str.title(),
                              "org_type": "practice", "parent_code": "CCG" + prac["ccg"],
                              "list_size": prac["list_size"].astype(str)})
    pd.concat([orgs, prac_rows]).to_csv(out / "organisations.csv", index=False)
    inds = pd.DataFrame({
        "indicator_id": [f"bench_{i:02d}" for i in range(N_INDICATORS)],
        "name": [f"Benchmark indicator {i} (generated values)" for i in range(N_INDICATORS)],
        "value_type": "proportion", "multiplier": 100, "polarity": "higher_is_better",
        "frequency": "month",
    })
    inds.to_csv(out / "indicators.csv", index=False)


def write_values(out: Path, prac: pd.DataFrame, rows: int, seed: int = 20260101) -> Path:
    """values_<rows>.csv: exactly ``rows`` rows, written month by month (bounded memory)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    rng = np.random.default_rng(seed)
    n_prac = len(prac)
    per_month = n_prac * N_INDICATORS
    months = math.ceil(rows / per_month)
    codes = np.repeat(prac["org_code"].to_numpy(dtype=object), N_INDICATORS)
    ind_ids = np.tile(np.array([f"bench_{i:02d}" for i in range(N_INDICATORS)], dtype=object),
                      n_prac)
    base_den = np.outer(prac["list_size"].to_numpy(float), DENOMINATOR_SHARE).ravel()
    # each practice x indicator has its own underlying rate (real units differ)
    rate = np.clip(np.tile(TYPICAL_RATE, n_prac) + rng.normal(0, 0.05, per_month), 0.01, 0.99)
    path = out / f"values_{rows}.csv"
    written = 0
    with path.open("wb") as fh:
        for m in range(months):
            take = min(per_month, rows - written)
            if take <= 0:
                break
            year, month = 2010 + m // 12, m % 12 + 1
            den = rng.poisson(np.maximum(base_den[:take] / 12, 1)).astype(np.int64)
            num = rng.binomial(den, rate[:take]).astype(np.int64)
            table = pa.table({
                "org_code": pa.array(codes[:take], pa.string()),
                "indicator_id": pa.array(ind_ids[:take], pa.string()),
                "period": pa.array(np.full(take, f"{year:04d}-{month:02d}", dtype=object),
                                   pa.string()),
                "numerator": num, "denominator": den,
            })
            pacsv.write_csv(table, fh, pacsv.WriteOptions(
                include_header=(m == 0), quoting_style="none"))
            written += take
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=Path("/tmp/qidash_bench"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    prac = practices()
    write_reference(args.out, prac)
    path = write_values(args.out, prac, args.rows)
    print(f"{len(prac):,} real practices (ODS + January 2021 list sizes); GENERATED values: "
          f"{args.rows:,} rows -> {path} ({path.stat().st_size / 1e6:.0f} MB) in "
          f"{time.perf_counter() - started:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
