"""Organisations: the lookups (:func:`get_org`, :class:`OrgRef`), the hierarchy
(:func:`ancestors`, :func:`descendant_ids`), every organisation as arrays
(:class:`OrgDirectory`), search and list, one with its parents and children."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import func, literal, or_, select

from core.errors import InvalidParameter, NotFound
from core.models import (
    Organisation,
)
from core.services.query import Conn, fetch_all, frame_from_rows
from core.services.version import current_version, engine_cache


@dataclass(frozen=True)
class OrgRef:
    """An organisation as the services pass it around."""

    id: int
    code: str
    name: str
    org_type: str
    parent_id: int | None
    is_active: bool
    attributes: dict[str, Any] = field(default_factory=dict)

    def brief(self) -> dict[str, Any]:
        """``{code, name, org_type}``."""
        return {"code": self.code, "name": self.name, "org_type": self.org_type}


_ORG_COLUMNS = (
    Organisation.id,
    Organisation.code,
    Organisation.name,
    Organisation.org_type,
    Organisation.parent_id,
    Organisation.is_active,
    Organisation.attributes,
)


def _org(row: Any) -> OrgRef:
    return OrgRef(
        id=row[0], code=row[1], name=row[2], org_type=row[3], parent_id=row[4],
        is_active=bool(row[5]), attributes=dict(row[6] or {}),
    )


def get_org(conn: Conn, code: str, *, parameter: str = "code") -> OrgRef:
    """The organisation with ODS ``code`` (case-insensitive); :class:`NotFound` suggests some."""
    c = str(code).strip()
    row = conn.execute(select(*_ORG_COLUMNS).where(Organisation.code == c)).first()
    if row is None and c.upper() != c:
        row = conn.execute(select(*_ORG_COLUMNS).where(Organisation.code == c.upper())).first()
    if row is None:
        like = f"%{c[:3]}%" if c else "%"
        near = list(
            conn.execute(
                select(Organisation.code)
                .where(Organisation.code.ilike(like) | Organisation.name.ilike(f"%{c}%"))
                .order_by(Organisation.code)
                .limit(10)
            ).scalars()
        )
        hint = f"; similar codes: {', '.join(near)}" if near else ""
        raise NotFound(
            f"unknown organisation {c!r} ({parameter}){hint}; search organisations by name or "
            "code with /organisations?q=",
            entity="organisation",
            key=c,
            valid=near,
        )
    return _org(row)


def orgs_by_ids(conn: Conn, ids: list[int]) -> dict[int, OrgRef]:
    """Organisations by id, in one query."""
    if not ids:
        return {}
    rows = conn.execute(select(*_ORG_COLUMNS).where(Organisation.id.in_(ids))).all()
    return {r[0]: _org(r) for r in rows}


@dataclass(frozen=True, eq=False)
class OrgDirectory:
    """Every organisation as arrays in code order (the database's ``ORDER BY code``), so that
    values can be joined to their organisations, filtered and ordered in numpy.

    Organisations change only through loads, so the directory is cached per data version
    (:func:`org_directory`): one read of the organisations table per version and process
    takes the join and the sort by code out of every values query (for a national
    comparison most of the database's work). ``id_obj`` and ``parent_id`` hold Python ints
    (object arrays, ``None`` for no parent), as value frames carry them.
    """

    ids: np.ndarray
    id_obj: np.ndarray
    code: np.ndarray
    name: np.ndarray
    org_type: np.ndarray
    parent_id: np.ndarray
    is_active: np.ndarray
    types: tuple[str, ...]
    type_code: np.ndarray
    _sorted_ids: np.ndarray = field(repr=False)
    _at: np.ndarray = field(repr=False)

    @classmethod
    def from_rows(cls, rows: Sequence[Any]) -> OrgDirectory:
        """From ``(id, code, name, org_type, parent_id, is_active)`` rows in code order."""
        cols = list(zip(*rows, strict=True)) if rows else [()] * 6
        obj = []
        for col in cols[:5]:
            a = np.empty(len(col), dtype=object)
            a[:] = col
            obj.append(a)
        id_obj, code, name, org_type, parent_id = obj
        ids = np.array(cols[0], dtype=np.int64)
        types, type_code = np.unique(org_type.astype(str), return_inverse=True)
        at = np.argsort(ids, kind="stable")
        return cls(
            ids=ids, id_obj=id_obj, code=code, name=name, org_type=org_type,
            parent_id=parent_id, is_active=np.array(cols[5], dtype=bool),
            types=tuple(str(t) for t in types), type_code=type_code.reshape(-1),
            _sorted_ids=ids[at], _at=at,
        )

    def positions(self, org_ids: np.ndarray) -> np.ndarray:
        """Code-order positions of ``org_ids``; -1 for an id not in the directory."""
        n = len(self._sorted_ids)
        if not n:
            return np.full(len(org_ids), -1, dtype=np.int64)
        i = np.minimum(np.searchsorted(self._sorted_ids, org_ids), n - 1)
        return np.where(self._sorted_ids[i] == org_ids, self._at[i], -1)


def org_directory(conn: Conn, *, refresh: bool = False) -> OrgDirectory:
    """The :class:`OrgDirectory` of the current data version (read again with ``refresh``)."""
    version = current_version(conn)
    cache = engine_cache(conn, "org_directory", maxsize=2)
    if not refresh:
        hit = cache.get(None, version)
        if hit is not None:
            return hit
    rows = fetch_all(conn, select(*_ORG_COLUMNS[:6]).order_by(Organisation.code))
    directory = OrgDirectory.from_rows(rows)
    cache.put(None, version, directory)
    return directory


def descendant_ids(conn: Conn, org_id: int) -> list[int]:
    """Every organisation below ``org_id`` in the hierarchy (a recursive CTE, one query)."""
    tree = select(Organisation.id).where(Organisation.parent_id == org_id).cte(
        "tree", recursive=True
    )
    child = Organisation.__table__.alias("child")
    tree = tree.union(select(child.c.id).where(child.c.parent_id == tree.c.id))
    return list(conn.execute(select(tree.c.id)).scalars())


def ancestors(conn: Conn, org: OrgRef) -> list[OrgRef]:
    """The chain of parents of ``org``, nearest first (one recursive query)."""
    if org.parent_id is None:
        return []
    chain = select(
        Organisation.id, Organisation.parent_id, literal(0).label("depth")
    ).where(Organisation.id == org.parent_id).cte("chain", recursive=True)
    up = Organisation.__table__.alias("up")
    chain = chain.union_all(
        select(up.c.id, up.c.parent_id, (chain.c.depth + 1).label("depth"))
        .where(up.c.id == chain.c.parent_id)
        .where(chain.c.depth < 20)  # a cycle in bad data must not loop forever
    )
    rows = conn.execute(select(chain.c.id, chain.c.depth).order_by(chain.c.depth)).all()
    found = orgs_by_ids(conn, [r[0] for r in rows])
    seen: set[int] = set()
    out = []
    for oid, _depth in rows:
        if oid in found and oid not in seen and oid != org.id:
            seen.add(oid)
            out.append(found[oid])
    return out


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
