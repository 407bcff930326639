"""Confidence intervals, the value-type dispatcher and aggregation (ratio of sums).

Methods (see ../shared/reference/FORMULAS.md):

* proportions: Wilson score interval **without** continuity correction
  (Fingertips technical guidance; PHEindicatormethods ``wilson_lower``/``wilson_upper``);
* counts, crude rates and observed/expected ratios: Byar's approximation from 10 events,
  exact Poisson (chi-square) below 10 (PHEindicatormethods ``phe_rate``); a negative Byar
  lower limit is missing (NaN), as ``byars_lower`` returns NA;
* means: Student-t (PHEindicatormethods ``phe_mean``).

All functions are vectorised over numpy arrays / pandas Series, never warn, and return NaN
*only* to mean "no value" (zero or missing denominator, missing numerator).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import special

ValueType = Literal["proportion", "rate", "ratio", "mean", "count"]
VALUE_TYPES: tuple[str, ...] = ("proportion", "rate", "ratio", "mean", "count")

#: number of events from which Byar's approximation replaces the exact Poisson limits
BYAR_MIN_EVENTS = 10


def normalise_confidence(confidence: float) -> float:
    """Return the confidence as a fraction: 0.95 and 95 both give 0.95; 99.8 gives 0.998.

    Raises ``ValueError`` unless the result lies in (0, 1].
    """
    c = float(confidence)
    if c > 1.0:
        c = c / 100.0
    if not 0.0 < c <= 1.0:
        raise ValueError(f"confidence must be in (0, 1] or (1, 100], got {confidence!r}")
    return c


def z_value(confidence: float) -> float:
    """Two-sided normal quantile: 1.959964 for 95%, 3.090232 for 99.8% (R ``qnorm``)."""
    c = normalise_confidence(confidence)
    return float(special.ndtri(0.5 + c / 2.0))


def _arr(x: Any) -> np.ndarray:
    if isinstance(x, pd.Series | pd.Index):
        x = x.to_numpy(dtype=float, na_value=np.nan)
    return np.asarray(x, dtype=float)


def wilson_interval(
    numerator: Any, denominator: Any, confidence: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval (no continuity correction) on the 0-1 scale.

    ``lower = (2O + z^2 - z sqrt(z^2 + 4 O q)) / (2 (n + z^2))`` and the same with ``+`` for
    ``upper``; ``q = 1 - O/n``. Non-integer O is allowed. Zero/missing denominators give NaN.
    Confidence 1 gives [0, 1].
    """
    o = _arr(numerator)
    n = _arr(denominator)
    o, n = np.broadcast_arrays(o, n)
    c = normalise_confidence(confidence)
    ok = np.isfinite(o) & np.isfinite(n) & (n > 0)
    lower = np.full(o.shape, np.nan)
    upper = np.full(o.shape, np.nan)
    if c >= 1.0:
        lower[ok] = 0.0
        upper[ok] = 1.0
        return lower, upper
    z = z_value(c)
    oo, nn = o[ok], n[ok]
    q = 1.0 - oo / nn
    root = z * np.sqrt(np.maximum(z * z + 4.0 * oo * q, 0.0))
    den = 2.0 * (nn + z * z)
    lower[ok] = np.maximum((2.0 * oo + z * z - root) / den, 0.0)
    upper[ok] = np.minimum((2.0 * oo + z * z + root) / den, 1.0)
    return lower, upper


