"""Pure figure builders: numbers in, a plotly ``go.Figure`` out. No database, no Dash.

The dashboards and the slide packs (``exports/``) call the same functions, so a chart looks the
same in the browser and in PowerPoint. Every builder takes ``for_slides=True`` (1600x900, larger
fonts) and an optional ``width``/``height``.

Input contracts (pandas DataFrames; extra columns are ignored):

* :func:`comparison_figure`: ``org_code, org_name, value, lower, upper, comparison`` and
  optionally ``denominator``. ``comparison`` is one of ``better, similar, worse, higher, lower,
  not_compared`` (from ``core.stats``; this module never decides significance).
* :func:`funnel_figure`: points ``org_code, org_name, denominator, value, comparison``; limits
  ``denominator, lower_95, upper_95, lower_998, upper_998``.
* :func:`spc_figure`: ``x`` (date or label), ``value, mean, lpl, upl, point_type`` and optionally
  ``segment`` (rebase number) and ``period``. ``point_type`` as NHSRplotthedots:
  ``common_cause, special_cause_improvement, special_cause_concern, special_cause_neutral``
  (``..._neutral_high/low`` accepted).
* :func:`spine_figure`: ``indicator_name, value, lowest, q1, median, q3, highest, polarity,
  decimals, unit, comparison``.

Text from uploads (organisation and indicator names, annotation notes) is HTML-escaped before it
reaches plotly, whose labels understand a few HTML tags.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboards import theme

COMPARISON_ORDER = ("worse", "lower", "similar", "higher", "better", "not_compared")

SPC_LABELS = {
    "common_cause": "Common cause variation",
    "special_cause_improvement": "Special cause: improvement",
    "special_cause_concern": "Special cause: concern",
    "special_cause_neutral": "Special cause: neither better nor worse",
}

#: Bars at or under this count get a dark outline (their fills alone are not 3:1 on white).
BAR_OUTLINE_MAX = 300

#: Rows at or under this count are drawn as horizontal bars with every name on the axis.
NAMED_BARS_MAX = 60
#: Above this many bars (each under ~1 px wide) the intervals are drawn as one shaded band.
WHISKER_BAND_MIN = 1000
#: Most bars in one trace. plotly.js (4.1) places each bar's text by scanning every bar of its
#: trace, even when there is no text, so drawing a trace of n bars costs O(n^2): 6,400 bars in
#: one trace take ~240 ms more to draw than in traces of 500 (headless Chromium, this machine).
#: A category's bars are split into traces of this size, one legend entry per category.
BARS_PER_TRACE = 500


# ---------------------------------------------------------------------------------------------
# indicator metadata and number formatting
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class IndicatorMeta:
    """What a chart needs to know about an indicator (read from an ORM row, a dict or a schema)."""

    name: str
    unit: str | None = None
    decimals: int = 1
    polarity: str = "higher_is_better"
    target: float | None = None
    target_label: str | None = None
    value_type: str = "proportion"
    denominator_label: str | None = None
    numerator_label: str | None = None

    @classmethod
    def of(cls, obj: Any) -> IndicatorMeta:
        """Build from an ``IndicatorMeta``, a mapping, or any object with these attributes."""
        if isinstance(obj, IndicatorMeta):
            return obj

        def get(key: str, default: Any = None) -> Any:
            if isinstance(obj, Mapping):
                return obj.get(key, default)
            return getattr(obj, key, default)

        decimals = get("decimals", 1)
        target = get("target")
        return cls(
            name=str(get("name") or get("id") or get("indicator_id") or "Indicator"),
            unit=get("unit"),
            decimals=int(decimals) if decimals is not None else 1,
            polarity=get("polarity") or "higher_is_better",
            target=float(target) if target is not None and not _isnan(target) else None,
            target_label=get("target_label"),
            value_type=get("value_type") or "proportion",
            denominator_label=get("denominator_label"),
            numerator_label=get("numerator_label"),
        )

    @property
    def axis_title(self) -> str:
        """The value axis title: the name, with the unit when there is one."""
        return f"{self.name} ({self.unit})" if self.unit else self.name

    @property
    def value_title(self) -> str:
        """A short value axis title when the chart title already names the indicator."""
        label = self.numerator_label
        # a long numerator description makes an unreadable axis title: say "Value" instead
        base = label[:1].upper() + label[1:] if label and len(label) <= 30 else "Value"
        return f"{base} ({self.unit})" if self.unit else base


def _isnan(x: Any) -> bool:
    try:
        return x is None or (isinstance(x, float | np.floating) and math.isnan(x))
    except TypeError:
        return False


def format_value(value: Any, decimals: int = 1, unit: str | None = None) -> str:
    """Format a number with the indicator's decimals and unit: ``91.2%``, ``1,234``, ``n/a``."""
    if value is None or _isnan(value):
        return "n/a"
    text = f"{float(value):,.{max(int(decimals), 0)}f}"
    if not isinstance(unit, str):  # None, or NaN from a frame column without units
        return text
    if unit in ("%", "percent"):
        return f"{text}%"
    return f"{text} {unit}" if unit else text


def format_count(value: Any) -> str:
    """A whole count with thousands separators (``n/a`` when missing)."""
    if value is None or _isnan(value):
        return "n/a"
    v = float(value)
    return f"{v:,.0f}" if v == round(v) else f"{v:,.1f}"


def safe_text(text: Any, limit: int | None = None) -> str:
    """Escape text for plotly labels (which parse some HTML) and shorten it to ``limit``."""
    s = "" if text is None or _isnan(text) else str(text)
    if limit and len(s) > limit:
        s = s[: limit - 1].rstrip() + "\u2026"
    return html.escape(s, quote=False)


