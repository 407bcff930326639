"""An indicator's values: the one set-based fetch of one indicator and period among a peer set
(:func:`fetch_value_columns`, :func:`fetch_values`), and their display values with intervals
(:func:`with_intervals`, :func:`check_confidence`, :func:`improvement_direction`); and every
value of one indicator at once as numpy columns (:func:`fetch_indicator_series`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import bindparam, select, text

from core.errors import InvalidParameter
from core.models import (
    IndicatorValue,
    Organisation,
    ikey_of,
)
from core.services.data_periods import PeriodRef
from core.services.indicators import IndicatorMeta
from core.services.organisations import OrgDirectory, org_directory
from core.services.peers import PeerSet, lowest_type, org_types_with_data
from core.services.query import Conn, _compile, _driver_fetch, core_conn
from core.services.version import driver_rows

VALUE_COLUMNS = (
    "org_id", "org_code", "org_name", "org_type", "parent_id", "numerator", "denominator",
    "value", "lower_ci", "upper_ci", "suppressed",
)


def values_statement(indicator_id: str, period_ids: list[int], peers: PeerSet | None):
    """The one SELECT behind comparisons: values joined to their organisations."""
    stmt = (
        select(
            Organisation.id, Organisation.code, Organisation.name, Organisation.org_type,
            Organisation.parent_id, IndicatorValue.numerator, IndicatorValue.denominator,
            IndicatorValue.value, IndicatorValue.lower_ci, IndicatorValue.upper_ci,
            IndicatorValue.suppressed,
        )
        .select_from(IndicatorValue)
        .join(Organisation, Organisation.id == IndicatorValue.org_id)
        .where(IndicatorValue.ikey == ikey_of(indicator_id))
    )
    if len(period_ids) == 1:
        stmt = stmt.where(IndicatorValue.period_id == period_ids[0])
    else:
        stmt = stmt.where(IndicatorValue.period_id.in_(period_ids))
    if peers is not None:
        if peers.active_only:
            stmt = stmt.where(Organisation.is_active.is_(True))
        if peers.org_ids is not None:
            stmt = stmt.where(Organisation.id.in_(list(peers.org_ids)))
        if peers.org_type is not None:
            stmt = stmt.where(Organisation.org_type == peers.org_type)
    return stmt


#: the columns of the values query behind :func:`fetch_value_columns` (no join: the
#: organisations come from the :class:`OrgDirectory`)
_VALUE_FIELDS = (
    IndicatorValue.org_id, IndicatorValue.numerator, IndicatorValue.denominator,
    IndicatorValue.value, IndicatorValue.lower_ci, IndicatorValue.upper_ci,
    IndicatorValue.suppressed,
)


def _values_select() -> Any:
    return select(*_VALUE_FIELDS).where(
        IndicatorValue.ikey == ikey_of(bindparam("indicator_id", None)),
        IndicatorValue.period_id == bindparam("period_id", None),
    )


@lru_cache(maxsize=32)
def _values_sql(dialect: Any) -> tuple[str, tuple[str, ...] | None, dict[str, Any]]:
    # compiled once per dialect (compiling the select costs about 0.5 ms a request)
    compiled = _values_select().compile(dialect=dialect)
    pos = compiled.positiontup
    return str(compiled), (tuple(pos) if pos is not None else None), dict(compiled.params)


#: PostgreSQL: the values packed into one bytea, 45 bytes a row (int4 org id, five float8,
#: a bool; NULL -> NaN), by one aggregate over the index scan
_PACKED_SQL = (
    "SELECT string_agg(int4send(org_id) || float8send(coalesce(numerator, 'NaN')) || "
    "float8send(coalesce(denominator, 'NaN')) || float8send(coalesce(value, 'NaN')) || "
    "float8send(coalesce(lower_ci, 'NaN')) || float8send(coalesce(upper_ci, 'NaN')) || "
    "boolsend(coalesce(suppressed, false)), '') FROM indicator_values "
    "WHERE ikey = (SELECT ikey FROM indicators WHERE id = %s) AND period_id = %s"
)
_PACKED_ROW = np.dtype([("org_id", ">i4"), ("values", ">f8", 5), ("suppressed", "u1")])

#: PostgreSQL, ``published="without_counts"``: the counts of every row packed in one bytea
#: (21 bytes a row: int4 org id, numerator, denominator, bool), and the published value and
#: interval (28 bytes) only of the rows without finite counts and a positive denominator
#: (:func:`_without_counts`), in the same scan order; packing costs the server about 0.4 ms
#: per column for 6,400 rows, so this is about 1.3 ms less than :data:`_PACKED_SQL`
_COUNTS_SQL = (
    "SELECT string_agg(int4send(org_id) || float8send(coalesce(numerator, 'NaN')) || "
    "float8send(coalesce(denominator, 'NaN')) || boolsend(coalesce(suppressed, false)), ''), "
    "string_agg(float8send(coalesce(value, 'NaN')) || float8send(coalesce(lower_ci, 'NaN')) "
    "|| float8send(coalesce(upper_ci, 'NaN')), '') FILTER (WHERE NOT coalesce("
    "numerator > '-Infinity' AND numerator < 'Infinity' AND denominator > 0 "
    "AND denominator < 'Infinity', false)) FROM indicator_values "
    "WHERE ikey = (SELECT ikey FROM indicators WHERE id = %s) AND period_id = %s"
)
_COUNTS_ROW = np.dtype([("org_id", ">i4"), ("counts", ">f8", 2), ("suppressed", "u1")])
_PUBLISHED_ROW = np.dtype([("values", ">f8", 3)])


def _without_counts(counts: np.ndarray) -> np.ndarray:
    """Rows whose numerator or denominator is missing or not finite, or whose denominator is
    not positive: the filter of :data:`_COUNTS_SQL`, evaluated on the same float8 values (a
    NULL arrives as NaN; PostgreSQL's NaN is above every number, so it fails ``< Infinity``
    as it fails ``isfinite``)."""
    num, den = counts[:, 0], counts[:, 1]
    with np.errstate(invalid="ignore"):
        return ~(np.isfinite(num) & np.isfinite(den) & (den > 0))


def fetch_value_arrays(
    conn: Conn, indicator_id: str, period_id: int, org_ids: tuple[int, ...] | None,
    published: str = "all",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(org ids, numerator/denominator/value/lower_ci/upper_ci as an (n, 5) float array
    with NaN for NULL, suppressed)`` of one indicator and period, in no particular order.

    ``published="without_counts"``: the stored value and interval only where they can be
    shown, in rows without finite counts and a positive denominator (:func:`with_intervals`
    computes the others from the counts); NaN in the other rows on PostgreSQL, where they are
    then not read (other databases read them all).

    On PostgreSQL the rows arrive packed in one binary value that numpy reads in place:
    about half the client time of fetching 6,400 rows as tuples and converting them (no
    Python object per value). Other databases: the rows, converted in one ``np.array``.
    """
    return _fetch_value_arrays(conn, indicator_id, period_id, org_ids, published)[:3]


