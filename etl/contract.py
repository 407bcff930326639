"""The pandera model of the clean values frame (the boundary between validation and loading).

Kept apart from :mod:`etl.transform` so that loading never imports pandera (about 0.7 s on a
cold start, and its backends another 0.2 s on the first ``validate``) unless a frame breaks the
contract: :func:`etl.transform._check_contract` checks the same rules with numpy and calls
:class:`CleanValues` only to report a breach in pandera's words.
"""

from __future__ import annotations

from typing import Any

import pandera.pandas as pa
from pandera.typing import Series

from core.periods import PERIOD_TYPES


class CleanValues(pa.DataFrameModel):
    """The boundary between validation and loading: one row per value to write."""

    org_id: Series[int]
    # text columns stay numpy object arrays (no string conversion of a million rows)
    indicator_id: Series[Any]
    period_label: Series[Any]
    period_type: Series[Any] = pa.Field(isin=list(PERIOD_TYPES))
    numerator: Series[float] = pa.Field(ge=0, nullable=True)
    denominator: Series[float] = pa.Field(ge=0, nullable=True)
    value: Series[float] = pa.Field(nullable=True)
    lower_ci: Series[float] = pa.Field(nullable=True)
    upper_ci: Series[float] = pa.Field(nullable=True)
    suppressed: Series[bool]
    note: Series[Any] = pa.Field(nullable=True)
    ref: Series[Any]
    period_pos: Series[int]

    class Config:
        strict = "filter"
        coerce = False
