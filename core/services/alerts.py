"""Alerts: what a values load changed that a network lead should look at.

Every successful values load raises, for each point it wrote in the periods that are news
(below), alerts of these kinds:

* ``special_cause_improvement`` / ``special_cause_concern``: the point is special cause on the
  organisation's SPC chart of that period type as it stands after the load (XmR, default
  settings and the rebases people accepted: :func:`core.stats.xmr_batch`, the engine of
  :func:`core.services.spc.spc`), with the rule that flagged it;
* ``crossed_limit_worse`` / ``crossed_limit_better``: the organisation moved beyond (or back
  inside) the 99.8% funnel limits of its peers (:func:`core.services.comparison.funnel`, every
  organisation of its type) compared with the previous period;
* ``target_missed`` / ``target_met``: it missed (met) the indicator's target having met
  (missed) it in the previous period.

History is not news (:func:`news_periods`, per indicator and period type): a load raises
alerts only for the periods newer than the newest the indicator already had, and for the
periods in which it changed values that were there before (a revision). A first load of an
indicator (several years of history) raises alerts only for its latest period; a load that
back-fills older periods raises none for them. Nobody needs 8,000 alerts about 2015.

Noise rules (:class:`NoiseRules`, per indicator in ``alert_settings``): no alert from a point
whose denominator is below ``min_denominator``; no special-cause alert from a chart with trial
limits (fewer than 12 points); at most one alert per organisation, indicator, period and kind
(an alert already standing from an earlier load is not raised again). Reverting the load
withdraws its alerts.

:func:`alerts_from_points` is the pure part (frames in, alert rows out); the rest reads the
database and stores the rows with the load. Every alert leaving core goes through
:func:`published` (disclosure control).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, delete, func, insert, select, update

from core import audit, stats
from core.errors import InvalidParameter
from core.models import (
    ALERT_KINDS,
    Alert,
    AlertSetting,
    Indicator,
    IndicatorValue,
    Load,
    Organisation,
    Period,
    ValueHistory,
    indicator_slugs,
    utcnow,
)
from core.periods import parse_period
from core.services import disclosure
from core.services.indicators import IndicatorMeta, get_indicator
from core.services.organisations import (
    OrgDirectory,
    descendant_ids,
    get_org,
    org_directory,
)
from core.services.query import Conn, core_conn, fetch_all, frame_from_rows
from core.services.values import display_values, fetch_indicator_series, improvement_direction
from core.settings import get_settings
from core.stats.spc import MIN_POINTS

ALERT_COLUMNS = (
    "id", "load_id", "org_code", "org_name", "indicator_id", "period", "kind", "rule", "value",
    "message", "url",
)
SPC_KINDS = ("special_cause_improvement", "special_cause_concern")
#: concerns first wherever alerts are listed for people
KIND_ORDER = {
    "special_cause_concern": 0, "crossed_limit_worse": 1, "target_missed": 2,
    "special_cause_improvement": 3, "crossed_limit_better": 4, "target_met": 5,
}
RULE_TEXT = {
    "outside_limits": "a point outside the process limits",
    "trend": "a run of 7 points each rising or falling",
    "two_of_three": "2 of 3 points beyond the near (2-sigma) limits",
    "shift": "a run of 7 points on one side of the mean",
}
_CHUNK = 5000
_COMPUTED = ["org_id", "indicator_id", "period_id", "kind", "rule", "value", "numerator",
             "denominator", "message"]


@dataclass(frozen=True)
class NoiseRules:
    """``min_denominator``: points with a smaller denominator raise nothing; ``kinds``: the
    kinds raised (default all)."""

    min_denominator: float = 0.0
    kinds: frozenset[str] = frozenset(ALERT_KINDS)


def check_kinds(kinds: list[str] | tuple[str, ...] | None, parameter: str = "kinds"
                ) -> list[str] | None:
    """The kinds, each one of :data:`core.models.ALERT_KINDS`; None or empty means all."""
    if not kinds:
        return None
    bad = [k for k in kinds if k not in ALERT_KINDS]
    if bad:
        raise InvalidParameter(
            parameter, f"unknown alert kind {bad[0]!r}; kinds: {', '.join(ALERT_KINDS)}")
    return list(dict.fromkeys(kinds))


# ----------------------------------------------------------------------------- the pure part
def _meets(value: np.ndarray, target: float, polarity: str) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return value >= target if polarity == "higher_is_better" else value <= target


def alerts_from_points(
    points: pd.DataFrame, *, polarity: str, target: float | None, rules: NoiseRules,
) -> pd.DataFrame:
    """Alerts raised by the points a load wrote in its news periods (one indicator, one period
    type; see :func:`news_periods`).

    ``points``: one row per changed point, with ``org_id``, ``period_id``, ``value``,
    ``denominator``, ``prev_value`` (the previous period's value, NaN when missing),
    ``special_cause`` and ``rule`` (the point on the SPC chart after the load), ``trial``
    (the chart has trial limits), ``flag`` and ``prev_flag`` (funnel flags of this and the
    previous period, None when not on a funnel). Returns ``org_id``, ``period_id``, ``kind``,
    ``rule``, ``value``, one row per organisation, period and kind.
    """
    cols = ["org_id", "period_id", "kind", "rule", "value"]
    if points.empty:
        return pd.DataFrame(columns=cols)
    p = points.reset_index(drop=True)
    value = p["value"].to_numpy(dtype=float)
    den = p["denominator"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        quiet = np.isfinite(den) & (den < rules.min_denominator)
    ok = np.isfinite(value) & ~quiet
    out: list[pd.DataFrame] = []

    def add(mask: np.ndarray, kind: str, rule: Any) -> None:
        if kind not in rules.kinds or not mask.any():
            return
        r = rule[mask] if isinstance(rule, np.ndarray) else rule
        out.append(pd.DataFrame({
            "org_id": p["org_id"].to_numpy()[mask], "period_id": p["period_id"].to_numpy()[mask],
            "kind": kind, "rule": r, "value": value[mask],
        }))

    special = p["special_cause"].astype(object).to_numpy()
    spc_rule = p["rule"].astype(object).where(p["rule"].notna(), None).to_numpy()
    spc_ok = ok & ~p["trial"].to_numpy(dtype=bool)
    add(spc_ok & (special == "improvement"), "special_cause_improvement", spc_rule)
    add(spc_ok & (special == "concern"), "special_cause_concern", spc_rule)

    if polarity in ("higher_is_better", "lower_is_better"):
        worse, better = (("below_998", "above_998") if polarity == "higher_is_better"
                         else ("above_998", "below_998"))
        flag = p["flag"].astype(object).to_numpy()
        prev = p["prev_flag"].astype(object).to_numpy()
        known = ok & pd.notna(flag) & pd.notna(prev)
        known = known & np.array([isinstance(f, str) and isinstance(g, str)
                                  for f, g in zip(flag, prev, strict=True)], dtype=bool)
        into_worse = known & (flag == worse) & (prev != worse)
        out_of_better = known & (prev == better) & (flag != better) & (flag != worse)
        into_better = known & (flag == better) & (prev != better)
        out_of_worse = known & (prev == worse) & (flag != worse) & (flag != better)
        add(into_worse | out_of_better, "crossed_limit_worse",
            np.where(into_worse, worse, f"back_from_{better}"))
        add(into_better | out_of_worse, "crossed_limit_better",
            np.where(into_better, better, f"back_from_{worse}"))
        if target is not None and np.isfinite(target):
            prev_value = p["prev_value"].to_numpy(dtype=float)
            both = ok & np.isfinite(prev_value)
            now_met, was_met = _meets(value, target, polarity), _meets(prev_value, target,
                                                                      polarity)
            add(both & ~now_met & was_met, "target_missed", None)
            add(both & now_met & ~was_met, "target_met", None)
    if not out:
        return pd.DataFrame(columns=cols)
    res = pd.concat(out, ignore_index=True)
    return res.drop_duplicates(["org_id", "period_id", "kind"], keep="first")[cols]


def alert_message(kind: str, rule: str | None, indicator: IndicatorMeta, period: str) -> str:
    """What an alert says (no figures: the value travels in its own, disclosed, field)."""
    name = indicator.name
    if kind.startswith("special_cause"):
        what = "improvement" if kind.endswith("improvement") else "concern"
        how = RULE_TEXT.get(rule or "", rule or "a special-cause rule")
        return f"{name}, {period}: special cause of {what} on the SPC chart ({how})"
    if kind.startswith("crossed_limit"):
        r = rule or ""
        side = "above" if "above" in r else "below"
        if r.startswith("back_from_"):
            return (f"{name}, {period}: back inside the 99.8% funnel limits of its peers "
                    f"(was {side} them the period before)")
        return (f"{name}, {period}: moved {side} the 99.8% funnel limits of its peers "
                "(was inside them the period before)")
    target = indicator.target_label or f"target {indicator.target:g}"
    if kind == "target_missed":
        return f"{name}, {period}: missed the {target} (met it the period before)"
    return f"{name}, {period}: met the {target} (missed it the period before)"


# ----------------------------------------------------------------------------- settings
def noise_rules(conn: Conn, indicator_id: str) -> NoiseRules:
    """The indicator's noise rules: its ``alert_settings`` row over the deployment default."""
    row = conn.execute(select(AlertSetting.min_denominator, AlertSetting.kinds).where(
        AlertSetting.indicator_id == indicator_id)).first()
    default = float(get_settings().alert_min_denominator)
    if row is None:
        return NoiseRules(default)
    return NoiseRules(
        default if row[0] is None else float(row[0]),
        frozenset(row[1]) if row[1] else frozenset(ALERT_KINDS),
    )


@audit.writes("alert_settings.set")
def set_noise_rules(conn: Conn, indicator_id: str, *, min_denominator: float | None,
                    kinds: list[str] | None) -> dict[str, Any]:
    """Store an indicator's noise rules (None: back to the default)."""
    ind = get_indicator(conn, indicator_id)
    if min_denominator is not None and (not np.isfinite(min_denominator)
                                        or min_denominator < 0):
        raise InvalidParameter("min_denominator", "min_denominator must be 0 or more")
    kinds = check_kinds(kinds)
    conn.execute(delete(AlertSetting).where(AlertSetting.indicator_id == ind.id))
    conn.execute(insert(AlertSetting).values(indicator_id=ind.id, min_denominator=min_denominator,
                                             kinds=kinds))
    rules = noise_rules(conn, ind.id)
    audit.record(conn, "alert_settings.set", ind.id,
                 {"min_denominator": min_denominator, "kinds": kinds})
    return {"indicator_id": ind.id, "min_denominator": rules.min_denominator,
            "kinds": sorted(rules.kinds, key=ALERT_KINDS.index)}


# ----------------------------------------------------------------------------- computing
def _previous_label(label: str, period_type: str) -> str:
    start = parse_period(label, period_type).start
    return parse_period((start - dt.timedelta(days=1)).isoformat(), period_type).label


@dataclass(frozen=True)
class _Periods:
    """Every period: by id, its type, label and start (as a day number for ordering)."""

    type_of: np.ndarray  # object, by id (None for no such id)
    label_of: np.ndarray  # object, by id
    start_of: np.ndarray  # int64 day ordinal, by id
    id_of: dict[tuple[str, str], int]  # (type, label) -> id


def _periods(conn: Conn) -> _Periods:
    rows = fetch_all(conn, select(Period.id, Period.period_type, Period.label,
                                  Period.start_date))
    size = max((int(r[0]) for r in rows), default=0) + 1
    type_of = np.full(size, None, dtype=object)
    label_of = np.full(size, None, dtype=object)
    start_of = np.zeros(size, dtype=np.int64)
    id_of: dict[tuple[str, str], int] = {}
    for pid, ptype, label, start in rows:
        start = start if isinstance(start, dt.date) else dt.date.fromisoformat(str(start)[:10])
        type_of[pid], label_of[pid], start_of[pid] = ptype, label, start.toordinal()
        id_of[(str(ptype), str(label))] = int(pid)
    return _Periods(type_of, label_of, start_of, id_of)


def _updated_periods(conn: Conn, load_id: int) -> dict[str, set[int]]:
    """The periods (by indicator) in which the load changed values that existed before it
    (its ``value_history`` rows: a load records only what it replaced)."""
    out: dict[str, set[int]] = {}
    slugs: dict[int, str] | None = None
    for key, pid in fetch_all(conn, select(ValueHistory.ikey, ValueHistory.period_id)
                              .where(ValueHistory.load_id == load_id,
                                     ValueHistory.action == "update").distinct()):
        if slugs is None:
            slugs = indicator_slugs(conn)
        out.setdefault(slugs[int(key)], set()).add(int(pid))
    return out


def news_periods(written: set[int], existing: set[int], updated: set[int],
                 start_of: Any) -> set[int]:
    """History is not news: the periods of one indicator and period type whose points a load
    may raise alerts for, given the periods it wrote to (``written``), the periods that had
    values before it (``existing``) and those in which it changed values (``updated``);
    ``start_of[period id]`` orders them.

    * the periods newer than the newest the indicator already had, and the periods in which
      the load changed values;
    * a first load (nothing before it) raises only for its latest period; a load that
      back-fills older periods raises nothing for them (unless it changed values there).
    """
    if not written:
        return set()
    if not existing:
        return {max(written, key=lambda p: start_of[p])}
    newest = max(start_of[p] for p in existing)
    return {p for p in written if start_of[p] > newest} | (updated & written)


def funnel_flag_codes(
    directory: OrgDirectory, org_id: np.ndarray, period_id: np.ndarray,
    numerator: np.ndarray, denominator: np.ndarray, suppressed: np.ndarray, value_type: str,
) -> tuple[np.ndarray, np.ndarray]:
    """The flag of every row on its funnel (:func:`core.services.comparison.funnel`, default
    peers: every active organisation of its type with a value in that period), for all
    periods and organisation types at once (:func:`core.stats.funnel.grouped_flags`).

    Returns ``(positions of the rows in the directory, -1 when unknown or not a peer;
    flag codes, -1 for none)``. Rows are ordered as the funnel orders them (by code) before
    the pooled values are summed, so the flags equal those of one funnel per period and type.
    Under disclosure control a row whose counts are suppressed has no flag, as the funnel
    shows it.
    """
    from core.stats.funnel import grouped_flags

    pos = directory.positions(org_id)
    at = np.where(pos >= 0, pos, 0)
    peer = (pos >= 0) & directory.is_active[at]
    sel = np.flatnonzero(peer)
    tcode = directory.type_code[at[sel]]
    order = sel[np.lexsort((pos[sel], tcode, period_id[sel]))]
    p, t = period_id[order], directory.type_code[pos[order]]
    new_group = np.ones(len(order), dtype=bool)
    new_group[1:] = (p[1:] != p[:-1]) | (t[1:] != t[:-1])
    starts = np.append(np.flatnonzero(new_group), len(order))
    sup = suppressed[order]
    num = np.where(sup, np.nan, numerator[order])  # a suppressed value carries no counts
    den = np.where(sup, np.nan, denominator[order])
    codes = np.full(len(org_id), -1, dtype=np.int8)
    if len(order):
        codes[order] = grouped_flags(num, den, starts, value_type=value_type)
    rule = disclosure.active_rule()
    if rule is not None:
        hidden, _ = disclosure.count_mask(rule, {"numerator": numerator,
                                                 "denominator": denominator})
        codes[hidden] = -1
    return np.where(peer, pos, -1), codes


#: the columns of a written indicator (see :func:`compute_load_alerts`)
WRITTEN_COLUMNS = ("org_id", "period_id", "numerator", "denominator", "value", "suppressed")


@dataclass(frozen=True)
class AlertPlan:
    """What :func:`compute_load_alerts` reads from the database, read
    (:func:`plan_load_alerts`), but the series to read back (``read_back``). Computing the
    alerts from it (:func:`alerts_of_plan`) needs no connection when there are none (a first
    load: the loader kept every row), so a loader can do it while the connection rebuilds the
    values table's keys (``etl.load_values.ValueStage.rebuilding``)."""

    load_id: int
    indicators: tuple[str, ...]
    periods: _Periods
    #: periods in which the load changed values, by indicator (its ``value_history``)
    updated: dict[str, set[int]]
    meta: dict[str, tuple[IndicatorMeta, NoiseRules]]
    directory: OrgDirectory | None
    #: accepted rebase periods by (indicator, period type) and organisation id
    rebases: dict[tuple[str, str], dict[int, list[str]]]
    #: the indicators whose series :func:`alerts_of_plan` reads back (every one not in
    #: ``written``), one at a time (the next read while one is computed: memory holds two
    #: indicators' series at most, not all of them)
    read_back: frozenset[str]


def plan_load_alerts(conn: Conn, load_id: int, indicators: Any = None,
                     written: Collection[str] | None = None,
                     org_ids: np.ndarray | None = None) -> AlertPlan:
    """Everything :func:`compute_load_alerts` reads (arguments: see there; of ``written``
    only the indicators count: their rows are not read back). ``org_ids``: the organisations
    of the rows in ``written`` (when it is not a mapping of them)."""
    from core.services.rebases import network_rebase_periods

    if indicators is None:
        slugs = indicator_slugs(conn)
        indicators = [slugs[int(r[0])] for r in fetch_all(
            conn, select(IndicatorValue.ikey).where(
                IndicatorValue.load_id == load_id).distinct())]
    ids = tuple(sorted({str(i) for i in indicators}))
    meta = {}
    for indicator_id in ids:
        ind = get_indicator(conn, indicator_id)
        meta[indicator_id] = (ind, noise_rules(conn, ind.id))
    directory = None
    if ids:
        directory = org_directory(conn)
        orgs = []
        if isinstance(written, Mapping):
            orgs = [np.asarray(w["org_id"]) for w in written.values()]
        elif org_ids is not None:
            orgs = [np.asarray(org_ids)]
        if any((directory.positions(o) < 0).any() for o in orgs):
            directory = org_directory(conn, refresh=True)  # the load added organisations
    return AlertPlan(
        load_id=load_id, indicators=ids, periods=_periods(conn),
        updated=_updated_periods(conn, load_id), meta=meta, directory=directory,
        rebases=network_rebase_periods(conn, None, [m.id for m, _ in meta.values()]),
        read_back=frozenset(i for i in ids if written is None or i not in written))


def alerts_of_plan(plan: AlertPlan,
                   written: Mapping[str, Mapping[str, np.ndarray]] | None = None,
                   conn: Conn | None = None) -> pd.DataFrame:
    """The alerts of a :func:`plan_load_alerts` (the columns of :func:`compute_load_alerts`);
    ``written``: the rows of the indicators the plan does not read back. Without the
    database when it reads nothing back (``conn`` is for ``plan.read_back``)."""
    reads = _ReadAhead(conn, [i for i in plan.indicators if i in plan.read_back])
    try:
        out = _alerts_read(plan, written, conn, reads)
    finally:
        reads.close()
    if not out:
        return pd.DataFrame(columns=_COMPUTED)
    return pd.concat(out, ignore_index=True)[_COMPUTED]


#: read each series one ahead of the computation where it pays (see :class:`_ReadAhead`)
READ_AHEAD = True


class _ReadAhead:
    """The series :func:`alerts_of_plan` reads back, each read one ahead of the computation.

    On PostgreSQL the next indicator's series is read in a worker thread, on the same
    connection, while this one's alerts are computed: the database's work (a monthly load of
    20 indicators at 7.7M values: 6 s of its 10 s) and Python's (4 s) then go on at once, on
    two cores. The connection is used by one thread at a time: the computation needs none,
    and :meth:`idle` waits for the read in flight before the caller uses it. On SQLite a read
    is this process's own work: in line."""

    def __init__(self, conn: Conn | None, ids: list[str]) -> None:
        self.conn, self.ids = conn, iter(ids)
        #: the read in flight: (indicator id, its series to come)
        self.pending: tuple[str, Future[dict[str, np.ndarray]]] | None = None
        ahead = READ_AHEAD and conn is not None and len(ids) > 1 and \
            core_conn(conn).dialect.name == "postgresql"
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qidash-alert-read") \
            if ahead else None
        self._start_next()

    def _start_next(self) -> None:
        conn = self.conn
        indicator_id = next(self.ids, None) if self.pool is not None else None
        if self.pool is not None and conn is not None and indicator_id is not None:
            # the module's name looked up when it runs (tests and benches wrap it)
            self.pending = (indicator_id, self.pool.submit(
                lambda: fetch_indicator_series(conn, indicator_id)))

    def get(self, indicator_id: str) -> dict[str, np.ndarray]:
        """The series of ``indicator_id`` (the next of the ids), and the next one's read
        started."""
        assert self.conn is not None, indicator_id
        if self.pool is None:
            return fetch_indicator_series(self.conn, indicator_id)
        assert self.pending is not None, indicator_id
        assert self.pending[0] == indicator_id, (self.pending[0], indicator_id)
        series = self.pending[1].result()
        self.pending = None
        self._start_next()
        return series

    def idle(self) -> None:
        """Wait for the read in flight (its series is kept): the connection is the caller's."""
        if self.pending is not None:
            self.pending[1].exception()

    def close(self) -> None:
        """No read left running on the connection; the thread stopped."""
        if self.pool is not None:
            self.idle()
            self.pool.shutdown()
            self.pool = None


def _alerts_read(plan: AlertPlan, written: Mapping[str, Mapping[str, np.ndarray]] | None,
                 conn: Conn | None, reads: _ReadAhead) -> list[pd.DataFrame]:
    """The alerts of each indicator of :func:`alerts_of_plan`'s plan, in order."""
    load_id, periods, directory = plan.load_id, plan.periods, plan.directory
    out: list[pd.DataFrame] = []
    for indicator_id in plan.indicators:
        if indicator_id in plan.read_back:
            s = reads.get(indicator_id)
            if directory is not None and (directory.positions(s["org_id"]) < 0).any():
                assert conn is not None  # it read the series
                reads.idle()
                directory = org_directory(conn, refresh=True)
        else:
            assert written is not None, indicator_id
            w = written[indicator_id]
            s = {c: np.asarray(w[c]) for c in WRITTEN_COLUMNS}
            s["load_id"] = np.full(len(s["org_id"]), load_id, dtype=np.int64)
        mine = s["load_id"] == load_id
        if not mine.any():
            continue
        ind, rules = plan.meta[indicator_id]
        ptype_of = periods.type_of[s["period_id"]]
        for ptype in sorted({str(t) for t in pd.unique(ptype_of[mine])}):
            in_type = ptype_of == ptype
            wrote = {int(p) for p in np.unique(s["period_id"][mine & in_type])}
            existing = {int(p) for p in np.unique(s["period_id"][~mine & in_type])}
            changed = plan.updated.get(ind.id, set())
            existing |= changed & wrote  # they had values before the load changed them
            news = news_periods(wrote, existing, changed, periods.start_of)
            points = mine & in_type & np.isin(s["period_id"], sorted(news))
            if not points.any():
                continue
            assert directory is not None
            found = _alerts_of_type(s, in_type, points, ind, rules, ptype, periods,
                                    directory, plan.rebases.get((ind.id, ptype), {}))
            if len(found):
                out.append(found)
    return out


def compute_load_alerts(conn: Conn, load_id: int, indicators: Any = None,
                        written: Mapping[str, Mapping[str, np.ndarray]] | None = None
                        ) -> pd.DataFrame:
    """The alerts a load raises (see the module docstring), computed from the database as it
    stands after the load: ``org_id``, ``indicator_id``, ``period_id``, ``kind``, ``rule``,
    ``value``, ``numerator``, ``denominator``, ``message``.

    ``indicators``: the indicators the load's file held, when the loader knows them (saves
    finding them among the load's rows). ``written``: for indicators that had no values
    before this load, every row the load wrote (:data:`WRITTEN_COLUMNS` as arrays): then
    they are the indicator's whole series and are not read back (the first national load).
    Every other indicator's values are read once, as numpy columns. The SPC charts are
    computed only for the organisations with points that may raise alerts, and the funnel
    flags of all their periods and organisation types in one vectorised pass. Reading
    (:func:`plan_load_alerts`) and computing (:func:`alerts_of_plan`) are two steps.
    """
    return alerts_of_plan(plan_load_alerts(conn, load_id, indicators, written), written, conn)


@dataclass(frozen=True)
class _Charts:
    """The SPC charts of one indicator and period type, one row per organisation with points
    (``orgs``, ascending), one column per period of ``seq`` (every period from the first to
    the last present); ``col_of`` maps a period id to its column (-1: not in ``seq``)."""

    orgs: np.ndarray
    seq: list[str]
    col_of_label: dict[str, int]
    col_of: np.ndarray
    wide: np.ndarray


def _charts(s: dict[str, np.ndarray], in_type: np.ndarray, points: np.ndarray,
            ind: IndicatorMeta, ptype: str, periods: _Periods) -> _Charts:
    """The SPC charts of the organisations with points, as the chart shows them: display
    values (core.services.values.display_values, as with_intervals gives them), every period
    from their first to last."""
    from core.services.spc import period_sequence

    orgs = np.unique(s["org_id"][points])
    rows = np.flatnonzero(in_type & np.isin(s["org_id"], orgs))
    # the values the chart shows (no interval: the chart's points need none)
    shown = display_values(ind, s["numerator"][rows], s["denominator"][rows], s["value"][rows],
                           s["suppressed"][rows])
    pids = s["period_id"][rows]
    present = np.unique(pids)
    first = present[np.argmin(periods.start_of[present])]
    last = present[np.argmax(periods.start_of[present])]
    seq = period_sequence(str(periods.label_of[first]), str(periods.label_of[last]), ptype)
    col_of_label = {lab: k for k, lab in enumerate(seq)}
    col_of = np.full(len(periods.type_of), -1, dtype=np.int64)
    for p in present:
        col_of[p] = col_of_label.get(str(periods.label_of[p]), -1)
    r_all = np.searchsorted(orgs, s["org_id"][rows])
    c_all = col_of[pids]
    wide = np.full((len(orgs), len(seq)), np.nan)
    ok = c_all >= 0
    wide[r_all[ok], c_all[ok]] = shown[ok]
    return _Charts(orgs, seq, col_of_label, col_of, wide)


def _special_causes(ch: _Charts, ind: IndicatorMeta,
                    accepted: Mapping[int, list[str]] | None
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each chart point's special cause, rule and whether its limits are trial limits: the
    chart's one segment, or the point's segment where people accepted rebases."""
    direction = improvement_direction(ind.polarity)
    batch = stats.xmr_batch(ch.wide, improvement_direction=direction, target=ind.target)
    special, rule = batch.special_cause, batch.rule
    trial = np.repeat(batch.trial_limits[:, None], len(ch.seq), axis=1)
    for oid, labels in (accepted or {}).items():
        # a chart with accepted rebases has its own segments (rebase_at is per batch)
        r = int(np.searchsorted(ch.orgs, oid))
        cols = sorted({ch.col_of_label[lab] for lab in labels if lab in ch.col_of_label})
        if r >= len(ch.orgs) or ch.orgs[r] != oid or not cols:
            continue
        one = stats.xmr_batch(ch.wide[r:r + 1], improvement_direction=direction,
                              target=ind.target, rebase_at=cols)
        if special is batch.special_cause:
            special, rule = special.copy(), rule.copy()
        special[r], rule[r] = one.special_cause[0], one.rule[0]
        seg = np.searchsorted(np.asarray(cols), np.arange(len(ch.seq)), side="right")
        counts = np.bincount(seg[np.isfinite(ch.wide[r])], minlength=len(cols) + 1)
        trial[r] = counts[seg] < MIN_POINTS
    return special, rule, trial


def _funnel_flags(s: dict[str, np.ndarray], in_type: np.ndarray, at: np.ndarray,
                  ind: IndicatorMeta, ptype: str, periods: _Periods, directory: OrgDirectory
                  ) -> tuple[np.ndarray, np.ndarray]:
    """The funnel flag of each point (rows ``at``) in its period and in the period before,
    among every peer (None for indicators without a funnel or a judgement)."""
    flags = np.full(len(at), None, dtype=object)
    if ind.value_type not in ("proportion", "ratio", "rate") or ind.polarity == "no_judgement":
        return flags, flags.copy()
    from core.stats.funnel import FLAG_NAMES

    now_ids = sorted({int(p) for p in s["period_id"][at]})
    prev_of = {p: periods.id_of.get((ptype, _previous_label(str(periods.label_of[p]), ptype)),
                                    -1)
               for p in now_ids}
    needed = sorted(set(now_ids) | {q for q in prev_of.values() if q >= 0})
    f_rows = np.flatnonzero(in_type & np.isin(s["period_id"], needed))
    f_pos, f_codes = funnel_flag_codes(
        directory, s["org_id"][f_rows], s["period_id"][f_rows], s["numerator"][f_rows],
        s["denominator"][f_rows], s["suppressed"][f_rows], ind.value_type)
    slot = {p: k for k, p in enumerate(needed)}
    table = np.full((len(needed), len(directory.ids)), -1, dtype=np.int8)
    keep = f_pos >= 0
    table[[slot[int(p)] for p in s["period_id"][f_rows][keep]], f_pos[keep]] = f_codes[keep]
    p_pos = directory.positions(s["org_id"][at])
    known = p_pos >= 0
    now_slot = np.array([slot[int(p)] for p in s["period_id"][at]], dtype=np.int64)
    prev_slot = np.array([slot.get(prev_of[int(p)], -1) for p in s["period_id"][at]],
                         dtype=np.int64)
    code_now = np.where(known, table[now_slot, np.maximum(p_pos, 0)], -1)
    code_prev = np.where(known & (prev_slot >= 0),
                         table[np.maximum(prev_slot, 0), np.maximum(p_pos, 0)], -1)
    return FLAG_NAMES[code_now], FLAG_NAMES[code_prev]


def _alerts_of_type(s: dict[str, np.ndarray], in_type: np.ndarray, points: np.ndarray,
                    ind: IndicatorMeta, rules: NoiseRules, ptype: str, periods: _Periods,
                    directory: OrgDirectory, accepted: Mapping[int, list[str]] | None = None
                    ) -> pd.DataFrame:
    """The alerts of one indicator and period type (see :func:`compute_load_alerts`).
    ``accepted``: the periods of the rebases people accepted, by organisation id
    (:func:`core.services.rebases.active_rebase_periods`): those charts are drawn with them,
    as the SPC chart is."""
    ch = _charts(s, in_type, points, ind, ptype, periods)
    special, rule, trial = _special_causes(ch, ind, accepted)
    at = np.flatnonzero(points)
    r_idx = np.searchsorted(ch.orgs, s["org_id"][at])
    c_idx = ch.col_of[s["period_id"][at]]
    pts = pd.DataFrame({
        "org_id": s["org_id"][at], "period_id": s["period_id"][at],
        "period": periods.label_of[s["period_id"][at]],
        "value": ch.wide[r_idx, c_idx], "numerator": s["numerator"][at],
        "denominator": s["denominator"][at],
        "special_cause": special[r_idx, c_idx],
        "rule": rule[r_idx, c_idx],
        "trial": trial[r_idx, c_idx],
        "prev_value": np.where(c_idx > 0, ch.wide[r_idx, np.maximum(c_idx - 1, 0)], np.nan),
    })
    pts["flag"], pts["prev_flag"] = _funnel_flags(s, in_type, at, ind, ptype, periods,
                                                  directory)
    found = alerts_from_points(pts, polarity=ind.polarity, target=ind.target, rules=rules)
    if found.empty:
        return found
    found = found.merge(pts[["org_id", "period_id", "period", "numerator", "denominator"]],
                        on=["org_id", "period_id"], how="left")
    found["indicator_id"] = ind.id
    found["message"] = [alert_message(k, r, ind, lab) for k, r, lab in zip(
        found["kind"], found["rule"], found["period"], strict=True)]
    return found.drop(columns=["period"])


def _num(x: Any) -> float | None:
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    return f if np.isfinite(f) else None


def raise_load_alerts(conn: Conn, load_id: int, indicators: Any = None,
                      written: Mapping[str, Mapping[str, np.ndarray]] | None = None) -> int:
    """Compute the load's alerts and store them with it (in the caller's transaction), leaving
    out any already standing from an earlier load. Returns how many were stored.
    ``indicators``, ``written``: see :func:`compute_load_alerts`."""
    return store_load_alerts(conn, load_id, compute_load_alerts(conn, load_id, indicators,
                                                                written))


def store_load_alerts(conn: Conn, load_id: int, found: pd.DataFrame) -> int:
    """Store the alerts :func:`compute_load_alerts` found with the load (in the caller's
    transaction), leaving out any already standing from an earlier load. Returns how many
    were stored."""
    if found.empty:
        return 0
    standing: set[tuple[int, str, int, str]] = set()
    inds = sorted(set(found["indicator_id"]))
    periods = sorted({int(p) for p in found["period_id"]})
    for i in range(0, len(periods), _CHUNK):
        standing.update((int(a), str(b), int(c), str(d)) for a, b, c, d in conn.execute(
            select(Alert.org_id, Alert.indicator_id, Alert.period_id, Alert.kind)
            .where(Alert.withdrawn_at.is_(None), Alert.indicator_id.in_(inds),
                   Alert.period_id.in_(periods[i:i + _CHUNK]))))
    now = utcnow()
    rows = []
    for r in found.itertuples(index=False):
        key = (int(r.org_id), str(r.indicator_id), int(r.period_id), str(r.kind))
        if key in standing:
            continue
        standing.add(key)
        rows.append({"load_id": load_id, "org_id": key[0], "indicator_id": key[1],
                     "period_id": key[2], "kind": key[3],
                     "rule": r.rule if isinstance(r.rule, str) else None,
                     "value": _num(r.value), "numerator": _num(r.numerator),
                     "denominator": _num(r.denominator), "message": r.message,
                     "created_at": now, "withdrawn_at": None})
    _insert_alerts(core_conn(conn), rows)
    return len(rows)


def _insert_alerts(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Insert alert rows; on PostgreSQL by ``COPY`` (3,136 rows of a first national load:
    about 0.05 s, against 0.25 s for SQLAlchemy's multi-row ``INSERT``, most of it spent
    building and parsing the statement's 38,000 parameters)."""
    if not rows:
        return
    if conn.dialect.name != "postgresql":
        for i in range(0, len(rows), _CHUNK):
            conn.execute(insert(Alert), rows[i:i + _CHUNK])
        return
    columns = list(rows[0])
    raw = conn.connection.driver_connection
    with raw.cursor() as cur, cur.copy(  # type: ignore[union-attr]
            f"COPY alerts ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([row[c] for c in columns])


def withdraw_load_alerts(conn: Conn, load_id: int) -> int:
    """Withdraw the alerts a load raised (its revert). Returns how many."""
    res = conn.execute(update(Alert).where(Alert.load_id == load_id,
                                           Alert.withdrawn_at.is_(None))
                       .values(withdrawn_at=utcnow()))
    return int(res.rowcount or 0)  # type: ignore[attr-defined]


# ----------------------------------------------------------------------------- reading
def chart_url(org_code: str, indicator_id: str, period_type: str | None = None) -> str:
    """The organisation's SPC chart of the indicator under ``QIDASH_PUBLIC_URL``."""
    from urllib.parse import quote

    base = get_settings().link_base()
    url = (f"{base}/organisations/{quote(org_code, safe='')}/indicators/"
           f"{quote(indicator_id, safe='')}")
    return url + (f"?period_type={period_type}" if period_type else "")


def published(frame: pd.DataFrame) -> pd.DataFrame:
    """Alerts as they may leave core: the one place disclosure control applies to them, with
    the rule of :mod:`core.services.disclosure` (the settings' ``QIDASH_DISCLOSURE_*``): an
    alert whose numerator or denominator is in the suppressed range shows no value and no
    counts (its ``disclosure`` column says so); the other counts are rounded. The message
    carries no figures, so it stays."""
    rule = disclosure.active_rule()
    if rule is None or frame.empty:
        return frame
    out, _ = disclosure.disclose_frame(frame, rule, blank=("value",))
    return out


def _parse_since(since: str | dt.date | dt.datetime | None) -> dt.datetime | None:
    if since is None or since == "":
        return None
    if isinstance(since, dt.datetime):
        return since if since.tzinfo else since.replace(tzinfo=dt.UTC)
    if isinstance(since, dt.date):
        return dt.datetime.combine(since, dt.time(), tzinfo=dt.UTC)
    try:
        parsed = dt.datetime.fromisoformat(str(since))
    except ValueError:
        raise InvalidParameter(
            "since", f"since must be a date or date-time (YYYY-MM-DD), got {since!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def list_alerts(
    conn: Conn,
    *,
    load: int | None = None,
    since: str | dt.date | dt.datetime | None = None,
    network: str | None = None,
    org: str | None = None,
    indicator: str | None = None,
    kind: str | None = None,
    limit: int | None = 100,
    offset: int = 0,
    include_withdrawn: bool = False,
) -> tuple[pd.DataFrame, int]:
    """Standing alerts (newest load first, then concerns first, organisation, period) and
    how many match in all. ``since``: raised at or after this date; ``network``: the
    organisations below that code. Rows: :data:`ALERT_COLUMNS` plus ``period_type``,
    ``org_type``, ``created_at``, ``numerator``, ``denominator``, ``polarity``."""
    if kind is not None:
        check_kinds([kind], "kind")
    if limit is not None and limit < 1:
        raise InvalidParameter("limit", "limit must be at least 1")
    if offset < 0:
        raise InvalidParameter("offset", "offset must be 0 or more")
    conds: list[Any] = []
    if not include_withdrawn:
        conds.append(Alert.withdrawn_at.is_(None))
    if load is not None:
        conds.append(Alert.load_id == load)
    start = _parse_since(since)
    if start is not None:
        conds.append(Alert.created_at >= start)
    if network:
        net = get_org(conn, network, parameter="network")
        conds.append(Alert.org_id.in_(descendant_ids(conn, net.id) or [-1]))
    if org:
        conds.append(Alert.org_id == get_org(conn, org, parameter="org").id)
    if indicator:
        conds.append(Alert.indicator_id == get_indicator(conn, indicator).id)
    if kind:
        conds.append(Alert.kind == kind)
    total = int(conn.execute(select(func.count()).select_from(Alert).where(*conds))
                .scalar_one())
    kind_rank = _kind_rank()
    stmt = (
        select(Alert.id, Alert.load_id, Organisation.code, Organisation.name,
               Alert.indicator_id, Period.label, Alert.kind, Alert.rule, Alert.value,
               Alert.message, Period.period_type, Organisation.org_type, Alert.created_at,
               Alert.numerator, Alert.denominator, Indicator.polarity, Alert.withdrawn_at)
        .join(Organisation, Organisation.id == Alert.org_id)
        .join(Period, Period.id == Alert.period_id)
        .join(Indicator, Indicator.id == Alert.indicator_id)
        .where(*conds)
        .order_by(Alert.load_id.desc(), kind_rank, Organisation.code, Alert.indicator_id,
                  Period.start_date, Alert.id)
        .offset(offset)
    )
    if limit is not None:
        stmt = stmt.limit(limit)
    frame = frame_from_rows(conn.execute(stmt).all(), [
        "id", "load_id", "org_code", "org_name", "indicator_id", "period", "kind", "rule",
        "value", "message", "period_type", "org_type", "created_at", "numerator",
        "denominator", "polarity", "withdrawn_at"])
    frame["url"] = [chart_url(c, i, t) for c, i, t in zip(
        frame["org_code"], frame["indicator_id"], frame["period_type"], strict=True)]
    return published(frame), total


def _kind_rank() -> Any:
    from sqlalchemy import case

    return case(KIND_ORDER, value=Alert.kind, else_=9)


def alert_records(frame: pd.DataFrame, columns: tuple[str, ...] = ALERT_COLUMNS
                  ) -> list[dict[str, Any]]:
    """JSON-ready rows (NaN as None)."""
    out = []
    for row in frame[list(columns)].itertuples(index=False):
        rec = {}
        for k, v in zip(columns, row, strict=True):
            if isinstance(v, float) and not np.isfinite(v):
                v = None
            elif isinstance(v, np.integer):
                v = int(v)
            elif isinstance(v, np.floating):
                v = float(v) if np.isfinite(v) else None
            rec[k] = v
        out.append(rec)
    return out


def latest_network_alerts(conn: Conn, network: str, *, limit: int = 10
                          ) -> tuple[dict[str, Any] | None, pd.DataFrame, int]:
    """'Since the last load' for a network: the newest load with standing alerts below
    ``network`` (id, file, when), up to ``limit`` of its alerts there (concerns first) and
    how many it raised there in all. ``(None, empty, 0)`` when no load raised any."""
    net = get_org(conn, network, parameter="network")
    below = descendant_ids(conn, net.id)
    load_id = None
    for i in range(0, len(below), _CHUNK):
        found = conn.execute(select(func.max(Alert.load_id)).where(
            Alert.withdrawn_at.is_(None), Alert.org_id.in_(below[i:i + _CHUNK]))).scalar()
        if found is not None and (load_id is None or found > load_id):
            load_id = int(found)
    if load_id is None:
        return None, pd.DataFrame(columns=[*ALERT_COLUMNS, "period_type"]), 0
    row = conn.execute(select(Load.id, Load.file_name, Load.finished_at).where(
        Load.id == load_id)).one()
    frame, total = list_alerts(conn, load=load_id, network=net.code, limit=limit)
    return {"id": row[0], "file_name": row[1], "finished_at": row[2]}, frame, total
