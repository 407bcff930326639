"""Indicators: the lookup every read starts from (:func:`get_indicator`, :class:`IndicatorMeta`),
the list, and one indicator with its metadata and the periods that have data."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd
from sqlalchemy import func, literal, select, true

from core.errors import NotFound
from core.models import (
    Indicator,
    IndicatorValue,
    Organisation,
    Period,
    ikey_of,
    indicator_slugs,
)
from core.services.counts import value_counts
from core.services.data_periods import PeriodRef, periods_with_data
from core.services.query import _LIST_MAX, Conn, _listing, core_conn
from core.services.version import (
    PEER_TTL,
    current_version,
    engine_cache,
    load_version,
)

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


INDICATOR_LIST_COLUMNS = (
    "id", "name", "domain", "value_type", "multiplier", "polarity", "target", "unit",
    "decimals", "frequency", "source", "latest_period", "periods", "organisations",
)


def list_indicators(conn: Conn, *, domain: str | None = None) -> pd.DataFrame:
    """Every indicator (optionally of one ``domain``) with its latest period with data, the
    number of periods and of organisations with values: :data:`INDICATOR_LIST_COLUMNS`."""
    metas = [m for m in list_indicator_meta(conn) if domain is None or m.domain == domain]
    by_id, latest_label = _value_summary(conn)
    rows = []
    for m in metas:
        n_periods, n_orgs, _end = by_id.get(m.id, (0, 0, None))
        rows.append(
            {
                "id": m.id, "name": m.name, "domain": m.domain, "value_type": m.value_type,
                "multiplier": m.multiplier, "polarity": m.polarity, "target": m.target,
                "unit": m.unit, "decimals": m.decimals, "frequency": m.frequency,
                "source": m.source,
                "latest_period": latest_label[m.id][2] if m.id in latest_label else None,
                "periods": int(n_periods), "organisations": int(n_orgs),
            }
        )
    return pd.DataFrame(rows, columns=list(INDICATOR_LIST_COLUMNS))


@dataclass(frozen=True)
class IndicatorDetail:
    """An indicator's metadata, its periods with data (oldest first) and the organisation
    types holding values."""

    indicator: IndicatorMeta
    periods: list[PeriodRef]
    org_types: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (dates as ``datetime.date``)."""
        d = self.indicator.as_dict()
        d["periods"] = [p.as_dict() for p in self.periods]
        d["latest_period"] = self.periods[-1].label if self.periods else None
        d["org_types"] = self.org_types
        return d


def indicator_detail(conn: Conn, indicator_id: str) -> IndicatorDetail:
    """One indicator with all its metadata and the periods that have data."""
    meta = get_indicator(conn, indicator_id)
    periods = periods_with_data(conn, indicator_id)
    return IndicatorDetail(meta, periods, _org_types_with_values(conn, meta.id))


def _org_types_with_values(conn: Conn, indicator_id: str) -> dict[str, int]:
    """How many organisations of each type have a value of the indicator, in any period.

    A scan of the indicator's values in every period (55 ms for 6,400 practices x 60 months
    on PostgreSQL), so cached per data version like the other value summaries."""
    version = current_version(conn)
    cache = engine_cache(conn, "indicator_org_types", maxsize=1024)
    hit = cache.get(indicator_id, version)
    if hit is None:
        hit = {t: int(n) for t, n in conn.execute(
            select(Organisation.org_type, func.count(func.distinct(IndicatorValue.org_id)))
            .join(Organisation, Organisation.id == IndicatorValue.org_id)
            .where(IndicatorValue.ikey == ikey_of(indicator_id))
            .group_by(Organisation.org_type)
        ).all()}
        cache.put(indicator_id, version, hit)
    return dict(hit)


def pairs_with_values_query() -> Any:
    """Every (indicator key, period label, type, end) pair of the two small tables that has a
    value: one probe of the primary key each (``core.services.loads.pair_probe``: 1.0 s for
    121,000 pairs at 13.5M values, where an EXISTS became a sort of every value, 6.2 s)."""
    from core.services.loads import pair_probe

    return (select(Indicator.ikey, Period.label, Period.period_type, Period.end_date)
            .select_from(Indicator).join(Period, true())  # every pair, each probed once
            .where(pair_probe().is_not(None)))


#: a probe of the (org_id, ikey) index costs about as much as reading this many values of an
#: indicator's key range (PostgreSQL, 7.7M values in memory: 2.9-3.4 us a probe, 0.32 us a
#: value read by ``count(DISTINCT org_id)``)
PROBE_ROWS = 10


def _probes_each(conn: Conn) -> int:
    """The probes :func:`org_count_query` makes per indicator: one per organisation."""
    return max(int(conn.execute(select(func.count()).select_from(Organisation)).scalar_one()), 1)


