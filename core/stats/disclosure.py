"""Statistical disclosure control: a pure, configurable small-number rule.

Default (as many NHS publications): counts from 1 to 7 are suppressed, every other count is
rounded to the nearest 5 (halves round up); 0 is published as 0. A row with any suppressed
count loses its value and interval (they could reveal the count).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class DisclosureRule:
    """Suppress counts in [suppress_min, suppress_max]; round the rest to ``round_to``
    (1 = no rounding). ``suppress_zero`` also suppresses zeros."""

    suppress_min: float = 1
    suppress_max: float = 7
    round_to: float = 5
    suppress_zero: bool = False


@dataclass(frozen=True)
class DisclosedCounts:
    """``values``: published counts (float; NaN = suppressed or missing);
    ``suppressed``: bool mask of suppressed counts (missing inputs are not suppressed)."""

    values: np.ndarray
    suppressed: np.ndarray


def disclose(counts: Any, rule: DisclosureRule = DisclosureRule()) -> DisclosedCounts:
    """Apply ``rule`` to counts (any array-like; non-integer counts allowed)."""
    x = np.asarray(counts, dtype=float)
    finite = np.isfinite(x)
    sup = finite & (x >= rule.suppress_min) & (x <= rule.suppress_max)
    if rule.suppress_zero:
        sup |= finite & (x == 0)
    step = float(rule.round_to)
    with np.errstate(invalid="ignore"):
        rounded = np.floor(x / step + 0.5) * step if step > 0 else x
        # a non-integer count just outside the range (7.2 -> 5, 0.6 -> 1 with round_to=1)
        # must not be shown as a count inside it
        sup |= finite & (rounded != 0) & (rounded >= rule.suppress_min) \
            & (rounded <= rule.suppress_max)
    return DisclosedCounts(values=np.where(sup | ~finite, np.nan, rounded), suppressed=sup)


def disclose_frame(
    frame: pd.DataFrame,
    rule: DisclosureRule = DisclosureRule(),
    *,
    count_columns: Sequence[str] = ("numerator",),
    round_columns: Sequence[str] = ("denominator",),
    value_columns: Sequence[str] = (
        "value", "lower", "upper", "lower_95", "upper_95", "lower_998", "upper_998",
    ),
) -> pd.DataFrame:
    """Return a copy of ``frame`` fit for publication.

    ``count_columns`` are suppressed and rounded; ``round_columns`` are only rounded (e.g.
    populations); in a row with any suppressed count every present ``value_columns`` entry
    becomes NaN. A boolean ``suppressed`` column is added. Values are not recomputed from the
    rounded counts.
    """
    out = frame.copy()
    mask = np.zeros(len(out), dtype=bool)
    for c in count_columns:
        if c in out:
            d = disclose(out[c].to_numpy(dtype=float), rule)
            out[c] = d.values
            mask |= d.suppressed
    step = float(rule.round_to)
    for c in round_columns:
        if c in out and step > 0:
            x = out[c].to_numpy(dtype=float)
            out[c] = np.floor(x / step + 0.5) * step
    for c in value_columns:
        if c in out:
            out[c] = out[c].where(~mask)
    out["suppressed"] = mask
    return out
