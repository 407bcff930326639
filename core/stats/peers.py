"""Peer comparison (rank, percentile, quartiles, benchmark) and GIRFT-style opportunity.

* rank: 1 = best by polarity; ties share the minimum rank (SQL ``RANK``);
  ``no_judgement`` ranks by value, highest first.
* percentile: OpenPrescribing's measure percentile, SQL ``PERCENT_RANK() OVER (ORDER BY
  value)`` x 100 = (ascending min-rank - 1) / (n - 1) x 100, 0-100, by *value* (not polarity);
  a set with one value gives 0. Equivalent pandas: ``(s.rank(method="min") - 1) / (n - 1)``.
* quartiles / deciles: unweighted, linear interpolation between order statistics
  (numpy ``percentile`` default = R ``quantile`` type 7), over organisations with a value.
* comparison with a benchmark (Fingertips): "better"/"worse" when the organisation's
  confidence interval lies wholly above/below the benchmark *value*, else "similar";
  "not_compared" for no_judgement polarity, a missing value or interval, or no benchmark.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .intervals import interval_arrays, point_values, pooled_value

POLARITIES = ("higher_is_better", "lower_is_better", "no_judgement")
LEVELS = ("median", "upper_quartile", "best_decile", "target")
COMPARISONS = ("better", "similar", "worse", "not_compared")


def _sign(polarity: str) -> int:
    if polarity not in POLARITIES:
        raise ValueError(f"polarity must be one of {POLARITIES}, got {polarity!r}")
    return {"higher_is_better": 1, "lower_is_better": -1, "no_judgement": 0}[polarity]


@dataclass(frozen=True)
class PeerComparison:
    """Result of :func:`peer_comparison`.

    rows: same index as the input frame; columns ``numerator``, ``denominator``, ``value``,
        ``lower``, ``upper`` (display units), ``rank`` (Int64, <NA> = no value),
        ``percentile`` (float 0-100, NaN = no value), ``quartile`` and ``decile`` (Int64;
        1 = best quartile/decile by polarity, highest values for no_judgement),
        ``comparison`` ("better", "similar", "worse", "not_compared"), ``meets_target``
        (boolean, <NA> without a target, no value or no_judgement polarity).
    quartiles: (q1, median, q3) of the values; deciles: the 10th..90th percentiles (9 values).
    benchmark: value compared against (display units); pooled: ratio of sums of the set.
    n: number of organisations with a value.
    """

    rows: pd.DataFrame
    quartiles: tuple[float, float, float]
    deciles: tuple[float, ...]
    benchmark: float
    pooled: float
    n: int


#: built once: inferring the categories' string dtype costs about 1 ms per call
_COMPARISON_DTYPE = pd.CategoricalDtype(categories=list(COMPARISONS))


def _min_ranks(v: np.ndarray, has: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SQL ``RANK`` (ties share the minimum rank) of the finite values of ``v``, ascending
    and descending (NaN elsewhere), and the sorted values, from one sort: the ascending
    min-rank is 1 + the position of the first of a run of ties in sorted order, the
    descending one ``n`` - the position of the last of the run."""
    idx = np.flatnonzero(has)
    x = v[idx]
    order = np.argsort(x)
    s = x[order]
    m = s.size
    asc = np.full(v.shape, np.nan)
    desc = np.full(v.shape, np.nan)
    if m:
        pos = np.arange(m)
        starts = np.empty(m, dtype=bool)
        starts[0] = True
        np.not_equal(s[1:], s[:-1], out=starts[1:])
        first = np.maximum.accumulate(np.where(starts, pos, 0))
        ends = np.empty(m, dtype=bool)
        ends[-1] = True
        ends[:-1] = starts[1:]
        last = np.minimum.accumulate(np.where(ends, pos, m)[::-1])[::-1]
        at = idx[order]
        asc[at] = first + 1.0
        desc[at] = (m - last).astype(float)
    return asc, desc, s


def _int64(x: np.ndarray, has: np.ndarray) -> pd.arrays.IntegerArray:
    """A nullable Int64 array of whole-number floats, missing where ``has`` is False (built
    from the data and mask directly: ``pd.array(..., dtype="Int64")`` re-validates each
    value)."""
    return pd.arrays.IntegerArray(np.where(has, x, 0.0).astype(np.int64), ~has)