def fetch_pair_arrays(
    conn: Conn, indicator_id: str, period_id: int, published: str = "all",
) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[int, int]]:
    """:func:`fetch_value_arrays` of every organisation, and the pair's fingerprint as of
    the same read (:func:`pair_fingerprints`): on PostgreSQL from the same statement, so
    the two always describe the same rows; elsewhere read first, so that a load committed
    between the two reads leaves a fingerprint older than the values (the next check finds
    it changed), never the reverse."""
    c = core_conn(conn)
    if c.dialect.name == "postgresql" and c.dialect.driver == "psycopg":
        ids, values, sup, fp = _fetch_value_arrays(conn, indicator_id, period_id, None,
                                                   published, fingerprint=True)
        assert fp is not None
        return ids, values, sup, fp
    fp = pair_fingerprints(conn, [(indicator_id, period_id)])[0]
    ids, values, sup, _ = _fetch_value_arrays(conn, indicator_id, period_id, None, published)
    return ids, values, sup, fp


#: what one (indicator, period) pair's stored rows are: how many there are and the sum of
#: the ids of the loads that wrote them. Every load stamps the rows it inserts or changes
#: with its id, higher than any before (an unchanged row keeps its id), and a revert deletes
#: its inserts and puts back the ids it replaced: so a load changes the pair's fingerprint
#: exactly when it changes a row of it. Integers: the same whatever order rows are summed in.
_FINGERPRINT_SQL = "count(*), coalesce(sum(coalesce(load_id, 0)), 0)"
#: the same over ``indicator_values v`` joined to ``indicators`` (which has a load_id too)
_FINGERPRINT_SQL_V = "count(*) AS n, coalesce(sum(coalesce(v.load_id, 0)), 0) AS s"
#: the packed reads of :func:`_fetch_value_arrays` with the fingerprint as two more columns
_WITH_FINGERPRINT = {
    sql: sql.replace(" FROM indicator_values ", ", " + _FINGERPRINT_SQL + " FROM indicator_values ",
                     1)
    for sql in (_PACKED_SQL, _COUNTS_SQL)
}


