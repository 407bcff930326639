"""Shared building blocks of the read services: lookups that raise clear errors, period
resolution, peer-set resolution and the one set-based fetch of an indicator's values.

Every function takes a SQLAlchemy ``Session`` or ``Connection`` (anything with ``execute``) and
reads with Core ``select`` statements, turning rows into pandas frames; no ORM objects are loaded
in loops (relationships are ``lazy="raise"``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, bindparam, func, literal, select
from sqlalchemy.orm import Session

from core.errors import InvalidParameter, NotFound
from core.models import (
    Indicator,
    IndicatorValue,
    Organisation,
    PeerGroup,
    PeerGroupMember,
    Period,
)
from core.periods import FINENESS, PERIOD_TYPES, PeriodError, parse_period
from core.services.version import current_version, driver_rows, engine_cache

Conn = Session | Connection

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

#: at most this many valid values are listed in a "not found" message
_LIST_MAX = 20


def core_conn(conn: Conn) -> Connection:
    """The Core connection of a session (or the connection itself).

    Column selects executed through ``Session.execute`` go through the ORM's result machinery
    (about 5 ms more per 6,500 rows); the hot reads use the session's connection directly,
    inside the same transaction.
    """
    return conn.connection() if isinstance(conn, Session) else conn


def fetch_all(conn: Conn, stmt: Any) -> list[tuple[Any, ...]]:
    """Rows of a Core ``select`` as plain tuples, fetched by the driver's own cursor on the
    session's connection (same transaction).

    For the big reads (6,500 rows) SQLAlchemy's per-row result processing costs about as much
    as the query itself; the selects this is used for need no result processing (numbers,
    text, booleans, which :func:`frame_from_rows` normalises). Parameters are bound as
    SQLAlchemy compiles them, for either paramstyle.
    """
    c = core_conn(conn)
    return _driver_fetch(c, *_compile(c, stmt), {})


def _compile(c: Connection, stmt: Any) -> tuple[str, tuple[str, ...] | None, dict[str, Any]]:
    """``(sql, positional parameter names or None, parameters)`` of a statement, compiled
    for the connection's dialect with IN lists rendered."""
    compiled = stmt.compile(dialect=c.dialect, compile_kwargs={"render_postcompile": True})
    pos = compiled.positiontup
    return str(compiled), (tuple(pos) if pos is not None else None), dict(compiled.params)


def _driver_fetch(
    c: Connection, sql: str, names: tuple[str, ...] | None, params: dict[str, Any],
    values: dict[str, Any],
) -> list[tuple[Any, ...]]:
    """Execute compiled ``sql`` (see :func:`_compile`) with ``params`` updated by ``values``
    on the driver's cursor and fetch every row."""
    merged = {**params, **values} if values else params
    bound: Any = tuple(merged[k] for k in names) if names is not None else merged
    return driver_rows(c, sql, bound)


def _listing(values: list[str], total: int | None = None) -> str:
    total = len(values) if total is None else total
    shown = ", ".join(values[:_LIST_MAX])
    more = f" ... ({total} in all)" if total > _LIST_MAX else ""
    return shown + more


# --------------------------------------------------------------------------------------------
# Indicators
# --------------------------------------------------------------------------------------------

INDICATOR_FIELDS = (
    "id", "name", "description", "why_it_matters", "value_type", "multiplier", "polarity",
    "target", "target_label", "thresholds", "numerator_label", "denominator_label", "unit",
    "source", "source_url", "domain", "tags", "decimals", "frequency", "authored_by",
    "checked_by", "date_reviewed",
)


@dataclass(frozen=True)
class IndicatorMeta:
    """An indicator's definition (every metadata field of ``indicators``)."""

    id: str
    name: str
    description: str | None
    why_it_matters: str | None
    value_type: str
    multiplier: float
    polarity: str
    target: float | None
    target_label: str | None
    thresholds: list[Any]
    numerator_label: str | None
    denominator_label: str | None
    unit: str | None
    source: str | None
    source_url: str | None
    domain: str | None
    tags: list[Any]
    decimals: int
    frequency: str | None
    authored_by: str | None
    checked_by: str | None
    date_reviewed: dt.date | None

    def as_dict(self) -> dict[str, Any]:
        """The metadata as a plain dict (JSON-ready apart from ``date_reviewed``)."""
        return asdict(self)


