"""Disclosure control at the read services' boundary: what leaves core is disclosed.

With ``QIDASH_DISCLOSURE_CONTROL=true`` every public read service (comparison, funnel,
opportunity, SPC, profile, triage) computes on the true counts, then passes its result through
:func:`disclosed` before returning it; the API, the dashboards and the packs all call those
services, so nothing they show escapes the rule (:class:`core.stats.DisclosureRule`, from the
settings ``QIDASH_DISCLOSURE_SUPPRESS_MIN`` / ``_SUPPRESS_MAX`` / ``_ROUND_TO``).

A row with a count (numerator or denominator) in the suppressed range becomes what a row
suppressed at source already is: no value, interval, rank, percentile, quartile, decile, flag
or special cause, ``comparison = not_compared``, not drawn; and its ``disclosure`` column says
:data:`SUPPRESSED_NOTE`. Rows are re-ordered so that a suppressed row's position tells nothing
(ranked rows first, the rest by code). Other counts are rounded; counts of extra patients
(opportunity) follow the same rule. Rows suppressed at source (no counts) are left as they are.

Code that must aggregate true counts before showing them (a pack's network value) reads inside
:func:`undisclosed` and discloses what it built with the helpers here.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import replace
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from core.settings import get_settings
from core.stats.disclosure import DisclosureRule, disclose

#: what a row suppressed by disclosure control says (API column ``disclosure``, tables, hover)
SUPPRESSED_NOTE = "suppressed: small numbers"
#: the column that carries :data:`SUPPRESSED_NOTE` (present only while the control is on)
NOTE_COLUMN = "disclosure"
#: the counts whose small values identify people
COUNT_COLUMNS = ("numerator", "denominator")

_off: ContextVar[bool] = ContextVar("qidash_disclosure_off", default=False)

T = TypeVar("T")


def active_rule() -> DisclosureRule | None:
    """The rule in force, or None when disclosure control is off (or inside
    :func:`undisclosed`)."""
    if _off.get():
        return None
    s = get_settings()
    if not s.disclosure_control:
        return None
    return DisclosureRule(suppress_min=s.disclosure_suppress_min,
                          suppress_max=s.disclosure_suppress_max,
                          round_to=s.disclosure_round_to,
                          suppress_zero=s.disclosure_suppress_min <= 0)


def rule_key() -> tuple[Any, ...] | None:
    """A hashable key of the rule in force (for response caches)."""
    r = active_rule()
    return None if r is None else (r.suppress_min, r.suppress_max, r.round_to, r.suppress_zero)


@contextmanager
def undisclosed(off: bool = True) -> Iterator[None]:
    """Read the true counts inside this block (for aggregates that are disclosed after);
    ``off=False`` turns the rule in force back on inside such a block."""
    token = _off.set(off)
    try:
        yield
    finally:
        _off.reset(token)


def note_columns(columns: Sequence[str]) -> tuple[str, ...]:
    """``columns`` plus :data:`NOTE_COLUMN` while disclosure control is on."""
    cols = tuple(columns)
    return cols + (NOTE_COLUMN,) if active_rule() is not None and NOTE_COLUMN not in cols \
        else cols


def count_mask(
    rule: DisclosureRule, columns: Mapping[str, Any], names: Sequence[str] = COUNT_COLUMNS
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Rows with any count of ``names`` in the suppressed range, and the disclosed counts."""
    mask: np.ndarray | None = None
    out: dict[str, np.ndarray] = {}
    for c in names:
        if c not in columns:
            continue
        d = disclose(np.asarray(columns[c], dtype=float), rule)
        out[c] = d.values
        mask = d.suppressed if mask is None else mask | d.suppressed
    if mask is None:
        n = len(next(iter(columns.values()))) if columns else 0
        mask = np.zeros(n, dtype=bool)
    return mask, out


