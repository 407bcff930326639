"""Funnel plots: OHID/PHE control limits and FunnelPlotR overdispersion adjustment.

* Proportions (``value_type="proportion"``): PHEindicatormethods ``calculate_funnel_limits``
  / ``sigma_adjustment`` - the inverse of the Wilson interval about the pooled value, at
  one-sided 0.975 ("2s", 95%) and 0.999 ("3s", 99.8%); the 100-point x axis of R/Funnels.R;
  per-area significance by ``assign_funnel_significance``.
* Ratios (observed / expected) and crude rates: exact Poisson limits (PHE ``poisson_funnel``),
  here computed in closed form with the inverse regularised gamma function so the curve is
  smooth in the expected count and passes exactly through PHE's points; per-area significance
  by ``funnel_ratio_significance`` (exact below 10 events, Byar from 10). A crude rate is
  treated as a ratio with expected = denominator x pooled rate.
* Overdispersion (``overdispersion=True``): FunnelPlotR / Spiegelhalter (2005) additive
  random effects - variance-stabilising transform (arcsine-sqrt for proportions; SHMI log
  method for ratios), z winsorised at ``trim`` (proportions) or truncated by rank (SHMI),
  phi = mean of squared z, tau^2 by DerSimonian-Laird. If phi <= 1 the unadjusted (PHE)
  limits are kept, as FunnelPlotR does, and ``FunnelResult.overdispersion`` is False.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import special, stats

from .intervals import _arr, poisson_interval

Z95 = float(special.ndtri(0.975))  # 1.959964
Z998 = float(special.ndtri(0.999))  # 3.090232

FLAGS = ("above_998", "above_95", "within", "below_95", "below_998")
LIMIT_COLUMNS = ("lower_95", "upper_95", "lower_998", "upper_998")
# integer codes used internally: 0 within, 1 above 99.8, 2 above 95, 3 below 95, 4 below 99.8,
# -1 no value (missing category)
_SIG_CATS = ["Not significant", "High (0.001)", "High (0.025)", "Low (0.025)", "Low (0.001)"]
_FLAG_CATS = ["within", "above_998", "above_95", "below_95", "below_998"]
#: built once: inferring the categories' string dtype costs about 0.25 ms per call
_SIG_DTYPE = pd.CategoricalDtype(categories=_SIG_CATS)
_FLAG_DTYPE = pd.CategoricalDtype(categories=_FLAG_CATS)


@dataclass(frozen=True)
class FunnelResult:
    """Result of :func:`funnel` (all values in display units, i.e. x multiplier).

    limits: smooth curve for drawing, 100 rows: ``denominator`` (x axis; the expected count
        for ratios and the population for rates/proportions), ``lower_95``, ``upper_95``,
        ``lower_998``, ``upper_998``, ``centre``.
    rows: one row per input, same index: ``numerator``, ``denominator``, ``value``, the four
        limit columns evaluated at the row's denominator (NaN when the row has no value),
        ``significance`` (categorical PHE label: "High (0.001)", "High (0.025)", "Not
        significant", "Low (0.025)", "Low (0.001)") and ``flag`` (categorical: "above_998",
        "above_95", "within", "below_95", "below_998"); both are missing (NaN) when the row
        has no value, e.g. a zero denominator.
    target: the centre line (pooled value unless a target was given).
    phi, tau2: overdispersion ratio and between-unit variance (NaN / 0 when not requested).
    overdispersion: True when the limits and flags are the overdispersion-adjusted ones.
    method: short description of the limits used.
    """

    limits: pd.DataFrame
    rows: pd.DataFrame
    target: float
    phi: float
    tau2: float
    overdispersion: bool
    method: str


# --------------------------------------------------------------------------- axis


def _signif_floor(x: float) -> float:
    v = math.floor(x * 0.95)
    if x == 0:
        return 0.0
    n = len(str(int(v))) - 1
    return math.floor(x * 0.95 / 10**n) * 10**n


def _signif_ceiling(x: float) -> float:
    v = math.ceil(x * 1.05)
    if x == 0:
        return 0.0
    n = len(str(int(v))) - 2
    return math.ceil(x * 1.05 / 10.0**n) * 10.0**n


def funnel_axis(denominators: Any, points: int = 100) -> np.ndarray:
    """PHE's x axis (R/Funnels.R): ``points`` geometrically spaced integers.

    From max(1, axis_min) to axis_max = signif.ceiling(1.05 max n); axis_min = 0 when
    max n > 2 min n, else signif.floor(0.95 min n). Steps round half to even, as R does.
    """
    d = _arr(denominators)
    d = d[np.isfinite(d) & (d > 0)]
    if d.size == 0:
        return np.arange(1.0, points + 1.0)
    lo, hi = float(d.min()), float(d.max())
    axis_min = 0.0 if hi > 2 * lo else _signif_floor(lo)
    axis_max = max(_signif_ceiling(hi), 1.0)
    first = [max(1.0, axis_min)]
    for j in range(2, points + 1):
        prev = first[-1]
        step = round((axis_max / prev) ** (1.0 / (points + 1 - j)) * prev)
        first.append(float(max(step, prev + 1)))
    return np.asarray(first)


# --------------------------------------------------------------------------- proportions


def sigma_adjustment(p: float, population: Any, average: float) -> tuple[np.ndarray, np.ndarray]:
    """PHE ``sigma_adjustment``: (low, high) funnel limits on the 0-1 scale, unclamped.

    ``p`` is the one-sided probability (0.975 or 0.999); ``average`` the centre (0-1).
    """
    n = _arr(population)
    z2 = float(special.ndtri(p)) ** 2
    a = average
    with np.errstate(divide="ignore", invalid="ignore"):
        # the common terms once each, the operations in the same order as PHE's formula
        nz = n / z2
        nz1 = nz + 1.0
        last = 1.0 / z2 + 1.0 / n
        first = a * nz1
        disc = (-8.0 * a * nz1) ** 2 - 64.0 * last * a * (
            n * (a * (nz + 2.0) - 1.0) + z2 * (a - 1.0)
        )
        adj = np.sqrt(np.maximum(disc, 0.0))
        low = (first - adj / 8.0) / last / n
        high = (first + adj / 8.0) / last / n
    return low, high


def _sigma_limits(n: np.ndarray, centre: float) -> tuple[np.ndarray, ...]:
    """Unclamped (lower_95, upper_95, lower_998, upper_998) on the 0-1 scale."""
    l95, u95 = sigma_adjustment(0.975, n, centre)
    l998, u998 = sigma_adjustment(0.999, n, centre)
    return l95, u95, l998, u998


def _proportion_limits(
    n: np.ndarray, centre: float, unclamped: tuple[np.ndarray, ...] | None = None
) -> dict[str, np.ndarray]:
    l95, u95, l998, u998 = unclamped if unclamped is not None else _sigma_limits(n, centre)
    return {
        "lower_95": np.clip(l95, 0.0, 1.0),
        "upper_95": np.clip(u95, 0.0, 1.0),
        "lower_998": np.clip(l998, 0.0, 1.0),
        "upper_998": np.clip(u998, 0.0, 1.0),
    }


def _proportion_significance(
    o: np.ndarray, n: np.ndarray, centre: float,
    unclamped: tuple[np.ndarray, ...] | None = None,
) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        p = o / n
    l95, u95, l998, u998 = unclamped if unclamped is not None else _sigma_limits(n, centre)
    return np.select([p < l998, p < l95, p > u998, p > u95], [4, 3, 1, 2], 0)


# --------------------------------------------------------------------------- ratios


def poisson_ratio_limits(expected: Any) -> dict[str, np.ndarray]:
    """Exact Poisson funnel limits of observed/expected about 1 at each expected count.

    The lower 95% limit at E is O/E where E is the exact upper 95% limit of O (PHE
    ``poisson_funnel(O, 0.025, "high")``), i.e. O = gdtrib(1, 0.975, E) - 1; the upper limit
    has E = exact lower limit of O, i.e. O = gdtrib(1, 0.025, E). Limits below 0 are 0.
    """
    e = _arr(expected)
    out: dict[str, np.ndarray] = {}
    with np.errstate(divide="ignore", invalid="ignore"):
        for name, tail in (("95", 0.025), ("998", 0.001)):
            o_low = special.gdtrib(1.0, 1.0 - tail, e) - 1.0
            o_high = special.gdtrib(1.0, tail, e)
            out[f"lower_{name}"] = np.maximum(o_low, 0.0) / e
            out[f"upper_{name}"] = o_high / e
    return out


def _ratio_significance(o: np.ndarray, e: np.ndarray, centre: float) -> np.ndarray:
    """PHE ``funnel_ratio_significance``: compare ``centre`` with the ratio's CI."""
    with np.errstate(divide="ignore", invalid="ignore"):
        lo998, hi998 = (x / e for x in poisson_interval(o, 0.998))
        lo95, hi95 = (x / e for x in poisson_interval(o, 0.95))
    lo998 = np.where(o == 0, 0.0, lo998)
    lo95 = np.where(o == 0, 0.0, lo95)
    return np.select([centre < lo998, centre < lo95, centre > hi998, centre > hi95],
                     [1, 2, 4, 3], 0)