def _escape(values: pd.Series) -> pd.Series:
    """Vectorised :func:`safe_text` for many names."""
    return (values.astype(str).str.replace("&", "&amp;", regex=False)
            .str.replace("<", "&lt;", regex=False).str.replace(">", "&gt;", regex=False))


def _unit_suffix(unit: str | None) -> str:
    if not unit:
        return ""
    return "%" if unit in ("%", "percent") else f" {unit}"


def _highlights(highlight: str | Iterable[str] | None) -> set[str]:
    if highlight is None:
        return set()
    if isinstance(highlight, str):
        return {h.strip().upper() for h in highlight.split(",") if h.strip()}
    return {str(h).strip().upper() for h in highlight if str(h).strip()}


def _empty(message: str, *, for_slides: bool, width: int | None, height: int | None) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=safe_text(message), showarrow=False, x=0.5, y=0.5, xref="paper",
                       yref="paper", font={"size": theme.sizes(for_slides)["title"]})
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return theme.apply_theme(fig, for_slides=for_slides, width=width, height=height)


def _title(title: str | None, subtitle: str | None) -> str | None:
    if not title:
        return None
    if subtitle:
        return f"{safe_text(title)}<br><sup>{safe_text(subtitle)}</sup>"
    return safe_text(title)


# ---------------------------------------------------------------------------------------------
# peer comparison: ranked bars with intervals
# ---------------------------------------------------------------------------------------------
def comparison_figure(
    frame: pd.DataFrame,
    *,
    indicator: Any,
    benchmark: float | None = None,
    benchmark_label: str = "Benchmark",
    target: float | None = None,
    highlight: str | Iterable[str] | None = None,
    confidence: float = 95,
    title: str | None = None,
    subtitle: str | None = None,
    for_slides: bool = False,
    width: int | None = None,
    height: int | None = None,
) -> go.Figure:
    """Ranked bar ("caterpillar") chart of every peer with its interval.

    Bars are coloured by the comparison with the benchmark (better / similar / worse, in words in
    the legend), the benchmark and target are lines, and the highlighted organisation(s) stand
    out with a thick outline and a label. Up to :data:`NAMED_BARS_MAX` peers are drawn as
    horizontal bars with every name; more are drawn as vertical bars ranked left to right.
    """
    meta = IndicatorMeta.of(indicator)
    target = meta.target if target is None else target
    if frame is None or frame.empty:
        return _empty("No values for this selection", for_slides=for_slides, width=width,
                      height=height)
    df = frame.copy()
    df["value"] = pd.to_numeric(df["value"], errors="coerce")
    shown = df[df["value"].notna()].sort_values("value", kind="stable").reset_index(drop=True)
    hidden = len(df) - len(shown)
    if shown.empty:
        return _empty("Every value in this selection is suppressed or missing",
                      for_slides=for_slides, width=width, height=height)
    n = len(shown)
    shown["pos"] = np.arange(n)
    if "comparison" not in shown:
        shown["comparison"] = "not_compared"
    shown["comparison"] = shown["comparison"].fillna("not_compared").astype(str)
    lower = pd.to_numeric(shown.get("lower"), errors="coerce")
    upper = pd.to_numeric(shown.get("upper"), errors="coerce")
    shown["err_minus"] = (shown["value"] - lower).clip(lower=0).fillna(0.0)
    shown["err_plus"] = (upper - shown["value"]).clip(lower=0).fillna(0.0)
    hl = _highlights(highlight)
    shown["is_hl"] = shown["org_code"].astype(str).str.upper().isin(hl)

    d, unit = meta.decimals, meta.unit
    horizontal = n <= NAMED_BARS_MAX
    if n <= 1000:
        shown["hover"] = [
            _hover_line(r, d, unit, confidence) for r in shown.itertuples(index=False)
        ]
    else:
        # thousands of bars: numbers go as numbers and plotly formats them in the browser,
        # which keeps both the build (about 10x faster) and the payload small
        shown["hover"] = _escape(shown["org_name"]) + " (" + _escape(shown["org_code"]) + ")"
    s = theme.sizes(for_slides)
    fig = go.Figure()
    # thousands of whiskers drawn solid merge into a dark band: lighten them with n
    whisker_colour = theme.NHS_DARK_GREY if n <= 200 else "rgba(66,85,99,0.35)"
    whisker_w = 1.2 if n <= 1000 else 0.6
    banded = n > WHISKER_BAND_MIN
    # Scalar styles only: per-bar outline arrays cost ~0.3 s to validate for 6,500 bars and
    # ~130 KB on the wire. The highlighted bars are drawn again on top, outlined (below).
    for cat in COMPARISON_ORDER:
        part = shown[shown["comparison"] == cat]
        for start in range(0, len(part), BARS_PER_TRACE):
            fig.add_trace(_comparison_bars(part.iloc[start:start + BARS_PER_TRACE], cat,
                                           horizontal=horizontal, n=n, d=d, unit=unit,
                                           whiskers=not banded,
                                           whisker_style=(whisker_colour, whisker_w),
                                           in_legend=start == 0))
    if banded:
        # Thousands of bars are each narrower than a pixel, so their whiskers merge into a band
        # anyway: draw that band (two lines and a fill) rather than one SVG element per whisker.
        # Measured in headless Chromium, 6,500 bars: drawn in ~270 ms, against 280-450 ms.
        lo = (shown["value"] - shown["err_minus"]).to_numpy(dtype=np.float32)
        hi = (shown["value"] + shown["err_plus"]).to_numpy(dtype=np.float32)
        band = {"mode": "lines", "hoverinfo": "skip", "showlegend": False,
                "line": {"width": 0, "shape": "hvh"}}
        fig.add_trace(go.Scatter(x=shown["pos"].to_numpy(), y=hi, **band))
        fig.add_trace(go.Scatter(x=shown["pos"].to_numpy(), y=lo, fill="tonexty",
                                 fillcolor=whisker_colour,
                                 name=f"{confidence:g}% confidence intervals", **band))
    hl_rows = shown[shown["is_hl"]]
    for cat in COMPARISON_ORDER:
        part = hl_rows[hl_rows["comparison"] == cat]
        if not part.empty:
            fig.add_trace(_comparison_bars(part, cat, horizontal=horizontal, n=n, d=d, unit=unit,
                                           whiskers=not banded,
                                           whisker_style=(whisker_colour, whisker_w),
                                           outline=(3.0, theme.HIGHLIGHT_COLOUR)))

    line_axis = "x" if horizontal else "y"
    _reference_lines(fig, line_axis, benchmark, benchmark_label, target, meta, s)

    # labels of neighbouring bars go on separate levels instead of on top of each other. A
    # label runs rightwards from a bar in the left half, leftwards from one in the right half;
    # its length in bars is estimated from its characters (0.62 em each) and the plot's width
    # (about 1,100 px on a laptop's page, where the width is not known here)
    bars_per_px = n / (0.94 * width if width else 1100)
    level_ends: list[float] = []
    for r in _labelled(shown, for_slides).sort_values("pos").itertuples(index=False):
        name = safe_text(r.org_name, 40)
        label = f"<b>{name}</b> {format_value(r.value, d, unit)}"
        left_half = r.pos < n / 2
        level = 0
        if not horizontal:  # a horizontal chart's labels sit beside their rows: no levels
            length = (36 + (len(name) + 7) * 0.62 * s["font"]) * bars_per_px
            span = (r.pos, r.pos + length) if left_half else (r.pos - length, r.pos)
            level = next((k for k, end in enumerate(level_ends) if end < span[0]),
                         len(level_ends))
            level_ends[level:level + 1] = [span[1]]
        if horizontal:
            fig.add_annotation(x=r.value + r.err_plus, y=r.pos, text=label, showarrow=True,
                               arrowhead=0, ax=40, ay=0, xanchor="left",
                               font={"color": theme.HIGHLIGHT_COLOUR, "size": s["font"]},
                               bgcolor="rgba(255,255,255,0.85)")
        else:
            fig.add_annotation(x=r.pos, y=r.value + r.err_plus, text=label, showarrow=True,
                               arrowhead=2, arrowwidth=2, arrowcolor=theme.HIGHLIGHT_COLOUR,
                               ax=30 if left_half else -30, ay=-45 - 26 * level,
                               xanchor="left" if left_half else "right",
                               font={"color": theme.HIGHLIGHT_COLOUR,
                                                   "size": s["font"]},
                               bgcolor="rgba(255,255,255,0.9)",
                               bordercolor=theme.HIGHLIGHT_COLOUR)

    names = [safe_text(x, 38) for x in shown["org_name"]]
    note = f"{n:,} organisations, lowest to highest"
    if hidden:
        note += f"; {hidden:,} without a value"
    note += (f". Shading: {confidence:g}% confidence intervals." if banded else
             f". Whiskers: {confidence:g}% confidence intervals.")
    if horizontal:
        row_h = 30 if for_slides else 22
        auto_h = max(theme.sizes(for_slides)["height"], row_h * n + 170)
        fig.update_yaxes(tickmode="array", tickvals=shown["pos"].to_numpy(), ticktext=names,
                         range=[-0.7, n - 0.3], showgrid=False, title=None)
        fig.update_xaxes(title=f"{safe_text(meta.value_title)}<br><sup>{safe_text(note)}</sup>",
                         showgrid=True, gridcolor=theme.NHS_PALE_GREY,
                         range=[0, _axis_top(shown, benchmark, target)])
        height = height or (None if for_slides else auto_h)
    else:
        if for_slides:
            # a slide is narrower than a screen: the whisker note goes in the slide's caption
            note = f"{n:,} organisations ranked from lowest to highest value"
        fig.update_xaxes(showticklabels=False, ticks="", range=[-1, n], title=safe_text(note))
        fig.update_yaxes(title=safe_text(meta.value_title),
                         range=[0, _axis_top(shown, benchmark, target)])
    fig.update_layout(
        barmode="overlay", bargap=0.15 if horizontal else 0.05, hovermode="closest",
        title=_title(title, subtitle),
        # on a slide the benchmark line carries its own label and the caption says the rest
        legend_title_text="" if for_slides else f"Compared with {safe_text(benchmark_label)}:",
        legend_traceorder="normal",
        # legend under the chart: the space above the bars is for the highlighted label
        legend={"orientation": "h", "y": -0.2 if not horizontal else 1.0,
                "yanchor": "top" if not horizontal else "bottom", "x": 0},
        margin={"b": 120} if not horizontal else {},
    )
    if subtitle or len(level_ends) > 1:
        fig.update_layout(margin={"t": (110 if subtitle else 80)
                                  + 30 * max(len(level_ends) - 1, 0)})
    if len(level_ends) > 1:  # the title stays at the top, the labels get the room under it
        fig.update_layout(title_y=1, title_yref="container", title_yanchor="top",
                          title_pad_t=12)
    if horizontal and shown["is_hl"].any():
        fig.update_layout(margin={"r": 230})  # room for the highlighted organisation's label
    return theme.apply_theme(fig, for_slides=for_slides, width=width, height=height)


