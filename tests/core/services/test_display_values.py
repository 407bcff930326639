"""display_values (the value a chart shows, without an interval: what the alerts' SPC charts
of whole series use) is the value with_intervals gives, for every value type: counts,
published values only, a mean's published value, zero and missing denominators, suppressed
rows. With the West Sussex practices' real MMR1 counts (the demo's file) as the counts."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from core.services.indicators import IndicatorMeta
from core.services.values import display_values, with_intervals
from etl.demo import DEMO_DIR

_FIELDS = {f.name: None for f in dataclasses.fields(IndicatorMeta)}


def _meta(value_type: str) -> IndicatorMeta:
    return IndicatorMeta(**{**_FIELDS, "id": "x", "name": "x", "value_type": value_type,
                            "multiplier": 1.0 if value_type in ("count", "mean") else 100.0,
                            "polarity": "higher_is_better"})


@pytest.mark.parametrize("value_type", ["proportion", "rate", "ratio", "count", "mean"])
def test_display_values_are_with_intervals_values(value_type: str) -> None:
    real = pd.read_csv(DEMO_DIR / "values_immunisations.csv")
    real = real[real["indicator_id"] == "imm_mmr1_24m"]
    num = real["numerator"].to_numpy(dtype=float)
    den = real["denominator"].to_numpy(dtype=float)
    n = len(num)
    assert n > 200
    rng = np.random.default_rng(7)
    value = np.where(rng.random(n) < 0.3, rng.uniform(0, 100, n), np.nan)  # published values
    num[::11] = np.nan  # published value only
    den[::13] = 0.0  # no denominator
    den[::17] = np.nan
    suppressed = rng.random(n) < 0.05
    frame = pd.DataFrame({"numerator": num, "denominator": den, "value": value,
                          "lower_ci": np.nan, "upper_ci": np.nan, "suppressed": suppressed})
    ind = _meta(value_type)
    want = with_intervals(frame, ind, 95.0)["value"].to_numpy(dtype=float)
    got = display_values(ind, num, den, value, suppressed)
    np.testing.assert_array_equal(got, want)
    assert np.isnan(got[suppressed]).all()
    assert np.isfinite(got).sum() > n // 2
