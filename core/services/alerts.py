"""Alerts: what a values load changed that a network lead should look at.

Every successful values load raises, for each point of the periods it added or changed:

* ``special_cause_improvement`` / ``special_cause_concern``: the point is special cause on the
  organisation's SPC chart of that period type as it stands after the load (XmR, default
  settings: :func:`core.stats.xmr_batch`, the engine of :func:`core.services.spc.spc`), with
  the rule that flagged it;
* ``crossed_limit_worse`` / ``crossed_limit_better``: the organisation moved beyond (or back
  inside) the 99.8% funnel limits of its peers (:func:`core.services.comparison.funnel`, every
  organisation of its type) compared with the previous period;
* ``target_missed`` / ``target_met``: it missed (met) the indicator's target having met
  (missed) it in the previous period.

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
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import delete, func, insert, select, update

from core import audit, stats
from core.errors import InvalidParameter, QidashError
from core.models import (
    ALERT_KINDS,
    Alert,
    AlertSetting,
    Indicator,
    IndicatorValue,
    Load,
    Organisation,
    Period,
    utcnow,
)
from core.periods import parse_period
from core.services import disclosure
from core.services.indicators import IndicatorMeta, get_indicator
from core.services.organisations import descendant_ids, get_org
from core.services.query import Conn, fetch_all, frame_from_rows
from core.services.values import improvement_direction, with_intervals
from core.settings import get_settings

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
    """Alerts raised by the points a load added or changed (one indicator, one period type).

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


def _series(conn: Conn, ind: IndicatorMeta, period_type: str, org_ids: list[int]
            ) -> pd.DataFrame:
    """Every value of the organisations' series of one indicator and period type, with the
    display value that the SPC chart plots (:func:`core.services.spc.series_frame`) and the
    load that last wrote each (``load_id``). Rows are fetched as plain tuples by the driver
    (:func:`core.services.query.fetch_all`): SQLAlchemy's row objects cost more than the query
    on a large first load."""
    parts = []
    for i in range(0, len(org_ids), _CHUNK):
        rows = fetch_all(
            conn,
            select(IndicatorValue.org_id, Period.id, Period.label, Period.start_date,
                   IndicatorValue.numerator, IndicatorValue.denominator, IndicatorValue.value,
                   IndicatorValue.lower_ci, IndicatorValue.upper_ci, IndicatorValue.suppressed,
                   IndicatorValue.load_id)
            .join(Period, Period.id == IndicatorValue.period_id)
            .where(IndicatorValue.indicator_id == ind.id, Period.period_type == period_type,
                   IndicatorValue.org_id.in_(org_ids[i:i + _CHUNK])))
        parts.append(frame_from_rows(rows, [
            "org_id", "period_id", "period", "start_date", "numerator", "denominator", "value",
            "lower_ci", "upper_ci", "suppressed", "load_id"]))
    frame = pd.concat(parts, ignore_index=True)
    for c in ("numerator", "denominator", "value", "lower_ci", "upper_ci"):
        frame[c] = pd.to_numeric(frame[c], errors="coerce").astype(float)
    frame["suppressed"] = frame["suppressed"].fillna(False).astype(bool)
    return with_intervals(frame, ind, 95.0)


def _funnel_flags(conn: Conn, ind: IndicatorMeta, label: str, period_type: str,
                  org_type: str, cache: dict[tuple[str, str], dict[str, Any]]
                  ) -> dict[str, Any]:
    key = (label, org_type)
    if key not in cache:
        from core.services.comparison import funnel

        try:
            view = funnel(conn, ind.id, period=label, period_type=period_type,
                          org_type=org_type)
        except QidashError:  # no values of this type in that period: nothing to compare
            cache[key] = {}
        else:
            cache[key] = dict(zip(view.rows["org_code"], view.rows["flag"].astype(object),
                                  strict=True))
    return cache[key]


