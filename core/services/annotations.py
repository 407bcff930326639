"""Annotations: notes on a date shown on SPC charts ("new recall system"), kept per
organisation and/or indicator (either may be empty for a note that applies more widely)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import delete, insert, select

from core import audit
from core.errors import InvalidParameter, NotFound
from core.models import Annotation, Indicator, Organisation, utcnow
from core.services.indicators import get_indicator
from core.services.organisations import get_org
from core.services.query import Conn

MAX_TEXT = 2000


def _select():
    return (
        select(Annotation.id, Annotation.date, Annotation.text, Annotation.author,
               Annotation.created_at, Organisation.code, Annotation.indicator_id)
        .outerjoin(Organisation, Organisation.id == Annotation.org_id)
        .outerjoin(Indicator, Indicator.id == Annotation.indicator_id)
    )


def _row(r: Any) -> dict[str, Any]:
    return {"id": r[0], "date": r[1], "text": r[2], "author": r[3], "created_at": r[4],
            "org_code": r[5], "indicator_id": r[6]}


def list_annotations(
    conn: Conn, *, org: str | None = None, indicator: str | None = None
) -> list[dict[str, Any]]:
    """Annotations, oldest date first, filtered by organisation code and/or indicator (each
    filter also keeps the general notes that name no organisation / no indicator)."""
    stmt = _select().order_by(Annotation.date, Annotation.id)
    if org:
        o = get_org(conn, org, parameter="org")
        stmt = stmt.where((Annotation.org_id == o.id) | Annotation.org_id.is_(None))
    if indicator:
        i = get_indicator(conn, indicator)
        stmt = stmt.where((Annotation.indicator_id == i.id) | Annotation.indicator_id.is_(None))
    return [_row(r) for r in conn.execute(stmt).all()]


def get_annotation(conn: Conn, annotation_id: int) -> dict[str, Any]:
    """One annotation; :class:`NotFound` otherwise."""
    r = conn.execute(_select().where(Annotation.id == annotation_id)).first()
    if r is None:
        raise NotFound(f"no annotation with id {annotation_id}; list them with /annotations",
                       entity="annotation", key=annotation_id)
    return _row(r)


@audit.writes("annotation.create")
def create_annotation(
    session: Conn,
    *,
    date: dt.date,
    text: str,
    org: str | None = None,
    indicator: str | None = None,
    author: str | None = None,
) -> dict[str, Any]:
    """Add a note on ``date`` for an organisation and/or indicator. Flushes only."""
    body = (text or "").strip()
    if not body:
        raise InvalidParameter("text", "an annotation needs some text")
    if len(body) > MAX_TEXT:
        raise InvalidParameter("text", f"an annotation is at most {MAX_TEXT} characters")
    org_id = get_org(session, org, parameter="org").id if org else None
    ind_id = get_indicator(session, indicator).id if indicator else None
    new_id = session.execute(
        insert(Annotation).values(org_id=org_id, indicator_id=ind_id, date=date, text=body,
                                  author=author, created_at=utcnow()).returning(Annotation.id)
    ).scalar_one()
    audit.record(session, "annotation.create", str(new_id),
                 {"date": date.isoformat(), "org": org, "indicator": indicator, "text": body})
    return get_annotation(session, new_id)


@audit.writes("annotation.delete")
def delete_annotation(session: Conn, annotation_id: int) -> None:
    """Delete one annotation (:class:`NotFound` if there is none). Flushes only."""
    note = get_annotation(session, annotation_id)
    session.execute(delete(Annotation).where(Annotation.id == annotation_id))
    audit.record(session, "annotation.delete", str(annotation_id),
                 {k: None if note.get(k) is None else str(note[k])
                  for k in ("date", "text", "author", "org_code", "indicator_id")})
