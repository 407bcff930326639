"""Improvement actions and their effect on the SPC chart.

An action is something a team did on a date for an organisation and indicator ("new triage
nurse"), with an owner, a review date and a status. It is marked on the organisation's SPC chart
(distinct from annotations). Its *effect* is read off the chart as it stands: whether a special
cause in the improvement direction began after the action's date, and when; where that special
cause is a sustained shift (the ``shift`` rule: 7 points on the better side of the mean) the
chart **suggests** rebasing the limits at its first point. It never rebases by itself (Making
Data Count: a person must understand the change first).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
from sqlalchemy import delete, insert, select, update

from core import audit
from core.errors import InvalidParameter, NotFound
from core.models import ACTION_STATUSES, Action, Organisation, utcnow
from core.services.indicators import get_indicator
from core.services.organisations import get_org
from core.services.query import Conn
from core.stats.spc import RuleLengths

MAX_TITLE = 300
#: a run of improvement points this long is a sustained change (the shift rule's length)
SUSTAINED = RuleLengths().shift
FIELDS = ("org", "indicator", "date", "title", "owner", "review_date", "status")


def _select() -> Any:
    return (select(Action.id, Organisation.code, Action.indicator_id, Action.date, Action.title,
                   Action.owner, Action.review_date, Action.status, Action.created_by,
                   Action.created_at, Action.updated_at)
            .join(Organisation, Organisation.id == Action.org_id))


def _row(r: Any) -> dict[str, Any]:
    return {"id": r[0], "org": r[1], "indicator": r[2], "date": r[3], "title": r[4],
            "owner": r[5], "review_date": r[6], "status": r[7], "created_by": r[8],
            "created_at": r[9], "updated_at": r[10]}


def get_action(conn: Conn, action_id: int) -> dict[str, Any]:
    r = conn.execute(_select().where(Action.id == action_id)).first()
    if r is None:
        raise NotFound(f"no action with id {action_id}; list them with /actions",
                       entity="action", key=action_id)
    return _row(r)


def _check(title: str | None, status: str | None, date: dt.date | None,
           review_date: dt.date | None) -> None:
    if title is not None and not title.strip():
        raise InvalidParameter("title", "an action needs a title")
    if title is not None and len(title.strip()) > MAX_TITLE:
        raise InvalidParameter("title", f"a title is at most {MAX_TITLE} characters")
    if status is not None and status not in ACTION_STATUSES:
        raise InvalidParameter("status", f"status must be one of {', '.join(ACTION_STATUSES)}, "
                               f"got {status!r}")
    if date is not None and review_date is not None and review_date < date:
        raise InvalidParameter("review_date", "the review date is before the action's date")


@audit.writes("action.create")
def create_action(conn: Conn, *, org: str, indicator: str, date: dt.date, title: str,
                  owner: str | None = None, review_date: dt.date | None = None,
                  status: str = "planned", created_by: str | None = None) -> dict[str, Any]:
    """Record an action. Flushes only."""
    _check(title, status, date, review_date)
    o = get_org(conn, org, parameter="org")
    i = get_indicator(conn, indicator)
    now = utcnow()
    new_id = conn.execute(insert(Action).values(
        org_id=o.id, indicator_id=i.id, date=date, title=title.strip(),
        owner=(owner or "").strip() or None, review_date=review_date, status=status,
        created_by=created_by, created_at=now, updated_at=now).returning(Action.id)
    ).scalar_one()
    audit.record(conn, "action.create", str(new_id),
                 {"org": o.code, "indicator": i.id, "date": date.isoformat(),
                  "title": title.strip(), "status": status})
    return get_action(conn, new_id)


@audit.writes("action.update")
def update_action(conn: Conn, action_id: int, changes: dict[str, Any]) -> dict[str, Any]:
    """Change some fields of an action (``org`` and ``indicator`` by code / id)."""
    current = get_action(conn, action_id)
    unknown = set(changes) - set(FIELDS)
    if unknown:
        raise InvalidParameter(sorted(unknown)[0], f"unknown field; fields: {', '.join(FIELDS)}")
    merged = {**current, **changes}
    if merged["date"] is None or merged["title"] is None or merged["status"] is None:
        raise InvalidParameter("date", "date, title and status cannot be emptied")
    _check(merged["title"], merged["status"], merged["date"], merged["review_date"])
    values: dict[str, Any] = {}
    if "org" in changes:
        values["org_id"] = get_org(conn, changes["org"], parameter="org").id
    if "indicator" in changes:
        values["indicator_id"] = get_indicator(conn, changes["indicator"]).id
    for k in ("date", "review_date", "status"):
        if k in changes:
            values[k] = changes[k]
    if "title" in changes:
        values["title"] = changes["title"].strip()
    if "owner" in changes:
        values["owner"] = (changes["owner"] or "").strip() or None
    values["updated_at"] = utcnow()
    conn.execute(update(Action).where(Action.id == action_id).values(**values))
    audit.record(conn, "action.update", str(action_id),
                 {k: None if changes[k] is None else str(changes[k]) for k in sorted(changes)})
    return get_action(conn, action_id)


@audit.writes("action.delete")
def delete_action(conn: Conn, action_id: int) -> None:
    old = get_action(conn, action_id)
    conn.execute(delete(Action).where(Action.id == action_id))
    audit.record(conn, "action.delete", str(action_id),
                 {k: None if old.get(k) is None else str(old[k])
                  for k in ("org_code", "indicator_id", "date", "title", "status")})


def list_actions(conn: Conn, *, org: str | None = None, indicator: str | None = None,
                 status: str | None = None) -> list[dict[str, Any]]:
    """Actions by date (then id), filtered by organisation code, indicator and status."""
    stmt = _select().order_by(Action.date, Action.id)
    if org:
        stmt = stmt.where(Action.org_id == get_org(conn, org, parameter="org").id)
    if indicator:
        stmt = stmt.where(Action.indicator_id == get_indicator(conn, indicator).id)
    if status:
        _check(None, status, None, None)
        stmt = stmt.where(Action.status == status)
    return [_row(r) for r in conn.execute(stmt).all()]


def action_effect(points: pd.DataFrame, date: dt.date) -> dict[str, Any]:
    """Whether and when a special cause in the improvement direction began after ``date``
    on an SPC chart (``points`` of :data:`core.services.spc.SPC_POINT_COLUMNS`).

    A run of consecutive improvement points that had begun before the date does not count.
    ``suggest_rebase``: the first period of a sustained shift that began after the date (a run
    of improvement points flagged by the ``shift`` rule or at least as long as it), where new
    limits could start once someone has understood the change."""
    out: dict[str, Any] = {"improved": False, "since": None, "rule": None,
                           "suggest_rebase": None}
    if points.empty:
        return out
    valid = points[points["value"].notna()].reset_index(drop=True)
    special = valid["special_cause"].astype(object).tolist()
    rules = valid["rule"].astype(object).tolist()
    starts = [pd.Timestamp(s).date() for s in valid["start_date"]]
    labels = valid["period"].tolist()
    k = 0
    while k < len(valid):
        if special[k] != "improvement":
            k += 1
            continue
        end = k
        while end + 1 < len(valid) and special[end + 1] == "improvement":
            end += 1
        if starts[k] >= date:  # a run that began after the action
            if not out["improved"]:
                out.update(improved=True, since=labels[k], rule=rules[k])
            if end - k + 1 >= SUSTAINED or any(r == "shift" for r in rules[k:end + 1]):
                out["suggest_rebase"] = labels[k]
                break
        k = end + 1
    return out


def actions_for_view(conn: Conn, view: Any) -> list[dict[str, Any]]:
    """The actions on an SPC view (:func:`core.services.spc.spc`), each with its effect on
    it; an action that led to an accepted rebase applied to the view keeps the effect judged
    before that rebase (on the new limits the shift is the new process, so it would read as
    no effect)."""
    from core.services.spc import spc

    out = actions_for_chart(conn, view.organisation.id, view.indicator.id, view.points)
    linked = {r["action_id"] for r in view.accepted_rebases if r["action_id"]}
    if any(a["id"] in linked for a in out):
        before = spc(conn, view.organisation.code, view.indicator.id,
                     period_type=view.period_type, rebase=[]).points
        for a in out:
            if a["id"] in linked:
                a["effect"] = action_effect(before, a["date"])
    return out


def actions_for_chart(conn: Conn, org_id: int, indicator_id: str, points: pd.DataFrame
                      ) -> list[dict[str, Any]]:
    """The organisation's actions on the indicator, each with its effect on this chart."""
    rows = conn.execute(_select().where(Action.org_id == org_id,
                                        Action.indicator_id == indicator_id)
                        .order_by(Action.date, Action.id)).all()
    out = []
    for r in rows:
        item = _row(r)
        item["effect"] = action_effect(points, item["date"])
        out.append(item)
    return out