# --------------------------------------------------------------------------- overdispersion


def _dl_tau2(z: np.ndarray, s: np.ndarray) -> tuple[float, float]:
    """phi = mean(z^2); DerSimonian-Laird tau^2 (FunnelPlotR ``tau_func``)."""
    n = z.size
    if n == 0:
        return float("nan"), 0.0
    phi = float(np.mean(z * z))
    w = 1.0 / (s * s)
    denom = w.sum() - (w * w).sum() / w.sum()
    if n * phi < n - 1 or n < 2 or denom <= 0:
        return phi, 0.0
    return phi, float(max(0.0, (n * phi - (n - 1)) / denom))


def _winsorise(z: np.ndarray, trim: float) -> np.ndarray:
    lz, uz = np.quantile(z, [trim, 1.0 - trim])  # R quantile type 7
    return np.clip(z, lz, uz)


def _truncate_mask(z: np.ndarray, trim: float) -> np.ndarray:
    k = 1.0 / trim
    rk = stats.rankdata(z, method="average")
    sp = np.floor(rk * k / (z.size + 1))
    return (sp > 0) & (sp < k - 1)


def _phi_tau2(value_type: str, centre: float, o: np.ndarray, x: np.ndarray, raw: np.ndarray,
              ok: np.ndarray, trim: float) -> tuple[float, float]:
    """phi and tau^2 of the rows with data (``ok``): for proportions the arcsine-sqrt z-scores
    (``x`` the denominators) winsorised at ``trim``; for ratios and rates the SHMI log
    z-scores (``x`` the expected counts) truncated at ``trim`` (FunnelPlotR)."""
    if value_type == "proportion":
        theta = np.arcsin(np.sqrt(centre))
        s = 1.0 / (2.0 * np.sqrt(x[ok]))
        z = (np.arcsin(np.sqrt(np.clip(raw[ok], 0, 1))) - theta) / s
        zw = _winsorise(z, trim) if z.size else z
        return _dl_tau2(zw, s)
    e = x[ok]
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.sqrt(e) * np.log(o[ok] / e)
    fin = np.isfinite(z)
    z, s = z[fin], 1.0 / np.sqrt(e[fin])
    keep = _truncate_mask(z, trim) if z.size else np.zeros(0, bool)
    return _dl_tau2(z[keep], s[keep])