def _comparison_bars(part: pd.DataFrame, cat: str, *, horizontal: bool, n: int, d: int,
                     unit: str | None, whiskers: bool, whisker_style: tuple[str, float],
                     outline: tuple[float, str] | None = None, in_legend: bool = True) -> go.Bar:
    """One bar trace of a comparison category (``outline`` marks the highlighted bars; a
    category split into several traces has one legend entry, ``in_legend``)."""
    colour = theme.COMPARISON_COLOURS.get(cat, theme.COMPARISON_COLOURS["similar"])
    label = theme.COMPARISON_LABELS.get(cat, cat)
    if outline is None:
        # outlined where bars are wide enough to show a fill inside (contrast 3:1)
        outline = (1.0, theme.NHS_MID_GREY) if cat == "not_compared" else (
            (0.75, theme.MARK_OUTLINE) if n <= BAR_OUTLINE_MAX else (0.0, theme.NHS_MID_GREY))
    common: dict[str, Any] = {
        "name": label,
        "legendgroup": cat,
        "marker": {"color": colour, "line": {"width": outline[0], "color": outline[1]},
                   "opacity": 1.0},
        "width": 0.75 if horizontal else 1.0,
        "hovertext": part["hover"].to_numpy(),
        "hovertemplate": "%{hovertext}<extra></extra>" if n <= 1000 else (
            f"<b>%{{hovertext}}</b><br>Value: %{{y:,.{d}f}}{_unit_suffix(unit)}<br>"
            f"{label}<extra></extra>"),
    }
    if outline[1] == theme.HIGHLIGHT_COLOUR or not in_legend:
        common["showlegend"] = False  # the same category's legend entry already names it
    if whiskers:
        error = {"type": "data", "array": part["err_plus"].to_numpy(),
                 "arrayminus": part["err_minus"].to_numpy(), "color": whisker_style[0],
                 "thickness": whisker_style[1], "width": 3 if horizontal else 0}
        common["error_x" if horizontal else "error_y"] = error
    if horizontal:
        return go.Bar(x=part["value"].to_numpy(), y=part["pos"].to_numpy(), orientation="h",
                      **common)
    return go.Bar(x=part["pos"].to_numpy(), y=part["value"].to_numpy(), **common)


