"""Statistical process control: Making Data Count XmR charts, p-charts and run charts.

Source: NHSRplotthedots 0.2 (``ptd_spc_standard``, ``ptd_calculate_point_type``,
``ptd_calculate_assurance_type``), qicharts2 (p chart, Anhoej ``runs.analysis``).

XmR: mean +/- 2.66 x mean moving range (near limits mean +/- 2/3 x 2.66 x AMR); moving ranges
>= 3.267 x AMR are dropped once and AMR recomputed (``screen_outliers``, NHSRplotthedots'
default; switch off for the MDC Excel tool's behaviour). Limits may be fixed after the first
``fix_after`` points of each segment; ``rebase_at`` starts new segments (limits and rules are
computed within each segment).

Special-cause rules, first match wins for the ``rule`` label (a point is special if any
rule flags it):
1. ``outside_limits``: value strictly above the upper or below the lower limit;
2. ``trend``: ``trend`` (7) consecutive points each strictly higher (lower) than the previous;
3. ``two_of_three``: >= 2 of 3 consecutive points beyond the near limits (not outside the
   limits) with all 3 on the same side of the mean; only the near-limit points are flagged;
4. ``shift``: ``shift`` (7) consecutive points on the same side of the mean (a point on the
   mean breaks the run).

A special-cause point is classed by the direction of the rule that labels it (NHSRplotthedots
0.2 ``ptd_special_cause_type`` / ``ptd_point_type``): outside limits, two of three and shift by
the point's side of the mean; a trend by the trend's direction, whichever side of the mean the
point lies (a rising run below the mean is improvement when higher is better). A trend point's
direction is the step to the next point when that point is in a trend too, else the step from
the previous point; a step that is not a rise counts as falling (a flat step between two
trends: NHSRplotthedots' quirk, kept). Same direction as the improvement direction:
``improvement``, else ``concern``; ``neutral`` when the direction is "neutral"; ``none`` when
no rule fires. The variation icon is the latest point's class with that direction ("high" =
above the mean / rising).

Missing values (NaN) keep their position but are skipped: moving ranges join the nearest
non-missing neighbours and runs continue across the gap; ``fix_after`` counts non-missing
points. Deviation from NHSRplotthedots: when every moving range is 0 (identical values) the
screening keeps them, so the limits equal the mean instead of being NaN.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

LIMIT = 2.66
NEAR = 2.0 * LIMIT / 3.0
SCREEN = 3.267
MIN_POINTS = 12

SPECIAL_LABELS = np.array(["none", "improvement", "concern", "neutral"], dtype=object)
RULE_LABELS = np.array([None, "outside_limits", "trend", "two_of_three", "shift"], dtype=object)
_DIRECTIONS = {"increase": 1, "decrease": -1, "neutral": 0}


@dataclass(frozen=True)
class RuleLengths:
    """Rule lengths: ``trend`` points rising/falling, ``shift`` points on one side,
    ``near_count`` of ``near_window`` points beyond the near (2-sigma) limits."""

    trend: int = 7
    shift: int = 7
    near_count: int = 2
    near_window: int = 3


@dataclass(frozen=True)
class SPCResult:
    """One SPC chart.

    points: one row per input position (index preserved from a pandas input) with columns
        ``value``, ``mean``, ``lower_limit``, ``upper_limit``, ``near_lower``, ``near_upper``
        (float, display units; NaN limits = segment too short to have limits),
        ``special_cause`` (categorical "improvement"/"concern"/"neutral"/"none"), ``rule``
        (categorical "outside_limits"/"trend"/"two_of_three"/"shift"; missing (NaN) when no
        rule fired), ``segment`` (0-based);
        p-charts also carry ``numerator`` and ``denominator``.
    variation: icon of the latest non-missing point: "improvement_high", "improvement_low",
        "concern_high", "concern_low", "neutral_high", "neutral_low", "common_cause"; None
        when the latest segment has fewer valid points than the shortest run rule (7 by
        default): too few points to judge (assurance is None then too)
        (None if the series has no value).
    assurance: "pass", "fail", "hit_or_miss" against ``target`` using the last point's
        limits; None without a target, with neutral direction, or without limits.
    warnings: human-readable strings (e.g. trial limits for segments under 12 points).
    """

    points: pd.DataFrame
    variation: str | None
    assurance: str | None
    warnings: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class SPCBatch:
    """XmR results for many series at once (rows = series, columns = positions).

    All 2-D arrays have shape (n_series, n_points): ``value``, ``mean``, ``lower_limit``,
    ``upper_limit``, ``near_lower``, ``near_upper`` (float), ``special_cause`` and ``rule``
    (object arrays with the labels of :class:`SPCResult`). 1-D arrays of length n_series:
    ``variation``, ``assurance`` (object) and ``trial_limits`` (bool, some segment has fewer
    than 12 points). ``index`` / ``columns`` label series and positions.
    """

    value: np.ndarray
    mean: np.ndarray
    lower_limit: np.ndarray
    upper_limit: np.ndarray
    near_lower: np.ndarray
    near_upper: np.ndarray
    special_cause: np.ndarray
    rule: np.ndarray
    variation: np.ndarray
    assurance: np.ndarray
    trial_limits: np.ndarray
    index: pd.Index
    columns: pd.Index

    def to_long(self) -> pd.DataFrame:
        """Long frame: ``series``, ``position`` and the per-point columns."""
        s, t = self.value.shape
        out = pd.DataFrame(
            {
                "series": np.repeat(self.index.to_numpy(), t),
                "position": np.tile(self.columns.to_numpy(), s),
            }
        )
        for name in ("value", "mean", "lower_limit", "upper_limit", "near_lower",
                     "near_upper", "special_cause", "rule"):
            out[name] = getattr(self, name).reshape(-1)
        return out


# --------------------------------------------------------------------------- helpers


def _cat(values: np.ndarray, labels: np.ndarray) -> pd.Categorical:
    return pd.Categorical(values, categories=[x for x in labels if x is not None])


def _direction(improvement_direction: str) -> int:
    try:
        return _DIRECTIONS[improvement_direction]
    except KeyError:
        raise ValueError(
            f"improvement_direction must be one of {tuple(_DIRECTIONS)}, "
            f"got {improvement_direction!r}"
        ) from None


def _segment_ids(t: int, rebase_at: Any) -> np.ndarray:
    seg = np.zeros(t, dtype=np.int64)
    for p in sorted({int(p) for p in rebase_at}):
        if 0 < p < t:
            seg[p:] += 1
    return seg


def _run_totals(key: np.ndarray, active: np.ndarray) -> np.ndarray:
    """Length of the run of equal ``key`` (over active cells) containing each cell."""
    s, t = key.shape
    idx = np.broadcast_to(np.arange(t), (s, t))
    same_prev = np.zeros((s, t), dtype=bool)
    same_prev[:, 1:] = (key[:, 1:] == key[:, :-1]) & active[:, 1:] & active[:, :-1]
    start = np.maximum.accumulate(np.where(same_prev, 0, idx), axis=1)
    same_next = np.zeros((s, t), dtype=bool)
    same_next[:, :-1] = same_prev[:, 1:]
    end = np.minimum.accumulate(np.where(same_next, t - 1, idx)[:, ::-1], axis=1)[:, ::-1]
    return np.where(active, end - start + 1, 0)


def _rules(
    y: np.ndarray,
    seg: np.ndarray,
    centre: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    near_lower: np.ndarray,
    near_upper: np.ndarray,
    rules: RuleLengths,
    direction: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Apply the special-cause rules to (S, T) arrays in original order.

    Returns (special code, rule code, side) arrays in original order.
    """
    s, t = y.shape
    valid = np.isfinite(y)
    order = np.argsort(~valid, axis=1, kind="stable")  # valid points first, in order

    def c(a: np.ndarray) -> np.ndarray:
        return np.take_along_axis(np.broadcast_to(a, (s, t)), order, axis=1)

    yc, vc = c(y), c(valid)
    segc = np.where(vc, c(seg), -1)
    cen, lo, hi, nlo, nhi = c(centre), c(lower), c(upper), c(near_lower), c(near_upper)
    with np.errstate(invalid="ignore"):
        outside = vc & ((yc > hi) | (yc < lo))
        rtm = np.where(vc & np.isfinite(cen), np.sign(yc - cen), 0).astype(np.int64)
        close = vc & ~outside & ((yc < nlo) | (yc > nhi))

    # steps between consecutive valid points of one segment: dd[:, i] = sign(y[i+1] - y[i])
    same = np.zeros((s, max(t - 1, 0)), dtype=bool)
    dd = np.zeros((s, max(t - 1, 0)), dtype=np.int64)
    if t >= 2:
        same = (segc[:, 1:] == segc[:, :-1]) & vc[:, 1:] & vc[:, :-1]
        with np.errstate(invalid="ignore"):
            dd = np.where(same, np.sign(yc[:, 1:] - yc[:, :-1]), 0).astype(np.int64)

    # trend: runs of equal non-zero signs of consecutive differences in one segment
    trend = np.zeros((s, t), dtype=bool)
    if t >= 2 and rules.trend >= 2:
        runs = _run_totals(dd, dd != 0)
        in_run = runs >= rules.trend - 1
        trend[:, :-1] |= in_run
        trend[:, 1:] |= in_run
    # a trend point's direction (ptd_special_cause_type): the step to the next point when the
    # next point is in a trend too, else the step from the previous point; a step that is not
    # a rise counts as falling ("Decreasing")
    step_next = np.zeros((s, t), dtype=np.int64)
    step_prev = np.zeros((s, t), dtype=np.int64)
    next_trend = np.zeros((s, t), dtype=bool)
    if t >= 2:
        step_next[:, :-1] = dd
        step_prev[:, 1:] = dd
        next_trend[:, :-1] = trend[:, 1:] & same
    trend_dir = np.where(np.where(trend & next_trend, step_next, step_prev) == 1, 1, -1)

    # k of m beyond the near limits, all m on the same side of the mean
    near = np.zeros((s, t), dtype=bool)
    m, k = rules.near_window, rules.near_count
    if t >= m >= 1:
        cs_close = np.concatenate([np.zeros((s, 1)), np.cumsum(close, axis=1)], axis=1)
        cs_rtm = np.concatenate([np.zeros((s, 1)), np.cumsum(rtm, axis=1)], axis=1)
        n_close = cs_close[:, m:] - cs_close[:, :-m]
        sum_rtm = cs_rtm[:, m:] - cs_rtm[:, :-m]
        win_ok = (segc[:, : t - m + 1] == segc[:, m - 1:]) & vc[:, m - 1:]
        qual = win_ok & (n_close >= k) & (np.abs(sum_rtm) == m)
        for off in range(m):
            near[:, off: off + t - m + 1] |= qual
        near &= close

    # shift: runs on one side of the mean within a segment
    key = segc * 4 + rtm
    shift = _run_totals(key, vc & (rtm != 0)) >= rules.shift

    # first matching rule labels the point, and the label's direction classes it (as
    # NHSRplotthedots 0.2 ptd_point_type): outside limits and the side rules by the side of
    # the mean, a trend by its own direction, whichever side of the mean it lies
    rule = np.select([outside, trend, near, shift], [1, 2, 3, 4], 0).astype(np.int8)
    above = np.where(rtm > 0, 1, -1)
    side = np.where(rule == 2, trend_dir, above)
    side = np.where(rule > 0, side, 0)
    if direction == 0:
        special = np.where(rule > 0, 3, 0)
    else:
        special = np.where(rule > 0, np.where(side == direction, 1, 2), 0)
    special = special.astype(np.int8)

    def back(a: np.ndarray, fill: int) -> np.ndarray:
        out = np.full((s, t), fill, dtype=a.dtype)
        np.put_along_axis(out, order, a, axis=1)
        return np.where(valid, out, fill)

    return back(special, 0), back(rule, 0), back(side.astype(np.int8), 0)