def _overdispersed_limits(x: np.ndarray, value_type: str, centre: float,
                          tau2: float) -> dict[str, np.ndarray]:
    """95% and 99.8% limits about ``centre`` widened by the between-organisation variance
    ``tau2`` (additive random effects), at denominators (proportions, arcsine-sqrt scale) or
    expected counts (ratios and rates, log scale) ``x``."""
    out = {}
    with np.errstate(divide="ignore", invalid="ignore"):
        for name, zz in (("95", Z95), ("998", Z998)):
            if value_type == "proportion":
                th = np.arcsin(np.sqrt(centre))
                w = zz * np.sqrt(1.0 / (4.0 * x) + tau2)
                lo = np.sin(np.clip(th - w, 0.0, np.pi / 2)) ** 2
                hi = np.sin(np.clip(th + w, 0.0, np.pi / 2)) ** 2
            else:
                w = zz * np.sqrt(1.0 / x + tau2)
                lo, hi = centre * np.exp(-w), centre * np.exp(w)
            out[f"lower_{name}"], out[f"upper_{name}"] = lo, hi
    return out


# --------------------------------------------------------------------------- public


def _flags_from_limits(v: np.ndarray, lim: dict[str, np.ndarray]) -> np.ndarray:
    return np.select(
        [v > lim["upper_998"], v > lim["upper_95"], v < lim["lower_998"], v < lim["lower_95"]],
        [1, 2, 4, 3],
        0,
    )