def _indicator_columns() -> list[Any]:
    return [getattr(Indicator, f) for f in INDICATOR_FIELDS]


def _meta_from_row(row: Any) -> IndicatorMeta:
    d = dict(zip(INDICATOR_FIELDS, row, strict=True))
    d["thresholds"] = list(d["thresholds"] or [])
    d["tags"] = list(d["tags"] or [])
    d["multiplier"] = float(d["multiplier"] if d["multiplier"] is not None else 1.0)
    d["decimals"] = int(d["decimals"] if d["decimals"] is not None else 1)
    return IndicatorMeta(**d)


def get_indicator(conn: Conn, indicator_id: str) -> IndicatorMeta:
    """The indicator ``indicator_id``; :class:`NotFound` lists the indicators that exist.

    Cached per data version (:mod:`core.services.version`): indicator definitions change only
    through loads, which change the version."""
    version = current_version(conn)
    cache = engine_cache(conn, "indicator_meta")
    meta = cache.get(indicator_id, version)
    if meta is not None:
        return meta
    row = core_conn(conn).execute(
        select(*_indicator_columns()).where(Indicator.id == indicator_id)
    ).first()
    if row is None:
        ids = list(conn.execute(select(Indicator.id).order_by(Indicator.id)).scalars())
        hint = f"known indicators: {_listing(ids)}" if ids else "no indicators are loaded yet"
        raise NotFound(
            f"unknown indicator {indicator_id!r}; {hint} (list them with /indicators)",
            entity="indicator",
            key=indicator_id,
            valid=ids[:_LIST_MAX],
        )
    meta = _meta_from_row(row)
    cache.put(indicator_id, version, meta)
    return meta


def list_indicator_meta(conn: Conn) -> list[IndicatorMeta]:
    """Every indicator's metadata, ordered by domain then id."""
    rows = conn.execute(
        select(*_indicator_columns()).order_by(Indicator.domain, Indicator.id)
    ).all()
    return [_meta_from_row(r) for r in rows]


# --------------------------------------------------------------------------------------------
# Periods
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PeriodRef:
    """A period that exists in the database."""

    id: int
    label: str
    period_type: str
    start_date: dt.date
    end_date: dt.date

    def as_dict(self) -> dict[str, Any]:
        """``{label, period_type, start_date, end_date}`` (no database id)."""
        return {
            "label": self.label,
            "period_type": self.period_type,
            "start_date": self.start_date,
            "end_date": self.end_date,
        }


def check_period_type(period_type: str | None, parameter: str = "period_type") -> None:
    """Raise :class:`InvalidParameter` unless ``period_type`` is None or a known type."""
    if period_type is not None and period_type not in PERIOD_TYPES:
        raise InvalidParameter(
            parameter,
            f"{parameter} {period_type!r} is not a period type; use one of "
            f"{', '.join(PERIOD_TYPES)}",
        )


def periods_with_data(
    conn: Conn,
    indicator_id: str,
    *,
    org_ids: list[int] | None = None,
    period_type: str | None = None,
) -> list[PeriodRef]:
    """The periods in which ``indicator_id`` has at least one value, oldest first.

    Written as EXISTS over the (few hundred) periods so that each is one index probe of
    ``indicator_values`` instead of a scan of every value of the indicator.
    """
    check_period_type(period_type)
    if org_ids is None:
        # the periods of a whole indicator change only with loads and reverts (the version)
        version = current_version(conn)
        cache = engine_cache(conn, "periods_with_data")
        hit = cache.get((indicator_id, period_type), version)
        if hit is not None:
            return list(hit)
        refs = _periods_with_data(conn, indicator_id, None, period_type)
        cache.put((indicator_id, period_type), version, tuple(refs))
        return refs
    return _periods_with_data(conn, indicator_id, org_ids, period_type)