def disclose_count(x: Any, rule: DisclosureRule) -> float:
    """One count (e.g. an opportunity total): rounded, NaN when suppressed or missing."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return float("nan")
    return float(disclose([v], rule).values[0])


def _blank(a: Any, mask: np.ndarray, fill: Any = None) -> np.ndarray:
    """``a`` with the masked rows set missing (NaN for numbers, ``fill`` for the rest)."""
    arr = np.asarray(a)
    if not mask.any():
        return arr
    if arr.dtype.kind in "fiu":
        out = arr.astype(float, copy=True)
        out[mask] = np.nan
        return out
    out = arr.astype(object, copy=True)
    out[mask] = fill
    return out


def _note(mask: np.ndarray) -> np.ndarray:
    out = np.full(len(mask), None, dtype=object)
    out[mask] = SUPPRESSED_NOTE
    return out


def disclose_columns(
    columns: Mapping[str, Any],
    rule: DisclosureRule,
    *,
    blank: Sequence[str] = (),
    bools: Sequence[str] = (),
    not_compared: Sequence[str] = (),
    extra: Sequence[str] = (),
) -> tuple[dict[str, Any], np.ndarray]:
    """Disclose a table held as columns (a dict of arrays or a DataFrame's columns).

    Counts (:data:`COUNT_COLUMNS`) are suppressed or rounded; in a row with a suppressed count
    the ``blank`` columns become missing, ``bools`` become False (flags), ``not_compared``
    columns become ``"not_compared"``; ``extra`` columns (counts of patients such as
    opportunity) are disclosed themselves and missing in a suppressed row. Adds
    :data:`NOTE_COLUMN`. Returns the new columns and the suppressed mask."""
    mask, counts = count_mask(rule, columns)
    out = dict(columns)
    out.update(counts)
    for c in blank:
        if c in out:
            out[c] = _blank(out[c], mask)
    for c in bools:
        if c in out:
            b = np.asarray(out[c]).copy()
            if b.dtype == bool:
                b[mask] = False
            else:
                b = _blank(b, mask, False)
            out[c] = b
    for c in not_compared:
        if c in out:
            out[c] = _blank(out[c], mask, "not_compared")
    small = np.zeros(len(mask), dtype=bool)
    for c in extra:
        if c in out:
            d = disclose(np.asarray(out[c], dtype=float), rule)
            small |= d.suppressed
            out[c] = np.where(mask, np.nan, d.values)
    out[NOTE_COLUMN] = _note(mask | small)
    return out, mask


def disclose_frame(frame: pd.DataFrame, rule: DisclosureRule, **kwargs: Any
                   ) -> tuple[pd.DataFrame, np.ndarray]:
    """:func:`disclose_columns` on a DataFrame (index kept)."""
    cols, mask = disclose_columns({c: frame[c].to_numpy() for c in frame.columns}, rule,
                                  **kwargs)
    out = pd.DataFrame(
        {k: pd.Series(v, index=frame.index,
                      dtype=object if np.asarray(v).dtype == object else None)
         for k, v in cols.items()}, index=frame.index)
    return out, mask


def rerank(rank: Any, percentile: Any, hidden: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ranks and percentiles among the rows that are shown.

    The engine ranks on the true counts, suppressed rows included; shown as they are, the
    ranks of the others would skip the suppressed row's (rank 4 missing between 3 and 5 says
    where its value lies). Order is kept (ties too): a shown row's rank becomes 1 + the
    shown rows ranked before it, its percentile the percent rank among the shown values
    (``(ascending min-rank - 1) / (n - 1) x 100``, as the engine's). Hidden rows get NaN."""
    r = np.asarray(rank, dtype=float)
    p = np.asarray(percentile, dtype=float)
    keep_r = np.isfinite(r) & ~hidden
    keep_p = np.isfinite(p) & ~hidden
    sr, sp = np.sort(r[keep_r]), np.sort(p[keep_p])
    new_r = np.where(keep_r, np.searchsorted(sr, np.where(keep_r, r, 0), side="left") + 1,
                     np.nan)
    n = max(len(sp) - 1, 1)
    new_p = np.where(keep_p, np.searchsorted(sp, np.where(keep_p, p, 0), side="left") / n
                     * 100.0, np.nan)
    return new_r, new_p


def pooled_hidden(numerator: Any, denominator: Any, rule: DisclosureRule) -> bool:
    """Whether a pooled value (a ratio of sums over the rows with both counts, as the engine
    pools) rests on sums that the rule suppresses: the peer benchmark of two small practices
    is their own value."""
    num = np.asarray(numerator, dtype=float)
    den = np.asarray(denominator, dtype=float)
    ok = np.isfinite(num) & np.isfinite(den)
    if not ok.any():
        return False
    m, _ = count_mask(rule, {"numerator": [num[ok].sum()], "denominator": [den[ok].sum()]})
    return bool(m[0])


def shown_quantiles(values: Any, hidden: np.ndarray, q: Sequence[float]) -> list[float]:
    """Quantiles (linear interpolation, as the engine's) of the values that are shown: the
    median of three peers is one of them, so quartiles over hidden values would show them."""
    v = np.asarray(values, dtype=float)
    keep = np.isfinite(v) & ~hidden
    if not keep.any():
        return [float("nan")] * len(q)
    return [float(x) for x in np.percentile(v[keep], list(q))]


# ----------------------------------------------------------------------- service results

COMPARISON_BLANK = ("value", "lower_ci", "upper_ci", "rank", "percentile", "quartile",
                    "decile", "meets_target", "lower", "upper")
FUNNEL_BLANK = ("value", "lower_95", "upper_95", "lower_998", "upper_998", "flag",
                "comparison")
OPPORTUNITY_BLANK = ("value", "gap")
SPC_BLANK = ("value", "special_cause", "rule")
SPC_P_BLANK = ("lower_limit", "upper_limit", "near_lower", "near_upper")


def _comparison(res: Any, rule: DisclosureRule) -> Any:
    cols, mask = disclose_columns(res.columns, rule, blank=COMPARISON_BLANK,
                                  not_compared=("comparison",))
    changes: dict[str, Any] = {}
    if res.benchmark.kind == "peers" and pooled_hidden(
            res.columns["numerator"], res.columns["denominator"], rule):
        changes.update(benchmark=replace(res.benchmark, value=float("nan")),
                       pooled=float("nan"))
    if mask.any():
        q1, med, q3 = shown_quantiles(res.columns["value"], mask, (25, 50, 75))
        changes.update(quartiles={"q1": q1, "median": med, "q3": q3},
                       deciles=shown_quantiles(res.columns["value"], mask,
                                               [10 * k for k in range(1, 10)]))
        cols["rank"], cols["percentile"] = rerank(res.columns["rank"],
                                                  res.columns["percentile"], mask)
        # a suppressed row must not sit at its rank: ranked rows first (in rank order), then
        # the rest by code
        ranked = np.isfinite(np.asarray(cols["rank"], dtype=float))
        order = pd.DataFrame({
            "tail": ~ranked,
            "pos": np.where(ranked, np.arange(len(mask)), 0),
            "code": pd.Series(cols["org_code"], dtype=object).astype(str),
        }).sort_values(["tail", "pos", "code"], kind="stable").index.to_numpy()
        cols = {k: np.asarray(v)[order] for k, v in cols.items()}
    return replace(res, columns=cols, **changes)


def _funnel(view: Any, rule: DisclosureRule) -> Any:
    rows, _ = disclose_frame(view.rows, rule, blank=FUNNEL_BLANK)
    if pooled_hidden(view.rows["numerator"], view.rows["denominator"], rule):
        # the centre is the peers' pooled value, and the limits are drawn around it
        return replace(view, rows=rows, target=float("nan"), limits=view.limits.iloc[0:0])
    return replace(view, rows=rows)


def _opportunity(view: Any, rule: DisclosureRule) -> Any:
    rows, _ = disclose_frame(view.rows, rule, blank=OPPORTUNITY_BLANK, extra=("extra",))
    # re-ordered by what is shown, so a hidden extra is not told by its place
    rows = rows.assign(_e=rows["extra"].fillna(-np.inf)).sort_values(
        ["_e", "org_code"], ascending=[False, True], kind="stable").drop(columns="_e")
    bp = view.by_parent.copy()
    if len(bp):
        bp["extra"] = disclose(bp["extra"].to_numpy(dtype=float), rule).values
    return replace(view, rows=rows.reset_index(drop=True), by_parent=bp,
                   total=disclose_count(view.total, rule))


def _spc(view: Any, rule: DisclosureRule) -> Any:
    blank = SPC_BLANK + (SPC_P_BLANK if view.chart == "p" else ())
    points, _ = disclose_frame(view.points, rule, blank=blank)
    return replace(view, points=points)


def disclosed(result: T) -> T:
    """``result`` of a read service as it may be shown under the rule in force (itself when
    disclosure control is off). Profile and triage are disclosed inside their service, which
    holds the counts their rows do not show."""
    rule = active_rule()
    if rule is None:
        return result
    from core.services.comparison import ComparisonResult, FunnelView, OpportunityView
    from core.services.spc import SPCView

    if isinstance(result, ComparisonResult):
        return _comparison(result, rule)
    if isinstance(result, FunnelView):
        return _funnel(result, rule)
    if isinstance(result, OpportunityView):
        return _opportunity(result, rule)
    if isinstance(result, SPCView):
        return _spc(result, rule)
    raise TypeError(f"no disclosure for {type(result).__name__}")


__all__ = ["COUNT_COLUMNS", "NOTE_COLUMN", "SUPPRESSED_NOTE", "active_rule", "count_mask",
           "disclose_columns", "disclose_count", "disclose_frame", "disclosed", "note_columns",
           "rule_key", "undisclosed"]