def byar_interval(count: Any, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Byar's approximation to Poisson limits of a count (PHEindicatormethods ``byars_*``).

    ``lower = O (1 - 1/(9O) - z/(3 sqrt O))^3`` (NaN when negative, or when O = 0),
    ``upper = (O+1)(1 - 1/(9(O+1)) + z/(3 sqrt(O+1)))^3``.
    """
    o = _arr(count)
    z = z_value(confidence)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        lower = o * (1.0 - 1.0 / (9.0 * o) - z / (3.0 * np.sqrt(o))) ** 3
        o1 = o + 1.0
        upper = o1 * (1.0 - 1.0 / (9.0 * o1) + z / (3.0 * np.sqrt(o1))) ** 3
    lower = np.where(np.isfinite(lower) & (lower >= 0) & (o > 0), lower, np.nan)
    upper = np.where(np.isfinite(o) & (o >= 0), upper, np.nan)
    return lower, upper


def exact_poisson_interval(
    count: Any, confidence: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Exact (chi-square / gamma) Poisson limits of a count.

    ``lower = chi2_{a/2}(2O)/2`` (0 when O = 0), ``upper = chi2_{1-a/2}(2O+2)/2``; computed
    with the inverse regularised gamma function, which equals these quantiles exactly.
    """
    o = _arr(count)
    c = normalise_confidence(confidence)
    a = 1.0 - c
    ok = np.isfinite(o) & (o >= 0)
    lower = np.full(o.shape, np.nan)
    upper = np.full(o.shape, np.nan)
    pos = ok & (o > 0)
    lower[ok & (o == 0)] = 0.0
    if c >= 1.0:
        lower[pos] = 0.0
        upper[ok] = np.inf
        return lower, upper
    lower[pos] = special.gammaincinv(o[pos], a / 2.0)
    upper[ok] = special.gammaincinv(o[ok] + 1.0, 1.0 - a / 2.0)
    return lower, upper


def poisson_interval(count: Any, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """PHE ``phe_rate`` switch: exact limits when O < 10, Byar's from 10 events."""
    o = _arr(count)
    el, eu = exact_poisson_interval(o, confidence)
    bl, bu = byar_interval(o, confidence)
    exact = o < BYAR_MIN_EVENTS
    return np.where(exact, el, bl), np.where(exact, eu, bu)


def mean_interval(
    mean: Any, sd: Any, count: Any, confidence: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Student-t interval ``mean +/- t_{1-a/2, n-1} sd / sqrt(n)`` (PHE ``phe_mean``).

    Needs n >= 2 and a finite sd; otherwise NaN (no interval).
    """
    m, s, n = np.broadcast_arrays(_arr(mean), _arr(sd), _arr(count))
    c = normalise_confidence(confidence)
    ok = np.isfinite(m) & np.isfinite(s) & np.isfinite(n) & (n >= 2)
    lower = np.full(m.shape, np.nan)
    upper = np.full(m.shape, np.nan)
    if c >= 1.0:
        lower[ok], upper[ok] = -np.inf, np.inf
        return lower, upper
    t = special.stdtrit(n[ok] - 1.0, 0.5 + c / 2.0)
    half = t * s[ok] / np.sqrt(n[ok])
    lower[ok] = m[ok] - half
    upper[ok] = m[ok] + half
    return lower, upper


def _index_of(*xs: Any) -> pd.Index | None:
    for x in xs:
        if isinstance(x, pd.Series):
            return x.index
    return None


def value_intervals(
    value_type: str,
    numerator: Any,
    denominator: Any = None,
    *,
    value: Any = None,
    sd: Any = None,
    confidence: float = 0.95,
    multiplier: float = 1.0,
) -> pd.DataFrame:
    """Value and confidence interval in display units (x ``multiplier``) for any value type.

    ===============  ===========================  =========================================
    value_type       value                        interval
    ===============  ===========================  =========================================
    ``proportion``   numerator / denominator      Wilson score, no continuity correction
    ``rate``         numerator / denominator      exact Poisson (O < 10) / Byar (O >= 10)
    ``ratio``        observed / expected          as ``rate`` (indirectly standardised)
    ``count``        numerator                    as ``rate``, denominator ignored
    ``mean``         numerator / denominator      Student-t; needs ``sd`` (sample SD,
                     (sum / count)                n-1) and denominator = count
    ===============  ===========================  =========================================

    ``value`` (optional, display units) overrides the reported value only; the interval is
    always computed from numerator/denominator (or value/sd/denominator for means).

    Returns a DataFrame with float columns ``value``, ``lower``, ``upper`` (index taken from
    the first pandas Series argument, else a RangeIndex). NaN means "no value": zero or missing
    denominator, missing numerator, or (Byar) a lower limit below zero. Never warns.
    """
    val, lo, hi = interval_arrays(value_type, numerator, denominator, value=value, sd=sd,
                                  confidence=confidence, multiplier=multiplier)
    out = pd.DataFrame({"value": val, "lower": lo, "upper": hi})
    index = _index_of(numerator, denominator, value, sd)
    if index is not None and len(index) == len(out):
        out.index = index
    return out


def _counts(value_type: str, numerator: Any, denominator: Any
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(o, n, ok, safe_n, raw)``: the counts as float arrays (a count's denominator is 1),
    where they make a value, the denominator to divide by, and numerator / denominator
    (NaN where there is no value)."""
    if value_type not in VALUE_TYPES:
        raise ValueError(f"value_type must be one of {VALUE_TYPES}, got {value_type!r}")
    o = np.atleast_1d(_arr(numerator))
    if value_type == "count":
        n = np.ones_like(o)
    else:
        if denominator is None:
            raise ValueError(f"value_type {value_type!r} needs a denominator")
        n = np.atleast_1d(_arr(denominator))
    o, n = np.broadcast_arrays(o, n)
    ok = np.isfinite(o) & np.isfinite(n) & (n > 0)
    safe_n = np.where(ok, n, 1.0)
    return o, n, ok, safe_n, np.where(ok, o / safe_n, np.nan)


def point_values(value_type: str, numerator: Any, denominator: Any = None, *,
                 multiplier: float = 1.0) -> np.ndarray:
    """The ``value`` of :func:`interval_arrays` (numerator / denominator x multiplier; NaN
    without a positive denominator), without its interval: for callers that need only values
    (an exact Poisson / Byar interval costs about 1.4 us a value: 1.2 s for one national
    indicator's 850,000 monthly values)."""
    return _counts(value_type, numerator, denominator)[4] * float(multiplier)


def interval_arrays(
    value_type: str,
    numerator: Any,
    denominator: Any = None,
    *,
    value: Any = None,
    sd: Any = None,
    confidence: float = 0.95,
    multiplier: float = 1.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`value_intervals` as three float arrays ``(value, lower, upper)``, without the
    DataFrame (the same computation; for callers that work on arrays)."""
    o, n, ok, safe_n, raw = _counts(value_type, numerator, denominator)
    mult = float(multiplier)

    if value_type == "proportion":
        lo, hi = wilson_interval(o, n, confidence)
    elif value_type in ("rate", "ratio", "count"):
        lo, hi = poisson_interval(np.where(ok, o, np.nan), confidence)
        lo, hi = lo / safe_n, hi / safe_n
    else:  # mean
        if sd is None:
            lo = hi = np.full(o.shape, np.nan)
        else:
            s = np.broadcast_to(np.atleast_1d(_arr(sd)), o.shape)
            lo, hi = mean_interval(raw, s, n, confidence)
    lo = np.where(ok, lo, np.nan) * mult
    hi = np.where(ok, hi, np.nan) * mult
    val = raw * mult
    if value is not None:
        val = np.broadcast_to(np.atleast_1d(_arr(value)), o.shape).astype(float)
        val = np.where(ok, val, np.nan)
    return val, lo, hi


def mean_of_values(
    values: Any, groups: Any = None, *, confidence: float = 0.95
) -> pd.DataFrame:
    """Mean of raw values per group with Student-t limits (PHE ``phe_mean``).

    Returns columns ``value_sum``, ``value_count``, ``stdev``, ``value``, ``lower``, ``upper``
    indexed by group (a single row labelled ``None`` when ``groups`` is None).
    """
    s = pd.Series(_arr(values))
    g = pd.Series([None] * len(s) if groups is None else list(groups), dtype=object)
    frame = pd.DataFrame({"v": s, "g": g.fillna("__all__")}).dropna(subset=["v"])
    agg = frame.groupby("g", sort=True)["v"].agg(["sum", "count", "std"])
    agg.columns = ["value_sum", "value_count", "stdev"]
    agg["value"] = agg["value_sum"] / agg["value_count"]
    lo, hi = mean_interval(agg["value"], agg["stdev"], agg["value_count"], confidence)
    agg["lower"] = lo
    agg["upper"] = hi
    if groups is None:
        agg.index = pd.Index([None], dtype=object)
    agg.index.name = None
    return agg


#: largest float below which sums of whole numbers are exact in any order
_EXACT_SUM = 2.0**53


def _exact_sums(x: np.ndarray) -> bool:
    """True when any summation order gives the same float: whole numbers whose absolute
    total stays below 2**53 (so pandas' compensated group sums equal plain ones)."""
    with np.errstate(invalid="ignore"):
        return bool(np.all(np.trunc(x) == x) and np.abs(x).sum() < _EXACT_SUM)


def _fast_key(col: pd.Series) -> bool:
    dtype = col.dtype
    if isinstance(dtype, np.dtype):
        return dtype.kind in "iuf"
    return isinstance(dtype, pd.StringDtype) and dtype.na_value is np.nan


def _aggregate_fast(
    frame: pd.DataFrame,
    keys: list[str],
    value_type: str,
    multiplier: float,
    confidence: float,
    numerator: str,
    denominator: str,
) -> pd.DataFrame | None:
    """:func:`aggregate` with ``pd.factorize`` + ``np.bincount`` instead of a pandas groupby,
    for one numeric or string key and float64 columns whose sums are exact in any order
    (whole numbers, the usual counts); None otherwise (the caller uses the groupby). The
    result is identical: groups sorted with a missing key last, NaN sums for a group with
    no usable row, int64 ``n_orgs``."""
    if len(keys) != 1 or not len(frame):
        return None
    key = frame[keys[0]]
    num_col = frame[numerator]
    if not _fast_key(key) or num_col.dtype != np.float64:
        return None
    o = num_col.to_numpy()
    if value_type == "count":
        d = np.ones_like(o)
    else:
        den_col = frame[denominator]
        if den_col.dtype != np.float64:
            return None
        d = den_col.to_numpy()
    usable = ~(np.isnan(o) | np.isnan(d))
    ou, du = o[usable], d[usable]
    if not (_exact_sums(ou) and _exact_sums(du)):
        return None
    codes, uniques = pd.factorize(key, sort=True, use_na_sentinel=False)
    k = len(uniques)
    cu = codes[usable]
    n_orgs = np.bincount(cu, minlength=k)
    empty = n_orgs == 0
    num_sum = np.bincount(cu, weights=ou, minlength=k)
    den_sum = np.bincount(cu, weights=du, minlength=k)
    num_sum[empty] = np.nan
    den_sum[empty] = np.nan
    val, lo, hi = interval_arrays(value_type, num_sum, den_sum, confidence=confidence,
                                  multiplier=multiplier)
    index = pd.Index(uniques, name=keys[0])
    return pd.DataFrame(
        {"numerator": num_sum, "denominator": den_sum, "n_orgs": n_orgs.astype(np.int64),
         "value": val, "lower": lo, "upper": hi},
        index=index,
    )


def aggregate(
    frame: pd.DataFrame,
    by: str | Sequence[str],
    *,
    value_type: str,
    multiplier: float = 1.0,
    confidence: float = 0.95,
    numerator: str = "numerator",
    denominator: str = "denominator",
) -> pd.DataFrame:
    """Aggregate organisations to a parent as a **ratio of sums** (never a mean of rates).

    Rows whose numerator or denominator is missing are left out of both sums (so the pair
    stays consistent); a group with no usable row has NaN sums and no value. Returns one row
    per group with ``numerator``, ``denominator``, ``n_orgs`` (rows used), ``value``,
    ``lower``, ``upper`` (display units). ``mean`` is not aggregatable this way (needs the
    raw values: use :func:`mean_of_values`) and raises ``ValueError``.
    """
    if value_type == "mean":
        raise ValueError("means are aggregated from raw values: use mean_of_values")
    keys = [by] if isinstance(by, str) else list(by)
    fast = _aggregate_fast(frame, keys, value_type, multiplier, confidence, numerator,
                           denominator)
    if fast is not None:
        return fast
    if value_type == "count":
        f = frame[[*keys, numerator]].copy()
        f[denominator] = 1.0
    else:
        f = frame[[*keys, numerator, denominator]].copy()
    usable = f[numerator].notna() & f[denominator].notna()
    f = f.assign(
        _n=f[numerator].where(usable),
        _d=f[denominator].where(usable),
        _u=usable.astype(int),
    )
    g = f.groupby(keys, sort=True, dropna=False)
    sums = pd.DataFrame(
        {
            "numerator": g["_n"].sum(min_count=1),
            "denominator": g["_d"].sum(min_count=1),
            "n_orgs": g["_u"].sum(),
        }
    )
    vi = value_intervals(
        value_type,
        sums["numerator"],
        sums["denominator"],
        confidence=confidence,
        multiplier=multiplier,
    )
    return pd.concat([sums, vi], axis=1)


def pooled_value(numerator: Any, denominator: Any, *, multiplier: float = 1.0) -> float:
    """Ratio of sums over rows with a numerator and a positive denominator (else NaN)."""
    o = np.atleast_1d(_arr(numerator))
    n = np.atleast_1d(_arr(denominator))
    ok = np.isfinite(o) & np.isfinite(n) & (n > 0)
    den = n[ok].sum()
    if not ok.any() or den <= 0:
        return float("nan")
    return float(o[ok].sum() / den * multiplier)
