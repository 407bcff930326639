"""column_records_json (rows straight from column arrays) writes exactly what records() gives
for the DataFrame of the same arrays, including every kind of missing value."""

from __future__ import annotations

import datetime as dt

import numpy as np
import orjson
import pandas as pd
import pytest

from api.responses import column_records_json, dumps, records, records_json


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
    got = dumps(column_records_json(cols, names))
    assert got == dumps(records(frame, names))
    assert orjson.loads(got)[1] == {
        "code": "B2", "name": None, "value": None, "rank": None, "count": 2, "flag": False,
    }
    assert orjson.loads(dumps(column_records_json({k: v[:0] for k, v in cols.items()},
                                                  names))) == []


def _parsed(fragment: orjson.Fragment) -> object:
    return orjson.loads(dumps({"rows": fragment}))["rows"]


def test_json_rows_equal_the_row_dicts_for_every_kind_of_value() -> None:
    """records_json / column_records_json write the same JSON values as dumps(records(...)),
    by msgspec where every value is plain and by the row dicts where not."""
    frame = pd.DataFrame({
        "org code": ["A1", "B2", "C3", "D4"],  # not an identifier
        "name": pd.Series(["x", None, pd.NA, "é\"\n"], dtype=object),
        "value": [1.5, np.nan, np.inf, 1e16],
        "rank": pd.array([1, None, 3, 2], dtype="Int64"),
        "count": np.array([1, 2, 3, 2**62], dtype=np.int64),
        "flag": [True, False, True, False],
        "maybe": pd.array([True, None, False, True], dtype="boolean"),
    })
    plain = ["org code", "value", "count", "flag"]
    for names in (plain, list(frame.columns)):
        want = orjson.loads(dumps(records(frame, names)))
        assert _parsed(records_json(frame, names)) == want
        cols = {c: frame[c].to_numpy() for c in names}
        assert _parsed(column_records_json(cols, names)) == want
    assert _parsed(records_json(frame.iloc[:0], plain)) == []
    assert _parsed(records_json(frame[[]])) == records(frame[[]]) == []
    # plain values go through msgspec (its exponent form); the rest keep orjson's rules
    assert b'"value":1e16' in dumps({"r": records_json(frame, plain)})


def test_json_rows_keep_orjsons_rules_for_dates_and_objects() -> None:
    frame = pd.DataFrame({
        "at": pd.to_datetime(["2026-01-01 10:00", "2026-02-01 11:30"]),
        "day": [dt.date(2026, 1, 1), dt.date(2026, 2, 1)],
    })
    body = dumps({"rows": records_json(frame, ["at", "day"])})
    assert body == dumps({"rows": records(frame, ["at", "day"])})
    assert b'"2026-01-01T10:00:00+00:00"' in body
    assert b'"2026-02-01"' in body
    # a value neither writer knows is refused, as dumps(records(...)) refuses it
    odd = pd.DataFrame({"x": [object()]})
    with pytest.raises(TypeError):
        dumps({"rows": records_json(odd)})
    with pytest.raises(TypeError):
        dumps({"rows": records(odd)})


def test_column_rows_judge_each_object_column_once_and_rightly() -> None:
    """An object column is looked at once for both questions (missing values? only plain
    values?): text only, plain values with missing markers, and times with or without a
    missing marker each write what records() writes for the frame (dates and times by
    orjson: msgspec would write a UTC time with a Z)."""
    cols = {
        "code": np.array(["A1", "B2", "C3"], dtype=object),
        "met": np.array([True, None, pd.NA], dtype=object),
        "at": np.array([dt.datetime(2026, 1, 1, 10, tzinfo=dt.UTC)] * 3, dtype=object),
        "gap": np.array([dt.datetime(2026, 1, 1, tzinfo=dt.UTC), None, float("nan")],
                        dtype=object),
    }
    frame = pd.DataFrame({k: pd.Series(v, dtype=object) for k, v in cols.items()})
    for names in (["code", "met"], ["code", "at"], ["met", "gap"], list(cols)):
        assert dumps({"rows": column_records_json(cols, names)}) == \
            dumps({"rows": records(frame, names)}), names
    assert _parsed(column_records_json(cols, ["met", "gap"])) == [
        {"met": True, "gap": "2026-01-01T00:00:00+00:00"}, {"met": None, "gap": None},
        {"met": None, "gap": None}]
    assert b'"at":"2026-01-01T10:00:00+00:00"' in dumps({"r": column_records_json(cols, ["at"])})
