"""Organisations: search and list, one with its parents and children."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import func, or_, select

from core.errors import InvalidParameter
from core.models import Organisation
from core.services.base import Conn, OrgRef, ancestors, frame_from_rows, get_org

ORG_LIST_COLUMNS = ("code", "name", "org_type", "parent_code", "parent_name", "is_active")
MAX_LIMIT = 5000


@dataclass(frozen=True)
class OrganisationPage:
    """One page of organisations: ``items`` has :data:`ORG_LIST_COLUMNS`."""

    items: pd.DataFrame
    total: int
    limit: int
    offset: int


@dataclass(frozen=True)
class OrganisationDetail:
    """One organisation with its chain of parents (nearest first) and its children."""

    organisation: OrgRef
    parent: OrgRef | None
    ancestors: list[OrgRef]
    children: pd.DataFrame  # code, name, org_type, is_active

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        o = self.organisation
        return {
            "code": o.code,
            "name": o.name,
            "org_type": o.org_type,
            "is_active": o.is_active,
            "attributes": o.attributes,
            "parent": self.parent.brief() if self.parent else None,
            "ancestors": [a.brief() for a in self.ancestors],
            "children": self.children.to_dict(orient="records"),
        }


def list_organisations(
    conn: Conn,
    *,
    org_type: str | None = None,
    parent: str | None = None,
    q: str | None = None,
    active_only: bool = True,
    limit: int = 100,
    offset: int = 0,
) -> OrganisationPage:
    """Organisations filtered by type, direct parent code and a name/code search ``q``
    (case-insensitive substring), ordered by code, one page at a time."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidParameter("limit", f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
    if offset < 0:
        raise InvalidParameter("offset", f"offset must be 0 or more, got {offset}")
    parent_org = Organisation.__table__.alias("parent_org")
    stmt = select(
        Organisation.code,
        Organisation.name,
        Organisation.org_type,
        parent_org.c.code,
        parent_org.c.name,
        Organisation.is_active,
    ).outerjoin(parent_org, parent_org.c.id == Organisation.parent_id)
    conds = []
    if org_type:
        conds.append(Organisation.org_type == org_type)
    if parent:
        p = get_org(conn, parent, parameter="parent")
        conds.append(Organisation.parent_id == p.id)
    if q and q.strip():
        pattern = f"%{q.strip()}%"
        conds.append(or_(Organisation.name.ilike(pattern), Organisation.code.ilike(pattern)))
    if active_only:
        conds.append(Organisation.is_active.is_(True))
    stmt = stmt.where(*conds)
    total = conn.execute(
        select(func.count()).select_from(Organisation).where(*conds)
    ).scalar_one()
    rows = conn.execute(stmt.order_by(Organisation.code).limit(limit).offset(offset)).all()
    items = frame_from_rows(rows, ORG_LIST_COLUMNS)
    items["is_active"] = items["is_active"].astype(bool)
    return OrganisationPage(items=items, total=int(total), limit=limit, offset=offset)


def organisation_detail(conn: Conn, code: str) -> OrganisationDetail:
    """The organisation ``code`` with its parents up to the top and its direct children."""
    org = get_org(conn, code)
    chain = ancestors(conn, org)
    rows = conn.execute(
        select(Organisation.code, Organisation.name, Organisation.org_type, Organisation.is_active)
        .where(Organisation.parent_id == org.id)
        .order_by(Organisation.code)
    ).all()
    children = frame_from_rows(rows, ["code", "name", "org_type", "is_active"])
    children["is_active"] = children["is_active"].astype(bool)
    return OrganisationDetail(
        organisation=org,
        parent=chain[0] if chain else None,
        ancestors=chain,
        children=children,
    )
