"""Peer sets: who a comparison is among (:class:`PeerSet`): every organisation of a type, the
children of a parent, the most similar organisations, or a saved group
(:func:`parse_peer_spec`, :func:`resolve_peers`, :func:`similar_orgs`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import func, select

from core.errors import InvalidParameter, NotFound
from core.models import (
    IndicatorValue,
    Organisation,
    PeerGroup,
    PeerGroupMember,
)
from core.services.data_periods import PeriodRef
from core.services.indicators import IndicatorMeta
from core.services.organisations import OrgRef, descendant_ids, get_org
from core.services.query import _LIST_MAX, Conn, _listing

#: Levels from the lowest up; "the lowest org_type with data" follows this order, and types not
#: listed come after these, most numerous first.
LEVEL_ORDER = ("practice", "trust", "pcn", "sub_icb", "ccg", "icb", "region", "nation")

#: Attribute names tried for each default "similar" attribute (loaders name deprivation freely).
ATTRIBUTE_ALIASES: dict[str, tuple[str, ...]] = {
    "list_size": ("list_size", "registered_patients", "patients"),
    "imd_score": ("imd_score", "imd", "deprivation", "deprivation_score", "imd_2019"),
}
DEFAULT_SIMILAR_ATTRIBUTES = ("list_size", "imd_score")
DEFAULT_SIMILAR_K = 10


@dataclass(frozen=True)
class PeerSet:
    """Who a comparison is among.

    ``org_ids`` None means "every organisation of ``org_type`` with data"; ``focus`` is the
    organisation a ``similar:``/``parent:`` spec named.
    """

    spec: str | None
    kind: str  # all | parent | similar | group
    label: str
    org_type: str | None
    org_ids: tuple[int, ...] | None
    focus: OrgRef | None = None
    active_only: bool = True
    attributes: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """What the response says about the peers."""
        out: dict[str, Any] = {"spec": self.spec, "kind": self.kind, "label": self.label,
                               "org_type": self.org_type}
        if self.focus is not None:
            out["focus"] = self.focus.brief()
        if self.attributes:
            out["attributes"] = list(self.attributes)
        return out


def org_types_with_data(
    conn: Conn, indicator_id: str, period_id: int, *, org_ids: list[int] | None = None,
    active_only: bool = True,
) -> dict[str, int]:
    """``{org_type: number of organisations with a value}`` for one indicator and period."""
    stmt = (
        select(Organisation.org_type, func.count())
        .select_from(IndicatorValue)
        .join(Organisation, Organisation.id == IndicatorValue.org_id)
        .where(IndicatorValue.indicator_id == indicator_id, IndicatorValue.period_id == period_id)
        .group_by(Organisation.org_type)
    )
    if active_only:
        stmt = stmt.where(Organisation.is_active.is_(True))
    if org_ids is not None:
        stmt = stmt.where(Organisation.id.in_(org_ids))
    return {t: int(n) for t, n in conn.execute(stmt).all()}


def lowest_type(counts: dict[str, int]) -> str | None:
    """The lowest level among ``counts`` (see :data:`LEVEL_ORDER`)."""
    if not counts:
        return None
    rank = {t: i for i, t in enumerate(LEVEL_ORDER)}
    return min(counts, key=lambda t: (rank.get(t, len(LEVEL_ORDER)), -counts[t], t))


def _attribute_series(attrs: pd.Series, name: str) -> pd.Series:
    names = ATTRIBUTE_ALIASES.get(name, (name,))

    def pick(a: Any) -> float:
        if not isinstance(a, dict):
            return np.nan
        for n in names:
            v = a.get(n)
            if v is not None:
                try:
                    return float(v)
                except (TypeError, ValueError):
                    return np.nan
        return np.nan

    return attrs.map(pick).astype(float)


def similar_orgs(
    conn: Conn,
    focus: OrgRef,
    *,
    attributes: tuple[str, ...] = DEFAULT_SIMILAR_ATTRIBUTES,
    k: int = DEFAULT_SIMILAR_K,
    candidate_ids: list[int] | None = None,
    active_only: bool = True,
) -> list[int]:
    """``focus`` and its ``k`` nearest organisations of the same type.

    Distance is Euclidean over the attributes standardised to z-scores across the candidates
    (so list size in thousands and a deprivation score weigh alike), as RightCare's "similar
    10" and Model Hospital's peer finder do. Organisations missing an attribute are left out.
    ``candidate_ids`` restricts the pool (e.g. to organisations with data).
    """
    if k < 1:
        raise InvalidParameter("k", f"k must be at least 1, got {k}")
    if not attributes:
        raise InvalidParameter("attributes", "give at least one attribute to compare on")
    stmt = select(Organisation.id, Organisation.attributes).where(
        Organisation.org_type == focus.org_type
    )
    if active_only:
        stmt = stmt.where(Organisation.is_active.is_(True))
    if candidate_ids is not None:
        stmt = stmt.where(Organisation.id.in_([*candidate_ids, focus.id]))
    frame = pd.DataFrame(conn.execute(stmt).all(), columns=["id", "attributes"])
    if focus.id not in set(frame["id"]):
        frame = pd.concat(
            [frame, pd.DataFrame({"id": [focus.id], "attributes": [focus.attributes]})],
            ignore_index=True,
        )
    cols = []
    for a in attributes:
        frame[a] = _attribute_series(frame["attributes"], a)
        cols.append(a)
    me = frame.loc[frame["id"] == focus.id, cols].iloc[0]
    missing = [a for a in cols if not np.isfinite(me[a])]
    if missing:
        raise InvalidParameter(
            "peers",
            f"{focus.code} has no {', '.join(missing)} attribute, so similar peers cannot be "
            f"found; load it with the organisations file or choose other attributes",
            details={"missing_attributes": missing},
        )
    pool = frame.dropna(subset=cols)
    sd = pool[cols].std(ddof=0).replace(0.0, 1.0)
    z = (pool[cols] - pool[cols].mean()) / sd
    zme = (me[cols] - pool[cols].mean()) / sd
    dist = np.sqrt(((z - zme) ** 2).sum(axis=1))
    ordered = pool.assign(_d=dist.to_numpy()).sort_values(["_d", "id"])
    others = ordered.loc[ordered["id"] != focus.id, "id"].head(k).tolist()
    return [focus.id, *[int(i) for i in others]]


def parse_peer_spec(peers: str | None) -> tuple[str, str | None]:
    """``("all", None)``, ``("parent", CODE)``, ``("similar", CODE)`` or ``("group", NAME)``."""
    if peers is None or not peers.strip() or peers.strip().lower() in ("all", "default"):
        return "all", None
    kind, sep, arg = peers.strip().partition(":")
    kind = kind.strip().lower()
    if not sep or kind not in ("parent", "similar", "group") or not arg.strip():
        raise InvalidParameter(
            "peers",
            f"peers {peers!r} is not understood; use parent:CODE (e.g. the practices of one "
            "PCN), similar:CODE (an organisation and its most similar peers), group:NAME (a "
            "saved group) or leave it out for every organisation of the lowest level",
        )
    return kind, arg.strip()


def resolve_peers(
    conn: Conn,
    indicator: IndicatorMeta,
    period: PeriodRef,
    peers: str | None = None,
    *,
    org_type: str | None = None,
    active_only: bool = True,
    similar_attributes: tuple[str, ...] | None = None,
    similar_k: int | None = None,
) -> PeerSet:
    """Turn a peer spec into the set of organisations to compare.

    * omitted: every organisation of ``org_type`` with data (default the lowest level present);
    * ``parent:CODE``: the organisations below CODE (at any depth) of ``org_type`` (default the
      lowest level with data below it);
    * ``similar:CODE``: CODE and its ``similar_k`` (10) most similar organisations of the same
      type with data, by standardised distance over ``similar_attributes``
      (list size and IMD score);
    * ``group:NAME``: the members of a saved peer group.
    """
    kind, arg = parse_peer_spec(peers)
    if kind == "all":
        # the type is settled from the fetched rows (one query, see fetch_values)
        label = f"all {org_type} organisations" if org_type else "all organisations"
        return PeerSet(peers, "all", label, org_type, None, None, active_only)
    assert arg is not None
    if kind == "parent":
        parent = get_org(conn, arg, parameter="peers")
        below = descendant_ids(conn, parent.id)
        counts = org_types_with_data(
            conn, indicator.id, period.id, org_ids=below, active_only=active_only
        )
        t = org_type or lowest_type(counts)
        if t is None or t not in counts:
            raise InvalidParameter(
                "peers",
                f"no organisation below {parent.code} ({parent.name}) has {indicator.id!r} "
                f"values in {period.label}",
            )
        ids = _filter_ids(conn, below, org_type=t, active_only=active_only)
        return PeerSet(peers, "parent", f"{t} organisations in {parent.name}", t,
                       tuple(ids), parent, active_only)
    if kind == "similar":
        focus = get_org(conn, arg, parameter="peers")
        attrs = tuple(similar_attributes or DEFAULT_SIMILAR_ATTRIBUTES)
        k = DEFAULT_SIMILAR_K if similar_k is None else int(similar_k)
        with_data = _ids_with_data(conn, indicator.id, period.id, org_type=focus.org_type)
        ids = similar_orgs(conn, focus, attributes=attrs, k=k, candidate_ids=with_data,
                           active_only=active_only)
        return PeerSet(peers, "similar", f"{focus.name} and its {len(ids) - 1} most similar "
                       f"peers", focus.org_type, tuple(ids), focus, active_only, attrs)
    # group
    gid = conn.execute(select(PeerGroup.id).where(PeerGroup.name == arg)).scalar()
    if gid is None:
        names = list(conn.execute(select(PeerGroup.name).order_by(PeerGroup.name)).scalars())
        raise NotFound(
            f"unknown peer group {arg!r}; saved groups: {_listing(names) or 'none yet'}",
            entity="group",
            key=arg,
            valid=names[:_LIST_MAX],
        )
    members = list(
        conn.execute(select(PeerGroupMember.org_id).where(PeerGroupMember.group_id == gid))
        .scalars()
    )
    ids = _filter_ids(conn, members, org_type=org_type, active_only=active_only)
    return PeerSet(peers, "group", f"group {arg}", org_type, tuple(ids), None, active_only)


def _filter_ids(
    conn: Conn, ids: list[int], *, org_type: str | None, active_only: bool
) -> list[int]:
    if not ids:
        return []
    stmt = select(Organisation.id).where(Organisation.id.in_(ids))
    if org_type is not None:
        stmt = stmt.where(Organisation.org_type == org_type)
    if active_only:
        stmt = stmt.where(Organisation.is_active.is_(True))
    return sorted(conn.execute(stmt).scalars())


def _ids_with_data(conn: Conn, indicator_id: str, period_id: int, *, org_type: str) -> list[int]:
    stmt = (
        select(IndicatorValue.org_id)
        .join(Organisation, Organisation.id == IndicatorValue.org_id)
        .where(
            IndicatorValue.indicator_id == indicator_id,
            IndicatorValue.period_id == period_id,
            Organisation.org_type == org_type,
        )
    )
    return list(conn.execute(stmt).scalars())
