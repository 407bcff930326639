"""qidash statistics engine: pure, vectorised functions (numbers in, numbers out).

No database and no I/O. Inputs are numpy arrays, pandas Series/DataFrames or scalars;
outputs are small frozen dataclasses holding numpy arrays / DataFrames, or DataFrames.
Everything is in display units (x ``multiplier``: 1 for a fraction, 100 for a percentage,
100000 for a rate per 100,000). Confidence is given as 0.95 or 95, 0.998 or 99.8.
NaN always and only means "no value" (zero/missing denominator, missing numerator, a segment
too short for limits, a Byar lower limit below zero); no function warns on such input.
Exact formulas: ``../shared/reference/FORMULAS.md``.

Intervals and values (``intervals.py``)
---------------------------------------
``value_intervals(value_type, numerator, denominator=None, *, value=None, sd=None,
confidence=0.95, multiplier=1.0) -> DataFrame[value, lower, upper]``
    (``interval_arrays``: the same as three arrays)
    Dispatcher by value_type "proportion" (Wilson), "rate" / "ratio" / "count" (exact Poisson
    below 10 events, Byar from 10: PHEindicatormethods ``phe_rate``), "mean" (Student-t, needs
    ``sd``; numerator = sum, denominator = count). Used by everything else.
``wilson_interval(numerator, denominator, confidence)`` - Wilson score, no continuity
    correction, 0-1 scale (Fingertips; PHEindicatormethods ``wilson_lower/upper``).
``byar_interval(count, confidence)`` - Byar's approximation (``byars_lower/upper``; a
    negative lower limit is NaN).
``exact_poisson_interval(count, confidence)`` - chi-square exact Poisson limits.
``poisson_interval(count, confidence)`` - exact below 10 events, Byar from 10 (``phe_rate``).
``mean_interval(mean, sd, count, confidence)`` - Student-t (``phe_mean``).
``mean_of_values(values, groups=None, *, confidence)`` - ``phe_mean`` from raw values (a
    mapping's ``aggregate: mean`` loads line-level values through it).
``aggregate(frame, by, *, value_type, multiplier, confidence, numerator, denominator)``
    -> DataFrame[numerator, denominator, n_orgs, value, lower, upper] per parent: ratio of
    sums, never a mean of rates.
``pooled_value(numerator, denominator, *, multiplier)`` - ratio of sums (float).
``normalise_confidence(c)``, ``z_value(c)`` - 95 -> 0.95; qnorm(0.5 + c/2).

Peer comparison and opportunity (``peers.py``)
-----------------------------------------------
``peer_comparison(frame, *, polarity, value_type, multiplier=1.0, confidence=0.95,
benchmark=None, target=None, numerator="numerator", denominator="denominator", sd=None)
-> PeerComparison(rows, quartiles, deciles, benchmark, pooled, n)``
    (``compare_arrays(numerator, denominator, ...) -> PeerArrays``: the same on arrays)
    rows: value, lower, upper, rank (1 = best by polarity, ties min; no_judgement by value
    descending), percentile (OpenPrescribing: SQL PERCENT_RANK x 100 by value ascending =
    (min-rank - 1)/(n - 1) x 100), quartile, decile (1 = best), comparison vs benchmark by the
    Fingertips rule ("better"/"similar"/"worse"/"not_compared"), meets_target.
    Quartiles/deciles: unweighted, linear interpolation (R type 7). Benchmark default: pooled
    value of the set (ratio of sums).
``opportunity(frame, *, polarity, value_type, multiplier, level="upper_quartile",
target=None, group=None) -> Opportunity(rows, by_group, total, orgs_for_half, level)``
    GIRFT-style: extra = |level - value| x denominator / multiplier for organisations worse
    than the level (median, better quartile, best decile, or target).

Funnel plots (``funnel.py``)
----------------------------
``funnel(numerator, denominator, *, value_type="proportion", multiplier=1.0, target=None,
overdispersion=False, trim=0.1, points=100) -> FunnelResult(limits, rows, target, phi, tau2,
overdispersion, method)``
    Proportions: OHID/PHE inverse-Wilson limits (``calculate_funnel_limits``), 100-point axis;
    ratios (observed/expected) and crude rates: exact Poisson (``poisson_funnel``); labels by
    ``assign_funnel_significance`` / ``funnel_ratio_significance``; flags "above_998",
    "above_95", "within", "below_95", "below_998". ``overdispersion=True``: FunnelPlotR /
    Spiegelhalter (2005) - arcsine or SHMI log transform, winsorised / truncated z, phi,
    DerSimonian-Laird tau^2, adjusted limits and flags (kept unadjusted when phi <= 1).
``funnel_axis(denominators, points=100)``, ``sigma_adjustment(p, population, average)``,
``poisson_ratio_limits(expected)``.

SPC (``spc.py``) - Making Data Count / NHSRplotthedots, qicharts2
------------------------------------------------------------------
``xmr(values, *, improvement_direction="increase", target=None, screen_outliers=True,
fix_after=None, rebase_at=(), rules=RuleLengths()) -> SPCResult(points, variation,
assurance, warnings)``
    points: value, mean, lower_limit, upper_limit, near_lower, near_upper, special_cause
    ("improvement"/"concern"/"neutral"/"none"), rule ("outside_limits"/"trend"/
    "two_of_three"/"shift"/None), segment. variation: "improvement_high", "improvement_low",
    "concern_high", "concern_low", "neutral_high", "neutral_low", "common_cause".
    assurance: "pass"/"fail"/"hit_or_miss"/None. warnings: trial limits (< 12 points).
    Classes as NHSRplotthedots 0.2: by the firing rule's direction (a trend by its own
    direction, the other rules by the point's side of the mean).
``xmr_batch(values_2d, ...same keywords...) -> SPCBatch`` - many series at once (rows =
    series); (S, T) arrays plus per-series variation, assurance, trial_limits; ``to_long()``.
``p_chart(numerator, denominator, *, improvement_direction, target=None, multiplier=1.0,
rebase_at=(), rules=RuleLengths()) -> SPCResult`` - cl = sum/sum, +/- 3 sigma per point,
    clipped to [0, 1] (qicharts2 p chart), same rules.
``run_chart_signals(values, *, centre=None) -> RunChartSignals`` - Anhoej rules (qicharts2
    ``runs.analysis``): longest run > round(log2 n) + 3, crossings < qbinom(0.05, n-1, 0.5).
``anhoej_thresholds(n_useful)``; ``RuleLengths(trend=7, shift=7, near_count=2,
near_window=3)``.

Disclosure control (``disclosure.py``)
--------------------------------------
``disclose(counts, rule=DisclosureRule()) -> DisclosedCounts(values, suppressed)`` and
``disclose_frame(frame, rule, *, count_columns, round_columns, value_columns)``: suppress
counts 1-7, round others to the nearest 5 (configurable); suppressed rows lose value and
interval.
"""