def _periods_with_data(
    conn: Conn, indicator_id: str, org_ids: list[int] | None, period_type: str | None
) -> list[PeriodRef]:
    probe = select(IndicatorValue.id).where(
        IndicatorValue.indicator_id == indicator_id, IndicatorValue.period_id == Period.id
    )
    if org_ids is not None:
        probe = probe.where(IndicatorValue.org_id.in_(org_ids))
    stmt = select(
        Period.id, Period.label, Period.period_type, Period.start_date, Period.end_date
    ).where(probe.exists())
    if period_type is not None:
        stmt = stmt.where(Period.period_type == period_type)
    rows = core_conn(conn).execute(stmt).all()
    refs = [PeriodRef(*r) for r in rows]
    refs.sort(key=lambda p: (p.start_date, FINENESS.get(p.period_type, 9), p.label))
    return refs


def _latest(periods: list[PeriodRef]) -> PeriodRef:
    # latest end date; on a tie (March 2024 and 2023-24 both end on 31 March) the finest kind
    return max(periods, key=lambda p: (p.end_date, -FINENESS.get(p.period_type, 9)))


def resolve_period(
    conn: Conn,
    indicator: IndicatorMeta,
    period: str | None,
    *,
    period_type: str | None = None,
    parameter: str = "period",
) -> PeriodRef:
    """The period ``period`` of ``indicator``, or its latest period with data when None.

    Accepts any spelling :func:`core.periods.parse_period` reads (``2023/24`` for ``2023-24``).
    :class:`NotFound` lists the periods that have data; an ambiguous label that matches a month
    and a financial year both with data raises :class:`InvalidParameter` asking for
    ``period_type``.
    """
    check_period_type(period_type)
    available = periods_with_data(conn, indicator.id, period_type=period_type)
    if not available:
        kind = f" of type {period_type}" if period_type else ""
        raise NotFound(
            f"indicator {indicator.id!r} has no values{kind} yet; load some first",
            entity="period",
            key=period,
            valid=[],
        )
    if period is None or not str(period).strip():
        return _latest(available)
    text = str(period).strip()
    wanted = {text}
    try:
        wanted.add(parse_period(text, period_type).label)
    except PeriodError:
        pass  # an ambiguous or odd label can still match a stored label exactly
    matches = [p for p in available if p.label in wanted]
    if len(matches) > 1:
        types = sorted({p.period_type for p in matches}, key=lambda t: FINENESS.get(t, 9))
        raise InvalidParameter(
            "period_type",
            f"period {text!r} matches periods of several types ({', '.join(types)}); "
            "add period_type to choose one",
            details={"period": text, "period_types": types},
        )
    if not matches:
        labels = [p.label for p in reversed(available)]
        raise NotFound(
            f"indicator {indicator.id!r} has no values for period {text!r}; periods with data "
            f"(latest first): {_listing(labels)}",
            entity="period",
            key=text,
            valid=labels[:_LIST_MAX],
        )
    return matches[0]


# --------------------------------------------------------------------------------------------
# Organisations
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# Peers
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------------------------

#: float columns of value frames (None becomes NaN)
NUMERIC_COLUMNS = frozenset(
    {"numerator", "denominator", "value", "lower_ci", "upper_ci", "lower", "upper"}
)


