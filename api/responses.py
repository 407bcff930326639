"""Response helpers: pre-serialised JSON (orjson) and CSV with formula-injection guarding.

FastAPI's default path (``jsonable_encoder`` then ``json.dumps``) costs about 110 ms for a
7,000-row table on this machine; orjson on plain lists costs a few ms. Big responses are
therefore built here as bytes and returned as a :class:`JSONBytes` response; their schema is
documented in OpenAPI through ``responses=`` (see :mod:`api.schemas`). NaN and infinities are
written as ``null`` (orjson's behaviour for non-finite floats), never as invalid JSON.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import re
from dataclasses import asdict, is_dataclass
from itertools import repeat
from typing import Any

import numpy as np
import orjson
import pandas as pd
from fastapi.responses import JSONResponse, Response

#: naive datetimes are UTC here (SQLite returns them without an offset; every timestamp is
#: written as UTC): OPT_NAIVE_UTC writes the offset so that they are RFC 3339 date-times
JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS | orjson.OPT_NAIVE_UTC
#: a CSV cell starting with one of these is a formula to Excel: prefix an apostrophe
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def _default(obj: Any) -> Any:
    if obj is pd.NA or obj is pd.NaT or obj is None:
        return None
    if isinstance(obj, np.generic):
        v = obj.item()
        return None if isinstance(v, float) and not math.isfinite(v) else v
    if isinstance(obj, pd.Timestamp):
        return (obj.tz_localize("UTC") if obj.tzinfo is None else obj).isoformat()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, pd.DataFrame):
        return records(obj)
    if is_dataclass(obj) and not isinstance(obj, type):
        return asdict(obj)
    if isinstance(obj, set | frozenset | tuple):
        return list(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__}")


def dumps(obj: Any) -> bytes:
    """orjson bytes; NaN/inf become null, pandas NA becomes null, numpy types are native."""
    return orjson.dumps(obj, default=_default, option=JSON_OPTIONS)


def _column_values(s: pd.Series) -> list[Any]:
    if s.dtype.kind == "f":
        return s.tolist()  # NaN stays a float; orjson writes null
    if s.dtype.kind in "iub":
        return s.tolist()
    if not s.hasnans:
        return s.tolist()
    # object, string, nullable Int64/boolean: missing markers become None
    return [None if (v is None or v is pd.NA or (isinstance(v, float) and v != v)) else v
            for v in s.astype(object).tolist()]


def records(frame: pd.DataFrame, columns: list[str] | tuple[str, ...] | None = None
            ) -> list[dict[str, Any]]:
    """Rows of ``frame`` as dicts, built column-wise (several times faster than
    ``DataFrame.to_dict("records")`` for thousands of rows)."""
    cols = list(columns) if columns is not None else list(frame.columns)
    if frame.empty:
        return []
    arrays = [_column_values(frame[c]) for c in cols]
    # map/zip in C: about 20% faster than a comprehension for thousands of rows
    return list(map(dict, map(zip, repeat(cols), zip(*arrays, strict=True))))


def _dump_one(v: Any) -> bytes:
    return orjson.dumps(v, default=_default, option=JSON_OPTIONS)


_BOOL_TOKENS = np.array([b"false", b"true"], dtype=object)


def _split_array(a: np.ndarray) -> np.ndarray:
    """JSON tokens of a 1-D numeric numpy array: one orjson call for the whole column, split
    on commas (numbers and ``null`` contain none). orjson writes NaN/inf as ``null``."""
    body = orjson.dumps(a, option=orjson.OPT_SERIALIZE_NUMPY)[1:-1]
    return np.array(body.split(b",") if body else [], dtype=object)


def _column_tokens(s: pd.Series) -> list[bytes]:
    """The JSON text of every value of a column, built per column rather than per value
    where the dtype allows (numbers, booleans, nullable arrays, categoricals)."""
    dtype = s.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        cats = [_dump_one(c) for c in dtype.categories.tolist()] + [b"null"]
        return np.array(cats, dtype=object)[s.cat.codes.to_numpy()].tolist()  # -1 -> null
    arr = s.array
    mask = getattr(arr, "_mask", None)
    if mask is not None and dtype.kind in "fiub":  # nullable Int64 / Float64 / boolean
        data = arr._data  # type: ignore[attr-defined]
        toks = _BOOL_TOKENS[data.astype(np.intp)] if dtype.kind == "b" else _split_array(data)
        toks[mask] = b"null"
        return toks.tolist()
    if isinstance(dtype, np.dtype):
        if dtype.kind == "b":
            return _BOOL_TOKENS[s.to_numpy().astype(np.intp)].tolist()
        if dtype.kind in "fiu":
            return _split_array(s.to_numpy()).tolist()
    return list(map(_dump_one, _column_values(s)))


def rows_json(frame: pd.DataFrame, columns: list[str] | tuple[str, ...] | None = None
              ) -> orjson.Fragment:
    """The rows of ``frame`` as a JSON array of objects, pre-serialised (an
    ``orjson.Fragment`` to place inside a response dict passed to :func:`dumps`).

    Same JSON as ``dumps(records(frame, columns))`` (NaN/NA as null) without building a dict
    per row: each column becomes a list of JSON tokens (one orjson call per numeric column),
    and each row is one ``%`` format of a template holding the keys. For 6,500 comparison
    rows this is about 6 ms instead of about 10 ms (dicts, then orjson).
    """
    cols = list(columns) if columns is not None else list(frame.columns)
    if frame.empty or not cols:
        return orjson.Fragment(b"[]" if frame.empty else b"[" + b",".join(
            [b"{}"] * len(frame)) + b"]")
    # '%' is the only special character of a bytes template; keys are escaped by orjson
    template = b"{" + b",".join(
        _dump_one(str(c)).replace(b"%", b"%%") + b":%b" for c in cols) + b"}"
    tokens = [_column_tokens(frame[c]) for c in cols]
    return orjson.Fragment(b"[" + b",".join([template % t for t in zip(*tokens, strict=True)])
                           + b"]")


class JSONBytes(JSONResponse):
    """A JSON response whose body is already bytes (or is serialised with orjson).

    A JSONResponse subclass so that OpenAPI documents routes' models as JSON (a plain Response
    class makes FastAPI add ``"type": "string"`` beside each model's ``$ref``)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        if isinstance(content, bytes):
            return content
        return dumps(content)


