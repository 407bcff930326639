"""Saved peer groups (a locality, a set of similar trusts), used as ``peers=group:NAME``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, insert, select

from core import audit
from core.errors import Conflict, InvalidParameter, NotFound
from core.models import Organisation, PeerGroup, PeerGroupMember, utcnow
from core.services.query import Conn


@dataclass(frozen=True)
class Group:
    """A peer group with its members (``{code, name, org_type}``, ordered by code)."""

    id: int
    name: str
    description: str | None
    created_by: str | None
    created_at: Any
    members: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "name": self.name, "description": self.description, "created_by": self.created_by,
            "created_at": self.created_at, "size": len(self.members), "members": self.members,
        }


def _members(conn: Conn, group_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    rows = conn.execute(
        select(PeerGroupMember.group_id, Organisation.code, Organisation.name,
               Organisation.org_type)
        .join(Organisation, Organisation.id == PeerGroupMember.org_id)
        .where(PeerGroupMember.group_id.in_(group_ids))
        .order_by(Organisation.code)
    ).all()
    out: dict[int, list[dict[str, Any]]] = {g: [] for g in group_ids}
    for gid, code, name, org_type in rows:
        out[gid].append({"code": code, "name": name, "org_type": org_type})
    return out


def list_groups(conn: Conn) -> list[Group]:
    """Every saved group with its members (two queries)."""
    rows = conn.execute(
        select(PeerGroup.id, PeerGroup.name, PeerGroup.description, PeerGroup.created_by,
               PeerGroup.created_at).order_by(PeerGroup.name)
    ).all()
    members = _members(conn, [r[0] for r in rows])
    return [Group(*r, members=members[r[0]]) for r in rows]


def get_group(conn: Conn, name: str) -> Group:
    """The group ``name``; :class:`NotFound` lists the saved groups."""
    row = conn.execute(
        select(PeerGroup.id, PeerGroup.name, PeerGroup.description, PeerGroup.created_by,
               PeerGroup.created_at).where(PeerGroup.name == name)
    ).first()
    if row is None:
        names = list(conn.execute(select(PeerGroup.name).order_by(PeerGroup.name)).scalars())
        raise NotFound(
            f"unknown peer group {name!r}; saved groups: {', '.join(names) or 'none yet'}",
            entity="group", key=name, valid=names,
        )
    return Group(*row, members=_members(conn, [row[0]])[row[0]])


@audit.writes("group.create")
def create_group(
    session: Conn,
    name: str,
    members: list[str],
    *,
    description: str | None = None,
    created_by: str | None = None,
) -> Group:
    """Save a group of organisation codes. Every code must exist (:class:`InvalidParameter`
    lists the unknown ones); the name must be free (:class:`Conflict`). Flushes only."""
    name = (name or "").strip()
    if not name or len(name) > 200 or ":" in name:
        raise InvalidParameter("name", "a group name is 1-200 characters without ':'")
    codes = sorted({c.strip() for c in members if c and c.strip()})
    if not codes:
        raise InvalidParameter("members", "a group needs at least one organisation code")
    if session.execute(select(PeerGroup.id).where(PeerGroup.name == name)).first():
        raise Conflict(f"a group named {name!r} exists; delete it first or choose another name")
    found = dict(
        session.execute(
            select(Organisation.code, Organisation.id).where(Organisation.code.in_(codes))
        ).all()
    )
    unknown = [c for c in codes if c not in found]
    if unknown:
        raise InvalidParameter(
            "members",
            f"unknown organisation code(s): {', '.join(unknown[:20])}; search organisations "
            "with /organisations?q=",
            details={"unknown": unknown},
        )
    gid = session.execute(
        insert(PeerGroup).values(name=name, description=description, created_by=created_by,
                                 created_at=utcnow()).returning(PeerGroup.id)
    ).scalar_one()
    session.execute(insert(PeerGroupMember), [{"group_id": gid, "org_id": found[c]}
                                              for c in codes])
    audit.record(session, "group.create", name, {"members": codes})
    return get_group(session, name)


@audit.writes("group.delete")
def delete_group(session: Conn, name: str) -> None:
    """Delete the group ``name`` (:class:`NotFound` if there is none). Flushes only."""
    group = get_group(session, name)
    session.execute(delete(PeerGroupMember).where(PeerGroupMember.group_id == group.id))
    session.execute(delete(PeerGroup).where(PeerGroup.id == group.id))
    audit.record(session, "group.delete", name, {"members": [m["code"] for m in group.members]})