def _variation(special: np.ndarray, side: np.ndarray, valid: np.ndarray) -> np.ndarray:
    s, t = special.shape
    if t == 0:
        return np.full(s, None, dtype=object)
    has = valid.any(axis=1)
    last = t - 1 - np.argmax(valid[:, ::-1], axis=1)
    sp = special[np.arange(s), last]
    sd = side[np.arange(s), last]
    hl = np.where(sd > 0, "high", "low")
    names = np.array(["common_cause", "improvement", "concern", "neutral"], dtype=object)
    out = np.where(sp == 0, "common_cause", names[sp] + "_" + hl).astype(object)
    out[~has] = None
    return out


def _assurance(
    target: Any, lower: np.ndarray, upper: np.ndarray, direction: int
) -> np.ndarray:
    s = lower.shape[0]
    out = np.full(s, None, dtype=object)
    if target is None or direction == 0:
        return out
    tgt = np.broadcast_to(np.asarray(target, dtype=float), (s,))
    if lower.shape[1] == 0:
        return out
    lo, hi = lower[:, -1], upper[:, -1]
    ok = np.isfinite(lo) & np.isfinite(hi) & np.isfinite(tgt)
    above_ok = "fail" if direction > 0 else "pass"
    below_ok = "pass" if direction > 0 else "fail"
    res = np.select([tgt > hi, tgt < lo], [above_ok, below_ok], "hit_or_miss").astype(object)
    out[ok] = res[ok]
    return out