from .disclosure import DisclosedCounts, DisclosureRule, disclose, disclose_frame
from .funnel import (
    FLAGS,
    FunnelResult,
    funnel,
    funnel_axis,
    poisson_ratio_limits,
    sigma_adjustment,
)
from .intervals import (
    VALUE_TYPES,
    aggregate,
    byar_interval,
    exact_poisson_interval,
    interval_arrays,
    mean_interval,
    mean_of_values,
    normalise_confidence,
    poisson_interval,
    pooled_value,
    value_intervals,
    wilson_interval,
    z_value,
)
from .peers import (
    POLARITIES,
    Opportunity,
    PeerArrays,
    PeerComparison,
    compare_arrays,
    opportunity,
    peer_comparison,
)
from .spc import (
    RuleLengths,
    RunChartSignals,
    SPCBatch,
    SPCResult,
    anhoej_thresholds,
    p_chart,
    run_chart_signals,
    xmr,
    xmr_batch,
)

__all__ = [
    "FLAGS",
    "POLARITIES",
    "VALUE_TYPES",
    "DisclosedCounts",
    "DisclosureRule",
    "FunnelResult",
    "Opportunity",
    "PeerArrays",
    "PeerComparison",
    "RuleLengths",
    "RunChartSignals",
    "SPCBatch",
    "SPCResult",
    "aggregate",
    "anhoej_thresholds",
    "byar_interval",
    "compare_arrays",
    "disclose",
    "disclose_frame",
    "exact_poisson_interval",
    "funnel",
    "funnel_axis",
    "interval_arrays",
    "mean_interval",
    "mean_of_values",
    "normalise_confidence",
    "opportunity",
    "p_chart",
    "peer_comparison",
    "poisson_interval",
    "poisson_ratio_limits",
    "pooled_value",
    "run_chart_signals",
    "sigma_adjustment",
    "value_intervals",
    "wilson_interval",
    "xmr",
    "xmr_batch",
    "z_value",
]