def json_response(content: Any, status_code: int = 200) -> JSONBytes:
    """Serialise ``content`` with orjson and wrap it in a response."""
    return JSONBytes(dumps(content), status_code=status_code)


def _safe_cell(v: Any) -> Any:
    if v is None or v is pd.NA:
        return ""
    if isinstance(v, float):
        return "" if not math.isfinite(v) else repr(v)
    if isinstance(v, dt.date | dt.datetime):
        return v.isoformat()
    if isinstance(v, list | tuple):
        v = ";".join(str(x) for x in v)
    if isinstance(v, str) and v.startswith(_FORMULA_START):
        return "'" + v
    return v


def csv_bytes(frame: pd.DataFrame, columns: list[str] | tuple[str, ...] | None = None) -> bytes:
    """CSV (UTF-8, header row) of ``frame``; missing values are empty cells and any text cell
    starting with = + - @ tab or CR gets a leading apostrophe (OWASP CSV injection)."""
    cols = list(columns) if columns is not None else list(frame.columns)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(cols)
    if not frame.empty:
        arrays = [_column_values(frame[c]) for c in cols]
        for vals in zip(*arrays, strict=True):
            w.writerow([_safe_cell(v) for v in vals])
    return buf.getvalue().encode("utf-8")


def csv_response(
    frame: pd.DataFrame, filename: str, columns: list[str] | tuple[str, ...] | None = None
) -> Response:
    """A ``text/csv`` download named ``filename`` (made safe for the header)."""
    name = _SAFE_NAME.sub("_", filename).strip("_") or "data"
    if not name.endswith(".csv"):
        name += ".csv"
    return Response(
        csv_bytes(frame, columns),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