def _axis_top(shown: pd.DataFrame, *refs: float | None) -> float:
    """The top of the value axis: the highest whisker or reference line, plus a little room."""
    tops = [float((shown["value"] + shown["err_plus"]).max())]
    tops += [float(r) for r in refs if r is not None and not _isnan(r)]
    top = max(tops)
    return top * 1.04 if top > 0 else 1.0


def _hover_line(r: Any, d: int, unit: str | None, confidence: float) -> str:
    parts = [f"<b>{safe_text(r.org_name, 60)}</b> ({safe_text(r.org_code)})",
             f"Value: {format_value(r.value, d, unit)}"]
    lo, hi = getattr(r, "lower", None), getattr(r, "upper", None)
    if not _isnan(lo) and not _isnan(hi) and lo is not None and hi is not None:
        parts.append(f"{confidence:g}% CI: {format_value(lo, d)} to {format_value(hi, d)}")
    num, den = getattr(r, "numerator", None), getattr(r, "denominator", None)
    if den is not None and not _isnan(den):
        if num is not None and not _isnan(num):
            parts.append(f"{format_count(num)} / {format_count(den)}")
        else:
            parts.append(f"Denominator: {format_count(den)}")
    parts.append(theme.COMPARISON_LABELS.get(str(r.comparison), str(r.comparison)))
    return "<br>".join(parts)


def _reference_line(fig: go.Figure, axis: str, value: float, *, line: dict, text: str,
                    font: dict, position: str, bgcolor: str | None = None) -> None:
    """A line across the plot at ``value`` on ``axis`` ("x": a vertical line), labelled.

    The same shape and annotation as plotly's ``add_vline``/``add_hline`` with
    ``annotation_position`` "top left" or "bottom right", without their cost (~13 ms a line
    in plotly.py 7, most of a small chart's build).
    """
    top, left = position.startswith("top"), position.endswith("left")
    label: dict[str, Any] = {"text": text, "font": font, "showarrow": False}
    if bgcolor:
        label["bgcolor"] = bgcolor
    if axis == "x":
        fig.add_shape(type="line", x0=value, x1=value, xref="x", y0=0, y1=1, yref="y domain",
                      line=line)
        fig.add_annotation(x=value, xref="x", xanchor="right" if left else "left",
                           y=1 if top else 0, yref="y domain",
                           yanchor="top" if top else "bottom", **label)
    else:
        fig.add_shape(type="line", x0=0, x1=1, xref="x domain", y0=value, y1=value, yref="y",
                      line=line)
        fig.add_annotation(x=0 if left else 1, xref="x domain",
                           xanchor="left" if left else "right", y=value, yref="y",
                           yanchor="bottom" if top else "top", **label)


def _reference_lines(fig: go.Figure, axis: str, benchmark: float | None, benchmark_label: str,
                     target: float | None, meta: IndicatorMeta, s: dict) -> None:
    if benchmark is not None and not _isnan(benchmark):
        _reference_line(fig, axis, benchmark, line={"color": theme.BENCHMARK_COLOUR, "width": 2},
                        text=f"{safe_text(benchmark_label)} "
                             f"{format_value(benchmark, meta.decimals, meta.unit)}",
                        font={"size": s["tick"], "color": theme.BENCHMARK_COLOUR},
                        bgcolor="rgba(255,255,255,0.85)", position="top left")
    if target is not None and not _isnan(target):
        label = meta.target_label or "Target"
        _reference_line(fig, axis, target,
                        line={"color": theme.TARGET_COLOUR, "width": 2, "dash": "dash"},
                        text=f"{safe_text(label)} "
                             f"{format_value(target, meta.decimals, meta.unit)}",
                        font={"size": s["tick"], "color": theme.TARGET_COLOUR},
                        bgcolor="rgba(255,255,255,0.85)", position="bottom right")


