"""Each indicator's number of values and of organisations with a value (``value_counts``).

Values change only through values loads and their reverts, so those keep the counts, in the
same transaction as the values (:func:`apply_value_changes`): a load adds the rows it
inserted per indicator, a revert takes off the rows it deleted, and each counts again the
organisations of the indicators it changed (the cheaper of reading the indicator's key range
and probing the organisation index once per organisation,
``core.services.indicators._recount_orgs``: about 20 ms an indicator for 6,500 practices
whatever its history). Readers (the start page, ``/freshness``, the indicator list) read
the table, a row per indicator, instead of counting the values: a full count of a national
10-year history (about 770M values) is half a minute for the values and about 20 s of index
probes for the organisations, and it was made by every worker after it started.

Migration ``0006`` fills the table from the values; :func:`rebuild_counts` counts it all
again (``qidash loads recount``) should values ever be written by other means.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select

from core.models import Indicator, IndicatorValue, ValueCount
from core.services.query import Conn, core_conn


def apply_value_changes(conn: Conn, changed: dict[int, int], *,
                        orgs: dict[int, int] | None = None) -> None:
    """Bring the counts of these indicators (key -> values added, negative for values
    deleted) up to date, after the values were written, in the same transaction. Every
    indicator named has its organisations counted again, unless the caller knows them
    (``orgs``: a first load of an indicator counts the rows it kept in memory); one left
    without values loses its row."""
    c = core_conn(conn)
    keys = sorted(k for k, n in changed.items() if n)  # (an update changes no count)
    if not keys:
        return
    held = dict(c.execute(select(ValueCount.ikey, ValueCount.n_values)
                          .where(ValueCount.ikey.in_(keys))).all())
    values = {k: int(held.get(k, 0)) + int(changed[k]) for k in keys}
    if any(n < 0 for n in values.values()):
        # a count kept wrongly (values written by other means): count these again in full
        values.update(_count_values(c, [k for k, n in values.items() if n < 0]))
        orgs = None
    _store(c, values, orgs)


def _count_values(c: Any, keys: list[int]) -> dict[int, int]:
    """The values of these indicators, by key, counted from their key ranges."""
    counted = dict(c.execute(select(IndicatorValue.ikey, func.count())
                             .where(IndicatorValue.ikey.in_(keys))
                             .group_by(IndicatorValue.ikey)).all())
    return {k: int(counted.get(k, 0)) for k in keys}


def _store(c: Any, values: dict[int, int], known: dict[int, int] | None = None) -> None:
    from core.services.indicators import _recount_orgs

    slugs = dict(c.execute(select(Indicator.ikey, Indicator.id)
                           .where(Indicator.ikey.in_(list(values)))).all())
    some = {k: n for k, n in values.items() if n > 0 and k in slugs}
    known = {k: n for k, n in (known or {}).items() if k in some}
    count = {k: n for k, n in some.items() if k not in known}
    orgs = _recount_orgs(c, [slugs[k] for k in count], values=count) if count else {}
    orgs.update(known)
    c.execute(delete(ValueCount).where(ValueCount.ikey.in_(list(values))))
    rows = [{"ikey": k, "n_values": n, "n_orgs": int(orgs.get(k, 0))}
            for k, n in sorted(some.items())]
    if rows:
        c.execute(ValueCount.__table__.insert(), rows)


def rebuild_counts(conn: Conn) -> tuple[int, int]:
    """Count every indicator's values and organisations again from the values table (a read
    of the whole table); returns (values, indicators with values)."""
    c = core_conn(conn)
    keys = list(c.execute(select(Indicator.ikey)).scalars())
    values = _count_values(c, keys) if keys else {}
    c.execute(delete(ValueCount))
    _store(c, values)
    return sum(values.values()), sum(1 for n in values.values() if n)


def value_counts(conn: Conn) -> dict[int, tuple[int, int]]:
    """Indicator key -> (values, organisations with a value), for indicators with values."""
    return {int(k): (int(n), int(o)) for k, n, o in core_conn(conn).execute(
        select(ValueCount.ikey, ValueCount.n_values, ValueCount.n_orgs)).all()}
