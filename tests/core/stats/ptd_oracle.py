"""Test oracle: NHSRplotthedots 0.2.x point types, re-implemented independently in plain Python.

Not product code. A line-by-line transcription of the R package's logic (MIT licence, NHS-R
community), written with lists and loops so that it shares nothing with the vectorised engine
in ``core.stats.spc``. Source followed (CRAN 0.2.0 sources, identical in the 0.2.2 GitHub
tree):

* ``R/ptd_spc_standard.R`` (``ptd_spc_standard``): per facet and rebase group, ``fix_y`` = the
  first ``fix_after_n_points`` rows, ``mean_col = mean(fix_y, na.rm)``, ``mr = |diff(fix_y)|``,
  ``amr = mean(mr)``; screening keeps ``mr < 3.267 * amr`` and recomputes ``amr``; limits
  ``mean +/- 2.66 amr``, near limits ``mean +/- 2 * 2.66 / 3 * amr``; ``outside_limits = y > upl
  | y < lpl``; ``relative_to_mean = sign(y - mean)``; ``close_to_limits = !outside & (y < nlpl |
  y > nupl)``.
* ``R/ptd_calculate_point_type.R``: ``ptd_seven_point_one_side_mean``,
  ``ptd_part_of_seven_trend``, ``ptd_seven_point_trend``, ``ptd_two_in_three``,
  ``ptd_part_of_two_in_three``, ``ptd_special_cause_type`` (``case_when``: outside limits, then
  trend, then 2 in 3, then 7 on one side; a trend point's direction is the step to the next point
  when that point is in a trend too, else the step from the previous point, and any step that is
  not a rise reads "Decreasing") and ``ptd_point_type``.
* ``R/ptd_add_short_group_warnings.R``: ``short_group_warning = n() < 13`` (option
  ``ptd_spc.warning_threshold``, default 13, although the message says "n < 12").

The R code expects no gaps ("There should be no gaps in the time series"); a series with
missing months is given to it as its rows with values (the gap rows dropped), which is what
:func:`point_types` does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def _r_mean(xs: Sequence[float]) -> float:
    """R's ``mean``: sum / n in extended precision, then one correction pass."""
    n = len(xs)
    if n == 0:
        return math.nan
    m = math.fsum(xs) / n
    return m + math.fsum(x - m for x in xs) / n


def _sign(x: float) -> int:
    return 0 if x == 0 else (1 if x > 0 else -1)


def spc_standard(y: list[float], fix_after: int | None, screen: bool) -> dict[str, list]:
    """ptd_spc_standard for one facet / rebase group (no missing values)."""
    n = len(y)
    fix = [y[i] if i + 1 <= (fix_after if fix_after else math.inf) else None for i in range(n)]
    base = [v for v in fix if v is not None]
    mean = _r_mean(base)
    mr: list[float | None] = [None] + [
        abs(fix[i] - fix[i - 1]) if fix[i] is not None and fix[i - 1] is not None else None
        for i in range(1, n)
    ]
    amr = _r_mean([m for m in mr if m is not None])
    if screen:
        mr = [m if m is not None and m < 3.267 * amr else None for m in mr]
        amr = _r_mean([m for m in mr if m is not None])
    limit = 2.66
    close = 2 * (limit / 3)
    lpl, upl = mean - limit * amr, mean + limit * amr
    nlpl, nupl = mean - close * amr, mean + close * amr
    outside = [(v > upl or v < lpl) for v in y]
    rtm = [_sign(v - mean) for v in y]
    close_to = [(not o) and (v < nlpl or v > nupl) for v, o in zip(y, outside, strict=True)]
    return {"mean": [mean] * n, "lpl": [lpl] * n, "upl": [upl] * n, "outside": outside,
            "rtm": rtm, "close": close_to}


def seven_point_one_side_mean(v: list[int]) -> list[int]:
    vp = [0] * 6 + v
    return [int(all(vp[i] == vp[i - k] for k in range(1, 7)) and vp[i] != 0)
            for i in range(6, 6 + len(v))]


def part_of_seven_trend(v: list[int]) -> list[int]:
    vp = v + [0] * 6
    return [int(any(abs(vp[i + k]) == 1 for k in range(7))) for i in range(len(v))]


def seven_point_trend(y: list[float]) -> list[int]:
    if len(y) < 7:
        return [0] * len(y)
    out = [0] * 6
    for i in range(6, len(y)):
        window = [y[i - k] for k in range(7)]  # y[i - 0:6]: newest first
        d = [-_sign(window[k + 1] - window[k]) for k in range(6)]
        out.append(1 if all(x == 1 for x in d) else (-1 if all(x == -1 for x in d) else 0))
    return out