@dataclass(frozen=True)
class _Basis:
    """What a funnel's method gives the rest of :func:`funnel`: the centre (on the method's
    scale), the 95%/99.8% limits at the rows and along the axis, each row's significance code,
    the display scale, the method's name, the limits' x (denominators, or expected counts),
    and the rows' values on the method's scale."""

    centre: float
    lim_rows: dict[str, np.ndarray]
    lim_axis: dict[str, np.ndarray]
    sig: np.ndarray
    scale: float
    method: str
    x_rows: np.ndarray
    x_axis: np.ndarray
    raw: np.ndarray


def _proportion_basis(o: np.ndarray, n: np.ndarray, axis: np.ndarray, raw: np.ndarray,
                      pooled: float, target: float | None, mult: float) -> _Basis:
    """PHE's inverse-Wilson limits about the pooled proportion (or the target)."""
    centre = pooled if target is None else float(target) / mult
    unclamped = _sigma_limits(n, centre)  # the rows' limits and flags share them
    return _Basis(
        centre=centre,
        lim_rows=_proportion_limits(n, centre, unclamped),
        lim_axis=_proportion_limits(axis, centre),
        sig=_proportion_significance(o, n, centre, unclamped),
        scale=mult,
        method="PHE inverse-Wilson (proportion)",
        x_rows=n, x_axis=axis,  # the limits' x: denominators
        raw=raw,
    )


def _poisson_basis(o: np.ndarray, n: np.ndarray, axis: np.ndarray, raw: np.ndarray,
                   pooled: float, target: float | None, mult: float,
                   value_type: str) -> _Basis:
    """PHE's exact Poisson limits of an observed/expected ratio: for a ratio about 1 (or the
    target), for a rate about the pooled rate (or the target), expected = population x rate."""
    if value_type == "ratio":
        t = 1.0 if target is None else float(target) / mult  # centre on ratio scale
        base = 1.0  # display = ratio x base x multiplier
        e_rows, e_axis = n * t, axis * t
    else:  # rate: expected = population x centre rate
        rate = pooled if target is None else float(target) / mult
        t, base = 1.0, rate
        e_rows, e_axis = n * rate, axis * rate
    lr = poisson_ratio_limits(e_rows)
    la = poisson_ratio_limits(e_axis)
    return _Basis(
        centre=t,
        lim_rows={k: v * t for k, v in lr.items()},
        lim_axis={k: v * t for k, v in la.items()},
        sig=_ratio_significance(o, e_rows, 1.0),
        scale=mult * base,
        method="PHE exact Poisson (ratio)",
        x_rows=e_rows, x_axis=e_axis,  # the limits' x: expected counts
        raw=raw / base if base > 0 else raw * np.nan,
    )


