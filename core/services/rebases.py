"""Accepted rebases: new SPC limits for an organisation's series of an indicator from a period.

The trend page suggests rebasing where a sustained shift began after an improvement action
(:func:`core.services.actions.action_effect`); it never rebases by itself (Making Data Count: a
person must understand the change first). A rebase that someone accepts is recorded here with
who accepted it and when, and :func:`core.services.spc.spc` applies every accepted rebase of the
series whenever its caller gives no rebase of its own, so the trend page, the profile and
network icons, triage and the slide packs all judge the series on the new limits. Withdrawing a
rebase records who withdrew it and when; the record stays (nothing is deleted).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from sqlalchemy import insert, select, update

from core import audit
from core.errors import Conflict, InvalidParameter, NotFound
from core.models import Action, Organisation, Rebase, utcnow
from core.periods import PeriodError, parse_period
from core.services.data_periods import check_period_type
from core.services.indicators import get_indicator
from core.services.organisations import get_org
from core.services.query import Conn

MAX_REASON = 500
REBASE_COLUMNS = ("id", "org", "indicator", "period_type", "period", "reason", "action_id",
                  "accepted_by", "accepted_at", "withdrawn_by", "withdrawn_at", "active")


def _select() -> Any:
    return (select(Rebase.id, Organisation.code, Rebase.indicator_id, Rebase.period_type,
                   Rebase.period, Rebase.reason, Rebase.action_id, Rebase.accepted_by,
                   Rebase.accepted_at, Rebase.withdrawn_by, Rebase.withdrawn_at)
            .join(Organisation, Organisation.id == Rebase.org_id))


def _row(r: Any) -> dict[str, Any]:
    out = dict(zip(REBASE_COLUMNS[:-1], r, strict=True))
    out["active"] = out["withdrawn_at"] is None
    return out


def get_rebase(conn: Conn, rebase_id: int) -> dict[str, Any]:
    r = conn.execute(_select().where(Rebase.id == rebase_id)).first()
    if r is None:
        raise NotFound(f"no rebase with id {rebase_id}; list them with /rebases",
                       entity="rebase", key=rebase_id)
    return _row(r)


def _actor_name() -> str | None:
    actor = audit.current_actor()
    return actor.name or actor.source


@audit.writes("rebase.accept")
def accept_rebase(conn: Conn, *, org: str, indicator: str, period: str,
                  period_type: str | None = None, reason: str | None = None,
                  action_id: int | None = None,
                  accepted_by: str | None = None) -> dict[str, Any]:
    """Record that a person accepted new limits from ``period`` on the organisation's series
    (of ``period_type``, default its finest). The period must be in the series and not its
    first point; an active rebase at the same period is a conflict. Flushes only."""
    from core.services.spc import org_period_types, series_frame

    check_period_type(period_type)
    o = get_org(conn, org, parameter="org")
    i = get_indicator(conn, indicator)
    types = org_period_types(conn, o.id, i.id)
    if not types:
        raise NotFound(f"{o.code} has no values of {i.id!r} to rebase", entity="series",
                       key=f"{o.code}/{i.id}", valid=[])
    ptype = period_type or types[0]
    if ptype not in types:
        raise InvalidParameter("period_type", f"{o.code} has no {ptype} values of {i.id!r}; "
                               f"period types with data: {', '.join(types)}",
                               details={"valid": types})
    try:
        label = parse_period(period, ptype).label
    except (PeriodError, ValueError):
        label = period
    labels = series_frame(conn, o, i, ptype)["period"].tolist()
    if label not in labels:
        raise InvalidParameter("period", f"{period!r} is not in the series ({labels[0]} to "
                               f"{labels[-1]}, {ptype})")
    if label == labels[0]:
        raise InvalidParameter("period", f"{label} is the series' first period: new limits "
                               "can only start after it")
    if reason is not None and len(reason.strip()) > MAX_REASON:
        raise InvalidParameter("reason", f"a reason is at most {MAX_REASON} characters")
    if action_id is not None:
        act = conn.execute(select(Action.org_id, Action.indicator_id, Action.title)
                           .where(Action.id == action_id)).first()
        if act is None:
            raise NotFound(f"no action with id {action_id}", entity="action", key=action_id)
        if (act[0], act[1]) != (o.id, i.id):
            raise InvalidParameter("action_id", f"action {action_id} is not on {o.code}'s "
                                   f"{i.id} chart")
        reason = reason or f"after the action: {act[2]}"
    clash = conn.execute(select(Rebase.id).where(
        Rebase.org_id == o.id, Rebase.indicator_id == i.id, Rebase.period_type == ptype,
        Rebase.period == label, Rebase.withdrawn_at.is_(None))).first()
    if clash is not None:
        raise Conflict(f"{o.code}'s {i.id} chart already has an accepted rebase at {label} "
                       f"(id {clash[0]})", details={"id": clash[0]})
    new_id = conn.execute(insert(Rebase).values(
        org_id=o.id, indicator_id=i.id, period_type=ptype, period=label,
        reason=(reason or "").strip() or None, action_id=action_id,
        accepted_by=accepted_by or _actor_name(), accepted_at=utcnow()).returning(Rebase.id)
    ).scalar_one()
    audit.record(conn, "rebase.accept", str(new_id),
                 {"org": o.code, "indicator": i.id, "period_type": ptype, "period": label,
                  "action_id": action_id})
    return get_rebase(conn, new_id)


@audit.writes("rebase.withdraw")
def withdraw_rebase(conn: Conn, rebase_id: int,
                    withdrawn_by: str | None = None) -> dict[str, Any]:
    """Withdraw an accepted rebase: it stops being applied; the record stays, with who
    withdrew it and when."""
    old = get_rebase(conn, rebase_id)
    if not old["active"]:
        raise Conflict(f"rebase {rebase_id} was already withdrawn by "
                       f"{old['withdrawn_by'] or 'someone'} on {old['withdrawn_at']:%d %B %Y}")
    conn.execute(update(Rebase).where(Rebase.id == rebase_id).values(
        withdrawn_by=withdrawn_by or _actor_name(), withdrawn_at=utcnow()))
    audit.record(conn, "rebase.withdraw", str(rebase_id),
                 {"org": old["org"], "indicator": old["indicator"], "period": old["period"]})
    return get_rebase(conn, rebase_id)


def list_rebases(conn: Conn, *, org: str | None = None, indicator: str | None = None,
                 include_withdrawn: bool = True) -> list[dict[str, Any]]:
    """Rebases by organisation, indicator and period, withdrawn ones included unless asked."""
    stmt = _select().order_by(Organisation.code, Rebase.indicator_id, Rebase.period_type,
                              Rebase.period, Rebase.id)
    if org:
        stmt = stmt.where(Rebase.org_id == get_org(conn, org, parameter="org").id)
    if indicator:
        stmt = stmt.where(Rebase.indicator_id == get_indicator(conn, indicator).id)
    if not include_withdrawn:
        stmt = stmt.where(Rebase.withdrawn_at.is_(None))
    return [_row(r) for r in conn.execute(stmt).all()]


def active_rebases(conn: Conn, org_id: int, indicator_id: str,
                   period_type: str) -> list[dict[str, Any]]:
    """The accepted (not withdrawn) rebases of one series, by period."""
    rows = conn.execute(_select().where(
        Rebase.org_id == org_id, Rebase.indicator_id == indicator_id,
        Rebase.period_type == period_type, Rebase.withdrawn_at.is_(None))
        .order_by(Rebase.accepted_at, Rebase.id)).all()
    return [_row(r) for r in rows]


def active_rebase_periods(conn: Conn, org_ids: list[int] | None, indicator_id: str,
                          period_type: str) -> dict[int, list[str]]:
    """Accepted rebase periods of many series of one indicator and period type, by org id
    (for the icons computed many series at a time): :func:`network_rebase_periods` of one
    indicator (``org_ids`` None: every organisation)."""
    return network_rebase_periods(conn, org_ids, [indicator_id]).get(
        (indicator_id, period_type), {})


def org_rebase_periods(conn: Conn, org_id: int) -> dict[tuple[str, str], list[str]]:
    """Accepted rebase periods of every series of one organisation, by (indicator id,
    period type): :func:`active_rebase_periods` for all its indicators in one query (a
    profile needs them for every indicator it shows)."""
    stmt = select(Rebase.indicator_id, Rebase.period_type, Rebase.period).where(
        Rebase.org_id == org_id, Rebase.withdrawn_at.is_(None))
    out: dict[tuple[str, str], list[str]] = {}
    for indicator_id, period_type, period in conn.execute(stmt).all():
        out.setdefault((str(indicator_id), str(period_type)), []).append(str(period))
    return out


def network_rebase_periods(
    conn: Conn, org_ids: Iterable[int] | None, indicator_ids: Iterable[str],
) -> dict[tuple[str, str], dict[int, list[str]]]:
    """Accepted rebase periods of many organisations' series (``org_ids`` None: every
    organisation) of several indicators, by (indicator id, period type) and then org id, in
    one query (every indicator of a network's triage). The query names only the indicators (a
    few dozen at most) and the organisations are kept in Python: a national network of 6,800
    practices would make an IN list of 6,800 ids (a first load's alert step spent 0.6 s
    building and sending them), while accepted rebases are few (a person accepts each one)."""
    wanted = None if org_ids is None else {int(o) for o in org_ids}
    ids = sorted(set(indicator_ids))
    out: dict[tuple[str, str], dict[int, list[str]]] = {}
    if wanted == set() or not ids:
        return out
    stmt = select(Rebase.org_id, Rebase.indicator_id, Rebase.period_type, Rebase.period).where(
        Rebase.indicator_id.in_(ids), Rebase.withdrawn_at.is_(None))
    for oid, indicator_id, period_type, period in conn.execute(stmt).all():
        if wanted is None or int(oid) in wanted:
            out.setdefault((str(indicator_id), str(period_type)), {}).setdefault(
                int(oid), []).append(str(period))
    return out


def day(when: Any) -> str:
    """"3 December 2026" (the words pages and slides use for when a rebase was accepted)."""
    if isinstance(when, dt.datetime | dt.date):
        return f"{when.day} {when:%B %Y}"
    return str(when)


def mark_text(rebase: dict[str, Any]) -> str:
    """The short label of an accepted rebase on a chart: "Rebase: Dr A Smith, 3 Dec 2026"."""
    when = rebase["accepted_at"]
    short = f"{when.day} {when:%b %Y}" if isinstance(when, dt.datetime | dt.date) else str(when)
    return f"Rebase: {rebase['accepted_by'] or 'unknown'}, {short}"


def applied_words(rebases: list[dict[str, Any]]) -> list[str]:
    """One sentence per applied rebase: "New limits from 2021-01, accepted by X on 3 December
    2026 (after the action: ...)" (page, API and slide use these)."""
    out = []
    for r in rebases:
        text = (f"New limits from {r['period']}, accepted by {r['accepted_by'] or 'unknown'} "
                f"on {day(r['accepted_at'])}")
        if r.get("reason"):
            text += f" ({r['reason']})"
        out.append(text + ".")
    return out