def _bins(values: np.ndarray, cuts: np.ndarray, sign: int) -> np.ndarray:
    """1 = best bin. For higher-is-better (and no judgement) the top bin is value >= top cut."""
    if sign >= 0:
        return (len(cuts) + 1 - np.searchsorted(cuts, values, side="right")).astype(float)
    return (np.searchsorted(cuts, values, side="left") + 1).astype(float)


#: quartiles then deciles, in percent
_QUANTILES = np.array([25, 50, 75, *range(10, 100, 10)], dtype=float)


@dataclass(frozen=True)
class PeerArrays:
    """:func:`peer_comparison` as numpy arrays (input order), without DataFrames.

    ``value``, ``lower``, ``upper``, ``percentile``: float (NaN = no value); ``rank``,
    ``quartile``, ``decile``: whole-number floats, NaN where ``has`` is False; ``comparison``:
    int8 codes into :data:`COMPARISONS`; ``meets_target``: bool, meaningful where
    ``target_known`` (False without a target, a value or a polarity).
    """

    value: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    has: np.ndarray
    rank: np.ndarray
    percentile: np.ndarray
    quartile: np.ndarray
    decile: np.ndarray
    comparison: np.ndarray
    meets_target: np.ndarray
    target_known: np.ndarray
    quartiles: tuple[float, float, float]
    deciles: tuple[float, ...]
    benchmark: float
    pooled: float
    n: int


def compare_arrays(
    numerator: np.ndarray,
    denominator: np.ndarray | None,
    *,
    polarity: str,
    value_type: str,
    multiplier: float = 1.0,
    confidence: float = 0.95,
    benchmark: float | None = None,
    target: float | None = None,
    sd: np.ndarray | None = None,
) -> PeerArrays:
    """The computation of :func:`peer_comparison` on arrays (one element per organisation;
    ``denominator`` None for counts without one); see there for the rules."""
    sign = _sign(polarity)
    v, lo, hi = interval_arrays(
        value_type,
        numerator,
        denominator,
        sd=sd,
        confidence=confidence,
        multiplier=multiplier,
    )
    has = np.isfinite(v)
    pct, desc, vals = _min_ranks(v, has)  # vals: the values, sorted
    n = vals.size
    rank = desc if sign >= 0 else pct
    pct = (pct - 1.0) / (n - 1) * 100.0 if n > 1 else np.where(has, 0.0, np.nan)

    if n:
        # one call for all twelve (each quantile is computed on its own, as in two calls)
        qs = np.percentile(vals, _QUANTILES)
        q, dec = qs[:3], qs[3:]
    else:
        q = np.full(3, np.nan)
        dec = np.full(9, np.nan)
    quart = np.where(has, _bins(np.where(has, v, 0), q, sign), np.nan)
    decile = np.where(has, _bins(np.where(has, v, 0), dec, sign), np.nan)

    pooled = (
        pooled_value(numerator, denominator, multiplier=multiplier)
        if value_type != "mean" and denominator is not None
        else (float(np.mean(v[has])) if n else float("nan"))
    )
    bench = pooled if benchmark is None else float(benchmark)
    # codes into COMPARISONS (0 better, 1 similar, 2 worse, 3 not_compared)
    comp = np.full(v.shape, 3, dtype=np.int8)
    if sign != 0 and np.isfinite(bench):
        ok = has & np.isfinite(lo) & np.isfinite(hi)
        higher = ok & (lo > bench)
        lower = ok & (hi < bench)
        comp[ok] = 1
        comp[higher] = 0 if sign > 0 else 2
        comp[lower] = 2 if sign > 0 else 0

    if target is not None and sign != 0:
        meets = v >= target if sign > 0 else v <= target
        meets, known = np.where(has, meets, False), has
    else:
        meets, known = np.zeros(v.shape, dtype=bool), np.zeros(v.shape, dtype=bool)
    return PeerArrays(
        value=v,
        lower=lo,
        upper=hi,
        has=has,
        rank=np.where(has, rank, np.nan),
        percentile=np.where(has, pct, np.nan),
        quartile=quart,
        decile=decile,
        comparison=comp,
        meets_target=meets,
        target_known=known,
        quartiles=(float(q[0]), float(q[1]), float(q[2])),
        deciles=tuple(float(x) for x in dec),
        benchmark=bench,
        pooled=pooled,
        n=n,
    )