def frame_from_rows(
    rows: Sequence[Any], columns: tuple[str, ...] | list[str], *, keep: Any = None
) -> pd.DataFrame:
    """A DataFrame from result rows, built column by column.

    ``DataFrame.from_records`` on SQLAlchemy rows costs about 60 ms for 6,500 rows (it probes
    each row's attributes); transposing with ``zip`` and typing each column costs about 2 ms.
    Count columns become float (None -> NaN), ``suppressed``/``is_active`` bool, text stays
    object dtype (pandas' string inference is the other hidden cost). ``keep`` (an index
    array) selects rows before the frame is built (cheaper than filtering the frame).
    """
    cols = list(zip(*rows, strict=True)) if rows else [()] * len(columns)
    data: dict[str, Any] = {}
    for name, col in zip(columns, cols, strict=True):
        if name in NUMERIC_COLUMNS:
            if col and col[0] is None and col.count(None) == len(col):
                # a column with no values at all (e.g. published intervals where counts are
                # loaded): np.full is ~0.3 ms cheaper per 6,500 rows than converting Nones
                a = np.full(len(col), np.nan)
            else:
                a = np.array(col, dtype=float)
        elif name in ("suppressed", "is_active"):
            a = np.array(col, dtype=bool)  # None -> False; SQLite's 0/1 -> bool
        else:
            a = np.empty(len(col), dtype=object)
            a[:] = col
            # an explicit object Series: pandas 3 would infer its string dtype from an array
            data[name] = pd.Series(a if keep is None else a[keep], dtype=object, copy=False)
            continue
        data[name] = a if keep is None else a[keep]
    return pd.DataFrame(data, columns=list(columns), copy=False)


VALUE_COLUMNS = (
    "org_id", "org_code", "org_name", "org_type", "parent_id", "numerator", "denominator",
    "value", "lower_ci", "upper_ci", "suppressed",
)


def values_statement(indicator_id: str, period_ids: list[int], peers: PeerSet | None):
    """The one SELECT behind comparisons: values joined to their organisations."""
    stmt = (
        select(
            Organisation.id, Organisation.code, Organisation.name, Organisation.org_type,
            Organisation.parent_id, IndicatorValue.numerator, IndicatorValue.denominator,
            IndicatorValue.value, IndicatorValue.lower_ci, IndicatorValue.upper_ci,
            IndicatorValue.suppressed,
        )
        .select_from(IndicatorValue)
        .join(Organisation, Organisation.id == IndicatorValue.org_id)
        .where(IndicatorValue.indicator_id == indicator_id)
    )
    if len(period_ids) == 1:
        stmt = stmt.where(IndicatorValue.period_id == period_ids[0])
    else:
        stmt = stmt.where(IndicatorValue.period_id.in_(period_ids))
    if peers is not None:
        if peers.active_only:
            stmt = stmt.where(Organisation.is_active.is_(True))
        if peers.org_ids is not None:
            stmt = stmt.where(Organisation.id.in_(list(peers.org_ids)))
        if peers.org_type is not None:
            stmt = stmt.where(Organisation.org_type == peers.org_type)
    return stmt


#: the columns of the values query behind :func:`fetch_value_columns` (no join: the
#: organisations come from the :class:`OrgDirectory`)
_VALUE_FIELDS = (
    IndicatorValue.org_id, IndicatorValue.numerator, IndicatorValue.denominator,
    IndicatorValue.value, IndicatorValue.lower_ci, IndicatorValue.upper_ci,
    IndicatorValue.suppressed,
)


def _values_select() -> Any:
    return select(*_VALUE_FIELDS).where(
        IndicatorValue.indicator_id == bindparam("indicator_id", None),
        IndicatorValue.period_id == bindparam("period_id", None),
    )


@lru_cache(maxsize=32)
def _values_sql(dialect: Any) -> tuple[str, tuple[str, ...] | None, dict[str, Any]]:
    # compiled once per dialect (compiling the select costs about 0.5 ms a request)
    compiled = _values_select().compile(dialect=dialect)
    pos = compiled.positiontup
    return str(compiled), (tuple(pos) if pos is not None else None), dict(compiled.params)


#: PostgreSQL: the values packed into one bytea, 45 bytes a row (int4 org id, five float8,
#: a bool; NULL -> NaN), by one aggregate over the index scan
_PACKED_SQL = (
    "SELECT string_agg(int4send(org_id) || float8send(coalesce(numerator, 'NaN')) || "
    "float8send(coalesce(denominator, 'NaN')) || float8send(coalesce(value, 'NaN')) || "
    "float8send(coalesce(lower_ci, 'NaN')) || float8send(coalesce(upper_ci, 'NaN')) || "
    "boolsend(coalesce(suppressed, false)), '') FROM indicator_values "
    "WHERE indicator_id = %s AND period_id = %s"
)
_PACKED_ROW = np.dtype([("org_id", ">i4"), ("values", ">f8", 5), ("suppressed", "u1")])