def compute_load_alerts(conn: Conn, load_id: int) -> pd.DataFrame:
    """The alerts a load raises (see the module docstring), computed from the database as it
    stands after the load: ``org_id``, ``indicator_id``, ``period_id``, ``kind``, ``rule``,
    ``value``, ``numerator``, ``denominator``, ``message``."""
    # one (indicator, period type) at a time: memory follows the largest indicator, not the load
    pairs = conn.execute(
        select(IndicatorValue.indicator_id, Period.period_type)
        .join(Period, Period.id == IndicatorValue.period_id)
        .where(IndicatorValue.load_id == load_id).distinct()
    ).all()
    out: list[pd.DataFrame] = []
    for indicator_id, ptype in sorted(pairs):
        # the organisations this load wrote to; their whole series are read once, and the
        # load's own points are the rows of those series it last wrote
        org_ids = sorted({int(r[0]) for r in fetch_all(
            conn,
            select(IndicatorValue.org_id).distinct()
            .join(Period, Period.id == IndicatorValue.period_id)
            .where(IndicatorValue.load_id == load_id,
                   IndicatorValue.indicator_id == indicator_id, Period.period_type == ptype))})
        org_rows: dict[int, tuple[str, str]] = {}
        for i in range(0, len(org_ids), _CHUNK):
            for r in conn.execute(select(Organisation.id, Organisation.code,
                                         Organisation.org_type)
                                  .where(Organisation.id.in_(org_ids[i:i + _CHUNK]))):
                org_rows[int(r[0])] = (r[1], r[2])
        ind = get_indicator(conn, str(indicator_id))
        rules = noise_rules(conn, ind.id)
        series = _series(conn, ind, str(ptype), org_ids)
        mine = (pd.to_numeric(series["load_id"], errors="coerce") == load_id).to_numpy()
        group = series.loc[mine, ["org_id", "period_id", "period"]].reset_index(drop=True)
        labels = sorted(set(series["period"]), key=lambda lab: parse_period(lab, ptype).start)
        from core.services.spc import period_sequence

        seq = period_sequence(labels[0], labels[-1], str(ptype))
        wide = series.pivot_table(index="org_id", columns="period", values="value",
                                  aggfunc="first", dropna=False).reindex(
            index=org_ids, columns=seq)
        batch = stats.xmr_batch(wide.to_numpy(dtype=float),
                                improvement_direction=improvement_direction(ind.polarity),
                                target=ind.target)
        row_of = {o: k for k, o in enumerate(org_ids)}
        col_of = {lab: k for k, lab in enumerate(seq)}
        pts = group.merge(series[["org_id", "period", "value", "numerator", "denominator"]],
                          on=["org_id", "period"], how="left")
        r_idx = np.array([row_of[int(o)] for o in pts["org_id"]], dtype=int)
        c_idx = np.array([col_of[lab] for lab in pts["period"]], dtype=int)
        values = wide.to_numpy(dtype=float)
        pts["special_cause"] = batch.special_cause[r_idx, c_idx]
        pts["rule"] = batch.rule[r_idx, c_idx]
        pts["trial"] = batch.trial_limits[r_idx]
        pts["prev_value"] = np.where(c_idx > 0, values[r_idx, np.maximum(c_idx - 1, 0)], np.nan)
        flags = pd.Series([None] * len(pts), index=pts.index, dtype=object)
        prev_flags = flags.copy()
        if ind.value_type in ("proportion", "ratio", "rate") and (
                ind.polarity != "no_judgement"):
            cache: dict[tuple[str, str], dict[str, Any]] = {}
            ids = pts["org_id"].astype(int)
            codes = ids.map({o: r[0] for o, r in org_rows.items()})
            otypes = ids.map({o: r[1] for o, r in org_rows.items()})
            # one funnel per period and organisation type (and its previous period)
            for (lab, otype), idx in pts.groupby([pts["period"], otypes]).groups.items():
                now = _funnel_flags(conn, ind, lab, str(ptype), otype, cache)
                before = _funnel_flags(conn, ind, _previous_label(lab, str(ptype)),
                                       str(ptype), otype, cache)
                flags[idx] = codes[idx].map(now).astype(object)
                prev_flags[idx] = codes[idx].map(before).astype(object)
        pts["flag"] = flags.where(flags.notna(), None)
        pts["prev_flag"] = prev_flags.where(prev_flags.notna(), None)
        found = alerts_from_points(pts, polarity=ind.polarity, target=ind.target, rules=rules)
        if found.empty:
            continue
        found = found.merge(pts[["org_id", "period_id", "period", "numerator", "denominator"]],
                            on=["org_id", "period_id"], how="left")
        found["indicator_id"] = ind.id
        found["message"] = [alert_message(k, r, ind, lab) for k, r, lab in zip(
            found["kind"], found["rule"], found["period"], strict=True)]
        out.append(found.drop(columns=["period"]))
    if not out:
        return pd.DataFrame(columns=_COMPUTED)
    return pd.concat(out, ignore_index=True)[_COMPUTED]


def _num(x: Any) -> float | None:
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    return f if np.isfinite(f) else None


def raise_load_alerts(conn: Conn, load_id: int) -> int:
    """Compute the load's alerts and store them with it (in the caller's transaction), leaving
    out any already standing from an earlier load. Returns how many were stored."""
    found = compute_load_alerts(conn, load_id)
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
    for i in range(0, len(rows), _CHUNK):
        conn.execute(insert(Alert), rows[i:i + _CHUNK])
    return len(rows)


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

    base = get_settings().public_url.rstrip("/")
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


def load_exists(conn: Conn, load_id: int) -> bool:
    return conn.execute(select(Load.id).where(Load.id == load_id)).first() is not None


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