# ---------------------------------------------------------------------------------------------
# funnel plot
# ---------------------------------------------------------------------------------------------
def funnel_figure(
    points: pd.DataFrame,
    limits: pd.DataFrame,
    *,
    indicator: Any,
    centre: float | None = None,
    centre_label: str = "Peer average",
    target: float | None = None,
    highlight: str | Iterable[str] | None = None,
    overdispersion_note: str | None = None,
    title: str | None = None,
    subtitle: str | None = None,
    for_slides: bool = False,
    width: int | None = None,
    height: int | None = None,
) -> go.Figure:
    """Funnel plot: each organisation's value against its denominator, with 95% and 99.8% limits.

    Points are coloured by the funnel's verdict (``comparison``); the centre (pooled) line and
    the target are drawn; ``overdispersion_note`` (e.g. "Limits widened for overdispersion,
    phi = 3.1") is printed under the chart so that no one mistakes adjusted for raw limits.
    """
    meta = IndicatorMeta.of(indicator)
    target = meta.target if target is None else target
    if points is None or points.empty:
        return _empty("No values for this selection", for_slides=for_slides, width=width,
                      height=height)
    s = theme.sizes(for_slides)
    df = points.copy()
    df["value"] = pd.to_numeric(df["value"], errors="coerce")
    df["denominator"] = pd.to_numeric(df["denominator"], errors="coerce")
    df = df[df["value"].notna() & df["denominator"].notna()]
    if "comparison" not in df:
        df["comparison"] = "not_compared"
    df["comparison"] = df["comparison"].fillna("not_compared").astype(str)
    hl = _highlights(highlight)
    df["is_hl"] = df["org_code"].astype(str).str.upper().isin(hl)
    d, unit = meta.decimals, meta.unit
    fig = go.Figure()
    if limits is not None and not limits.empty:
        lim = limits.sort_values("denominator")
        x = lim["denominator"].to_numpy()
        for col, name, colour, dash in (
            ("upper_998", "99.8% limits (3 SD)", theme.LIMIT_998_COLOUR, "solid"),
            ("lower_998", None, theme.LIMIT_998_COLOUR, "solid"),
            ("upper_95", "95% limits (2 SD)", theme.LIMIT_95_COLOUR, "dash"),
            ("lower_95", None, theme.LIMIT_95_COLOUR, "dash"),
        ):
            if col not in lim:
                continue
            fig.add_trace(go.Scatter(
                x=x, y=lim[col].to_numpy(), mode="lines", name=name or col,
                showlegend=name is not None, legendgroup=col[-3:],
                line={"color": colour, "width": 1.5, "dash": dash}, hoverinfo="skip"))
    for cat in COMPARISON_ORDER:
        part = df[df["comparison"] == cat]
        if part.empty:
            continue
        colour = theme.COMPARISON_COLOURS.get(cat, theme.COMPARISON_COLOURS["similar"])
        hover = [
            f"<b>{safe_text(r.org_name, 60)}</b> ({safe_text(r.org_code)})<br>"
            f"Value: {format_value(r.value, d, unit)}<br>"
            f"Denominator: {format_count(r.denominator)}<br>"
            f"{theme.COMPARISON_LABELS.get(cat, cat)}"
            for r in part.itertuples(index=False)
        ]
        fig.add_trace(go.Scatter(
            x=part["denominator"].to_numpy(), y=part["value"].to_numpy(), mode="markers",
            name=theme.COMPARISON_LABELS.get(cat, cat),
            marker={"color": colour, "size": np.where(part["is_hl"], 15, 8 if not for_slides
                                                      else 11),
                    "line": {"width": np.where(part["is_hl"], 3, 1),
                             "color": np.where(part["is_hl"], theme.HIGHLIGHT_COLOUR,
                                               theme.NHS_DARK_GREY)}},
            hovertext=hover, hovertemplate="%{hovertext}<extra></extra>"))
    _reference_lines(fig, "y", centre, centre_label, target, meta, s)
    # a label points into the chart: away from the nearer side edge, and downwards from a
    # point in the top third (where the limits and the legend are), so that it is never cut
    # (every point suppressed: no denominators, and NaN would pass ``or``)
    x_max = (float(df["denominator"].max()) if len(df) else 0.0) or 1.0
    y_lo, y_hi = float(df["value"].min()), float(df["value"].max())
    for r in _labelled(df, for_slides).itertuples(index=False):
        left_half = r.denominator <= x_max / 2
        high = y_hi > y_lo and (r.value - y_lo) / (y_hi - y_lo) > 2 / 3
        fig.add_annotation(x=r.denominator, y=r.value, showarrow=True, arrowhead=2,
                           ax=25 if left_half else -25, ay=35 if high else -35,
                           xanchor="left" if left_half else "right",
                           text=f"<b>{safe_text(r.org_name, 26 if for_slides else 40)}</b> "
                                f"{format_value(r.value, d, unit)}",
                           font={"color": theme.HIGHLIGHT_COLOUR, "size": s["font"]},
                           bgcolor="rgba(255,255,255,0.9)", bordercolor=theme.HIGHLIGHT_COLOUR)
    # the axis ends at the data (plotly's autorange would stretch it to fit the label boxes)
    x_end = max(x_max, float(limits["denominator"].max()) if limits is not None
                and not limits.empty else 0.0)
    fig.update_xaxes(title=meta.denominator_label or "Denominator (people counted)",
                     range=[0, x_end * 1.03], showgrid=True, gridcolor=theme.NHS_PALE_GREY)
    fig.update_yaxes(title=safe_text(meta.value_title))
    fig.update_layout(title=_title(title, subtitle), hovermode="closest",
                      margin={"t": 110} if subtitle else {})
    if for_slides:
        _zoom_on_points(fig, df["value"], centre, target)
    if overdispersion_note and for_slides:
        # a free note under a slide-sized chart collides with the axis title, and above it
        # with the legend: it becomes the axis title's second line
        fig.update_xaxes(title=f"{safe_text(fig.layout.xaxis.title.text)}<br>"
                               f"<sup>{safe_text(overdispersion_note)}</sup>")
    elif overdispersion_note:
        fig.add_annotation(text=safe_text(overdispersion_note), xref="paper", yref="paper", x=0,
                           y=-0.16, yanchor="top", showarrow=False,
                           font={"size": s["tick"], "color": theme.NHS_DARK_GREY})
        fig.update_layout(margin={"b": 95})
    return theme.apply_theme(fig, for_slides=for_slides, width=width, height=height)


