"""Reverting a values load: its values go back to what they were before it, in one
transaction (:func:`revert_load`, the CLI's ``qidash loads revert``, the API's
``POST /loads/{id}/revert`` and the upload page).

:func:`revert_load` checks the load's record (a values load that loaded and was not reverted),
puts the values back (:func:`revert_values`), withdraws the alerts the load raised and marks
its row ``reverted``. The history it reads is what :class:`etl.load_values.ValueStage` wrote:
an ``update`` row in ``value_history`` with each key's previous values for every value the load
changed, and nothing for a value it inserted (those still carry the load's id). A load whose
values a later load has since changed is refused with :class:`RevertError` until that later
load is reverted.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection, Engine, select, text, update

from core import audit
from core.models import Indicator, Load
from core.services import alerts as alert_service
from core.services import counts as count_service
from etl.load_runs import LoadSummary, get_load, lock_for_load
from etl.load_values import VALUE_FIELDS


class RevertError(ValueError):
    """A load that cannot be reverted (yet); the message says why and what to do."""


def revert_values(conn: Connection, load_id: int) -> int:
    """Put every value the load wrote back as it was; returns the number of values touched.

    The values a load inserted are the ones still carrying its id once its updates are put back
    (inserts record no history). A later load that changed one of them recorded an ``update``
    history row with ``prev_load_id`` = this load: while that load stands, this one cannot be
    reverted (its values are no longer the ones it wrote). The counts of values and
    organisations per indicator are brought up to date (``core.services.counts``): minus
    the inserts the load recorded per indicator, or, for a load that recorded none (made by
    an older version), minus its remaining rows counted per indicator before they go.
    """
    later = conn.execute(text(
        "SELECT DISTINCT v.load_id FROM value_history h JOIN indicator_values v "
        "ON v.ikey = h.ikey AND v.period_id = h.period_id AND v.org_id = h.org_id "
        "WHERE h.load_id = :id AND (v.load_id IS NULL OR v.load_id <> :id) "
        "UNION SELECT DISTINCT h.load_id FROM value_history h JOIN loads l ON l.id = h.load_id "
        "WHERE h.prev_load_id = :id AND l.status <> 'reverted'"
    ), {"id": load_id}).scalars().all()
    if later:
        ids = ", ".join(str(i) for i in sorted({x for x in later if x is not None}))
        raise RevertError(
            f"load {load_id}'s values were since changed by load(s) {ids or '(unknown)'}; "
            f"revert those first (qidash loads revert {ids.split(', ')[-1] if ids else 'ID'}), "
            "then this one"
        )
    restored = conn.execute(text(
        "UPDATE indicator_values SET "
        + ", ".join(f"{c} = h.prev_{c}" for c in VALUE_FIELDS)
        + ", load_id = h.prev_load_id FROM value_history h "
        "WHERE h.load_id = :id AND h.action = 'update' "
        "AND indicator_values.ikey = h.ikey "
        "AND indicator_values.period_id = h.period_id AND indicator_values.org_id = h.org_id"
    ), {"id": load_id}).rowcount
    inserted = _inserted_by_key(conn, load_id)
    deleted = conn.execute(
        text("DELETE FROM indicator_values WHERE load_id = :id"), {"id": load_id}
    ).rowcount
    if deleted == sum(inserted.values()):
        count_service.apply_value_changes(conn, {k: -n for k, n in inserted.items()})
    else:  # not what the load recorded (never seen): count everything again
        count_service.rebuild_counts(conn)
    return int(restored or 0) + int(deleted or 0)


def _inserted_by_key(conn: Connection, load_id: int) -> dict[int, int]:
    """Indicator key -> values the load inserted that are still there (so still carrying its
    id, its updates put back): what it recorded per indicator (``options["changes"]``,
    ``etl.pipeline._record_changes``), else counted."""
    recorded = (conn.execute(select(Load.options).where(Load.id == load_id)).scalar_one()
                or {}).get("changes")
    if isinstance(recorded, dict):
        keys = dict(conn.execute(select(Indicator.id, Indicator.ikey)
                                 .where(Indicator.id.in_(list(recorded)))).all())
        return {keys[slug]: int(n[0]) for slug, n in recorded.items()
                if slug in keys and int(n[0])}
    return {int(k): int(n) for k, n in conn.execute(text(
        "SELECT ikey, COUNT(*) FROM indicator_values WHERE load_id = :id GROUP BY ikey"),
        {"id": load_id}).all()}


@audit.writes("load.revert")
def revert_load(engine: Engine, load_id: int, *, user: str | None = None) -> LoadSummary:
    """Put the values a load wrote back as they were before it, in one transaction.

    Raises :class:`RevertError` when the load cannot be reverted: no such load, not a values
    load, nothing to revert, already reverted, or its values were since overwritten by a later
    load (revert that one first).
    """
    t = Load.__table__
    with engine.begin() as conn:
        lock_for_load(conn)
        row = conn.execute(select(t).where(t.c.id == load_id)).first()
        if row is None:
            raise RevertError(f"there is no load {load_id}; see qidash loads list")
        if row.status == "reverted":
            raise RevertError(f"load {load_id} was already reverted at {row.reverted_at}")
        if row.kind != "values":
            raise RevertError(
                f"load {load_id} loaded {row.kind}: only values loads can be reverted; load the "
                f"previous {row.kind} file again to change definitions back")
        if row.status != "loaded":
            raise RevertError(f"load {load_id} is {row.status}: it wrote nothing to revert")
        touched = revert_values(conn, load_id)
        alert_service.withdraw_load_alerts(conn, load_id)
        conn.execute(update(t).where(t.c.id == load_id).values(
            status="reverted", reverted_at=dt.datetime.now(dt.UTC), reverted_by=user,
            message=f"reverted ({touched} values put back)"
            + (f" by {user}" if user else "")))
        audit.record(conn, "load.revert", str(load_id),
                     {"file": row.file_name, "values_put_back": touched})
    summary = get_load(engine, load_id)
    assert summary is not None
    return summary