def _xmr_limits(
    y: np.ndarray, seg: np.ndarray, fix_after: int | None, screen: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-point mean and AMR (S, T) and base-point counts per segment (S, K)."""
    s, t = y.shape
    valid = np.isfinite(y)
    idx = np.where(valid, np.arange(t), -1)
    last_valid = np.maximum.accumulate(idx, axis=1)
    prev = np.full((s, t), -1)
    prev[:, 1:] = last_valid[:, :-1]
    has_prev = valid & (prev >= 0)
    prev_seg = np.where(prev >= 0, seg[np.maximum(prev, 0)], -1)
    y_prev = np.take_along_axis(y, np.maximum(prev, 0), axis=1)
    with np.errstate(invalid="ignore"):
        mr = np.where(has_prev & (prev_seg == seg), np.abs(y - y_prev), np.nan)
    n_seg = int(seg.max()) + 1 if t else 0
    mean = np.full((s, t), np.nan)
    amr = np.full((s, t), np.nan)
    counts = np.zeros((s, n_seg), dtype=np.int64)
    yz = np.where(valid, y, 0.0)
    for k in range(n_seg):
        cols = seg == k
        vk = valid[:, cols]
        rank = np.cumsum(vk, axis=1)
        base = vk & (rank <= (fix_after if fix_after else np.inf))
        cnt = base.sum(axis=1)
        counts[:, k] = cnt
        with np.errstate(invalid="ignore", divide="ignore"):
            mu = np.where(cnt > 0, (yz[:, cols] * base).sum(axis=1) / np.maximum(cnt, 1), np.nan)
            mrk = mr[:, cols]
            mrb = np.where(base & np.isfinite(mrk), mrk, np.nan)
            mr_ok = np.isfinite(mrb)
            n_mr = mr_ok.sum(axis=1)
            a = np.where(n_mr > 0, np.where(mr_ok, mrb, 0).sum(axis=1) / np.maximum(n_mr, 1),
                         np.nan)
            if screen:
                keep = mr_ok & ((mrb < SCREEN * a[:, None]) | (a[:, None] == 0))
                n_keep = keep.sum(axis=1)
                a = np.where(n_keep > 0,
                             np.where(keep, mrb, 0).sum(axis=1) / np.maximum(n_keep, 1), np.nan)
        mean[:, cols] = mu[:, None]
        amr[:, cols] = a[:, None]
    return mean, amr, counts


def _as_2d(values: Any) -> tuple[np.ndarray, pd.Index, pd.Index]:
    if isinstance(values, pd.DataFrame):
        return values.to_numpy(dtype=float, na_value=np.nan), values.index, values.columns
    arr = np.asarray(values, dtype=float)
    if arr.ndim == 1:
        arr = arr[None, :]
    return arr, pd.RangeIndex(arr.shape[0]), pd.RangeIndex(arr.shape[1])


# --------------------------------------------------------------------------- public


def xmr_batch(
    values: Any,
    *,
    improvement_direction: str = "increase",
    target: Any = None,
    screen_outliers: bool = True,
    fix_after: int | None = None,
    rebase_at: Any = (),
    rules: RuleLengths = RuleLengths(),
) -> SPCBatch:
    """XmR charts for many equally long series at once (vectorised; see module docstring).

    ``values``: 2-D array or wide DataFrame (rows = series, columns = periods in order;
    NaN = missing). ``target``: scalar or one per series. ``rebase_at``: 0-based positions
    starting a new segment (shared by all series).
    """
    y, index, columns = _as_2d(values)
    s, t = y.shape
    direction = _direction(improvement_direction)
    seg = _segment_ids(t, rebase_at)
    mean, amr, counts = _xmr_limits(y, seg, fix_after, screen_outliers)
    lower, upper = mean - LIMIT * amr, mean + LIMIT * amr
    nlo, nhi = mean - NEAR * amr, mean + NEAR * amr
    special, rule, side = _rules(y, seg, mean, lower, upper, nlo, nhi, rules, direction)
    valid = np.isfinite(y)
    # np.asarray: any() of a 2-D array is typed as "bool or array" for mypy
    trial = np.asarray((counts < MIN_POINTS).any(axis=1) if t else np.zeros(s, dtype=bool),
                       dtype=bool)
    variation = _variation(special, side, valid)
    assurance = _assurance(target, lower, upper, direction)
    # Too few points to judge: with fewer valid points in the latest segment than the shortest
    # run rule (7 by default), only "outside limits" could fire, from limits resting on a
    # handful of moving ranges (three financial years, say). Say so instead of showing an icon.
    if t:
        last_seg = seg == seg[-1]
        short = np.isfinite(y[:, last_seg]).sum(axis=1) < min(rules.trend, rules.shift)
        variation[short] = None
        assurance = np.asarray(assurance, dtype=object)
        assurance[short] = None
    return SPCBatch(
        value=y,
        mean=mean,
        lower_limit=lower,
        upper_limit=upper,
        near_lower=nlo,
        near_upper=nhi,
        special_cause=SPECIAL_LABELS[special],
        rule=RULE_LABELS[rule],
        variation=variation,
        assurance=assurance,
        trial_limits=trial,
        index=index,
        columns=columns,
    )


def _segment_warnings(counts: np.ndarray, seg: np.ndarray, fixed: bool) -> tuple[str, ...]:
    out = []
    for k, n in enumerate(counts):
        start = int(np.argmax(seg == k))
        if n < 2:
            out.append(
                f"no limits: segment {k} (from position {start}) has {n} point(s); "
                "limits need at least 2"
            )
        elif n < MIN_POINTS:
            what = "limits fixed on" if fixed else "segment has"
            out.append(
                f"trial limits: segment {k} (from position {start}): {what} {n} points "
                f"(fewer than {MIN_POINTS})"
            )
    return tuple(out)


def xmr(
    values: Any,
    *,
    improvement_direction: str = "increase",
    target: float | None = None,
    screen_outliers: bool = True,
    fix_after: int | None = None,
    rebase_at: Any = (),
    rules: RuleLengths = RuleLengths(),
) -> SPCResult:
    """XmR (individuals) chart of one series, Making Data Count / NHSRplotthedots.

    ``values``: 1-D array-like or Series in time order (NaN = missing period, kept in place).
    ``improvement_direction``: "increase", "decrease" or "neutral".
    ``target``: optional target for the assurance icon. ``screen_outliers``: drop moving
    ranges >= 3.267 x AMR (default True). ``fix_after``: base limits on the first N points of
    each segment. ``rebase_at``: 0-based positions where a new segment (new limits) starts.
    """
    index = values.index if isinstance(values, pd.Series) else None
    y = np.asarray(values, dtype=float).reshape(-1)
    b = xmr_batch(
        y[None, :],
        improvement_direction=improvement_direction,
        target=target,
        screen_outliers=screen_outliers,
        fix_after=fix_after,
        rebase_at=rebase_at,
        rules=rules,
    )
    seg = _segment_ids(y.size, rebase_at)
    points = pd.DataFrame(
        {
            "value": y,
            "mean": b.mean[0],
            "lower_limit": b.lower_limit[0],
            "upper_limit": b.upper_limit[0],
            "near_lower": b.near_lower[0],
            "near_upper": b.near_upper[0],
            "special_cause": _cat(b.special_cause[0], SPECIAL_LABELS),
            "rule": _cat(b.rule[0], RULE_LABELS),
            "segment": seg,
        },
        index=index,
    )
    counts = [
        int(min(np.isfinite(y[seg == k]).sum(), fix_after or np.inf))
        for k in range(int(seg.max()) + 1 if y.size else 0)
    ]
    return SPCResult(
        points=points,
        variation=b.variation[0],
        assurance=b.assurance[0],
        warnings=_segment_warnings(np.asarray(counts), seg, fix_after is not None),
    )


def p_chart(
    numerator: Any,
    denominator: Any,
    *,
    improvement_direction: str = "increase",
    target: float | None = None,
    multiplier: float = 1.0,
    rebase_at: Any = (),
    rules: RuleLengths = RuleLengths(),
) -> SPCResult:
    """p-chart for proportions with varying denominators (qicharts2 ``qic(chart="p")``).

    Centre = sum(numerator) / sum(denominator) per segment; limits centre +/- 3 sqrt(cl (1-cl)
    / n_i) and near limits +/- 2 sigma, clipped to [0, 1]; all x ``multiplier``. Zero or missing
    denominators are missing points. The same special-cause rules as :func:`xmr` apply.
    """
    index = numerator.index if isinstance(numerator, pd.Series) else None
    o = np.asarray(numerator, dtype=float).reshape(-1)
    n = np.asarray(denominator, dtype=float).reshape(-1)
    ok = np.isfinite(o) & np.isfinite(n) & (n > 0)
    p = np.where(ok, o / np.where(ok, n, 1.0), np.nan)
    seg = _segment_ids(p.size, rebase_at)
    cl = np.full(p.size, np.nan)
    counts = []
    for k in range(int(seg.max()) + 1 if p.size else 0):
        m = (seg == k) & ok
        counts.append(int(m.sum()))
        if m.any() and n[m].sum() > 0:
            cl[seg == k] = o[m].sum() / n[m].sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        sigma = np.sqrt(cl * (1.0 - cl) / np.where(ok, n, np.nan))
    lo, hi = np.clip(cl - 3 * sigma, 0, 1), np.clip(cl + 3 * sigma, 0, 1)
    nlo, nhi = np.clip(cl - 2 * sigma, 0, 1), np.clip(cl + 2 * sigma, 0, 1)
    direction = _direction(improvement_direction)
    special, rule, side = _rules(
        p[None, :], seg, cl[None, :], lo[None, :], hi[None, :], nlo[None, :], nhi[None, :],
        rules, direction,
    )
    mult = float(multiplier)
    points = pd.DataFrame(
        {
            "numerator": o,
            "denominator": n,
            "value": p * mult,
            "mean": cl * mult,
            "lower_limit": lo * mult,
            "upper_limit": hi * mult,
            "near_lower": nlo * mult,
            "near_upper": nhi * mult,
            "special_cause": _cat(SPECIAL_LABELS[special[0]], SPECIAL_LABELS),
            "rule": _cat(RULE_LABELS[rule[0]], RULE_LABELS),
            "segment": seg,
        },
        index=index,
    )
    valid = np.isfinite(p)[None, :]
    last_ok = np.flatnonzero(ok)
    if target is not None and last_ok.size:
        j = last_ok[-1]
        assurance = _assurance(target, np.array([[lo[j] * mult]]), np.array([[hi[j] * mult]]),
                               direction)[0]
    else:
        assurance = None
    variation = _variation(special, side, valid)[0]
    if counts and counts[-1] < min(rules.trend, rules.shift):  # too few points to judge
        variation, assurance = None, None
    return SPCResult(
        points=points,
        variation=variation,
        assurance=assurance,
        warnings=_segment_warnings(np.asarray(counts), seg, False),
    )


@dataclass(frozen=True)
class RunChartSignals:
    """Anhoej run-chart analysis (qicharts2 ``runs.analysis``).

    centre: median (or the given centre); n_useful: points not on the centre line;
    longest_run / longest_run_max: observed and the largest allowed
    (round(log2(n_useful)) + 3); n_crossings / n_crossings_min: observed crossings of the
    centre line and the smallest allowed (qbinom(0.05, n_useful - 1, 0.5));
    runs_signal: longest_run > longest_run_max or n_crossings < n_crossings_min.
    Series with fewer than 2 useful points have no signal (thresholds 0).
    """

    centre: float
    n_useful: int
    longest_run: int
    longest_run_max: int
    n_crossings: int
    n_crossings_min: int
    runs_signal: bool


def anhoej_thresholds(n_useful: Any) -> tuple[np.ndarray, np.ndarray]:
    """(longest_run_max, n_crossings_min) for each number of useful observations."""
    n = np.asarray(n_useful, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        run_max = np.round(np.log2(np.maximum(n, 1))) + 3
        cross_min = stats.binom.ppf(0.05, np.maximum(n - 1, 0), 0.5)
    return run_max.astype(int), np.nan_to_num(cross_min).astype(int)


def run_chart_signals(values: Any, *, centre: float | None = None) -> RunChartSignals:
    """Anhoej rules for a run chart: unusually long runs or too few crossings of the median.

    NaN values are ignored; points exactly on the centre line are ignored (not useful).
    """
    y = np.asarray(values, dtype=float).reshape(-1)
    y = y[np.isfinite(y)]
    cl = float(np.median(y)) if centre is None and y.size else (
        float(centre) if centre is not None else float("nan"))
    side = np.sign(y - cl) if y.size else y
    useful = side[side != 0]
    n = int(useful.size)
    if n == 0:
        return RunChartSignals(cl, 0, 0, 0, 0, 0, False)
    changes = np.flatnonzero(useful[1:] != useful[:-1])
    n_cross = int(changes.size)
    bounds = np.concatenate([[-1], changes, [n - 1]])
    longest = int(np.diff(bounds).max())
    run_max, cross_min = anhoej_thresholds(n)
    signal = n >= 2 and (longest > int(run_max) or n_cross < int(cross_min))
    return RunChartSignals(cl, n, longest, int(run_max), n_cross, int(cross_min), bool(signal))