#: PostgreSQL: the fingerprints of the pairs given as two arrays, each read from its own range
#: of the primary key (a LATERAL subquery per pair: a grouped read of IN lists was planned as a
#: parallel scan of the whole table, 1.7 s at 13.5M values and minutes at 770M)
_FINGERPRINTS_PG = (
    "SELECT p.id, p.period_id, f.n, f.s FROM unnest(%s::text[], %s::int[]) AS p(id, period_id) "
    "JOIN indicators i ON i.id = p.id CROSS JOIN LATERAL (SELECT " + _FINGERPRINT_SQL_V
    + " FROM indicator_values v WHERE v.ikey = i.ikey AND v.period_id = p.period_id) f"
)
#: other databases: one grouped read of the pairs of some indicators and periods (their key
#: ranges: SQLite's clustered primary key)
_FINGERPRINTS_GROUPED = (
    "SELECT i.id, v.period_id, " + _FINGERPRINT_SQL_V + " FROM indicator_values v "
    "JOIN indicators i ON i.ikey = v.ikey WHERE i.id IN :ids AND v.period_id IN :periods "
    "GROUP BY i.id, v.period_id"
)


def pair_fingerprints(conn: Conn, pairs: Sequence[tuple[str, int]]) -> list[tuple[int, int]]:
    """The fingerprint (row count, sum of load ids) of each (indicator id, period id) pair,
    in order; ``(0, 0)`` for a pair without rows. Each pair is read from its own range of the
    primary key, never the table: on PostgreSQL in one statement, elsewhere one grouped read
    per 500 indicators."""
    if not pairs:
        return []
    out: dict[tuple[str, int], tuple[int, int]] = {}
    c = core_conn(conn)
    if c.dialect.name == "postgresql" and c.dialect.driver == "psycopg":
        for ind, period, n, total in driver_rows(
                c, _FINGERPRINTS_PG, [[i for i, _ in pairs], [int(p) for _, p in pairs]]):
            out[(ind, int(period))] = (int(n), int(total))
        return [out.get((i, int(p)), (0, 0)) for i, p in pairs]
    inds = sorted({i for i, _ in pairs})
    periods = sorted({p for _, p in pairs})
    stmt = text(_FINGERPRINTS_GROUPED).bindparams(bindparam("ids", expanding=True),
                                                  bindparam("periods", expanding=True))
    for k in range(0, len(inds), 500):
        for ind, period, n, total in conn.execute(
                stmt, {"ids": inds[k:k + 500], "periods": periods}):
            out[(ind, int(period))] = (int(n), int(total))
    return [out.get((i, int(p)), (0, 0)) for i, p in pairs]


def _fetch_value_arrays(
    conn: Conn, indicator_id: str, period_id: int, org_ids: tuple[int, ...] | None,
    published: str, fingerprint: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[int, int] | None]:
    """:func:`fetch_value_arrays`, and with ``fingerprint`` (PostgreSQL only) the pair's
    fingerprint from the same statement."""
    if org_ids is not None and not org_ids:
        return np.empty(0, np.int64), np.empty((0, 5)), np.empty(0, bool), None
    c = core_conn(conn)
    if c.dialect.name == "postgresql" and c.dialect.driver == "psycopg":
        narrow = published == "without_counts"
        sql, params = (_COUNTS_SQL if narrow else _PACKED_SQL), [indicator_id, period_id]
        if fingerprint:
            sql = _WITH_FINGERPRINT[sql]
        if org_ids is not None:
            sql, params = sql + " AND org_id = ANY(%s)", [*params, list(org_ids)]
        row = driver_rows(c, sql, params)[0]
        fp = (int(row[-2]), int(row[-1])) if fingerprint else None
        if not narrow:
            rec = np.frombuffer(row[0] or b"", dtype=_PACKED_ROW)  # NULL when no rows
            return (rec["org_id"].astype(np.int64), rec["values"].astype(float),
                    rec["suppressed"] > 0, fp)
        rec = np.frombuffer(row[0] or b"", dtype=_COUNTS_ROW)
        values = np.full((len(rec), 5), np.nan)
        values[:, :2] = rec["counts"]
        pub = np.frombuffer(row[1] or b"", dtype=_PUBLISHED_ROW)["values"]
        without = _without_counts(values)
        if int(without.sum()) != len(pub):  # cannot happen: the same test on the same values
            raise RuntimeError("published values do not match the rows without counts")
        values[without, 2:] = pub
        return rec["org_id"].astype(np.int64), values, rec["suppressed"] > 0, fp
    if fingerprint:
        raise ValueError("a fingerprint from the same statement needs PostgreSQL")
    compiled = _values_sql(c.dialect) if org_ids is None else _compile(
        c, _values_select().where(IndicatorValue.org_id.in_(list(org_ids))))
    rows = _driver_fetch(c, *compiled, {"indicator_id": indicator_id, "period_id": period_id})
    # one C-level conversion of all rows (None -> NaN; SQLite's 0/1 booleans -> 0.0/1.0)
    m = np.array(rows, dtype=float).reshape(len(rows), len(_VALUE_FIELDS))
    return m[:, 0].astype(np.int64), m[:, 1:6], m[:, 6] > 0, None


