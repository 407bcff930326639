"""column_records (rows straight from column arrays) gives exactly what records() gives for
the DataFrame of the same arrays, including every kind of missing value."""

from __future__ import annotations

import numpy as np
import orjson
import pandas as pd

from api.responses import column_records, dumps, records


def test_column_records_equal_records_of_the_frame() -> None:
    cols = {
        "code": np.array(["A1", "B2", "C3", "D4"], dtype=object),
        "name": np.array(["x", None, pd.NA, float("nan")], dtype=object),
        "value": np.array([1.5, np.nan, np.inf, -0.25]),
        "rank": pd.array([1, None, 3, 2], dtype="Int64").to_numpy(),
        "count": np.array([1, 2, 3, 4], dtype=np.int64),
        "flag": np.array([True, False, True, False]),
    }
    frame = pd.DataFrame(
        {k: pd.Series(v, dtype=object) if v.dtype == object else v for k, v in cols.items()}
    )
    names = ["code", "name", "value", "rank", "count", "flag"]
    got = column_records(cols, names)
    assert dumps(got) == dumps(records(frame, names))
    assert orjson.loads(dumps(got))[1] == {
        "code": "B2", "name": None, "value": None, "rank": None, "count": 2, "flag": False,
    }
    assert column_records({k: v[:0] for k, v in cols.items()}, names) == []