#: On a slide, more highlighted organisations than this are shown by their outlines only
#: (neighbouring labels pile up at slide size); the slide's caption says which are outlined.
SLIDE_LABELS_MAX = 1


def _labelled(df: pd.DataFrame, for_slides: bool) -> pd.DataFrame:
    """The highlighted rows that get a name label."""
    hl = df[df["is_hl"]]
    return hl.iloc[0:0] if for_slides and len(hl) > SLIDE_LABELS_MAX else hl


def _zoom_on_points(fig: go.Figure, values: pd.Series, *refs: float | None) -> None:
    """Zoom the value axis on the points (and the centre and target lines): the limits run to
    0 and 100% at tiny denominators and would squash every point into a thin band on a slide,
    where no one can zoom. Limits leaving the area still show where the points are judged."""
    vals = pd.to_numeric(values, errors="coerce").dropna()
    if vals.empty:
        return
    extra = [float(r) for r in refs if r is not None and not _isnan(r)]
    lo, hi = min([float(vals.min()), *extra]), max([float(vals.max()), *extra])
    pad = max((hi - lo) * 0.08, 0.5)
    fig.update_yaxes(range=[lo - pad, hi + pad], autorange=False)


# ---------------------------------------------------------------------------------------------
# SPC (XmR) chart in Making Data Count colours
# ---------------------------------------------------------------------------------------------
def _point_colour_key(point_type: str) -> str:
    pt = str(point_type or "common_cause")
    if pt.startswith("special_cause_neutral"):
        return "special_cause_neutral"
    return pt if pt in SPC_LABELS else "common_cause"


def _segment_lines(df: pd.DataFrame, col: str) -> tuple[list[Any], list[Any]]:
    """x and y for a line per rebase segment, broken between segments (None gaps)."""
    xs: list[Any] = []
    ys: list[Any] = []
    for _, part in df.groupby("segment", sort=False):
        xs.extend(part["x"].tolist())
        ys.extend(part[col].tolist())
        xs.append(None)
        ys.append(None)
    return xs, ys