def org_probe() -> Any:
    """Has the (``Organisation``, ``Indicator``) pair of the enclosing query a value: one
    probe of the (org_id, ikey) index, as a LIMIT 1 scalar subquery (1 or NULL) that no
    planner flattens into a scan of the values (see :func:`core.services.loads.pair_probe`)."""
    return (select(literal(1)).select_from(IndicatorValue)
            .where(IndicatorValue.org_id == Organisation.id,
                   IndicatorValue.ikey == Indicator.ikey)
            .limit(1).correlate_except(IndicatorValue).scalar_subquery())


def org_count_query(slugs: list[str] | None = None) -> Any:
    """Per indicator key (of ``slugs``, or every indicator), the organisations with a value:
    :func:`org_probe` once per organisation. Its cost is the number of organisations, not of
    values: about 20 ms an indicator for 6,500 practices, whether it has 1 or 120 periods."""
    orgs = (select(func.count()).select_from(Organisation)
            .where(org_probe().is_not(None)).scalar_subquery())
    stmt = select(Indicator.ikey, orgs)
    return stmt if slugs is None else stmt.where(Indicator.id.in_(slugs))


def _recount_orgs(conn: Conn, slugs: list[str], values: dict[int, int] | None = None
                  ) -> dict[int, int]:
    """Organisations with a value of each of these indicators, by key (0 for none).

    Each indicator is counted the cheaper way, from how many values it holds (``values``, by
    key; none given: few): by reading its own range of the primary key, or, with more than
    :data:`PROBE_ROWS` values per organisation in the database, by :func:`org_count_query`'s
    probes. After a monthly load of a 10-year national history the range is 770K values an
    indicator (about a quarter of a second each, minutes for 1,000 indicators); the probes,
    6,800."""
    if not slugs:
        return {}
    values = values or {}
    keys = dict(conn.execute(select(Indicator.id, Indicator.ikey)
                             .where(Indicator.id.in_(slugs))).all())
    limit = PROBE_ROWS * _probes_each(conn)
    probe = [s for s, k in keys.items() if values.get(k, 0) > limit]
    probed = set(probe)
    scan = [s for s in keys if s not in probed]
    out: dict[int, int] = {}
    if probe:
        out.update({int(k): int(n) for k, n in conn.execute(org_count_query(probe)).all()})
    if scan:
        ranged = (select(func.count(func.distinct(IndicatorValue.org_id)))
                  .where(IndicatorValue.ikey == Indicator.ikey).scalar_subquery())
        out.update({int(k): int(n) for k, n in conn.execute(
            select(Indicator.ikey, ranged).where(Indicator.id.in_(scan))).all()})
    return out


def _value_summary(
    conn: Conn,
) -> tuple[dict[str, Any], dict[str, tuple[Any, int, str]]]:
    """Per indicator: (periods, organisations, latest end) and its latest period label.

    Probes of the primary key per (indicator, period) pair and the organisations the loads
    keep per indicator (``core.services.counts``; two scans of the table took 3.2 s), cached
    per data version (:mod:`core.services.version`): values change only through loads and
    reverts, which move the version in every worker."""
    # values change only through loads and reverts: kept per load version (an annotation or
    # an action does not make it read again), an hour at most (seconds at scale)
    version = load_version(conn)
    cache = engine_cache(conn, "indicator_value_summary", maxsize=4, ttl=PEER_TTL)
    hit = cache.get("all", version)
    if hit is not None:
        return hit
    slugs = indicator_slugs(conn)
    # the (indicator, period) pairs with a value: one probe of the primary key (indicator,
    # period, organisation) per pair of the two small tables, instead of reading every value
    pairs = conn.execute(pairs_with_values_query()).all()
    periods: dict[int, int] = {}
    for ikey, *_ in pairs:
        periods[ikey] = periods.get(ikey, 0) + 1
    # kept by the loads and reverts (core.services.counts), never counted here
    orgs = {k: n_orgs for k, (_, n_orgs) in value_counts(conn).items()}
    stats: dict[int, list[Any]] = {}
    latest_label: dict[str, tuple[Any, int, str]] = {}
    fine = {"month": 0, "quarter": 1, "financial_year": 2, "year": 3}
    for ikey, label, ptype, end in pairs:
        st = stats.setdefault(ikey, [0, int(orgs.get(ikey, 0)), None])
        st[0] += 1
        st[2] = end if st[2] is None else max(st[2], end)
        ind = slugs[ikey]
        key = (end, -fine.get(ptype, 9), label)
        if ind not in latest_label or key > latest_label[ind]:
            latest_label[ind] = key
    by_id = {slugs[k]: tuple(v) for k, v in stats.items()}
    cache.put("all", version, (by_id, latest_label))
    return by_id, latest_label