def fetch_value_positions(
    conn: Conn, indicator_id: str, period: PeriodRef, peers: PeerSet, published: str = "all"
) -> tuple[OrgDirectory, np.ndarray, dict[str, np.ndarray], PeerSet]:
    """:func:`fetch_value_columns` before the organisation columns are gathered:
    ``(directory, positions, value columns, peer set)``, where ``positions`` are the rows'
    places in ``directory`` (ascending: code order) and the value columns (``numerator`` to
    ``upper_ci`` float, ``suppressed`` bool) are in that order. A caller that re-orders the
    rows gathers the organisation columns once, in its own order (the comparison)."""
    ids, nums, sup = fetch_value_arrays(conn, indicator_id, period.id, peers.org_ids,
                                        published)
    directory = org_directory(conn)
    pos = directory.positions(ids)
    if (pos < 0).any():
        # an organisation the cached directory does not know (written outside a load)
        directory = org_directory(conn, refresh=True)
        pos = directory.positions(ids)
    keep = pos >= 0
    at = np.where(keep, pos, 0)
    if peers.active_only:
        keep &= directory.is_active[at]
    if peers.org_type is not None:
        keep &= directory.org_type[at] == peers.org_type
    elif peers.kind == "all":
        counts = np.bincount(directory.type_code[at[keep]], minlength=len(directory.types))
        t = lowest_type({directory.types[i]: int(k) for i, k in enumerate(counts) if k})
        if t is not None:
            keep &= directory.type_code[at] == directory.types.index(t)
            peers = replace(peers, org_type=t, label=f"all {t} organisations")
    sel = np.flatnonzero(keep)
    sel = sel[np.argsort(pos[sel], kind="stable")]  # code order
    p = pos[sel]
    cols: dict[str, np.ndarray] = {}
    picked = nums[sel]
    for j, name in enumerate(VALUE_COLUMNS[5:10]):
        cols[name] = np.ascontiguousarray(picked[:, j])
    cols["suppressed"] = sup[sel]
    if peers.kind == "all" and not len(sel) and peers.org_type is not None:
        types = org_types_with_data(conn, indicator_id, period.id,
                                    active_only=peers.active_only)
        raise InvalidParameter(
            "org_type",
            f"no {peers.org_type!r} organisations have {indicator_id!r} values in "
            f"{period.label}; types with data: {', '.join(sorted(types)) or 'none'}",
            details={"valid": sorted(types)},
        )
    return directory, p, cols, peers


def org_columns(directory: OrgDirectory, positions: np.ndarray) -> dict[str, np.ndarray]:
    """The organisation columns of :data:`VALUE_COLUMNS` (``org_id`` to ``parent_id``) of the
    directory rows at ``positions``."""
    return {
        "org_id": directory.id_obj[positions],
        "org_code": directory.code[positions],
        "org_name": directory.name[positions],
        "org_type": directory.org_type[positions],
        "parent_id": directory.parent_id[positions],
    }


def fetch_value_columns(
    conn: Conn, indicator_id: str, period: PeriodRef, peers: PeerSet, published: str = "all"
) -> tuple[dict[str, np.ndarray], PeerSet]:
    """One indicator's values in one period for a peer set, as one array per column of
    :data:`VALUE_COLUMNS` (rows ordered by organisation code), and the peer set with its type
    settled. Text, ``org_id`` and ``parent_id`` are object arrays, counts and values float
    (NaN for missing), ``suppressed`` bool.

    One query of the values alone; the organisations (code, name, type, parent, active) come
    from the :class:`OrgDirectory` of the data version, which also filters and orders the
    rows. For the default peer set (every organisation) without a type, rows of every type
    are read and the lowest level present is kept. A type with no rows raises
    :class:`InvalidParameter` naming ``org_type``. ``published``: as for
    :func:`fetch_value_arrays`.
    """
    directory, p, values, peers = fetch_value_positions(conn, indicator_id, period, peers,
                                                        published)
    return {**org_columns(directory, p), **values}, peers