def spc_figure(
    frame: pd.DataFrame,
    *,
    indicator: Any,
    target: float | None = None,
    annotations: Sequence[Mapping[str, Any]] | None = None,
    variation: str | None = None,
    assurance: str | None = None,
    title: str | None = None,
    subtitle: str | None = None,
    for_slides: bool = False,
    width: int | None = None,
    height: int | None = None,
) -> go.Figure:
    """XmR chart: the values, mean and process limits per rebase segment, coloured points.

    ``annotations`` are ``{"date" (or "x"), "text"}`` mappings drawn as dotted vertical lines with
    their note. ``variation`` and ``assurance`` (plain-English labels such as "Special cause
    improvement" / "Inconsistent: target within limits") are printed in a box at the top right,
    as the Making Data Count icons would be.
    """
    meta = IndicatorMeta.of(indicator)
    target = meta.target if target is None else target
    if frame is None or frame.empty:
        return _empty("No values over time for this selection", for_slides=for_slides,
                      width=width, height=height)
    s = theme.sizes(for_slides)
    df = frame.copy()
    if "segment" not in df:
        df["segment"] = 0
    df["value"] = pd.to_numeric(df["value"], errors="coerce")
    d, unit = meta.decimals, meta.unit
    c = theme.SPC_COLOURS
    fig = go.Figure()
    for col, name, colour, dash in (
        ("upl", "Process limits", c["limits"], "dash"),
        ("lpl", None, c["limits"], "dash"),
        ("mean", "Mean", c["mean_line"], "solid"),
    ):
        if col not in df or df[col].isna().all():
            continue
        xs, ys = _segment_lines(df, col)
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name=name or col,
                                 showlegend=name is not None, legendgroup=col if col == "mean"
                                 else "limits", line={"color": colour, "width": 1.5,
                                                      "dash": dash},
                                 hoverinfo="skip", connectgaps=False))
    fig.add_trace(go.Scatter(x=df["x"], y=df["value"], mode="lines", showlegend=False,
                             line={"color": c["value_line"], "width": 2}, hoverinfo="skip"))
    df["ptkey"] = [_point_colour_key(p) for p in df.get("point_type",
                                                      pd.Series(["common_cause"] * len(df)))]
    label_col = df["period"] if "period" in df else df["x"].astype(str)
    df["hover"] = [
        f"<b>{safe_text(lbl)}</b><br>{format_value(v, d, unit)}<br>{SPC_LABELS[k]}"
        for lbl, v, k in zip(label_col, df["value"], df["ptkey"], strict=True)
    ]
    for key, label in SPC_LABELS.items():
        part = df[df["ptkey"] == key]
        if part.empty:
            continue
        fig.add_trace(go.Scatter(
            x=part["x"], y=part["value"], mode="markers", name=label,
            marker={"color": c[key], "size": 11 if for_slides else 9,
                    "symbol": theme.SPC_SYMBOLS.get(key, "circle"),
                    "line": {"width": 1, "color": theme.MARK_OUTLINE}},
            hovertext=part["hover"], hovertemplate="%{hovertext}<extra></extra>"))
    if target is not None and not _isnan(target):
        _reference_line(fig, "y", target, line={"color": c["target"], "width": 2, "dash": "dot"},
                        text=f"{safe_text(meta.target_label or 'Target')} "
                             f"{format_value(target, d, unit)}",
                        font={"color": c["target"], "size": s["tick"]}, position="top left")
    last = df.dropna(subset=["value"]).tail(1)
    limit_label = 0  # characters of the longest label right of the last point
    if not last.empty and "mean" in df and not df["mean"].isna().all():
        lr = last.iloc[0]
        for col, name in (("upl", "Upper limit"), ("mean", "Mean"), ("lpl", "Lower limit")):
            if col in df and not _isnan(lr[col]):
                label = f"{name} {format_value(lr[col], d)}"
                limit_label = max(limit_label, len(label))
                fig.add_annotation(x=lr["x"], y=lr[col], text=label,
                                   showarrow=False, xanchor="left", xshift=8,
                                   font={"size": s["tick"] - 1, "color": theme.NHS_DARK_GREY})
    for note in annotations or ():
        when = note.get("date", note.get("x"))
        if when is None:
            continue
        xval = pd.Timestamp(when) if not isinstance(when, str) or when[:4].isdigit() else when
        fig.add_shape(type="line", x0=xval, x1=xval, y0=0, y1=1, yref="paper",
                      line={"color": theme.NHS_DARK_BLUE, "width": 1, "dash": "dot"})
        fig.add_annotation(x=xval, y=1, yref="paper", text=safe_text(note.get("text"), 40),
                           showarrow=False, textangle=-90, xanchor="right", yanchor="top",
                           font={"size": s["tick"] - 1, "color": theme.NHS_DARK_BLUE})
    badges = []
    if variation:
        badges.append(f"Variation: <b>{safe_text(variation)}</b>")
    if assurance:
        badges.append(f"Target: <b>{safe_text(assurance)}</b>")
    if badges:
        fig.add_annotation(text="<br>".join(badges), xref="paper", yref="paper", x=1, y=1.0,
                           xanchor="right", yanchor="bottom", align="right", showarrow=False,
                           bordercolor=theme.NHS_MID_GREY, borderwidth=1, borderpad=4,
                           bgcolor="#FFFFFF", font={"size": s["tick"]})
    is_dates = "x" in df and pd.api.types.is_datetime64_any_dtype(df["x"])
    xs_all = df["x"].dropna() if is_dates else pd.Series([], dtype="datetime64[ns]")
    if len(xs_all) > 1:
        # the axis ends at the data: label annotations must not stretch it into empty months
        pad = (xs_all.max() - xs_all.min()) * 0.02
        fig.update_xaxes(range=[xs_all.min() - pad, xs_all.max() + pad])
    fig.update_yaxes(title=safe_text(meta.value_title))
    # room on the right for those labels, in a wide font too (DejaVu Sans where Arial is
    # missing: about 0.62 em per character)
    right = max(110, int(limit_label * (s["tick"] - 1) * 0.62) + 24)
    # the legend on top would run under the variation box: it goes below the dates, which
    # need no "Period" title
    fig.update_xaxes(title=None)
    fig.update_layout(title=_title(title, subtitle), hovermode="closest",
                      legend={"orientation": "h", "yanchor": "top", "y": -0.1,
                              "xanchor": "left", "x": 0},
                      margin={"r": right, "t": 110, "b": 80})
    if for_slides:
        fig.update_layout(margin={"t": 70, "b": 90, "r": max(130, right)})
    return theme.apply_theme(fig, for_slides=for_slides, width=width, height=height)


# ---------------------------------------------------------------------------------------------
# spine chart: one organisation against the peer range on every indicator
# ---------------------------------------------------------------------------------------------
def spine_positions(profile: pd.DataFrame) -> pd.DataFrame:
    """Place each row's value and peer range on a common 0-1 scale, better to the right.

    The peer median sits at 0.5; the wider half of the range (median to lowest, or to highest)
    spans 0.5, so the whole range fits and rows are comparable, as in Fingertips spine charts.
    For "lower is better" indicators the scale is mirrored so that better is always on the right.
    Returns ``pos_value, pos_lowest, pos_q1, pos_median, pos_q3, pos_highest``.
    """
    out = pd.DataFrame(index=profile.index)
    med = pd.to_numeric(profile["median"], errors="coerce")
    lo = pd.to_numeric(profile["lowest"], errors="coerce")
    hi = pd.to_numeric(profile["highest"], errors="coerce")
    half = np.maximum((med - lo).abs(), (hi - med).abs()).replace(0, np.nan).fillna(1.0)
    flip = profile.get("polarity", pd.Series("higher_is_better", index=profile.index)).eq(
        "lower_is_better")
    for col in ("value", "lowest", "q1", "median", "q3", "highest"):
        v = pd.to_numeric(profile[col], errors="coerce")
        pos = 0.5 + (v - med) / (2 * half)
        out[f"pos_{col}"] = np.where(flip, 1 - pos, pos)
    return out


