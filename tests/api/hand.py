"""Hand-worked answers for the read endpoints over the factory network.

Everything here is computed from the raw rows read with plain SQL (not through the services)
and the formulas of ``../shared/reference/FORMULAS.md`` written out again with numpy/scipy
(never ``core.stats``), so that an API answer checked against them is checked against an
independent calculation.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps
from sqlalchemy import create_engine, text

Z = {95.0: 1.959963984540054, 99.8: 3.090232306167813}


def raw_values(url: str, indicator: str, period: str) -> pd.DataFrame:
    """The stored rows of one indicator and period, by organisation code, with the
    organisation's type, parent code, activity and attributes (plain SQL)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text(
                "SELECT o.code, o.org_type, o.is_active, par.code AS parent, v.numerator, "
                "v.denominator, v.value, v.suppressed FROM indicator_values v "
                "JOIN organisations o ON o.id = v.org_id "
                "LEFT JOIN organisations par ON par.id = o.parent_id "
                "JOIN periods p ON p.id = v.period_id "
                "WHERE v.ikey = (SELECT ikey FROM indicators WHERE id = :i) AND p.label = :p "
                "ORDER BY o.code"),
                {"i": indicator, "p": period}).mappings().all()
    finally:
        engine.dispose()
    frame = pd.DataFrame([dict(r) for r in rows]).set_index("code")
    for c in ("numerator", "denominator", "value"):
        frame[c] = frame[c].astype(float)
    frame["suppressed"] = frame["suppressed"].astype(bool)
    return frame


def practices(url: str, indicator: str, period: str) -> pd.DataFrame:
    """The active practices' rows (the default peer set), suppressed rows without counts."""
    f = raw_values(url, indicator, period)
    f = f[(f.org_type == "practice") & f.is_active.astype(bool)].copy()
    f.loc[f.suppressed, ["numerator", "denominator", "value"]] = np.nan
    return f


def wilson(o: Any, n: Any, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """FORMULAS.md 1: Wilson score, no continuity correction (0-1 scale)."""
    o, n = np.asarray(o, float), np.asarray(n, float)
    z = Z[confidence]
    q = 1 - o / n
    root = z * np.sqrt(z * z + 4 * o * q)
    return (2 * o + z * z - root) / (2 * (n + z * z)), (2 * o + z * z + root) / (2 * (n + z * z))


def poisson_counts(o: Any, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """FORMULAS.md 2: exact chi-square limits below 10 events, Byar from 10."""
    o = np.asarray(o, float)
    z, a = Z[confidence], 1 - confidence / 100
    exact_lo = np.where(o > 0, sps.chi2.ppf(a / 2, 2 * o) / 2, 0.0)
    exact_hi = sps.chi2.ppf(1 - a / 2, 2 * o + 2) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        byar_lo = o * (1 - 1 / (9 * o) - z / (3 * np.sqrt(o))) ** 3
        byar_hi = (o + 1) * (1 - 1 / (9 * (o + 1)) + z / (3 * np.sqrt(o + 1))) ** 3
    return np.where(o < 10, exact_lo, byar_lo), np.where(o < 10, exact_hi, byar_hi)


def overlap(lower: np.ndarray, upper: np.ndarray, bench: float, polarity: str) -> list[str]:
    """Fingertips: better / worse when the interval lies wholly on one side."""
    out = []
    for lo, hi in zip(lower, upper, strict=True):
        if not np.isfinite(lo):
            out.append("not_compared")
        elif lo > bench:
            out.append("better" if polarity == "higher_is_better" else "worse")
        elif hi < bench:
            out.append("worse" if polarity == "higher_is_better" else "better")
        else:
            out.append("similar")
    return out


def xmr(values: np.ndarray, screen: bool, base: int | None = None) -> tuple[float, float]:
    """FORMULAS.md 5: (mean, AMR) of one segment, on its first ``base`` points if given."""
    v = np.asarray(values, float)[:base]
    mr = np.abs(np.diff(v))
    amr = mr.mean()
    if screen:
        amr = mr[mr < 3.267 * amr].mean()
    return float(v.mean()), float(amr)


def winsorised_phi(o: np.ndarray, n: np.ndarray, trim: float = 0.1) -> tuple[float, float]:
    """FORMULAS.md 4b for proportions: arcsine z about the pooled value, winsorised at the
    ``trim`` quantiles (R type 7), phi = mean z^2, DerSimonian-Laird tau^2."""
    p = o.sum() / n.sum()
    s = 1 / (2 * np.sqrt(n))
    z = (np.arcsin(np.sqrt(o / n)) - np.arcsin(np.sqrt(p))) / s
    lo, hi = np.quantile(z, [trim, 1 - trim])
    zw = np.clip(z, lo, hi)
    k = z.size
    phi = float(np.mean(zw**2))
    w = 1 / s**2
    tau2 = max(0.0, (k * phi - (k - 1)) / (w.sum() - (w**2).sum() / w.sum()))
    return phi, float(tau2)


def raw_series(url: str, org: str, indicator: str) -> pd.DataFrame:
    """One organisation's monthly rows of one indicator, oldest first (plain SQL)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text(
                "SELECT p.label, v.numerator, v.denominator FROM indicator_values v "
                "JOIN organisations o ON o.id = v.org_id JOIN periods p ON p.id = v.period_id "
                "WHERE o.code = :o AND v.ikey = (SELECT ikey FROM indicators WHERE id = :i) "
                "AND p.period_type = 'month' "
                "ORDER BY p.start_date"), {"o": org, "i": indicator}).all()
    finally:
        engine.dispose()
    return pd.DataFrame(rows, columns=["period", "numerator", "denominator"]).astype(
        {"numerator": float, "denominator": float})