def funnel(
    numerator: Any,
    denominator: Any,
    *,
    value_type: str = "proportion",
    multiplier: float = 1.0,
    target: float | None = None,
    overdispersion: bool = False,
    trim: float = 0.1,
    points: int = 100,
) -> FunnelResult:
    """Funnel plot limits and flags for one indicator and period across organisations.

    value_type: "proportion" (numerator <= denominator), "ratio" (observed / expected) or
        "rate" (events / population, crude). Means and counts have no funnel (ValueError).
    multiplier: display scale (100 for percentages; 100 for ISRs, 100000 for rates ...).
    target: the centre in display units; default the pooled value (ratio of sums) for
        proportions and rates, and 1 x multiplier for ratios.
    overdispersion: apply the FunnelPlotR/Spiegelhalter adjustment (see module docstring).
    Rows with a zero or missing denominator or missing numerator are kept with NaN values
    and ``flag`` None; they do not enter the pooled value, phi or tau2.
    """
    if value_type not in ("proportion", "ratio", "rate"):
        raise ValueError(f"no funnel for value_type {value_type!r}")
    index = numerator.index if isinstance(numerator, pd.Series) else None
    o = np.atleast_1d(_arr(numerator))
    n = np.atleast_1d(_arr(denominator))
    o, n = np.broadcast_arrays(o, n)
    ok = np.isfinite(o) & np.isfinite(n) & (n > 0) & (o >= 0)
    mult = float(multiplier)
    pooled = float(o[ok].sum() / n[ok].sum()) if ok.any() else float("nan")
    with np.errstate(divide="ignore", invalid="ignore"):
        raw = np.where(ok, o / np.where(ok, n, 1.0), np.nan)
    axis = funnel_axis(n[ok], points)

    b = (_proportion_basis(o, n, axis, raw, pooled, target, mult) if value_type == "proportion"
         else _poisson_basis(o, n, axis, raw, pooled, target, mult, value_type))
    raw = b.raw
    centre, scale, method = b.centre, b.scale, b.method
    lim_rows, lim_axis = b.lim_rows, b.lim_axis
    sig_code = np.where(ok, b.sig, -1)
    flag_code = sig_code

    phi, tau2, adjusted = float("nan"), 0.0, False
    if overdispersion and ok.sum() >= 1:
        phi, tau2 = _phi_tau2(value_type, centre, o, b.x_rows, raw, ok, trim)
        if phi > 1.0:
            adjusted = True
            lim_rows = _overdispersed_limits(b.x_rows, value_type, centre, tau2)
            lim_axis = _overdispersed_limits(b.x_axis, value_type, centre, tau2)
            flag_code = np.where(ok, _flags_from_limits(raw, lim_rows), -1)
            method = (
                "FunnelPlotR arcsine-sqrt, additive random effects"
                if value_type == "proportion"
                else "FunnelPlotR SHMI log, additive random effects"
            )

    limits = pd.DataFrame(
        {
            "denominator": axis,
            **{c: lim_axis[c] * scale for c in LIMIT_COLUMNS},
            "centre": np.full(axis.shape, centre * scale),
        }
    )
    rows = pd.DataFrame(
        {
            "numerator": o,
            "denominator": n,
            "value": raw * scale,
            **{c: np.where(ok, lim_rows[c] * scale, np.nan) for c in LIMIT_COLUMNS},
            "significance": pd.Categorical.from_codes(sig_code, dtype=_SIG_DTYPE),
            "flag": pd.Categorical.from_codes(flag_code, dtype=_FLAG_DTYPE),
        },
        index=index if index is not None and len(index) == o.size else None,
    )
    return FunnelResult(
        limits=limits,
        rows=rows,
        target=centre * scale,
        phi=phi,
        tau2=tau2,
        overdispersion=adjusted,
        method=method,
    )


def grouped_flags(
    numerator: Any,
    denominator: Any,
    starts: Any,
    *,
    value_type: str = "proportion",
) -> np.ndarray:
    """The 99.8%/95% flag codes of :func:`funnel` (default centre, no overdispersion) for many
    funnels at once: rows ``starts[g]:starts[g + 1]`` are one funnel each (one period and peer
    set), in the order :func:`funnel` would be given them.

    The same formulas, evaluated row-wise with each row's own centre: each group's pooled value
    is summed exactly as :func:`funnel` sums it (``np.sum`` of the group's rows in order), so the
    flags are identical to one :func:`funnel` call per group. Returns int codes: -1 no value,
    0 within, 1 above_998, 2 above_95, 3 below_95, 4 below_998 (``FLAG_NAMES[code]``).
    """
    if value_type not in ("proportion", "ratio", "rate"):
        raise ValueError(f"no funnel for value_type {value_type!r}")
    o = np.asarray(numerator, dtype=float)
    n = np.asarray(denominator, dtype=float)
    bounds = np.asarray(starts, dtype=np.int64)
    ok = np.isfinite(o) & np.isfinite(n) & (n > 0) & (o >= 0)
    sizes = np.diff(bounds)
    pooled = np.full(sizes.size, np.nan)
    for g in range(sizes.size):
        s, e = int(bounds[g]), int(bounds[g + 1])
        k = ok[s:e]
        if k.any():
            pooled[g] = float(o[s:e][k].sum() / n[s:e][k].sum())
    centre = np.repeat(pooled, sizes)
    if value_type == "proportion":
        sig = _proportion_significance(o, n, centre)  # type: ignore[arg-type]
    else:
        # ratios: centre 1 (expected = denominator); crude rates: expected = population x
        # the pooled rate; both judged against a ratio of 1 (see funnel)
        e_rows = n * 1.0 if value_type == "ratio" else n * centre
        sig = _ratio_significance(o, e_rows, 1.0)
    return np.where(ok, sig, -1).astype(np.int8)


#: flag name of each code of :func:`grouped_flags` (the last entry is code -1: no value)
FLAG_NAMES = np.array(["within", "above_998", "above_95", "below_95", "below_998", None],
                      dtype=object)
