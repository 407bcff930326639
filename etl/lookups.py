"""The ids the pipeline looks up before it validates and writes: organisations by code (and
their parents), the indicators' definitions (:func:`indicator_info`) and periods by label
(created when missing). Nothing here commits: the pipeline owns the transaction.
"""

from __future__ import annotations

import logging

import pandas as pd
from sqlalchemy import Connection, select, text

from core.models import Indicator, IndicatorValue, Organisation, Period
from etl.transform import IndicatorInfo

log = logging.getLogger("qidash.etl")


def organisation_ids(conn: Connection) -> dict[str, int]:
    """Every organisation code -> id."""
    rows = conn.execute(select(Organisation.code, Organisation.id)).all()
    return dict(rows)


def organisation_parents(conn: Connection) -> dict[str, str | None]:
    """Every organisation code -> its parent's code (None at the top)."""
    rows = conn.execute(select(Organisation.id, Organisation.code, Organisation.parent_id)).all()
    by_id = {i: c for i, c, _ in rows}
    return {c: by_id.get(p) if p is not None else None for _, c, p in rows}


def indicator_info(conn: Connection) -> IndicatorInfo:
    """Value type, multiplier and frequency of every indicator.

    An indicator that declares no frequency but whose values in the database are all of one
    period type takes that type (``IndicatorInfo.inferred``): a file cannot add quarters or
    years to a monthly series by leaving the frequency out.
    """
    # a Row is a tuple (SQLAlchemy 2.1 types it as one): no copy, no deprecated Row.tuple()
    rows = conn.execute(
        select(Indicator.id, Indicator.value_type, Indicator.multiplier, Indicator.frequency)
    ).all()
    undeclared = [r[0] for r in rows if r[3] is None]
    types: dict[str, set[str]] = {}
    for i in range(0, len(undeclared), 500):
        for ind, ptype in conn.execute(
                select(Indicator.id, Period.period_type)
                .join(IndicatorValue, IndicatorValue.ikey == Indicator.ikey)
                .join(Period, Period.id == IndicatorValue.period_id)
                .where(Indicator.id.in_(undeclared[i:i + 500]))
                .group_by(Indicator.id, Period.period_type)):
            types.setdefault(ind, set()).add(ptype)
    inferred = {ind: t.pop() for ind, t in types.items() if len(t) == 1}
    return IndicatorInfo.from_rows(
        [(r[0], r[1], r[2], r[3] if r[3] is not None else inferred.get(r[0]))
         for r in rows], inferred=set(inferred))


def period_ids(conn: Connection, periods: pd.DataFrame) -> dict[tuple[str, str], int]:
    """Ids of the parsed periods (``period_type``, ``period_label``), creating missing ones."""
    if periods.empty:
        return {}
    wanted = {(t, lab): (s, e) for lab, t, s, e in periods[
        ["period_label", "period_type", "start", "end"]].itertuples(index=False, name=None)}
    labels = sorted({lab for _, lab in wanted})
    found: dict[tuple[str, str], int] = {}
    for i in range(0, len(labels), 500):
        rows = conn.execute(
            select(Period.period_type, Period.label, Period.id).where(
                Period.label.in_(labels[i:i + 500]))
        ).all()
        found.update({(t, lab): pid for t, lab, pid in rows})
    missing = [k for k in wanted if k not in found]
    if missing:
        conn.execute(
            text("INSERT INTO periods (label, period_type, start_date, end_date) "
                 "VALUES (:label, :ptype, :start, :end) "
                 "ON CONFLICT (period_type, label) DO NOTHING"),
            [{"label": lab, "ptype": t, "start": wanted[(t, lab)][0], "end": wanted[(t, lab)][1]}
             for t, lab in missing],
        )
        rows = conn.execute(
            select(Period.period_type, Period.label, Period.id).where(
                Period.label.in_([lab for _, lab in missing]))
        ).all()
        found.update({(t, lab): pid for t, lab, pid in rows})
    return found