def peer_comparison(
    frame: pd.DataFrame,
    *,
    polarity: str,
    value_type: str,
    multiplier: float = 1.0,
    confidence: float = 0.95,
    benchmark: float | None = None,
    target: float | None = None,
    numerator: str = "numerator",
    denominator: str = "denominator",
    sd: str | None = None,
) -> PeerComparison:
    """Compare organisations for one indicator and period (one row per organisation).

    ``frame`` holds ``numerator`` and ``denominator`` columns (and an ``sd`` column for
    means). ``benchmark`` (display units) defaults to the pooled value of the set (ratio of
    sums); pass England's value or a target to compare with that instead. ``target``
    (display units) adds ``meets_target``: value >= target (higher_is_better) or <= target
    (lower_is_better). The computation is :func:`compare_arrays`.
    """
    num = frame[numerator].to_numpy(dtype=float, na_value=np.nan)
    den = (frame[denominator].to_numpy(dtype=float, na_value=np.nan)
           if denominator in frame else None)
    a = compare_arrays(
        num, den, polarity=polarity, value_type=value_type, multiplier=multiplier,
        confidence=confidence, benchmark=benchmark, target=target,
        sd=frame[sd].to_numpy(dtype=float, na_value=np.nan) if sd else None,
    )
    has = a.has
    rows = pd.DataFrame(
        {
            "numerator": num,
            "denominator": den if den is not None else np.nan,
            "value": a.value,
            "lower": a.lower,
            "upper": a.upper,
            "rank": _int64(a.rank, has),
            "percentile": a.percentile,
            "quartile": _int64(a.quartile, has),
            "decile": _int64(a.decile, has),
            "comparison": pd.Categorical.from_codes(a.comparison, dtype=_COMPARISON_DTYPE),
            "meets_target": pd.arrays.BooleanArray(a.meets_target, ~a.target_known),
        },
        index=frame.index,
    )
    return PeerComparison(
        rows=rows,
        quartiles=a.quartiles,
        deciles=a.deciles,
        benchmark=a.benchmark,
        pooled=a.pooled,
        n=a.n,
    )


@dataclass(frozen=True)
class Opportunity:
    """Result of :func:`opportunity`.

    rows: input index; ``value`` (display units), ``level`` (the level aimed for),
        ``gap`` (|level - value| for organisations worse than the level, else 0) and
        ``extra`` (= gap x denominator / multiplier: patients/events that would move if the
        organisation reached the level; 0 when already there or with no value); plus
        ``group`` when a grouping was given.
    by_group: per group ``extra`` (sum), ``n_orgs`` (worse than level), ``orgs_for_half``.
    total: sum of ``extra``. orgs_for_half: fewest organisations (largest first) whose
        extras add up to at least half the total (0 when the total is 0).
    level: the level value (display units).
    """

    rows: pd.DataFrame
    by_group: pd.DataFrame
    total: float
    orgs_for_half: int
    level: float


def _orgs_for_half(extra: np.ndarray, descending: np.ndarray | None = None) -> int:
    """``descending``: the positive extras already sorted largest first, if at hand."""
    e = np.sort(extra[extra > 0])[::-1] if descending is None else descending
    total = e.sum()
    if total <= 0:
        return 0
    return int(np.searchsorted(np.cumsum(e), total / 2.0 - 1e-12 * total) + 1)