def two_in_three(v: list[bool], rtm: list[int]) -> list[int]:
    if not v:
        return []
    vp = [0, 0, *[int(x) for x in v], 0, 0]
    rp = [0, 0, *rtm, 0, 0]

    def win(i: int, a: int) -> bool:
        return sum(vp[i + a: i + a + 3]) >= 2 and abs(sum(rp[i + a: i + a + 3])) == 3

    return [int(win(i, 0) or win(i, 1) or win(i, 2)) for i in range(len(v))]


def part_of_two_in_three(v: list[int], x: list[bool]) -> list[int]:
    return [int(a == 1 and abs(int(b)) == 1) for a, b in zip(v, x, strict=True)]


def special_cause_type(y: list[float], rtm: list[int], close: list[bool],
                       outside: list[bool]) -> list[str]:
    n = len(y)
    trend = part_of_seven_trend(seven_point_trend(y))
    two3 = part_of_two_in_three(two_in_three(close, rtm), close)
    shift = part_of_seven_trend(seven_point_one_side_mean(rtm))
    sdy = [_sign(y[i + 1] - y[i]) for i in range(n - 1)]
    right = sdy + sdy[-1:]           # c(sdy, tail(sdy, 1))
    left = [0, *sdy]                 # c(0, sdy)
    nxt = trend[1:] + [0]            # c(part[-1], 0)
    sdir = [right[i] if (nxt[i] and trend[i]) else left[i] for i in range(n)]
    out = []
    for i in range(n):
        ab = "Above" if rtm[i] > 0 else "Below"
        if outside[i]:
            out.append("Above UCL" if rtm[i] == 1 else "Below LCL")
        elif trend[i]:
            out.append(f"7 Point Trend ({'In' if sdir[i] == 1 else 'De'}creasing)")
        elif two3[i]:
            out.append(f"2 in 3 {ab} CL")
        elif shift[i]:
            out.append(f"7 Points {ab} CL")
        else:
            out.append("Common Cause")
    return out


def point_type(types: list[str], improvement_direction: int) -> list[str]:
    out = []
    for t in types:
        v = 1 if ("Above" in t or "Increasing" in t) else (
            -1 if ("Below" in t or "Decreasing" in t) else 0)
        if improvement_direction == 0:
            out.append({1: "special_cause_neutral_high", -1: "special_cause_neutral_low"}
                       .get(v, "common_cause"))
        else:
            v *= improvement_direction
            out.append({1: "special_cause_improvement", -1: "special_cause_concern"}
                       .get(v, "common_cause"))
    return out


DIRECTIONS = {"increase": 1, "decrease": -1, "neutral": 0}


def point_types(values: Sequence[float], *, improvement_direction: str = "increase",
                screen_outliers: bool = True, fix_after: int | None = None,
                rebase_at: Sequence[int] = ()) -> list[dict]:
    """ptd_spc for one series: one dict per input position (``None`` for a missing value)
    with ``special_cause_type``, ``point_type``, ``mean``, ``lpl``, ``upl`` and
    ``short_group_warning``. ``rebase_at``: positions starting a new group."""
    direction = DIRECTIONS[improvement_direction]
    vals = [float(v) for v in values]
    group = [sum(1 for r in rebase_at if 0 < r <= i) for i in range(len(vals))]
    out: list[dict | None] = [None] * len(vals)
    for g in sorted(set(group)):
        pos = [i for i in range(len(vals)) if group[i] == g and not math.isnan(vals[i])]
        if not pos:
            continue
        y = [vals[i] for i in pos]
        std = spc_standard(y, fix_after, screen_outliers)
        types = special_cause_type(y, std["rtm"], std["close"], std["outside"])
        pts = point_type(types, direction)
        for k, i in enumerate(pos):
            out[i] = {"special_cause_type": types[k], "point_type": pts[k],
                      "mean": std["mean"][k], "lpl": std["lpl"][k], "upl": std["upl"][k],
                      "short_group_warning": len(pos) < 13}
    return out  # type: ignore[return-value]


def variation_icon(point_types_: list[dict | None], improvement_direction: str) -> str | None:
    """ptd_get_icons (R/geom_ptd_icon.R): the last point's type as an icon name."""
    last = next((p for p in reversed(point_types_) if p is not None), None)
    if last is None:
        return None
    pt = last["point_type"]
    inc = improvement_direction == "increase"
    return {
        "common_cause": "common_cause",
        "special_cause_neutral_high": "neutral_high",
        "special_cause_neutral_low": "neutral_low",
        "special_cause_concern": "concern_low" if inc else "concern_high",
        "special_cause_improvement": "improvement_high" if inc else "improvement_low",
    }[pt]