def spine_figure(
    profile: pd.DataFrame,
    *,
    org_name: str | None = None,
    peer_label: str = "peers",
    title: str | None = None,
    subtitle: str | None = None,
    for_slides: bool = False,
    width: int | None = None,
    height: int | None = None,
) -> go.Figure:
    """Spine chart: one row per indicator, the organisation's value against the peer range.

    Light grey is the range (lowest to highest), darker grey the middle half (quartiles), the
    black tick the median, the dot the organisation, coloured by its comparison. Better is on
    the right for every indicator ("no judgement" indicators keep higher on the right).
    """
    if profile is None or profile.empty:
        return _empty("No indicators for this organisation", for_slides=for_slides, width=width,
                      height=height)
    s = theme.sizes(for_slides)
    df = profile.reset_index(drop=True).copy()
    pos = spine_positions(df)
    n = len(df)
    y = np.arange(n)
    names = [safe_text(x, 55) for x in df["indicator_name"]]
    values = [format_value(v, dec, u) for v, dec, u in
              zip(df["value"], df.get("decimals", [1] * n), df.get("unit", [None] * n),
                  strict=True)]
    lo = np.minimum(pos["pos_lowest"], pos["pos_highest"])
    hi = np.maximum(pos["pos_lowest"], pos["pos_highest"])
    q_lo = np.minimum(pos["pos_q1"], pos["pos_q3"])
    q_hi = np.maximum(pos["pos_q1"], pos["pos_q3"])
    fig = go.Figure()
    fig.add_trace(go.Bar(y=y, x=hi - lo, base=lo, orientation="h", name="Range of " + peer_label,
                         marker={"color": "#DDE3E6"}, hoverinfo="skip", width=0.6))
    fig.add_trace(go.Bar(y=y, x=q_hi - q_lo, base=q_lo, orientation="h",
                         name="Middle half of " + peer_label + " (25th to 75th)",
                         marker={"color": "#9AA8B0"}, hoverinfo="skip", width=0.6))
    fig.add_trace(go.Scatter(y=y, x=pos["pos_median"], mode="markers",
                             name="Median of " + peer_label,
                             marker={"symbol": "line-ns", "size": 22,
                                     "line": {"width": 3, "color": theme.NHS_BLACK}},
                             hoverinfo="skip"))
    comp = df.get("comparison", pd.Series(["not_compared"] * n)).fillna("not_compared")
    hover = []
    for i, r in df.iterrows():
        dec, u = int(r.get("decimals", 1) or 1), r.get("unit")
        hover.append(
            f"<b>{safe_text(r['indicator_name'], 80)}</b><br>"
            f"{safe_text(org_name or 'This organisation')}: {format_value(r['value'], dec, u)}<br>"
            f"Peer median {format_value(r['median'], dec, u)}; range "
            f"{format_value(r['lowest'], dec)} to {format_value(r['highest'], dec)}<br>"
            f"{theme.COMPARISON_LABELS.get(str(comp.iloc[i]), str(comp.iloc[i]))}")
    df["hover"] = hover
    for cat in COMPARISON_ORDER:
        mask = comp.astype(str).eq(cat).to_numpy()
        if not mask.any():
            continue
        fig.add_trace(go.Scatter(
            y=y[mask], x=pos["pos_value"].to_numpy()[mask], mode="markers",
            name=theme.COMPARISON_LABELS.get(cat, cat),
            marker={"color": theme.COMPARISON_COLOURS.get(cat), "size": 16 if for_slides else 13,
                    "line": {"width": 1.5, "color": theme.NHS_DARK_GREY}},
            customdata=np.flatnonzero(mask),
            hovertext=df["hover"].to_numpy()[mask], hovertemplate="%{hovertext}<extra></extra>"))
    value_notes = [
        {"text": f"<b>{v}</b>", "x": 1.0, "xref": "paper", "y": int(i), "yref": "y",
         "xanchor": "left", "xshift": 10, "showarrow": False, "font": {"size": s["tick"]}}
        for i, v in zip(y, values, strict=True)
    ]
    # "Value" heads the column (whose value the title says: a long name would be cut here)
    value_notes.append({"text": "Value", "x": 1.0, "xref": "paper",
                        "y": 1.0, "yref": "paper", "yanchor": "bottom", "xanchor": "left",
                        "xshift": 10, "showarrow": False,
                        "font": {"size": s["tick"], "color": theme.NHS_DARK_GREY}})
    row_h = 44 if for_slides else 34
    fig.update_yaxes(tickmode="array", tickvals=y, ticktext=names, autorange="reversed",
                     showgrid=False, title=None)
    fig.update_xaxes(range=[-0.03, 1.03], tickmode="array", tickvals=[0, 0.5, 1],
                     ticktext=["\u2190 Worse", "Peer median", "Better \u2192"], showgrid=False,
                     zeroline=False, title=None)
    fig.update_layout(
        title=_title(title, subtitle), barmode="overlay", hovermode="closest",
        margin={"r": 150 if for_slides else 120, "t": 110 if subtitle else 80},
        legend={"y": 1.02, "yanchor": "bottom"}, annotations=value_notes,
    )
    h = height or (None if for_slides else max(300, row_h * n + 170))
    return theme.apply_theme(fig, for_slides=for_slides, width=width, height=h)