def opportunity(
    frame: pd.DataFrame,
    *,
    polarity: str,
    value_type: str = "proportion",
    multiplier: float = 1.0,
    level: str = "upper_quartile",
    target: float | None = None,
    group: str | None = None,
    numerator: str = "numerator",
    denominator: str = "denominator",
) -> Opportunity:
    """GIRFT-style opportunity: extra patients if each organisation reached ``level``.

    ``level``: "median", "upper_quartile" (the *better* quartile by polarity: Q3 for
    higher_is_better, Q1 for lower_is_better), "best_decile" (P90 / P10) or "target"
    (needs ``target`` in display units). Levels are unweighted, linear-interpolated
    percentiles of the organisations' values. no_judgement polarity raises ValueError.
    """
    sign = _sign(polarity)
    if sign == 0:
        raise ValueError("opportunity needs a polarity (higher_is_better / lower_is_better)")
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, got {level!r}")
    v = point_values(value_type, frame[numerator], frame[denominator], multiplier=multiplier)
    d = frame[denominator].to_numpy(dtype=float)
    has = np.isfinite(v)
    vals = v[has]
    if level == "target":
        if target is None:
            raise ValueError("level='target' needs a target")
        lev = float(target)
    elif not vals.size:
        lev = float("nan")
    else:
        pct = {"median": 50.0, "upper_quartile": 75.0, "best_decile": 90.0}[level]
        lev = float(np.percentile(vals, pct if sign > 0 else 100.0 - pct))
    worse = has & ((v < lev) if sign > 0 else (v > lev))
    gap = np.where(worse, np.abs(lev - np.where(has, v, 0.0)), 0.0)
    extra = np.where(worse, gap * np.where(worse, d, 0.0) / float(multiplier), 0.0)
    columns = {"value": v, "level": lev, "gap": gap, "extra": extra}
    descending = None
    keys = frame[group].to_numpy() if group is not None else None
    if keys is not None:
        columns["group"] = keys
    rows = pd.DataFrame(columns, index=frame.index)
    if keys is not None:
        if keys.dtype.kind in "iu":  # the column as built: same codes and uniques
            codes, uniques = pd.factorize(keys, sort=True, use_na_sentinel=False)
        else:
            codes, uniques = pd.factorize(rows["group"], sort=True, use_na_sentinel=False)
        k = len(uniques)
        tot = np.bincount(codes, weights=extra, minlength=k)
        # organisations for half of each group's total, largest extra first: only the
        # positive extras count (extra >= 0, and adding the zeros leaves the running sums
        # unchanged), so sort just those by (group, -extra). A missing extra (a count
        # without a denominator) makes the running sums NaN from there on: keep all rows.
        pos = np.flatnonzero(extra > 0)
        nan_extra = bool(np.isnan(extra).any())
        if nan_extra:
            pos = np.arange(extra.size)
        c_pos, e_pos = codes[pos], extra[pos]
        # (group, -extra) order: by -extra, then stably by group (a radix sort on small
        # codes); ties may come in another order than np.lexsort's but the sorted values,
        # all that is used, are the same
        order = np.argsort(-e_pos)
        if not nan_extra:  # the positive extras, largest first, as _orgs_for_half sorts them
            descending = e_pos[order]
        c_small = c_pos[order]
        if k <= np.iinfo(np.int16).max:
            c_small = c_small.astype(np.int16)
        order = order[np.argsort(c_small, kind="stable")]
        c_sorted, e_sorted = c_pos[order], e_pos[order]
        cum = np.cumsum(e_sorted)
        starts = np.searchsorted(c_sorted, np.arange(k))
        before = cum - e_sorted - np.concatenate([[0.0], cum])[starts][c_sorted]
        t_g = tot[c_sorted]
        need = (e_sorted > 0) & (before < t_g / 2.0 - 1e-12 * t_g)
        by_group = pd.DataFrame(
            {
                "extra": tot,
                "n_orgs": np.bincount(codes, weights=worse, minlength=k).astype(int),
                "orgs_for_half": np.bincount(c_sorted, weights=need, minlength=k).astype(int),
            },
            index=pd.Index(uniques, name="group"),
        )
    half = _orgs_for_half(extra, descending)
    if group is None:
        by_group = pd.DataFrame(
            {"extra": [extra.sum()], "n_orgs": [int(worse.sum())], "orgs_for_half": [half]},
            index=pd.Index(["all"], name="group"),
        )
    return Opportunity(
        rows=rows,
        by_group=by_group,
        total=float(extra.sum()),
        orgs_for_half=half,
        level=lev,
    )
