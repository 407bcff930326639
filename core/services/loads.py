"""Load history (read side) and data freshness.

Writing loads (upload, revert) belongs to the ETL pipeline (:mod:`etl.pipeline`); these are
the reads every edge shows: the history, one load with its rejected rows, and "how fresh is
the data, and what did the last load change".
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import func, literal, select

from core.errors import InvalidParameter, NotFound
from core.models import (
    LOAD_KINDS,
    LOAD_STATUSES,
    Indicator,
    IndicatorValue,
    Load,
    LoadError,
    Period,
    indicator_slugs,
)
from core.models import ValueHistory as VH
from core.services.counts import value_counts
from core.services.query import Conn
from core.services.version import (
    PEER_TTL,
    engine_cache,
    load_version,
)

LOAD_COLUMNS = (
    "id", "file_name", "sha256", "kind", "format", "user", "started_at", "finished_at",
    "status", "rows_read", "rows_inserted", "rows_updated", "rows_unchanged", "rows_rejected",
    "message", "reverted_at",
)
ERROR_COLUMNS = ("line", "sheet", "column", "value", "message")


def _load_cols() -> list[Any]:
    return [getattr(Load, c) for c in LOAD_COLUMNS]


def list_loads(
    conn: Conn,
    *,
    kind: str | None = None,
    status: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> pd.DataFrame:
    """Loads, newest first (:data:`LOAD_COLUMNS`)."""
    if kind is not None and kind not in LOAD_KINDS:
        raise InvalidParameter("kind", f"kind must be one of {', '.join(LOAD_KINDS)}")
    if status is not None and status not in LOAD_STATUSES:
        raise InvalidParameter("status", f"status must be one of {', '.join(LOAD_STATUSES)}")
    if not 1 <= limit <= 1000:
        raise InvalidParameter("limit", "limit must be between 1 and 1000")
    stmt = select(*_load_cols()).order_by(Load.id.desc()).limit(limit).offset(max(offset, 0))
    if kind:
        stmt = stmt.where(Load.kind == kind)
    if status:
        stmt = stmt.where(Load.status == status)
    return pd.DataFrame.from_records(conn.execute(stmt).all(), columns=list(LOAD_COLUMNS))


@dataclass(frozen=True)
class LoadDetail:
    """One load and its rejected rows (:data:`ERROR_COLUMNS`, at most ``error_limit``)."""

    load: dict[str, Any]
    errors: pd.DataFrame
    errors_total: int


def load_detail(conn: Conn, load_id: int, *, error_limit: int = 10_000) -> LoadDetail:
    """The load ``load_id`` with its rejected rows in file order."""
    row = conn.execute(select(*_load_cols()).where(Load.id == load_id)).first()
    if row is None:
        last = conn.execute(select(func.max(Load.id))).scalar()
        hint = f"load ids run from 1 to {last}" if last else "no loads yet"
        raise NotFound(f"there is no load {load_id}; {hint} (list them with /loads)",
                       entity="load", key=load_id)
    total = conn.execute(
        select(func.count()).select_from(LoadError).where(LoadError.load_id == load_id)
    ).scalar_one()
    errs = conn.execute(
        select(LoadError.line, LoadError.sheet, LoadError.column, LoadError.value,
               LoadError.message)
        .where(LoadError.load_id == load_id).order_by(LoadError.id).limit(error_limit)
    ).all()
    return LoadDetail(
        dict(zip(LOAD_COLUMNS, row, strict=True)),
        pd.DataFrame.from_records(errs, columns=list(ERROR_COLUMNS)),
        int(total),
    )


@dataclass(frozen=True)
class Freshness:
    """How fresh the data is: the last successful load, the periods covered per period type,
    and what the last values load changed."""

    last_load: dict[str, Any] | None
    periods: list[dict[str, Any]]
    indicators: int
    values: int
    last_values_load: dict[str, Any] | None
    changes: list[dict[str, Any]]


def freshness(conn: Conn) -> Freshness:
    """Freshness for the start page and the ``/freshness`` endpoint.

    Its counts are the ones the loads keep (``core.services.counts``); its periods, one probe
    of the key per (period, indicator) until one has a value. The answer is kept per load
    version (:func:`core.services.version.load_version`): it
    changes only when a load finishes or is reverted, which moves that version in every
    worker (an annotation, an action or a peer group does not), and is kept an hour at most.
    What the last values load changed is kept with the load (``options["changes"]``), not
    read back from the values. Each caller gets its own copy."""
    version = load_version(conn)
    cache = engine_cache(conn, "freshness", maxsize=1, ttl=PEER_TTL)
    hit = cache.get("all", version)
    if hit is None:
        hit = _freshness(conn)
        cache.put("all", version, hit)
    return copy.deepcopy(hit)


def pair_probe() -> Any:
    """Does the (``Indicator``, ``Period``) pair of the enclosing query have a value: one
    probe of the primary key (indicator, period, ...), as a scalar subquery with LIMIT 1 (1
    or NULL), which no planner flattens. As an EXISTS, PostgreSQL flattened it into a scan of
    the values (a sort of all 13.5M for the indicator list's pairs, 6.2 s; a scan filtered
    by period for each period, 3 s to past a timeout); as probes, milliseconds."""
    return (select(literal(1)).select_from(IndicatorValue)
            .where(IndicatorValue.ikey == Indicator.ikey, IndicatorValue.period_id == Period.id)
            .limit(1).scalar_subquery())


def covered_periods_query() -> Any:
    """Per period type: the first start, the last end and the number of periods with data. A
    period has data when some indicator has a value in it: :func:`pair_probe` per indicator
    until one is found (the key does not start with the period)."""
    return (select(Period.period_type, func.min(Period.start_date), func.max(Period.end_date),
                   func.count())
            .where(select(Indicator.ikey).where(pair_probe().is_not(None)).exists())
            .group_by(Period.period_type))


def _freshness(conn: Conn) -> Freshness:
    cols = _load_cols()
    last = conn.execute(
        select(*cols).where(Load.status == "loaded").order_by(Load.finished_at.desc(),
                                                              Load.id.desc()).limit(1)
    ).first()
    last_values = conn.execute(
        select(*cols).where(Load.status == "loaded", Load.kind == "values")
        .order_by(Load.finished_at.desc(), Load.id.desc()).limit(1)
    ).first()
    covered = conn.execute(covered_periods_query()).all()
    labels = {
        (t, s): lab for t, s, lab in conn.execute(
            select(Period.period_type, Period.start_date, Period.label)
        ).all()
    }
    ends = {
        (t, e): lab for t, e, lab in conn.execute(
            select(Period.period_type, Period.end_date, Period.label)
        ).all()
    }
    periods = [
        {"period_type": t, "first": labels.get((t, s)), "last": ends.get((t, e)),
         "count": int(n)}
        for t, s, e, n in covered
    ]
    # kept by the loads and reverts (core.services.counts): the values are never counted here
    kept = value_counts(conn)
    n_values = sum(n for n, _ in kept.values())
    n_ind = len(kept)
    changes: list[dict[str, Any]] = []
    recorded = None if last_values is None else (conn.execute(
        select(Load.options).where(Load.id == last_values[0])).scalar_one() or {}).get("changes")
    if isinstance(recorded, dict):
        # what the load wrote per indicator, kept with it (etl.pipeline._record_changes)
        changes = [{"indicator_id": ind, "inserted": int(n[0]), "updated": int(n[1])}
                   for ind, n in sorted(recorded.items())]
    elif last_values is not None:
        # a load recorded before the counts were kept with it: read them back. The ETL
        # records history for updated values only; the last values load's values all still
        # carry its id (no later load has written since), so inserted = written - updated
        slugs = indicator_slugs(conn)
        written = [(slugs[k], n) for k, n in conn.execute(
            select(IndicatorValue.ikey, func.count())
            .where(IndicatorValue.load_id == last_values[0])
            .group_by(IndicatorValue.ikey)
        ).all()]
        updated = {slugs[k]: n for k, n in conn.execute(
            select(VH.ikey, func.count())
            .where(VH.load_id == last_values[0], VH.action == "update")
            .group_by(VH.ikey)
        ).all()}
        changes = sorted(
            ({"indicator_id": ind, "inserted": int(n) - int(updated.get(ind, 0)),
              "updated": int(updated.get(ind, 0))} for ind, n in written),
            key=lambda d: d["indicator_id"])
    return Freshness(
        last_load=dict(zip(LOAD_COLUMNS, last, strict=True)) if last else None,
        periods=sorted(periods, key=lambda p: p["period_type"]),
        indicators=int(n_ind),
        values=int(n_values),
        last_values_load=dict(zip(LOAD_COLUMNS, last_values, strict=True))
        if last_values else None,
        changes=changes,
    )