def value_frame(cols: dict[str, np.ndarray]) -> pd.DataFrame:
    """The columns of :func:`fetch_value_columns` as a frame (text, ids and parents as
    object Series, as :func:`frame_from_rows` makes them)."""
    return pd.DataFrame(
        {k: pd.Series(cols[k], dtype=object, copy=False) if cols[k].dtype == object
         else cols[k] for k in VALUE_COLUMNS},
        columns=list(VALUE_COLUMNS), copy=False,
    )


def fetch_values(
    conn: Conn, indicator_id: str, period: PeriodRef, peers: PeerSet
) -> tuple[pd.DataFrame, PeerSet]:
    """:func:`fetch_value_columns` as a frame of :data:`VALUE_COLUMNS`."""
    cols, peers = fetch_value_columns(conn, indicator_id, period, peers)
    return value_frame(cols), peers


def check_confidence(confidence: float) -> float:
    """95 or 99.8 (also 0.95 / 0.998); anything else is an :class:`InvalidParameter`."""
    c = float(confidence)
    if c in (95.0, 0.95):
        return 95.0
    if c in (99.8, 0.998):
        return 99.8
    raise InvalidParameter(
        "confidence", f"confidence must be 95 or 99.8 (percent), got {confidence!r}"
    )


def interval_arrays(
    indicator: IndicatorMeta, confidence: float, numerator: np.ndarray,
    denominator: np.ndarray, value: np.ndarray, lower_ci: np.ndarray, upper_ci: np.ndarray,
    suppressed: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(value, lower, upper)`` in display units from the stored columns as float arrays
    (``suppressed`` bool): the rules of :func:`with_intervals`, without a frame (a profile
    computes them for one short series per indicator, where building frames cost more than
    the arithmetic)."""
    from core.stats.intervals import interval_arrays as engine_intervals

    num, den = numerator, denominator
    c_value, c_lower, c_upper = engine_intervals(  # value_intervals without its frame
        indicator.value_type, num, den, confidence=confidence / 100.0,
        multiplier=indicator.multiplier,
    )
    has_parts = _has_parts(indicator, num, den)
    pub_ok = confidence == 95.0
    lower = np.where(has_parts, c_lower, lower_ci if pub_ok else np.nan)
    upper = np.where(has_parts, c_upper, upper_ci if pub_ok else np.nan)
    return (_shown(indicator, c_value, has_parts, value, suppressed),
            np.where(suppressed, np.nan, lower), np.where(suppressed, np.nan, upper))


def _has_parts(indicator: IndicatorMeta, num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """Rows whose value comes from their counts (else from the published value)."""
    return np.isfinite(num) & (
        np.isfinite(den) & (den > 0) if indicator.value_type != "count" else True
    )


def display_values(indicator: IndicatorMeta, numerator: np.ndarray, denominator: np.ndarray,
                   value: np.ndarray, suppressed: np.ndarray) -> np.ndarray:
    """The ``value`` of :func:`interval_arrays` alone, in display units: computed from the
    counts where there are any, else the published value (a mean's published value wins),
    NaN where suppressed. No interval is computed (the alerts' SPC charts of whole series need
    only the values: an exact Poisson interval costs about 1.4 us a value)."""
    from core.stats.intervals import point_values

    computed = point_values(indicator.value_type, numerator, denominator,
                            multiplier=indicator.multiplier)
    return _shown(indicator, computed, _has_parts(indicator, numerator, denominator), value,
                  suppressed)


def _shown(indicator: IndicatorMeta, computed: np.ndarray, has_parts: np.ndarray,
           value: np.ndarray, suppressed: np.ndarray) -> np.ndarray:
    """The value shown: ``computed`` from the counts where there are any, else the published
    ``value`` (a mean's published value wins), NaN where suppressed."""
    shown = np.where(has_parts, computed, value)
    if indicator.value_type == "mean":
        shown = np.where(np.isfinite(value), value, shown)
    return np.where(suppressed, np.nan, shown)


def with_intervals(
    frame: pd.DataFrame, indicator: IndicatorMeta, confidence: float
) -> pd.DataFrame:
    """Add ``value``, ``lower``, ``upper`` in display units (x multiplier) to a values frame.

    Rows with a numerator and a positive denominator get the engine's interval for the value
    type (:func:`core.stats.value_intervals`: Wilson, Byar/exact Poisson, Student-t); rows with
    only a published value keep it, with the published interval at 95% (publications give
    95% limits) and none at 99.8%. Suppressed rows have no value and no interval
    (:func:`interval_arrays` on the frame's columns).
    """
    out = frame.copy()
    out["value"], out["lower"], out["upper"] = interval_arrays(
        indicator, confidence, out["numerator"].to_numpy(dtype=float),
        out["denominator"].to_numpy(dtype=float), out["value"].to_numpy(dtype=float),
        out["lower_ci"].to_numpy(dtype=float), out["upper_ci"].to_numpy(dtype=float),
        out["suppressed"].to_numpy(dtype=bool),
    )
    return out


def improvement_direction(polarity: str) -> str:
    """SPC improvement direction of a polarity: increase, decrease or neutral."""
    return {"higher_is_better": "increase", "lower_is_better": "decrease"}.get(
        polarity, "neutral"
    )


#: PostgreSQL: one indicator's values packed into one bytea, 37 bytes a row (int4 org id, int4
#: period id, numerator, denominator and value as float8, a bool, int4 load id; NULL -> NaN /
#: false / 0), which numpy reads in place (no Python object per value). At 384K values (60
#: months of 6,399 practices) the median of 20 indicators was 0.35-0.37 s, against 0.57-0.59 s
#: for one binary ``array_agg`` per column: a monthly load's alerts read every touched
#: indicator's series this way.
_SERIES_PACKED_SQL = (
    "SELECT string_agg(int4send(org_id) || int4send(period_id) || "
    "float8send(coalesce(numerator, 'NaN')) || float8send(coalesce(denominator, 'NaN')) || "
    "float8send(coalesce(value, 'NaN')) || boolsend(coalesce(suppressed, false)) || "
    "int4send(coalesce(load_id, 0)), '') "
    "FROM indicator_values WHERE ikey = (SELECT ikey FROM indicators WHERE id = %s)"
)
_SERIES_ROW = np.dtype([("org_id", ">i4"), ("period_id", ">i4"), ("values", ">f8", 3),
                        ("suppressed", "u1"), ("load_id", ">i4")])


_SERIES_SQL = ("SELECT org_id, period_id, numerator, denominator, value, suppressed, "
               "coalesce(load_id, 0) FROM indicator_values "
               "WHERE ikey = (SELECT ikey FROM indicators WHERE id = ?)")


def fetch_indicator_series(conn: Conn, indicator_id: str) -> dict[str, np.ndarray]:
    """Every stored value of one indicator (every organisation, period and period type) as
    numpy columns, read once (the alerts of a load: core.services.alerts): ``org_id``,
    ``period_id``, ``load_id`` (0 when none) int64, ``numerator``, ``denominator``, ``value``
    float (NaN for NULL), ``suppressed`` bool.

    PostgreSQL: one packed binary value that numpy reads in place (see
    :data:`_SERIES_PACKED_SQL`). SQLite: the rows as the driver's tuples, converted in one
    ``np.array``.
    """
    c = core_conn(conn)
    if c.dialect.name == "postgresql" and c.dialect.driver == "psycopg":
        rec = np.frombuffer(driver_rows(c, _SERIES_PACKED_SQL, [indicator_id])[0][0] or b"",
                            dtype=_SERIES_ROW)  # NULL when the indicator has no values
        num, den, val = (rec["values"][:, j].astype(float) for j in range(3))
        return {
            "org_id": rec["org_id"].astype(np.int64),
            "period_id": rec["period_id"].astype(np.int64),
            "numerator": num, "denominator": den, "value": val,
            "suppressed": rec["suppressed"] > 0, "load_id": rec["load_id"].astype(np.int64),
        }
    rows = driver_rows(c, _SERIES_SQL, (indicator_id,))
    m = np.array(rows, dtype=float).reshape(len(rows), 7)
    return {
        "org_id": m[:, 0].astype(np.int64), "period_id": m[:, 1].astype(np.int64),
        "numerator": m[:, 2], "denominator": m[:, 3], "value": m[:, 4],
        "suppressed": m[:, 5] > 0, "load_id": m[:, 6].astype(np.int64),
    }
