"""Query helpers of the read services: a ``Session`` or ``Connection`` (:data:`Conn`), rows
fetched by the driver's own cursor (:func:`fetch_all`) and turned into pandas frames column by
column (:func:`frame_from_rows`), and the listing used in "not found" messages.

Every read service takes a SQLAlchemy ``Session`` or ``Connection`` (anything with ``execute``)
and reads with Core ``select`` statements, turning rows into pandas frames; no ORM objects are
loaded in loops (relationships are ``lazy="raise"``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from core.services.version import driver_rows

Conn = Session | Connection


#: at most this many valid values are listed in a "not found" message
_LIST_MAX = 20


def core_conn(conn: Conn) -> Connection:
    """The Core connection of a session (or the connection itself).

    Column selects executed through ``Session.execute`` go through the ORM's result machinery
    (about 5 ms more per 6,500 rows); the hot reads use the session's connection directly,
    inside the same transaction.
    """
    return conn.connection() if isinstance(conn, Session) else conn


def fetch_all(conn: Conn, stmt: Any) -> list[tuple[Any, ...]]:
    """Rows of a Core ``select`` as plain tuples, fetched by the driver's own cursor on the
    session's connection (same transaction).

    For the big reads (6,500 rows) SQLAlchemy's per-row result processing costs about as much
    as the query itself; the selects this is used for need no result processing (numbers,
    text, booleans, which :func:`frame_from_rows` normalises). Parameters are bound as
    SQLAlchemy compiles them, for either paramstyle.
    """
    c = core_conn(conn)
    return _driver_fetch(c, *_compile(c, stmt), {})


def _compile(c: Connection, stmt: Any) -> tuple[str, tuple[str, ...] | None, dict[str, Any]]:
    """``(sql, positional parameter names or None, parameters)`` of a statement, compiled
    for the connection's dialect with IN lists rendered."""
    compiled = stmt.compile(dialect=c.dialect, compile_kwargs={"render_postcompile": True})
    pos = compiled.positiontup
    return str(compiled), (tuple(pos) if pos is not None else None), dict(compiled.params)


def _driver_fetch(
    c: Connection, sql: str, names: tuple[str, ...] | None, params: dict[str, Any],
    values: dict[str, Any],
) -> list[tuple[Any, ...]]:
    """Execute compiled ``sql`` (see :func:`_compile`) with ``params`` updated by ``values``
    on the driver's cursor and fetch every row."""
    merged = {**params, **values} if values else params
    bound: Any = tuple(merged[k] for k in names) if names is not None else merged
    return driver_rows(c, sql, bound)


def _listing(values: list[str], total: int | None = None) -> str:
    total = len(values) if total is None else total
    shown = ", ".join(values[:_LIST_MAX])
    more = f" ... ({total} in all)" if total > _LIST_MAX else ""
    return shown + more


#: float columns of value frames (None becomes NaN)
NUMERIC_COLUMNS = frozenset(
    {"numerator", "denominator", "value", "lower_ci", "upper_ci", "lower", "upper"}
)


def frame_from_rows(
    rows: Sequence[Any], columns: tuple[str, ...] | list[str], *, keep: Any = None
) -> pd.DataFrame:
    """A DataFrame from result rows, built column by column.

    ``DataFrame.from_records`` on SQLAlchemy rows costs about 60 ms for 6,500 rows (it probes
    each row's attributes); transposing with ``zip`` and typing each column costs about 2 ms.
    Count columns become float (None -> NaN), ``suppressed``/``is_active`` bool, text stays
    object dtype (pandas' string inference is the other hidden cost). ``keep`` (an index
    array) selects rows before the frame is built (cheaper than filtering the frame).
    """
    cols = list(zip(*rows, strict=True)) if rows else [()] * len(columns)
    data: dict[str, Any] = {}
    for name, col in zip(columns, cols, strict=True):
        if name in NUMERIC_COLUMNS:
            if col and col[0] is None and col.count(None) == len(col):
                # a column with no values at all (e.g. published intervals where counts are
                # loaded): np.full is ~0.3 ms cheaper per 6,500 rows than converting Nones
                a = np.full(len(col), np.nan)
            else:
                a = np.array(col, dtype=float)
        elif name in ("suppressed", "is_active"):
            a = np.array(col, dtype=bool)  # None -> False; SQLite's 0/1 -> bool
        else:
            a = np.empty(len(col), dtype=object)
            a[:] = col
            # an explicit object Series: pandas 3 would infer its string dtype from an array
            data[name] = pd.Series(a if keep is None else a[keep], dtype=object, copy=False)
            continue
        data[name] = a if keep is None else a[keep]
    return pd.DataFrame(data, columns=list(columns), copy=False)