def fetch_value_arrays(
    conn: Conn, indicator_id: str, period_id: int, org_ids: tuple[int, ...] | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(org ids, numerator/denominator/value/lower_ci/upper_ci as an (n, 5) float array
    with NaN for NULL, suppressed)`` of one indicator and period, in no particular order.

    On PostgreSQL the rows arrive packed in one binary value that numpy reads in place:
    about half the client time of fetching 6,400 rows as tuples and converting them (no
    Python object per value). Other databases: the rows, converted in one ``np.array``.
    """
    if org_ids is not None and not org_ids:
        return np.empty(0, np.int64), np.empty((0, 5)), np.empty(0, bool)
    c = core_conn(conn)
    if c.dialect.name == "postgresql" and c.dialect.driver == "psycopg":
        sql, params = _PACKED_SQL, [indicator_id, period_id]
        if org_ids is not None:
            sql, params = sql + " AND org_id = ANY(%s)", [*params, list(org_ids)]
        packed = driver_rows(c, sql, params)[0][0] or b""  # NULL when there are no rows
        rec = np.frombuffer(packed, dtype=_PACKED_ROW)
        return (rec["org_id"].astype(np.int64), rec["values"].astype(float),
                rec["suppressed"] > 0)
    compiled = _values_sql(c.dialect) if org_ids is None else _compile(
        c, _values_select().where(IndicatorValue.org_id.in_(list(org_ids))))
    rows = _driver_fetch(c, *compiled, {"indicator_id": indicator_id, "period_id": period_id})
    # one C-level conversion of all rows (None -> NaN; SQLite's 0/1 booleans -> 0.0/1.0)
    m = np.array(rows, dtype=float).reshape(len(rows), len(_VALUE_FIELDS))
    return m[:, 0].astype(np.int64), m[:, 1:6], m[:, 6] > 0


def fetch_value_columns(
    conn: Conn, indicator_id: str, period: PeriodRef, peers: PeerSet
) -> tuple[dict[str, np.ndarray], PeerSet]:
    """One indicator's values in one period for a peer set, as one array per column of
    :data:`VALUE_COLUMNS` (rows ordered by organisation code), and the peer set with its type
    settled. Text, ``org_id`` and ``parent_id`` are object arrays, counts and values float
    (NaN for missing), ``suppressed`` bool.

    One query of the values alone; the organisations (code, name, type, parent, active) come
    from the :class:`OrgDirectory` of the data version, which also filters and orders the
    rows. For the default peer set (every organisation) without a type, rows of every type
    are read and the lowest level present is kept. A type with no rows raises
    :class:`InvalidParameter` naming ``org_type``.
    """
    ids, nums, sup = fetch_value_arrays(conn, indicator_id, period.id, peers.org_ids)
    directory = org_directory(conn)
    pos = directory.positions(ids)
    if (pos < 0).any():
        # an organisation the cached directory does not know (written outside a load)
        directory = org_directory(conn, refresh=True)
        pos = directory.positions(ids)
    keep = pos >= 0
    at = np.where(keep, pos, 0)
    if peers.active_only:
        keep &= directory.is_active[at]
    if peers.org_type is not None:
        keep &= directory.org_type[at] == peers.org_type
    elif peers.kind == "all":
        counts = np.bincount(directory.type_code[at[keep]], minlength=len(directory.types))
        t = lowest_type({directory.types[i]: int(k) for i, k in enumerate(counts) if k})
        if t is not None:
            keep &= directory.type_code[at] == directory.types.index(t)
            peers = replace(peers, org_type=t, label=f"all {t} organisations")
    sel = np.flatnonzero(keep)
    sel = sel[np.argsort(pos[sel], kind="stable")]  # code order
    p = pos[sel]
    cols: dict[str, np.ndarray] = {
        "org_id": directory.id_obj[p],
        "org_code": directory.code[p],
        "org_name": directory.name[p],
        "org_type": directory.org_type[p],
        "parent_id": directory.parent_id[p],
    }
    picked = nums[sel]
    for j, name in enumerate(VALUE_COLUMNS[5:10]):
        cols[name] = np.ascontiguousarray(picked[:, j])
    cols["suppressed"] = sup[sel]
    if peers.kind == "all" and not len(sel) and peers.org_type is not None:
        types = org_types_with_data(conn, indicator_id, period.id,
                                    active_only=peers.active_only)
        raise InvalidParameter(
            "org_type",
            f"no {peers.org_type!r} organisations have {indicator_id!r} values in "
            f"{period.label}; types with data: {', '.join(sorted(types)) or 'none'}",
            details={"valid": sorted(types)},
        )
    return cols, peers


def value_frame(cols: dict[str, np.ndarray]) -> pd.DataFrame:
    """The columns of :func:`fetch_value_columns` as a frame (text, ids and parents as
    object Series, as :func:`frame_from_rows` makes them)."""
    return pd.DataFrame(
        {k: pd.Series(cols[k], dtype=object, copy=False) if cols[k].dtype == object
         else cols[k] for k in VALUE_COLUMNS},
        columns=list(VALUE_COLUMNS), copy=False,
    )


def fetch_values(
    conn: Conn, indicator_id: str, period: PeriodRef, peers: PeerSet
) -> tuple[pd.DataFrame, PeerSet]:
    """:func:`fetch_value_columns` as a frame of :data:`VALUE_COLUMNS`."""
    cols, peers = fetch_value_columns(conn, indicator_id, period, peers)
    return value_frame(cols), peers


def check_confidence(confidence: float) -> float:
    """95 or 99.8 (also 0.95 / 0.998); anything else is an :class:`InvalidParameter`."""
    c = float(confidence)
    if c in (95.0, 0.95):
        return 95.0
    if c in (99.8, 0.998):
        return 99.8
    raise InvalidParameter(
        "confidence", f"confidence must be 95 or 99.8 (percent), got {confidence!r}"
    )


def with_intervals(
    frame: pd.DataFrame, indicator: IndicatorMeta, confidence: float
) -> pd.DataFrame:
    """Add ``value``, ``lower``, ``upper`` in display units (x multiplier) to a values frame.

    Rows with a numerator and a positive denominator get the engine's interval for the value
    type (:func:`core.stats.value_intervals`: Wilson, Byar/exact Poisson, Student-t); rows with
    only a published value keep it, with the published interval at 95% (publications give
    95% limits) and none at 99.8%. Suppressed rows have no value and no interval.
    """
    from core.stats.intervals import value_intervals

    out = frame.copy()
    num = out["numerator"].to_numpy(dtype=float)
    den = out["denominator"].to_numpy(dtype=float)
    computed = value_intervals(
        indicator.value_type, num, den, confidence=confidence / 100.0,
        multiplier=indicator.multiplier,
    )
    has_parts = np.isfinite(num) & (
        np.isfinite(den) & (den > 0) if indicator.value_type != "count" else True
    )
    stored = out["value"].to_numpy(dtype=float)
    value = np.where(has_parts, computed["value"].to_numpy(), stored)
    if indicator.value_type == "mean":
        value = np.where(np.isfinite(stored), stored, value)  # a mean's published value wins
    pub_ok = confidence == 95.0
    lower = np.where(
        has_parts, computed["lower"].to_numpy(),
        out["lower_ci"].to_numpy(dtype=float) if pub_ok else np.nan,
    )
    upper = np.where(
        has_parts, computed["upper"].to_numpy(),
        out["upper_ci"].to_numpy(dtype=float) if pub_ok else np.nan,
    )
    sup = out["suppressed"].to_numpy(dtype=bool)
    out["value"] = np.where(sup, np.nan, value)
    out["lower"] = np.where(sup, np.nan, lower)
    out["upper"] = np.where(sup, np.nan, upper)
    return out


def improvement_direction(polarity: str) -> str:
    """SPC improvement direction of a polarity: increase, decrease or neutral."""
    return {"higher_is_better": "increase", "lower_is_better": "decrease"}.get(
        polarity, "neutral"
    )
