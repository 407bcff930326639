"""Peer comparison, funnel plots and opportunity for one indicator in one period.

Each service resolves the indicator, the period (default: the latest with data) and the peer
set (:func:`core.services.peers.resolve_peers`), reads the values in one query, and hands the
numbers to the statistics engine (:mod:`core.stats`): the figures returned are the engine's.
Everything is in display units (x the indicator's multiplier).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from core import stats
from core.errors import InvalidParameter
from core.services.data_periods import PeriodRef, resolve_period
from core.services.disclosure import disclosed
from core.services.indicators import IndicatorMeta, get_indicator
from core.services.organisations import get_org
from core.services.peers import PeerSet, resolve_peers
from core.services.query import Conn
from core.services.values import (
    check_confidence,
    fetch_value_positions,
    fetch_values,
    interval_arrays,
    org_columns,
    with_intervals,
)
from core.stats.peers import COMPARISONS

COMPARISON_COLUMNS = (
    "org_code", "org_name", "numerator", "denominator", "value", "lower_ci", "upper_ci",
    "rank", "percentile", "quartile", "decile", "comparison", "meets_target",
)
FUNNEL_COLUMNS = (
    "org_code", "org_name", "numerator", "denominator", "value", "lower_95", "upper_95",
    "lower_998", "upper_998", "flag",
)
OPPORTUNITY_COLUMNS = (
    "org_code", "org_name", "parent_code", "numerator", "denominator", "value", "level",
    "gap", "extra",
)
LEVELS = ("median", "upper_quartile", "best_decile", "target")


@dataclass(frozen=True)
class Benchmark:
    """What each organisation is compared with."""

    kind: str  # peers | organisation | target
    label: str
    value: float
    code: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """``{kind, label, value, code}``."""
        return {"kind": self.kind, "label": self.label, "value": self.value, "code": self.code}


@dataclass(frozen=True)
class ComparisonResult:
    """A peer comparison: rows of :data:`COMPARISON_COLUMNS`, best rank first.

    ``columns`` holds the rows as one array per column (already in row order); ``rows`` is
    the same table as a DataFrame, built on first use (about 1.5 ms for 6,500 rows, which a
    JSON response built straight from the arrays does not need).
    """

    indicator: IndicatorMeta
    period: PeriodRef
    peers: PeerSet
    confidence: float
    benchmark: Benchmark
    pooled: float
    quartiles: dict[str, float]
    deciles: list[float]
    n: int
    columns: dict[str, np.ndarray] = field(repr=False)

    @cached_property
    def rows(self) -> pd.DataFrame:
        """The rows as a DataFrame (text columns object dtype, as :func:`_frame` makes)."""
        return _frame(self.columns)


def _benchmark(
    conn: Conn,
    indicator: IndicatorMeta,
    period: PeriodRef,
    spec: str | None,
    confidence: float,
) -> Benchmark | None:
    """None for the pooled peer value (computed by the engine), else a fixed benchmark."""
    if spec is None or spec.strip().lower() in ("", "peers", "pooled"):
        return None
    s = spec.strip()
    if s.lower() == "target":
        if indicator.target is None:
            raise InvalidParameter(
                "benchmark",
                f"indicator {indicator.id!r} has no target; use benchmark=peers or an "
                "organisation code (e.g. England's)",
            )
        return Benchmark("target", indicator.target_label or "target", float(indicator.target))
    org = get_org(conn, s, parameter="benchmark")
    frame, _ = fetch_values(
        conn, indicator.id, period,
        PeerSet(None, "group", org.name, None, (org.id,), active_only=False),
    )
    vals = with_intervals(frame, indicator, confidence)
    value = float(vals["value"].iloc[0]) if len(vals) else float("nan")
    if not np.isfinite(value):
        raise InvalidParameter(
            "benchmark",
            f"{org.code} ({org.name}) has no {indicator.id!r} value in {period.label}, so it "
            "cannot be the benchmark; use benchmark=peers or another organisation",
        )
    return Benchmark("organisation", org.name, value, org.code)


def _engine_frame(values: pd.DataFrame) -> pd.DataFrame:
    # suppressed rows carry no counts into the statistics (a suppressed value is not a zero)
    sup = values["suppressed"].to_numpy(dtype=bool)
    return pd.DataFrame(
        {
            "numerator": np.where(sup, np.nan, values["numerator"].to_numpy(dtype=float)),
            "denominator": np.where(sup, np.nan, values["denominator"].to_numpy(dtype=float)),
        },
        index=values.index,
    )


def _nullable_ints(x: np.ndarray, has: np.ndarray) -> np.ndarray:
    # what pandas' Int64 column gives as numpy (as the comparison rows always carried it):
    # int64 when every row has a value, else float64 with NaN
    return x.astype(np.int64) if has.all() else x


def _nullable_bools(x: np.ndarray, known: np.ndarray) -> np.ndarray:
    # what pandas' boolean column gives as numpy: bool when complete, else object with NA
    if known.all():
        return x
    out = np.full(x.shape, pd.NA, dtype=object)
    out[known] = x[known].tolist()
    return out


#: comparison labels by code (stats.COMPARISONS order)
_COMPARISON_LABELS = np.array(COMPARISONS, dtype=object)


def _compare_columns(
    values: dict[str, np.ndarray],
    indicator: IndicatorMeta,
    confidence: float,
    benchmark: float | None,
) -> tuple[dict[str, Any], stats.PeerArrays]:
    """The value and statistics columns of the comparison rows (arrays, input order:
    ``numerator`` to ``meets_target`` of :data:`COMPARISON_COLUMNS`, ``comparison`` as int8
    codes into :data:`core.stats.peers.COMPARISONS`) and the engine's result, from the value
    columns of :func:`core.services.values.fetch_value_positions`."""
    sup = values["suppressed"].astype(bool, copy=False)
    numerator = values["numerator"].astype(float, copy=False)
    denominator = values["denominator"].astype(float, copy=False)
    res = stats.compare_arrays(
        # suppressed rows carry no counts into the statistics (a suppressed value is not a
        # zero)
        np.where(sup, np.nan, numerator),
        np.where(sup, np.nan, denominator),
        polarity=indicator.polarity,
        value_type=indicator.value_type,
        multiplier=indicator.multiplier,
        confidence=confidence / 100.0,
        benchmark=benchmark,
        target=indicator.target,
    )
    value, lower, upper = res.value, res.lower, res.upper
    no_counts = ~np.isfinite(value)
    if no_counts.any():
        p_value, p_lower, p_upper = interval_arrays(
            indicator, confidence, numerator, denominator, values["value"],
            values["lower_ci"], values["upper_ci"], sup)
        value = np.where(no_counts, p_value, value)
        lower = np.where(no_counts, p_lower, lower)
        upper = np.where(no_counts, p_upper, upper)
    cols = {
        "numerator": numerator,
        "denominator": denominator,
        "value": value,
        "lower_ci": lower,
        "upper_ci": upper,
        "rank": _nullable_ints(res.rank, res.has),
        "percentile": res.percentile,
        "quartile": _nullable_ints(res.quartile, res.has),
        "decile": _nullable_ints(res.decile, res.has),
        "comparison": res.comparison,
        "meets_target": _nullable_bools(res.meets_target, res.target_known),
    }
    return cols, res


def _frame(cols: dict[str, Any], order: np.ndarray | None = None) -> pd.DataFrame:
    # text columns as explicit object Series (pandas 3 would otherwise infer its string
    # dtype); the rest as arrays
    data = {
        k: pd.Series(v if order is None else v[order], dtype=object, copy=False)
        if k in ("org_code", "org_name", "org_type", "comparison") else
        (v if order is None else v[order])
        for k, v in cols.items()
    }
    return pd.DataFrame(data, copy=False)


def comparison(
    conn: Conn,
    indicator_id: str,
    *,
    period: str | None = None,
    period_type: str | None = None,
    org_type: str | None = None,
    peers: str | None = None,
    benchmark: str | None = None,
    confidence: float = 95.0,
    active_only: bool = True,
    similar_attributes: tuple[str, ...] | None = None,
    similar_k: int | None = None,
) -> ComparisonResult:
    """Compare the peers of one indicator in one period.

    ``benchmark``: ``peers`` (default, the pooled value of the peer set: a ratio of sums), an
    organisation code (its value, e.g. England's) or ``target``. ``confidence``: 95 or 99.8.
    Rows: :data:`COMPARISON_COLUMNS`, ordered by rank (best first), then code.
    """
    conf = check_confidence(confidence)
    ind = get_indicator(conn, indicator_id)
    per = resolve_period(conn, ind, period, period_type=period_type)
    peer_set = resolve_peers(
        conn, ind, per, peers, org_type=org_type, active_only=active_only,
        similar_attributes=similar_attributes, similar_k=similar_k,
    )
    # the published value and interval are shown only for rows without counts (the others
    # are the engine's), except a mean's published value, which wins wherever it is stored
    directory, positions, values, peer_set = fetch_value_positions(
        conn, ind.id, per, peer_set,
        published="all" if ind.value_type == "mean" else "without_counts",
    )
    fixed = _benchmark(conn, ind, per, benchmark, conf)
    cols, res = _compare_columns(
        values, ind, conf, None if fixed is None else fixed.value
    )
    bench = fixed or Benchmark("peers", f"{peer_set.label} (pooled)", res.pooled)
    # rows arrive ordered by code, so a stable sort on rank alone gives rank then code
    # (rows without a rank last); applied to the columns before any frame is built, and to
    # the organisation columns as they are gathered from the directory (one gather each)
    order = np.argsort(np.where(res.has, res.rank, np.inf), kind="stable")
    ordered = org_columns(directory, positions[order])
    ordered.update((k, v[order]) for k, v in cols.items())
    ordered["comparison"] = _COMPARISON_LABELS[ordered["comparison"]]
    q1, med, q3 = res.quartiles
    return disclosed(ComparisonResult(
        indicator=ind,
        period=per,
        peers=peer_set,
        confidence=conf,
        benchmark=bench,
        pooled=res.pooled,
        quartiles={"q1": q1, "median": med, "q3": q3},
        deciles=list(res.deciles),
        n=res.n,
        columns=ordered,
    ))


@dataclass(frozen=True)
class FunnelView:
    """A funnel plot: ``limits`` (denominator, lower_95, upper_95, lower_998, upper_998,
    centre) to draw, and ``rows`` of :data:`FUNNEL_COLUMNS`."""

    indicator: IndicatorMeta
    period: PeriodRef
    peers: PeerSet
    target: float
    overdispersion: bool
    overdispersion_requested: bool
    phi: float | None
    tau2: float | None
    method: str
    limits: pd.DataFrame
    rows: pd.DataFrame


def funnel(
    conn: Conn,
    indicator_id: str,
    *,
    period: str | None = None,
    period_type: str | None = None,
    org_type: str | None = None,
    peers: str | None = None,
    overdispersion: bool = False,
    active_only: bool = True,
    similar_attributes: tuple[str, ...] | None = None,
    similar_k: int | None = None,
) -> FunnelView:
    """Funnel plot of one indicator in one period (:func:`core.stats.funnel`): limits at
    95% and 99.8% about the pooled value, and each organisation's flag. With
    ``overdispersion`` the Spiegelhalter/FunnelPlotR adjustment (``phi``, ``tau2``)."""
    ind = get_indicator(conn, indicator_id)
    if ind.value_type not in ("proportion", "ratio", "rate"):
        raise InvalidParameter(
            "indicator_id",
            f"indicator {ind.id!r} is a {ind.value_type}; funnel plots exist for proportions, "
            "rates and ratios",
        )
    per = resolve_period(conn, ind, period, period_type=period_type)
    peer_set = resolve_peers(
        conn, ind, per, peers, org_type=org_type, active_only=active_only,
        similar_attributes=similar_attributes, similar_k=similar_k,
    )
    values, peer_set = fetch_values(conn, ind.id, per, peer_set)
    ef = _engine_frame(values)
    res = stats.funnel(
        ef["numerator"].to_numpy(dtype=float),
        ef["denominator"].to_numpy(dtype=float),
        value_type=ind.value_type,
        multiplier=ind.multiplier,
        overdispersion=overdispersion,
    )
    r = res.rows.reset_index(drop=True)
    rows = pd.DataFrame(
        {
            "org_code": values["org_code"].to_numpy(),
            "org_name": values["org_name"].to_numpy(),
            "numerator": values["numerator"].to_numpy(dtype=float),
            "denominator": values["denominator"].to_numpy(dtype=float),
            "value": r["value"].to_numpy(dtype=float),
            "lower_95": r["lower_95"].to_numpy(dtype=float),
            "upper_95": r["upper_95"].to_numpy(dtype=float),
            "lower_998": r["lower_998"].to_numpy(dtype=float),
            "upper_998": r["upper_998"].to_numpy(dtype=float),
            "flag": r["flag"].to_numpy(),
        }
    )
    phi = float(res.phi) if np.isfinite(res.phi) else None
    return disclosed(FunnelView(
        indicator=ind,
        period=per,
        peers=peer_set,
        target=float(res.target),
        overdispersion=bool(res.overdispersion),
        overdispersion_requested=overdispersion,
        phi=phi,
        tau2=float(res.tau2) if overdispersion else None,
        method=res.method,
        limits=res.limits.reset_index(drop=True),
        rows=rows,
    ))


@dataclass(frozen=True)
class OpportunityView:
    """GIRFT-style opportunity: rows of :data:`OPPORTUNITY_COLUMNS` (largest first), the
    total, how many organisations hold half of it, and per-parent totals."""

    indicator: IndicatorMeta
    period: PeriodRef
    peers: PeerSet
    level_name: str
    level: float
    total: float
    orgs_for_half: int
    n_below_level: int
    by_parent: pd.DataFrame  # parent_code, parent_name, extra, n_orgs, orgs_for_half
    rows: pd.DataFrame


def check_level(level: str) -> str:
    """One of :data:`LEVELS`, else :class:`InvalidParameter`."""
    if level not in LEVELS:
        raise InvalidParameter("level", f"level must be one of {', '.join(LEVELS)}, got {level!r}")
    return level


def opportunity_frame(
    values: pd.DataFrame, indicator: IndicatorMeta, level: str
) -> stats.Opportunity:
    """:func:`core.stats.opportunity` on a values frame, grouped by ``parent_id``."""
    f = _engine_frame(values)
    f["parent_id"] = values["parent_id"].to_numpy()
    return stats.opportunity(
        f,
        polarity=indicator.polarity,
        value_type=indicator.value_type,
        multiplier=indicator.multiplier,
        level=level,
        target=indicator.target,
        group="parent_id",
    )


def opportunity(
    conn: Conn,
    indicator_id: str,
    *,
    period: str | None = None,
    period_type: str | None = None,
    org_type: str | None = None,
    peers: str | None = None,
    level: str = "median",
    active_only: bool = True,
    similar_attributes: tuple[str, ...] | None = None,
    similar_k: int | None = None,
) -> OpportunityView:
    """How many more patients would get the right care if every organisation worse than
    ``level`` (median, upper_quartile, best_decile or target) reached it:
    extra = |level - value| x denominator / multiplier (:func:`core.stats.opportunity`)."""
    check_level(level)
    ind = get_indicator(conn, indicator_id)
    if ind.polarity == "no_judgement":
        raise InvalidParameter(
            "indicator_id",
            f"indicator {ind.id!r} has no polarity (no judgement), so there is no opportunity "
            "to improve it",
        )
    if ind.value_type == "mean":
        raise InvalidParameter(
            "indicator_id", f"indicator {ind.id!r} is a mean; opportunity needs counts"
        )
    if level == "target" and ind.target is None:
        raise InvalidParameter("level", f"indicator {ind.id!r} has no target; choose another level")
    per = resolve_period(conn, ind, period, period_type=period_type)
    peer_set = resolve_peers(
        conn, ind, per, peers, org_type=org_type, active_only=active_only,
        similar_attributes=similar_attributes, similar_k=similar_k,
    )
    values, peer_set = fetch_values(conn, ind.id, per, peer_set)
    res = opportunity_frame(values, ind, level)
    parents = _parent_names(conn, values["parent_id"])
    r = res.rows
    rows = pd.DataFrame(
        {
            "org_code": values["org_code"].to_numpy(),
            "org_name": values["org_name"].to_numpy(),
            "parent_code": values["parent_id"].map(lambda p: parents.get(p, (None, None))[0]),
            "numerator": values["numerator"].to_numpy(dtype=float),
            "denominator": values["denominator"].to_numpy(dtype=float),
            "value": r["value"].to_numpy(dtype=float),
            "level": r["level"].to_numpy(dtype=float),
            "gap": r["gap"].to_numpy(dtype=float),
            "extra": r["extra"].to_numpy(dtype=float),
        }
    ).sort_values(["extra", "org_code"], ascending=[False, True], kind="stable")
    bg = res.by_group.reset_index()
    by_parent = pd.DataFrame(
        {
            "parent_code": bg["group"].map(lambda p: parents.get(p, (None, None))[0]),
            "parent_name": bg["group"].map(lambda p: parents.get(p, (None, None))[1]),
            "extra": bg["extra"].to_numpy(dtype=float),
            "n_orgs": bg["n_orgs"].astype(int).to_numpy(),
            "orgs_for_half": bg["orgs_for_half"].astype(int).to_numpy(),
        }
    ).sort_values("extra", ascending=False, kind="stable")
    return disclosed(OpportunityView(
        indicator=ind,
        period=per,
        peers=peer_set,
        level_name=level,
        level=res.level,
        total=res.total,
        orgs_for_half=res.orgs_for_half,
        n_below_level=int((res.rows["extra"] > 0).sum()),
        by_parent=by_parent.reset_index(drop=True),
        rows=rows.reset_index(drop=True),
    ))


def _parent_names(conn: Conn, parent_ids: pd.Series) -> dict[Any, tuple[str, str]]:
    from core.services.organisations import orgs_by_ids

    ids = sorted({int(p) for p in parent_ids.dropna().tolist()})
    return {k: (o.code, o.name) for k, o in orgs_by_ids(conn, ids).items()}
