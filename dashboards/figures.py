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

from dashboards import textfit, theme

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
    multiplier: float | None = None

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
            multiplier=_float_or_none(get("multiplier")),
        )

    @property
    def bounds(self) -> tuple[float | None, float | None]:
        """The values this indicator can take: a proportion 0 to 100% (0 to its multiplier),
        a rate or ratio from 0; ``None`` where there is no bound."""
        if self.value_type == "proportion":
            if self.multiplier:
                return 0.0, float(self.multiplier)
            return 0.0, 100.0 if self.unit in ("%", "percent") else 1.0
        if self.value_type in ("rate", "ratio"):
            return 0.0, None
        return None, None

    @property
    def value_title(self) -> str:
        """A short value axis title when the chart title already names the indicator."""
        label = self.numerator_label
        # a long numerator description makes an unreadable axis title: say "Value" instead
        base = label[:1].upper() + label[1:] if label and len(label) <= 30 else "Value"
        return f"{base} ({self.unit})" if self.unit else base


def _float_or_none(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


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


def _pinned_title(title: str | None, subtitle: str | None, s: dict) -> dict[str, Any]:
    """The title at the top of the image (plotly centres it in the top margin by default, so
    a margin grown for the legend would bring it down onto the legend). plotly anchors a
    two-line title by its first line, so the pad is a title's height more than the gap."""
    return {"text": _title(title, subtitle), "y": 1, "yref": "container", "yanchor": "top",
            "pad": {"t": 8 + (s["title"] if subtitle else 0)}}


def _wrapped_title(title: str | None, subtitle: str | None, s: dict,
                   room: float) -> tuple[str | dict[str, Any] | None, int]:
    """The title as :func:`_title` gives it when it fits ``room`` px (measured), else broken
    into lines that fit (plotly cuts a title at the chart's edge); and the number of lines it
    gained."""
    if not title or textfit.text_size(safe_text(title), s["title"])[0] <= room:
        return _title(title, subtitle), 0
    lines = _fit(title, s["title"], room)
    more = lines.count("<br>")
    text = lines + (f"<br><sup>{safe_text(subtitle)}</sup>" if subtitle else "")
    # pinned to the top of the image: in the middle of the top margin (plotly's place for
    # it) the lines below the first ran down into the variation box. plotly raises a title
    # of two lines or more by about a line's height (measured in Chromium: the same for 2 to
    # 5 lines), so the pad is that more than the gap, as :func:`_pinned_title`'s (half the
    # lines' height, as it was, put a title of four lines 27 px down, over the legend)
    return {"text": text, "y": 1, "yref": "container", "yanchor": "top",
            "pad": {"t": 8 + s["title"]}}, more


def _title_lines(title: str | None, subtitle: str | None, s: dict,
                 width: int | None) -> tuple[str | dict[str, Any] | None, int]:
    """The comparison's and the funnel's title, pinned to the top of the image: one line when
    it fits the chart's ``width`` (measured; None: the default width), else broken into lines
    that fit (:func:`_wrapped_title`); and the px the top margin grows by for its lines past
    the first."""
    head, more = _wrapped_title(title, subtitle, s, (width or s["width"] or SCREEN_WIDTH) - 40)
    if not more:
        return _pinned_title(title, subtitle, s), 0
    return head, more * int(s["title"] * 1.3)


def _title(title: str | None, subtitle: str | None) -> str | None:
    if not title:
        return None
    if subtitle:
        return f"{safe_text(title)}<br><sup>{safe_text(subtitle)}</sup>"
    return safe_text(title)


# ---------------------------------------------------------------------------------------------
# peer comparison: ranked bars with intervals
# ---------------------------------------------------------------------------------------------
def _comparison_traces(fig: go.Figure, shown: pd.DataFrame, *, horizontal: bool, n: int,
                       d: int, unit: str | None, confidence: float) -> bool:
    """The comparison chart's bars (by comparison category, at most :data:`BARS_PER_TRACE` a
    trace), their whiskers or, for thousands of bars, one interval band, and the highlighted
    bars again on top, outlined. Returns whether the intervals are drawn as a band."""
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
        band_kw: dict[str, Any] = {"mode": "lines", "hoverinfo": "skip", "showlegend": False,
                "line": {"width": 0, "shape": "hvh"}}
        fig.add_trace(go.Scatter(x=shown["pos"].to_numpy(), y=hi, **band_kw))
        fig.add_trace(go.Scatter(x=shown["pos"].to_numpy(), y=lo, fill="tonexty",
                                 fillcolor=whisker_colour,
                                 name=f"{confidence:g}% confidence intervals", **band_kw))
    hl_rows = shown[shown["is_hl"]]
    for cat in COMPARISON_ORDER:
        part = hl_rows[hl_rows["comparison"] == cat]
        if not part.empty:
            fig.add_trace(_comparison_bars(part, cat, horizontal=horizontal, n=n, d=d, unit=unit,
                                           whiskers=not banded,
                                           whisker_style=(whisker_colour, whisker_w),
                                           outline=(3.0, theme.HIGHLIGHT_COLOUR)))
    return banded


def _named_bars_layout(fig: go.Figure, shown: pd.DataFrame, labelled: pd.DataFrame,
                       label_texts: list[str], names: list[str], lines: Sequence[_LineSpec],
                       *, note: str,
                       meta: IndicatorMeta, benchmark_label: str, value_top: float,
                       title: str | None, subtitle: str | None, title_extra: int,
                       for_slides: bool, width: int | None, height: int | None
                       ) -> tuple[int, int | None]:
    """Axes, margins and labels of the horizontal chart (every peer named): the highlighted
    organisations named in the right margin level with their rows, the lines' labels in a
    band above the bars (``title_extra``: px of the title's lines past its first, when it
    is broken to fit). Returns the top margin and the figure's height."""
    s = theme.sizes(for_slides)
    n = len(shown)
    d, unit = meta.decimals, meta.unit
    legend_title = 0 if for_slides else textfit.text_size(
        f"Compared with {safe_text(benchmark_label)}:", s["tick"])[0]
    top_margin = _top_room(fig, s, title, subtitle,
                           (width or s["width"] or 1000) - 300 - legend_title) + title_extra
    row_h = 30 if for_slides else 22
    auto_h = max(theme.sizes(for_slides)["height"], row_h * n + 170) + title_extra
    height = height or (None if for_slides else auto_h)
    # the highlighted organisations are named in the right margin, level with their rows
    # (a name wider than a quarter of the chart wraps); the lines' labels sit in a band
    # above the bars, where no bar or name is
    room = 0.25 * (width or s["width"] or 1000)
    label_texts = [
        t if textfit.text_size(t, s["font"])[0] <= room else
        "<b>" + _fit(str(r.org_name), s["font"] * 1.08, room).replace("<br>", "</b><br><b>")
        + f"</b><br>{format_value(r.value, d, unit)}"
        for t, r in zip(label_texts, labelled.itertuples(index=False), strict=True)]
    right = int(max([textfit.text_size(t, s["font"])[0] for t in label_texts] + [0]) + 24)
    x_range = [0.0, value_top * 1.04]
    plot_w = (width or s["width"] or 1000) - 260 - max(right, 30)
    x_title = _fit(meta.value_title, _axis_title_size(s), plot_w)
    note_lines = _fit(note, s["tick"], plot_w)
    geo = _PlotBox.of(fig, for_slides=for_slides, width=width, height=height,
                      top=top_margin, bottom=_bottom_room(x_title, s, note_lines),
                      right=max(right, 30),
                      left=260, x_range=x_range, y_range=[-0.7, n - 0.3])
    band = _vline_band(fig, lines, geo, s, bars_top=n - 0.3)
    geo = _PlotBox(geo.width, geo.height, geo.left, geo.right, geo.top, geo.bottom,
                   geo.x_range, (-0.7, n - 0.3 + band))
    ys = [geo.px(0, p)[1] for p in labelled["pos"]]
    hs = [textfit.text_size(t, s["font"])[1] + 4 for t in label_texts]
    # spread works top to bottom (px ascending); the rows run bottom to top (pos ascending):
    # given them bottom first it pushed every label below the lowest one's row
    down = sorted(range(len(ys)), key=lambda i: ys[i])
    moved = textfit.spread([ys[i] for i in down], [hs[i] for i in down], -geo.top + 4,
                           geo.area.y1 + geo.bottom - 4, gap=2)
    pos = list(ys)
    for k, i in enumerate(down):
        pos[i] = moved[k] if moved is not None else ys[i]
    for r, text, y0, y in zip(labelled.itertuples(index=False), label_texts, ys, pos,
                              strict=True):
        fig.add_annotation(x=1, xref="paper", xanchor="left", xshift=10, y=r.pos, yref="y",
                           yanchor="middle", yshift=-(y - y0), text=text, showarrow=False,
                           font={"color": theme.HIGHLIGHT_COLOUR, "size": s["font"]})
    fig.update_yaxes(tickmode="array", tickvals=shown["pos"].to_numpy(), ticktext=names,
                     range=[-0.7, n - 0.3 + band], showgrid=False, title=None)
    fig.update_xaxes(title=x_title, showgrid=True, gridcolor=theme.NHS_PALE_GREY,
                     range=x_range)
    _add_axis_note(fig, note_lines, x_title, s)
    fig.update_layout(margin={"r": max(right, 30), "b": geo.bottom})
    return top_margin, height


def _ranked_bars_layout(fig: go.Figure, labelled: pd.DataFrame, label_texts: list[str],
                        lines: Sequence[_LineSpec], *, n: int, note: str, meta: IndicatorMeta,
                        value_top: float, top_margin: int, title_extra: int,
                        for_slides: bool, width: int | None, height: int | None
                        ) -> tuple[int, float, int | None]:
    """Axes, margins and labels of the vertical chart (peers ranked left to right, unnamed):
    the highlighted organisations' labels in rows above the plot, spread apart in bar order
    (:func:`_label_rows`), or a note when they cannot all fit. Returns the top margin, the
    legend's y and the figure's height (on a page grown by the title's lines past the first,
    ``title_extra`` px, and the label rows past the first, so that the plot keeps its
    height)."""
    s = theme.sizes(for_slides)
    d, unit = meta.decimals, meta.unit
    legend_y = -0.2
    if for_slides:
        # a slide is narrower than a screen: the whisker note goes in the slide's caption
        note = f"{n:,} organisations ranked from lowest to highest value"
    right = _line_label_room(lines, s)
    # the note is the axis title, drawn at the axis title's size (1.2x the chart's font)
    x_title = _fit(note, _axis_title_size(s), (width or s["width"] or 1000) - 80 - right)
    # a note broken into more lines (a narrow chart) takes more of the bottom margin
    bottom = 120 + x_title.count("<br>") * int(_axis_title_size(s) * textfit.LINE_EM)
    fig.update_xaxes(showticklabels=False, ticks="", range=[-1, n], title=x_title)
    y_top = value_top * 1.04
    label_h = textfit.text_size("<b>X</b>", s["font"])[1] + 6
    page = height is None and not for_slides  # the figure's height is ours to set

    def geo_for(rows: int, key_h: float = 0.0) -> _PlotBox:
        """Where the plot is with ``rows`` rows of labels above it and a key ``key_h`` px
        high above them (its top margin grown to hold them, and on a page the figure's
        height too past the first row)."""
        more = (rows - 1) * (label_h + 6) + key_h if rows else 0.0
        extra = int(label_h + 24 + more) if rows else 0
        grown = s["height"] + title_extra + int(more) if page else height
        return _PlotBox.of(fig, for_slides=for_slides, width=width, height=grown,
                           top=top_margin + extra, bottom=bottom, right=right,
                           x_range=[-1, n], y_range=[0, y_top])

    def frame(rows: int) -> _RowsFrame:
        geo = geo_for(rows)
        return _RowsFrame(
            heads=[geo.px(r.pos, r.value + r.err_plus)
                   for r in labelled.itertuples(index=False)],
            # the lines' labels, and the y axis' top tick label at the plot's top left
            obstacles=[*_hline_boxes(lines, geo, s), textfit.Box(-40, -8, -4, 8)],
            # above the plot the labels may run into the margins (the left one is 60 px at
            # the least: the theme's)
            plot=geo.area.x1, band=(-geo.left + 26, geo.area.x1 + geo.right - 6))

    # the highlighted organisations' labels: rows in a band above the plot, spread apart in
    # bar order, their leaders crossing no other and no label; when they cannot all fit the
    # bars stay outlined, unlabelled, and the axis title says so
    geo = geo_for(0)
    xs = [geo.px(p, 0)[0] for p in labelled["pos"]]
    placed = _label_rows(labelled, label_texts, xs, frame, s["font"], d, unit)
    key: list[str] = []
    if placed is None and 1 < len(labelled) <= LABELS_MAX:
        # too many names for rows of labels (a PCN's 10 members at 720 px): each bar tagged
        # with a number, and a key above the tags names them
        one = frame(1)
        placed, key = _numbered_labels(labelled, xs, one.plot, one.band[1] - one.band[0],
                                       s["font"], d, unit)
    if placed is not None:
        key_h = (textfit.text_size("<br>".join(key), s["font"])[1] + 8) if key else 0.0
        geo = geo_for(placed.count, key_h)
        top_margin = geo.top
        if key:
            fig.add_annotation(x=0, xref="paper", xanchor="left", y=1, yref="paper",
                               yanchor="bottom", yshift=label_h + 18, align="left",
                               xshift=one.band[0],
                               text="<br>".join(key), showarrow=False,
                               font={"color": theme.HIGHLIGHT_COLOUR, "size": s["font"]})
        for r, text, cx, row in zip(labelled.itertuples(index=False), placed.texts,
                                    placed.centres, placed.rows, strict=True):
            bx, by = geo.px(r.pos, r.value + r.err_plus)
            fig.add_annotation(x=r.pos, y=r.value + r.err_plus, text=text, showarrow=True,
                               arrowhead=2, arrowwidth=2, arrowcolor=theme.HIGHLIGHT_COLOUR,
                               ax=cx - bx, ay=_label_row_y(row, label_h) - by,
                               xanchor="center", yanchor="middle",
                               font={"color": theme.HIGHLIGHT_COLOUR, "size": s["font"]},
                               bgcolor="rgba(255,255,255,0.9)",
                               bordercolor=theme.HIGHLIGHT_COLOUR)
    elif len(labelled):
        x_title += (f"<br><sup>{len(labelled)} highlighted: outlined, too many to name "
                    "here</sup>")
        fig.update_xaxes(title=x_title)
        legend_y = -0.3  # under the axis title's second line
    # the legend under the axis title: at least as far below the plot as the title's lines
    # need (a fraction of a plot made short by rows of labels put it over the title)
    plot_h = max(geo.area.y1, 1.0)
    below = textfit.text_size(x_title, _axis_title_size(s))[1] + 28
    legend_y = -max(-legend_y * plot_h, below) / plot_h
    fig.update_yaxes(title=safe_text(meta.value_title), range=[0, y_top])
    _draw_hlines(fig, lines, geo, s)
    fig.update_layout(margin={"b": bottom, "r": right})
    return top_margin, legend_y, int(geo.height) if page else height


def _fit_to(width: int | None, fit_width: int | None, for_slides: bool) -> int | None:
    """The width a chart's labels are fitted to: its own ``width`` when it has one, else on a
    page the width the browser draws it at (``fit_width``, once known); None: the default."""
    return width or (None if for_slides else fit_width)


def _legend_too_wide(fig: go.Figure, s: dict, width: float) -> bool:
    """Whether a horizontal legend (title, then each entry's swatch and name) is wider than
    the chart."""
    title = fig.layout.legend.title.text or ""
    names = [t.name for t in fig.data if t.showlegend is not False and t.name]
    need = textfit.text_size(title, s["font"])[0] + sum(
        textfit.text_size(safe_text(n), s["tick"])[0] + 50 for n in dict.fromkeys(names))
    return need > width - 20


#: the name lengths (characters) tried, longest first, when a row of labels does not fit
SHORTER_NAMES = (32, 26, 22, 18, 15, 12)


def _name_label(name: str, value: str, size: float, room: float) -> str:
    """"<b>name</b> value", the whole name when the label is no wider than ``room`` px
    (measured), else the name shortened (:data:`SHORTER_NAMES`) until it is (a trust's long
    name on a half-slide funnel was wider than the plot); 12 characters at the least."""
    text = f"<b>{safe_text(name)}</b> {value}"
    for limit in SHORTER_NAMES:
        if textfit.text_size(text, size)[0] <= room:
            break
        text = f"<b>{safe_text(name, limit)}</b> {value}"
    return text


#: the most rows of highlighted organisations' labels above a ranked chart: more rows would
#: take the plot's height (each row adds its height to the figure's on a page)
LABEL_ROWS_MAX = 5
#: the most highlighted organisations named on a ranked chart; more are outlined and the axis
#: title says so
LABELS_MAX = 12
#: names are shortened on labels down to this many characters; below it the bars are
#: numbered and a key names them whole ("Abbey Medic\u2026" and "Abbey House\u2026" named
#: neither practice)
KEY_NAMES_UNDER = 18
#: placements tried when stacking one chart's labels in rows, all numbers of rows and name
#: lengths together (each a few dozen box tests, ~0.1 ms): a network's 4 members at 720 px
#: take a few dozen; 10 members, most of them in vain before the numbered key, ~0.15 s
_STACK_BUDGET = 1500


@dataclass(frozen=True)
class _LabelRows:
    """The highlighted organisations' labels above a ranked chart: each label's text, its
    centre (px from the plot's left) and its row (0: nearest the plot)."""

    texts: list[str]
    centres: list[float]
    rows: list[int]

    @property
    def count(self) -> int:
        return max(self.rows, default=-1) + 1


@dataclass(frozen=True)
class _RowsFrame:
    """What the labels above a ranked chart must keep clear of, for a figure with a given
    number of label rows (px from the plot's top left; up is negative): the bars' tops the
    leaders point to, the lines' labels in the right margin, the plot's width and the band's
    whole width (above the plot the margins are free but for the lines' labels)."""

    heads: list[tuple[float, float]]
    obstacles: list[textfit.Box]
    plot: float
    band: tuple[float, float]


def _label_rows(labelled: pd.DataFrame, label_texts: list[str], xs: list[float],
                frame: Any, size: float, d: int, unit: str | None,
                most_rows: int = LABEL_ROWS_MAX) -> _LabelRows | None:
    """The highlighted organisations' labels in rows above the plot, each as near its bar
    (``xs``) as it can be, no leader crossing another or running through a label
    (``frame(rows)``: the :class:`_RowsFrame` of a figure with that many rows). One row
    across the plot when they fit in it (as before), else up to ``most_rows`` rows across
    the chart; the whole names when they fit, else only the longest names shortened, step
    by step (:data:`SHORTER_NAMES`; several names to :data:`KEY_NAMES_UNDER` characters at
    the least). None: they cannot fit so (or there are more than :data:`LABELS_MAX`)."""
    if not label_texts or len(label_texts) > LABELS_MAX:
        return None
    names = [str(r.org_name) for r in labelled.itertuples(index=False)]
    values = [format_value(r.value, d, unit) for r in labelled.itertuples(index=False)]
    tries = [label_texts] + [[f"<b>{safe_text(n, limit)}</b> {v}"
                              for n, v in zip(names, values, strict=True)]
                             for limit in SHORTER_NAMES
                             if limit >= KEY_NAMES_UNDER or len(label_texts) == 1]
    label_h = textfit.text_size(label_texts[0], size)[1] + 6
    budget = [_STACK_BUDGET]
    for texts in tries:
        widths = [textfit.text_size(t, size)[0] + 10 for t in texts]
        spots = textfit.spread(xs, widths, 0, frame(1).plot, gap=6)
        if spots is not None:
            return _LabelRows(texts, spots, [0] * len(texts))
        for k in range(1, most_rows + 1):
            f = frame(k)
            if sum(widths) + 6 * (len(widths) - k) > k * (f.band[1] - f.band[0]):
                continue  # k rows cannot hold them
            got = _stack_rows(xs, widths, f, k, label_h, budget)
            if got is not None:
                return _LabelRows(texts, got[0], got[1])
    return None


def _numbered_labels(labelled: pd.DataFrame, xs: list[float], room: float, key_width: float,
                     size: float, d: int, unit: str | None
                     ) -> tuple[_LabelRows | None, list[str]]:
    """Numbers for the highlighted bars (1 the lowest value), in one row across the plot
    (``room`` px), and the key that names them: "1 name value" entries on lines no wider
    than ``key_width`` px, each name whole (shortened to fit a line only when it is wider
    than one). (None, []) when the numbers do not fit in the row."""
    tags = [f"<b>{i}</b>" for i in range(1, len(labelled) + 1)]
    widths = [textfit.text_size(t, size)[0] + 14 for t in tags]
    spots = textfit.spread(xs, widths, 0, room, gap=6)
    if spots is None:
        return None, []
    lines: list[str] = []
    for tag, r in zip(tags, labelled.itertuples(index=False), strict=True):
        # "<b>1</b> name value": the number bold, the name plain
        named = _name_label(str(r.org_name), format_value(r.value, d, unit), size,
                            key_width - 40)
        entry = f"{tag} {named.replace('<b>', '', 1).replace('</b>', '', 1)}"
        trial = f"{lines[-1]}\u2003 {entry}" if lines else entry
        if lines and textfit.text_size(trial, size)[0] <= key_width:
            lines[-1] = trial
        else:
            lines.append(entry)
    return _LabelRows(tags, spots, [0] * len(tags)), lines


def _label_row_y(row: int, label_h: float) -> float:
    """The centre of a row of labels above a ranked chart, in px from the plot's top (up is
    negative): row 0 just above the plot."""
    return -(label_h / 2 + 10 + row * (label_h + 6))


def _stack_rows(xs: list[float], widths: list[float], frame: _RowsFrame, k: int,
                label_h: float, budget: list[int]) -> tuple[list[float], list[int]] | None:
    """Labels (in bar order: their bars at ``xs``, ``widths``) in ``k`` rows, each row's
    labels spread apart in bar order about the places asked for (centred over the bar, or
    running right or left from it), so that no leader (label to its bar's top) crosses
    another or runs through a label of a lower row or a line's label. A depth-first search
    in bar order, lower rows and centred labels first, stopped when the placements left in
    ``budget`` (one number, shared by the calls for one chart) run out. Returns the labels'
    centres and rows, or None."""
    n = len(xs)
    members: list[list[int]] = [[] for _ in range(k)]
    want = list(xs)
    centre = list(xs)
    row_of = [0] * n
    rooms = []
    for r in range(k):
        y = _label_row_y(r, label_h)
        free = all(y + label_h / 2 + 3 <= b.y0 or b.y1 + 3 <= y - label_h / 2
                   for b in frame.obstacles)
        rooms.append(frame.band if free else (frame.band[0], frame.plot))

    def spread_row(r: int) -> bool:
        pos = textfit.spread([want[i] for i in members[r]], [widths[i] for i in members[r]],
                             rooms[r][0], rooms[r][1], gap=6)
        if pos is None:
            return False
        for i, c in zip(members[r], pos, strict=True):
            centre[i] = c
        return True

    def clear(upto: int, moved: list[int]) -> bool:
        """Whether the labels placed (``upto``) are clear of each other, given that those
        placed before were and only ``moved`` (one row's) have moved since."""
        ys = [_label_row_y(row_of[i], label_h) for i in range(upto)]
        boxes = [textfit.Box(centre[i] - widths[i] / 2 + 2, ys[i] - label_h / 2,
                             centre[i] + widths[i] / 2 - 2, ys[i] + label_h / 2)
                 for i in range(upto)]
        leaders = [(centre[i], boxes[i].y1, *frame.heads[i]) for i in range(upto)]
        for i in moved:
            if any(_meets(leaders[i], b, 3.0) or boxes[i].overlaps(b, 3.0)
                   for b in frame.obstacles):
                return False
            for j in range(upto):
                if j == i:
                    continue
                if _crosses(leaders[i], leaders[j]):
                    return False
                if row_of[j] != row_of[i]:  # (a row's labels are spread apart)
                    low, high = (j, i) if row_of[j] < row_of[i] else (i, j)
                    if _meets(leaders[high], boxes[low], 4.0):
                        return False
        return True

    def place(i: int) -> bool:
        if i == n:
            return True
        reach = widths[i] / 2 - 14  # a label running right or left from its bar
        for r in range(k):
            for w in (xs[i], xs[i] + reach, xs[i] - reach):
                budget[0] -= 1
                if budget[0] < 0:
                    return False
                members[r].append(i)
                row_of[i], want[i] = r, w
                if spread_row(r) and clear(i + 1, members[r]) and place(i + 1):
                    return True
                members[r].pop()
                spread_row(r)
        return False

    if not place(0):
        return None
    return centre, row_of


def _meets(seg: tuple[float, float, float, float], box: textfit.Box, pad: float) -> bool:
    """True when segment ``seg`` (x0, y0, x1, y1) passes within ``pad`` px of ``box``
    (Liang-Barsky clipping)."""
    x0, y0, x1, y1 = seg
    dx, dy = x1 - x0, y1 - y0
    lo, hi = 0.0, 1.0
    for p, q in ((-dx, x0 - (box.x0 - pad)), (dx, (box.x1 + pad) - x0),
                 (-dy, y0 - (box.y0 - pad)), (dy, (box.y1 + pad) - y0)):
        if p == 0:
            if q < 0:
                return False
            continue
        t = q / p
        if p < 0:
            lo = max(lo, t)
        else:
            hi = min(hi, t)
        if lo > hi:
            return False
    return True


def _ranked_rows(frame: pd.DataFrame, highlight: str | Iterable[str] | None) -> pd.DataFrame:
    """The rows with a value, lowest first, with their place (``pos``), verdict
    (``comparison``, ``not_compared`` when unknown), whiskers (``err_minus``, ``err_plus``)
    and whether each is highlighted (``is_hl``)."""
    df = frame.copy()
    df["value"] = pd.to_numeric(df["value"], errors="coerce")
    shown = df[df["value"].notna()].sort_values("value", kind="stable").reset_index(drop=True)
    shown["pos"] = np.arange(len(shown))
    if "comparison" not in shown:
        shown["comparison"] = "not_compared"
    shown["comparison"] = shown["comparison"].fillna("not_compared").astype(str)
    lower = pd.to_numeric(shown.get("lower"), errors="coerce")
    upper = pd.to_numeric(shown.get("upper"), errors="coerce")
    shown["err_minus"] = (shown["value"] - lower).clip(lower=0).fillna(0.0)
    shown["err_plus"] = (upper - shown["value"]).clip(lower=0).fillna(0.0)
    shown["is_hl"] = shown["org_code"].astype(str).str.upper().isin(_highlights(highlight))
    return shown


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
    fit_width: int | None = None,
) -> go.Figure:
    """Ranked bar ("caterpillar") chart of every peer with its interval.

    Bars are coloured by the comparison with the benchmark (better / similar / worse, in words in
    the legend), the benchmark and target are lines, and the highlighted organisation(s) stand
    out with a thick outline and a label. Up to :data:`NAMED_BARS_MAX` peers are drawn as
    horizontal bars with every name; more are drawn as vertical bars ranked left to right.

    ``fit_width``: on a page (no ``width``: the chart fills its card), the width in px the
    browser draws it at (the page measures it); labels are fitted to it, names shortened only
    when they do not fit. Without it they are fitted to :data:`SCREEN_WIDTH`.
    """
    meta = IndicatorMeta.of(indicator)
    target = meta.target if target is None else target
    if frame is None or frame.empty:
        return _empty("No values for this selection", for_slides=for_slides, width=width,
                      height=height)
    shown = _ranked_rows(frame, highlight)
    hidden = len(frame) - len(shown)
    if shown.empty:
        return _empty("Every value in this selection is suppressed or missing",
                      for_slides=for_slides, width=width, height=height)
    n = len(shown)

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
    banded = _comparison_traces(fig, shown, horizontal=horizontal, n=n, d=d, unit=unit,
                                confidence=confidence)

    names = [safe_text(x, 38) for x in shown["org_name"]]
    note = f"{n:,} organisations, lowest to highest"
    if hidden:
        note += f"; {hidden:,} without a value"
    note += (f". Shading: {confidence:g}% confidence intervals." if banded else
             f". Whiskers: {confidence:g}% confidence intervals.")
    lines = _line_specs(benchmark, benchmark_label, target, meta)
    # the width the labels are fitted to; the figure itself keeps ``width`` (None: it fills
    # its card on the page)
    lay_w = _fit_to(width, fit_width, for_slides)
    head, title_extra = _title_lines(title, subtitle, s, lay_w)
    # the room of the pinned title (and subtitle) and a gap; a slide keeps its measured
    # 110 / 80 px (its title is 26 px). On a page 110 px left 67 px empty between the
    # subtitle and the plot; labels of highlighted organisations add their rows to it
    top_margin = ((110 if subtitle else 80) if for_slides else
                  int(_title_room(s, title, subtitle)) + PAGE_TITLE_GAP) + title_extra
    labelled = _labelled(shown, for_slides).sort_values("pos")
    # whole names: shortened only where they do not fit (measured)
    label_texts = [f"<b>{safe_text(r.org_name)}</b> {format_value(r.value, d, unit)}"
                   for r in labelled.itertuples(index=False)]
    value_top = _axis_top(shown, benchmark, target) / 1.04
    legend_y = -0.2
    asked_height = height
    if horizontal:
        top_margin, height = _named_bars_layout(
            fig, shown, labelled, label_texts, names, lines, note=note, meta=meta,
            benchmark_label=benchmark_label, value_top=value_top, title=title,
            subtitle=subtitle, title_extra=title_extra, for_slides=for_slides, width=lay_w,
            height=height)
    else:
        top_margin, legend_y, height = _ranked_bars_layout(
            fig, labelled, label_texts, lines, n=n, note=note, meta=meta,
            value_top=value_top, top_margin=top_margin, title_extra=title_extra,
            for_slides=for_slides, width=lay_w, height=height)
    fig.update_layout(
        barmode="overlay", bargap=0.15 if horizontal else 0.05, hovermode="closest",
        title=head,
        # on a slide the benchmark line carries its own label and the caption says the rest
        legend_title_text="" if for_slides else f"Compared with {safe_text(benchmark_label)}:",
        legend_traceorder="normal",
        # legend under the chart (vertical bars): the top of the plot holds the labels
        legend={"orientation": "h", "y": legend_y if not horizontal else 1.0,
                "yanchor": "top" if not horizontal else "bottom", "x": 0},
    )
    if not for_slides and not horizontal and _legend_too_wide(fig, s, lay_w or SCREEN_WIDTH):
        # a narrow chart (a phone's): the legend's title over its entries, which then wrap
        # within the chart; beside them the entries ran off its right edge
        fig.update_layout(legend_title_side="top", margin={"b": fig.layout.margin.b + 30})
        if asked_height is None:  # the plot keeps its height (the legend's place is a
            height = (height or s["height"]) + 30  # fraction of it)
    if subtitle or top_margin != 80:
        fig.update_layout(margin={"t": top_margin})
    return theme.apply_theme(fig, for_slides=for_slides, width=width, height=height)


def _vline_band(fig: go.Figure, lines: Sequence[_LineSpec], geo: _PlotBox, s: dict,
                bars_top: float) -> float:
    """Vertical reference lines over the bars of a horizontal chart, each labelled in a band
    above the bars (lines stop at the bars' top, so no line runs through a label); labels
    that would meet go on separate levels. Returns the band's height in rows."""
    if not lines:
        return 0.0
    x1 = geo.area.x1
    levels: list[list[tuple[float, float]]] = []
    placed = []
    for spec in sorted(lines, key=lambda x: x.value):
        text = spec.text.replace("<br>", " ")
        w, h = textfit.text_size(text, s["tick"])
        if w > x1 * 0.6:  # a long name: the label's own lines (name over value)
            text = spec.text
            w, h = textfit.text_size(text, s["tick"])
        px = geo.px(spec.value, 0)[0]
        right = px + 4 + w <= x1  # else the label ends at its line
        span = (px + 4, px + 4 + w) if right else (px - 4 - w, px - 4)
        if span[0] < 0:  # fits on neither side of its line: against the plot's left edge
            span = (0.0, w)
        k = next((i for i, lv in enumerate(levels)
                  if all(span[1] + 6 <= a or b + 6 <= span[0] for a, b in lv)), len(levels))
        if k == len(levels):
            levels.append([])
        levels[k].append(span)
        placed.append((spec, text, span[0] - px, k, h))
    h_px = max(p[4] for p in placed) + 10
    # the rows' height once the band is added: the plot holds the bars' rows and the band
    rows = geo.y_range[1] - geo.y_range[0] + 0.2
    row_px = max((geo.area.y1 - len(levels) * h_px) / rows, 1.0)
    rows_per_level = h_px / row_px
    for spec, text, shift, k, _ in placed:
        fig.add_shape(type="line", x0=spec.value, x1=spec.value, xref="x", y0=-0.7, y1=bars_top,
                      yref="y", line={"color": spec.colour, "width": 2, "dash": spec.dash})
        # placed in pixels from the plot's top (exact whatever the plot's final height)
        fig.add_annotation(x=spec.value, xref="x", xanchor="left", xshift=shift,
                           y=1, yref="y domain", yshift=-(4 + k * h_px),
                           yanchor="top", text=text, showarrow=False,
                           font={"size": s["tick"], "color": spec.colour})
    # half a level spare: the plot's height is an estimate (plotly sizes the tick labels)
    return rows_per_level * (len(levels) + 0.5) + 0.2


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


# ---------------------------------------------------------------------------------------------
# funnel plot
# ---------------------------------------------------------------------------------------------
def _funnel_traces(fig: go.Figure, df: pd.DataFrame, drawn: pd.DataFrame, meta: IndicatorMeta,
                   for_slides: bool) -> None:
    """The funnel's limit lines (over the denominators drawn) and its points, one trace per
    verdict in :data:`COMPARISON_ORDER` (the highlighted ones larger, outlined)."""
    d, unit = meta.decimals, meta.unit
    for col, name, colour, dash in (
        ("upper_998", "99.8% limits (3 SD)", theme.LIMIT_998_COLOUR, "solid"),
        ("lower_998", None, theme.LIMIT_998_COLOUR, "solid"),
        ("upper_95", "95% limits (2 SD)", theme.LIMIT_95_COLOUR, "dash"),
        ("lower_95", None, theme.LIMIT_95_COLOUR, "dash"),
    ):
        if col in drawn and not drawn.empty:
            fig.add_trace(go.Scatter(
                x=drawn["denominator"].to_numpy(), y=drawn[col].to_numpy(), mode="lines",
                name=name or col, showlegend=name is not None, legendgroup=col[-3:],
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
    fit_width: int | None = None,
) -> go.Figure:
    """Funnel plot: each organisation's value against its denominator, with 95% and 99.8% limits.

    Points are coloured by the funnel's verdict (``comparison``); the centre (pooled) line and
    the target are drawn; ``overdispersion_note`` (e.g. "Limits widened for overdispersion,
    phi = 3.1") is printed under the chart so that no one mistakes adjusted for raw limits.
    ``fit_width``: as :func:`comparison_figure`'s (the width the page draws the chart at; the
    labels, axis title and notes are fitted to it).
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
    # The limits are drawn over the denominators the data hold (PHE's axis runs them down to a
    # denominator of 1, which squeezed a network's points into a few pixels), and the value
    # axis holds those limits and every point: a limit the legend lists is on the chart.
    x_lo, x_hi = _denominator_span(df, limits)
    drawn = _limits_over(limits, x_lo, x_hi)
    _funnel_traces(fig, df, drawn, meta, for_slides)
    _pin_legend(fig, s)
    lim_cols = [c for c in LIMIT_COLUMNS if c in drawn]
    y_range = _value_range(
        [df["value"], *(drawn[c] for c in lim_cols)], [centre, target], meta.bounds)
    fig.update_yaxes(title=safe_text(meta.value_title), range=y_range, autorange=False)
    notes = [overdispersion_note] if overdispersion_note else []
    clipped = _clipped_at(drawn, lim_cols, meta.bounds)
    if clipped:
        notes.append(f"limits stop at {clipped}: a proportion cannot go beyond it")
    x_pad = (x_hi - x_lo) * 0.03 or max(x_hi * 0.03, 1.0)
    x_start = 0.0 if x_lo < 0.25 * x_hi else x_lo - x_pad
    fig.update_xaxes(title=meta.denominator_label or "Denominator (people counted)",
                     range=[x_start, x_hi + x_pad], showgrid=True, gridcolor=theme.NHS_PALE_GREY)
    lines = _line_specs(centre, centre_label, target, meta)
    right = _line_label_room(lines, s)
    # the width the labels are fitted to (the figure keeps ``width``); on a page without a
    # measured width, the narrowest a laptop's page gives a chart (1,000 px)
    lay_w = _fit_to(width, fit_width, for_slides)
    plot_w = (lay_w or s["width"] or SCREEN_WIDTH) - 80 - right
    head, title_extra = _title_lines(title, subtitle, s, lay_w)
    page = height is None and not for_slides
    top = _top_room(fig, s, title, subtitle, plot_w) + title_extra
    if page:
        # the plot keeps its height under the title's lines past the first and the legend's
        # rows past the first (a phone's chart: three or four rows; the plot was squeezed to
        # 230 px of the 480 at 720 px)
        rows = _legend_rows(fig, s, plot_w)
        grown = title_extra + int(max(rows - 1, 0) * _legend_row_height(s))
        if grown:
            height = s["height"] + grown
    # the axis title and the note under it (a free note collides with the axis title, and
    # above it with the legend), each broken into lines that fit the plot's width; the
    # bottom margin is set to hold them, so the plot's height is known for the labels
    x_title = _fit(meta.denominator_label or "Denominator (people counted)",
                   _axis_title_size(s), plot_w)
    note_lines = _fit(_sentence("; ".join(notes)), s["tick"], plot_w) if notes \
        else ""
    fig.update_xaxes(title=x_title)
    _add_axis_note(fig, note_lines, x_title, s)
    geo = _PlotBox.of(fig, for_slides=for_slides, width=lay_w, height=height,
                      top=top, bottom=_bottom_room(x_title, s, note_lines),
                      right=right, x_range=[x_start, x_hi + x_pad],
                      y_range=y_range)
    _draw_hlines(fig, lines, geo, s)
    taken: list[tuple[textfit.Box, tuple[float, float, float, float]]] = []
    marks = np.array([geo.px(x, y) for x, y in zip(df["denominator"], df["value"],
                                                    strict=True)]).reshape(-1, 2)
    for r in _labelled(df, for_slides).sort_values("denominator").itertuples(index=False):
        text = _name_label(str(r.org_name), format_value(r.value, d, unit), s["font"],
                           geo.area.x1 - 8)
        _place_point_label(fig, geo, r.denominator, r.value, text, s, taken, marks=marks,
                           lines=[geo.px(x_lo, x.value)[1] for x in lines])
    fig.update_layout(title=head, hovermode="closest",
                      margin={"t": geo.top, "r": geo.right, "b": geo.bottom})
    return theme.apply_theme(fig, for_slides=for_slides, width=width, height=height)


LIMIT_COLUMNS = ("lower_95", "upper_95", "lower_998", "upper_998")
#: px between a page chart's subtitle and the top of its plot (or its labels' rows)
PAGE_TITLE_GAP = 20
#: the width a dashboard chart is laid out for when the page does not say (it fills its card):
#: the narrowest a laptop's page gives it. Labels placed at this width stay apart, and
#: inside, on wider screens (a label keeps its offset in pixels from its point).
SCREEN_WIDTH = 1000


def _top_room(fig: go.Figure, s: dict, title: str | None, subtitle: str | None,
              plot_width: float, legend_on_top: bool = True) -> int:
    """The top margin that holds the title, the subtitle and a legend above the plot, the
    legend's rows counted from its entries' measured widths (plotly wraps a long legend)."""
    return int(_title_room(s, title, subtitle)
               + (_legend_rows(fig, s, plot_width) * _legend_row_height(s)
                  if legend_on_top else 0) + 8)


def _title_room(s: dict, title: str | None, subtitle: str | None) -> float:
    """The px from the figure's top to below a pinned title and its subtitle, and a gap."""
    room = 12.0
    if title:
        room += s["title"] * 1.4
    if subtitle:
        room += s["title"] * 0.8 * 1.3
    return room


def _legend_row_height(s: dict) -> float:
    return s["tick"] * 1.9


#: plotly.js's horizontal legend: the room before an entry's text (its swatch) and the gap
#: after it, in px (``constants.textGap`` and ``itemGap`` of its legend component)
LEGEND_TEXT_GAP, LEGEND_ITEM_GAP = 40, 5


def _legend_entries(fig: go.Figure) -> list[Any]:
    """The traces with an entry in ``fig``'s legend, one per legend group."""
    seen: set[str] = set()
    out = []
    for t in fig.data:
        if t.showlegend is False or not t.name:
            continue
        group = t.legendgroup or f"name:{t.name}"
        if group not in seen:
            seen.add(group)
            out.append(t)
    return out


def _pin_legend(fig: go.Figure, s: dict) -> None:
    """Give each entry of a horizontal legend the width of its text as :mod:`textfit`
    measures it (DejaVu Sans: wider than the Arial or Liberation Sans a browser draws) and a
    legend group (its own name where it has none), so that plotly lays the entries out
    left to right by those widths whatever font the browser has: :func:`_legend_rows` then
    counts the rows plotly draws. (Left to plotly, the widths were the browser's own and a
    phone's chart kept room for four rows above a legend of two.)"""
    for t in _legend_entries(fig):
        width = textfit.text_size(safe_text(t.name), s["tick"])[0]
        fig.update_traces(selector={"name": t.name}, legendwidth=int(width) + 4)
        if not t.legendgroup:
            fig.update_traces(selector={"name": t.name}, legendgroup=f"name:{t.name}")


def _legend_rows(fig: go.Figure, s: dict, plot_width: float) -> int:
    """How many rows a horizontal legend of ``fig``'s named traces takes (0: no entries).

    Entries pinned by :func:`_pin_legend` are counted as plotly lays them out (an entry
    after the first of a row goes to the next row when it would end past the plot's
    width); others are counted generously, each 80 px wider than its measured text, rows
    filled to 85% of ``plot_width``."""
    entries = _legend_entries(fig)
    if not entries:
        return 0
    if all(t.legendwidth is not None for t in entries):
        widths = [LEGEND_TEXT_GAP + t.legendwidth + LEGEND_ITEM_GAP for t in entries]
        room = plot_width
    else:
        widths = [textfit.text_size(safe_text(t.name), s["tick"])[0] + 80 for t in entries]
        room = plot_width * 0.85
    rows, used = 1, 0.0
    for w in widths:
        if used and used + w > room:
            rows, used = rows + 1, 0.0
        used += w
    return rows


def _fit(text: str, size: float, width: float) -> str:
    """Plain ``text`` (escaped here) broken into lines no wider than ``width`` px at ``size``
    (measured, see :mod:`dashboards.textfit`): a title wider than its chart would be cut."""
    lines: list[str] = []
    for word in str(text).split():
        trial = f"{lines[-1]} {word}" if lines else word
        if lines and textfit.text_size(safe_text(trial), size)[0] <= width:
            lines[-1] = trial
        else:
            lines.append(word)
    return "<br>".join(safe_text(x) for x in lines)


def _bottom_room(x_title: str, s: dict, note_lines: str = "") -> int:
    """The bottom margin that holds the tick labels, the (multi-line) axis title and the note
    under it (:func:`_add_axis_note`)."""
    room = _title_room_below(x_title, s)
    if note_lines:
        room += NOTE_GAP + textfit.text_size(note_lines, s["tick"])[1] + 4
    return int(room)


def _axis_title_size(s: dict) -> int:
    """The font size plotly.js gives an axis title: 1.2 times the figure's, rounded (16 px on
    a page, 24 on a slide)."""
    return round(s["font"] * 1.2)


def _title_room_below(x_title: str, s: dict) -> float:
    """px from the plot's bottom edge to the bottom of the x axis title's last line.

    plotly.js sets the title under the tick labels and steps its lines by 1.3 of its size.
    Measured in Chromium (lines 1 to 3): the last line ends 40.5 px + 20.8 px a line under
    the plot on a page (12 px ticks), 55.7 px + 31.2 px a line on a slide (18 px ticks), that
    is 10 px + 2.53 ticks + the lines; 2 px are kept spare."""
    lines = x_title.count("<br>") + 1
    return 12 + 2.55 * s["tick"] + lines * textfit.LINE_EM * _axis_title_size(s)


#: px between the axis title and the note under it
NOTE_GAP = 3


def _add_axis_note(fig: go.Figure, note_lines: str, x_title: str, s: dict) -> None:
    """Put ``note_lines`` (already broken to the plot's width) under the x axis title, centred
    on the plot, in a note of their own (named ``axis note``).

    Inside the axis title as ``<sup>`` lines they were spaced unevenly: plotly.js steps every
    line of a title by 1.3 of the title's font and raises a ``<sup>`` run by 0.42 of it, so
    the first note line sat 0.88 lines under the title (touching it) and each next one a whole
    line (1.3) under the last, a visible gap between lines of small text. As a note of its own
    its lines step by 1.3 of its own size, which is the tick labels' (12 px on a page, 18 on a
    slide; as ``<sup>`` it was 9 px on a page), in dark grey under the black title."""
    if not note_lines:
        return
    fig.add_annotation(name="axis note", text=note_lines, showarrow=False, xref="paper",
                       yref="paper", x=0.5, y=0, xanchor="center", yanchor="top",
                       yshift=-(_title_room_below(x_title, s) + NOTE_GAP),
                       font={"size": s["tick"], "color": theme.NHS_DARK_GREY})


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def _denominator_span(df: pd.DataFrame, limits: pd.DataFrame | None) -> tuple[float, float]:
    """The smallest and largest denominator drawn: the points', else the limits'."""
    den = pd.to_numeric(df["denominator"], errors="coerce")
    den = den[np.isfinite(den) & (den > 0)]
    if den.empty and limits is not None and not limits.empty:
        den = pd.to_numeric(limits["denominator"], errors="coerce").dropna()
    if den.empty:
        return 0.0, 1.0
    return float(den.min()), float(den.max())


def _limits_over(limits: pd.DataFrame | None, lo: float, hi: float,
                 points: int = 160) -> pd.DataFrame:
    """The limits between denominators ``lo`` and ``hi``, on a fine grid.

    The service gives the limits on PHE's 100-point axis; between its points they are
    interpolated linearly in 1/sqrt(denominator), in which they are close to straight (the
    normal approximation's half-width is z*sqrt(p(1-p)/n)). Nothing is drawn beyond the
    limits the service gave.
    """
    if limits is None or limits.empty:
        return pd.DataFrame(columns=["denominator", *LIMIT_COLUMNS])
    lim = limits.copy()
    lim["denominator"] = pd.to_numeric(lim["denominator"], errors="coerce")
    lim = lim[lim["denominator"] > 0].sort_values("denominator")
    if lim.empty:
        return pd.DataFrame(columns=["denominator", *LIMIT_COLUMNS])
    if hi < lo * 1.3:  # one organisation, or a few of one size: a short stretch about them
        lo, hi = lo / 1.15, hi * 1.15
    a, b = max(lo, float(lim["denominator"].min())), min(hi, float(lim["denominator"].max()))
    if b <= a:
        a, b = float(lim["denominator"].min()), float(lim["denominator"].max())
    grid = np.unique(np.concatenate([np.geomspace(a, b, points) if a > 0 else
                                     np.linspace(a, b, points), [a, b]]))
    u_src = 1.0 / np.sqrt(lim["denominator"].to_numpy(dtype=float))[::-1]
    u = 1.0 / np.sqrt(grid)
    out = {"denominator": grid}
    for col in LIMIT_COLUMNS:
        if col in lim:
            vals = pd.to_numeric(lim[col], errors="coerce").to_numpy(dtype=float)[::-1]
            ok = np.isfinite(vals)
            out[col] = (np.interp(u, u_src[ok], vals[ok]) if ok.sum() > 1 else
                        np.full(grid.shape, vals[ok][0] if ok.any() else np.nan))
    return pd.DataFrame(out)


def _value_range(series: Sequence[pd.Series], refs: Sequence[float | None],
                 bounds: tuple[float | None, float | None]) -> list[float]:
    """A value axis holding every value in ``series`` and every reference line, padded, and
    kept within the value type's bounds (a proportion's axis never passes 0 or 100%)."""
    vals = [pd.to_numeric(v, errors="coerce") for v in series]
    finite = [v[np.isfinite(v)] for v in vals if len(v)]
    nums = [float(x) for v in finite for x in (v.min(), v.max()) if len(v)]
    nums += [float(r) for r in refs if r is not None and not _isnan(r)]
    if not nums:
        return [0.0, 1.0]
    lo, hi = min(nums), max(nums)
    span = hi - lo
    pad = span * 0.06 if span > 0 else max(abs(hi) * 0.05, 0.5)
    lo, hi = lo - pad, hi + pad
    b_lo, b_hi = bounds
    # a line at the bound stays visible: the axis may pass it by a sliver of the span
    if b_lo is not None:
        lo = max(lo, b_lo - pad * 0.25)
    if b_hi is not None:
        hi = min(hi, b_hi + pad * 0.25)
    return [lo, hi]


def _clipped_at(drawn: pd.DataFrame, cols: Sequence[str],
                bounds: tuple[float | None, float | None]) -> str | None:
    """'0%' or '100%' (or both) when a drawn limit sits at the value type's bound."""
    hits = []
    for b in bounds:
        if b is not None and cols and any(np.isclose(drawn[c], b).any() for c in cols):
            hits.append(b)
    if not hits:
        return None
    return " and ".join(f"{h:g}%" if bounds[1] == 100.0 else f"{h:g}" for h in hits)


@dataclass(frozen=True)
class _LineSpec:
    value: float
    text: str
    colour: str
    dash: str


def _line_specs(benchmark: float | None, benchmark_label: str, target: float | None,
                meta: IndicatorMeta) -> list[_LineSpec]:
    """The benchmark (or centre) and target lines, with their labels."""
    out = []
    if benchmark is not None and not _isnan(benchmark):
        out.append(_LineSpec(float(benchmark), _wrap(benchmark_label, format_value(
            benchmark, meta.decimals, meta.unit)), theme.BENCHMARK_COLOUR, "solid"))
    if target is not None and not _isnan(target):
        out.append(_LineSpec(float(target), _wrap(meta.target_label or "Target", format_value(
            target, meta.decimals, meta.unit)), theme.TARGET_COLOUR, "dash"))
    return out


def _wrap(name: str, value: str, width: int = 22) -> str:
    """A line's label: its name over at most two lines, then the value in bold."""
    import textwrap

    lines = textwrap.wrap(str(name), width) or [""]
    if len(lines) > 2:
        lines = [lines[0], textwrap.shorten(" ".join(lines[1:]), width, placeholder="…")]
    return "<br>".join(safe_text(x) for x in lines) + f"<br><b>{safe_text(value)}</b>"


def _line_label_room(lines: Sequence[_LineSpec], s: dict) -> int:
    """The right margin that holds the lines' labels (at least the theme's 30 px)."""
    if not lines:
        return 30
    return int(max(textfit.text_size(x.text, s["tick"])[0] for x in lines) + 22)


@dataclass(frozen=True)
class _PlotBox:
    """Where the plot area will be, in pixels, and how data maps onto it."""

    width: float
    height: float
    left: int
    right: int
    top: int
    bottom: int
    x_range: tuple[float, float]
    y_range: tuple[float, float]

    @classmethod
    def of(cls, fig: go.Figure, *, for_slides: bool, width: int | None, height: int | None,
           top: int, bottom: int, right: int, x_range: Sequence[float],
           y_range: Sequence[float], left: int = 80) -> _PlotBox:
        s = theme.sizes(for_slides)
        w = width or s["width"] or SCREEN_WIDTH
        h = height or s["height"]
        return cls(float(w), float(h), left, right, top, bottom,
                   (float(x_range[0]), float(x_range[1])), (float(y_range[0]), float(y_range[1])))

    @property
    def area(self) -> textfit.Box:
        return textfit.Box(0.0, 0.0, self.width - self.left - self.right,
                           self.height - self.top - self.bottom)

    def px(self, x: float, y: float) -> tuple[float, float]:
        a = self.area
        (x0, x1), (y0, y1) = self.x_range, self.y_range
        return ((x - x0) / (x1 - x0) * a.x1 if x1 > x0 else 0.0,
                (y1 - y) / (y1 - y0) * a.y1 if y1 > y0 else 0.0)


def _hline_places(lines: Sequence[_LineSpec], geo: _PlotBox, s: dict
                  ) -> tuple[list[_LineSpec], list[float], list[float]]:
    """The lines (highest first), their heights and their labels' centres (px from the plot's
    top), the labels pushed apart where they would meet."""
    order = sorted(lines, key=lambda x: -x.value)
    ys = [geo.px(geo.x_range[0], x.value)[1] for x in order]
    hs = [textfit.text_size(x.text, s["tick"])[1] + 4 for x in order]
    pos = textfit.spread(ys, hs, -geo.top + 4, geo.area.y1 + geo.bottom - 4, gap=3) or ys
    return order, ys, pos


def _hline_boxes(lines: Sequence[_LineSpec], geo: _PlotBox, s: dict) -> list[textfit.Box]:
    """Where :func:`_draw_hlines` puts the lines' labels (px from the plot's top left)."""
    if not lines:
        return []
    order, _, pos = _hline_places(lines, geo, s)
    boxes = []
    for spec, y in zip(order, pos, strict=True):
        w, h = textfit.text_size(spec.text, s["tick"])
        x0 = geo.area.x1 + 8
        boxes.append(textfit.Box(x0, y - h / 2, x0 + w, y + h / 2))
    return boxes


def _draw_hlines(fig: go.Figure, lines: Sequence[_LineSpec], geo: _PlotBox, s: dict) -> None:
    """Horizontal reference lines across the plot, each labelled in the right margin at its
    height; labels closer than their own height are pushed apart (in order), so that two
    lines near one value never print over each other and no label covers a line or a point."""
    if not lines:
        return
    order, ys, pos = _hline_places(lines, geo, s)
    for spec, y0, y in zip(order, ys, pos, strict=True):
        fig.add_shape(type="line", x0=0, x1=1, xref="x domain", y0=spec.value, y1=spec.value,
                      yref="y", line={"color": spec.colour, "width": 2, "dash": spec.dash})
        fig.add_annotation(x=1, xref="paper", xanchor="left", xshift=8, y=spec.value, yref="y",
                           yanchor="middle", yshift=-(y - y0), text=spec.text, align="left",
                           showarrow=False, font={"size": s["tick"], "color": spec.colour})


#: where a point's label may go, in order of preference: (dx, dy) of the label's nearer
#: corner from the point, in px (dy < 0 is up)
_LABEL_OFFSETS = ((28, -30), (-28, -30), (28, 30), (-28, 30), (40, -60), (-40, -60),
                  (40, 60), (-40, 60), (0, -45), (0, 45), (60, 0), (-60, 0))


def _place_point_label(fig: go.Figure, geo: _PlotBox, x: float, y: float, text: str, s: dict,
                       taken: list[tuple[textfit.Box, tuple[float, float, float, float]]], *,
                       marks: np.ndarray | None = None, lines: Sequence[float] = ()) -> None:
    """Label a point where the label lies wholly inside the plot, meets no label placed before
    it and its leader crosses no earlier leader (``taken``: boxes and leaders), covering as
    few other points (``marks``, px) and reference lines (``lines``, px heights) as it can:
    the first of :data:`_LABEL_OFFSETS` that is clear, else the one that costs least."""
    w, h = textfit.text_size(text, s["font"])
    w, h = w + 8, h + 6  # border and padding
    px, py = geo.px(x, y)
    area = geo.area
    best: tuple[float, textfit.Box, tuple[float, float, float, float]] | None = None
    for dx, dy in _LABEL_OFFSETS:
        x0 = px + dx if dx > 0 else px + dx - w if dx < 0 else px - w / 2
        y0 = py + dy - h if dy < 0 else py + dy if dy > 0 else py - h / 2
        box = textfit.Box(x0, y0, x0 + w, y0 + h)
        leader = (px, py, (box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2)
        # never outside the plot nor over another label; then as few crossings, lines and
        # points as can be
        cost = (1e9 * (not box.inside(area))
                + 1e6 * sum(box.overlaps(t, 2) for t, _ in taken)
                + 1e4 * sum(_crosses(leader, other) for _, other in taken)
                + 3.0 * sum(box.y0 < ly < box.y1 for ly in lines))
        if marks is not None and len(marks):
            inside = ((marks[:, 0] > box.x0 - 5) & (marks[:, 0] < box.x1 + 5)
                      & (marks[:, 1] > box.y0 - 5) & (marks[:, 1] < box.y1 + 5))
            cost += float(inside.sum())
        if best is None or cost < best[0]:
            best = (cost, box, leader)
        if cost == 0:
            break
    assert best is not None
    _, box, leader = best
    if not box.inside(area):  # a short plot: no offset fits, so the label is moved inside
        x0 = min(max(box.x0, 0.0), max(area.x1 - w, 0.0))
        y0 = min(max(box.y0, 0.0), max(area.y1 - h, 0.0))
        box = textfit.Box(x0, y0, x0 + w, y0 + h)
        leader = (px, py, x0 + w / 2, y0 + h / 2)
    taken.append((box, leader))
    fig.add_annotation(x=x, y=y, showarrow=True, arrowhead=2, arrowcolor=theme.HIGHLIGHT_COLOUR,
                       ax=leader[2] - px, ay=leader[3] - py, xanchor="center", yanchor="middle",
                       text=text, font={"color": theme.HIGHLIGHT_COLOUR, "size": s["font"]},
                       bgcolor="rgba(255,255,255,0.6)", bordercolor=theme.HIGHLIGHT_COLOUR)


def _crosses(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    """True when segments ``a`` and ``b`` (x0, y0, x1, y1) cross."""
    def side(p: tuple[float, float], q: tuple[float, float], r: tuple[float, float]) -> float:
        return (q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0])

    p1, p2, p3, p4 = (a[0], a[1]), (a[2], a[3]), (b[0], b[1]), (b[2], b[3])
    return (side(p3, p4, p1) * side(p3, p4, p2) < 0) and (side(p1, p2, p3) * side(p1, p2, p4) < 0)


#: On a slide, more highlighted organisations than this are shown by their outlines only
#: (neighbouring labels pile up at slide size); the slide's caption says which are outlined.
SLIDE_LABELS_MAX = 1


def _labelled(df: pd.DataFrame, for_slides: bool) -> pd.DataFrame:
    """The highlighted rows that get a name label."""
    hl = df[df["is_hl"]]
    return hl.iloc[0:0] if for_slides and len(hl) > SLIDE_LABELS_MAX else hl


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


#: improvement actions on SPC charts (a dark orange: over 4.5:1 on white for its label)
ACTION_COLOUR = "#A35200"


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
    actions: Sequence[Mapping[str, Any]] | None = None,
    median: float | None = None,
    note: str | None = None,
    trial_segments: Iterable[int] = (),
    clip: tuple[float, float] | None = None,
    rebases: Sequence[Mapping[str, Any]] | None = None,
    fit_width: int | None = None,
) -> go.Figure:
    """XmR chart: the values, mean and process limits per rebase segment, coloured points.

    ``annotations`` are ``{"date" (or "x"), "text"}`` mappings drawn as dotted vertical lines with
    their note; ``actions`` (``{"date", "title"}``, improvement actions) as solid orange lines
    labelled "Action: ..." at the foot, distinct from notes; ``rebases`` (``{"date", "text"}``,
    accepted rebases) as dashed dark lines at the first period of the new limits, labelled
    with who accepted them and when. ``variation`` and ``assurance``
    (plain-English labels such as "Special cause
    improvement" / "Inconsistent: target within limits") are printed in a box at the top right,
    as the Making Data Count icons would be, with ``note`` (e.g. "3 points: too few for limits;
    at least 12 needed") under them.

    A series too short for limits comes with no ``mean``/``lpl``/``upl`` and is drawn as a run
    chart: ``median`` is its centre line. ``trial_segments``: rebase segments whose limits are
    trial limits (under 12 points): drawn dotted as "Trial limits". ``clip``: the possible
    range of the value (0 and 100 for a percentage): limits beyond it are drawn at it. With a
    ``period`` column the x ticks are the series' own period labels (a financial year reads
    "2019-20", not "Apr 2019").

    ``fit_width``: as :func:`comparison_figure`'s: on a page, the width the browser draws the
    chart at; a title wider than that is broken into lines (the date ticks are spaced for it).
    """
    meta = IndicatorMeta.of(indicator)
    target = meta.target if target is None else target
    if frame is None or frame.empty:
        return _empty("No values over time for this selection", for_slides=for_slides,
                      width=width, height=height)
    s = theme.sizes(for_slides)
    df = _spc_frame(frame, clip)
    d, unit = meta.decimals, meta.unit
    fig = go.Figure()
    run_chart = median is not None and not _isnan(median) and (
        "mean" not in df or df["mean"].isna().all())
    _spc_centre_and_limits(fig, df, run_chart=run_chart, median=median,
                           trial_segments=trial_segments)
    _spc_points(fig, df, d=d, unit=unit, run_chart=run_chart, for_slides=for_slides)
    margin_labels = _spc_target_and_margin_labels(fig, df, meta=meta, target=target,
                                                  run_chart=run_chart, median=median, s=s)
    _spc_dated_lines(fig, annotations=annotations, actions=actions, rebases=rebases, s=s)
    _spc_icons_box(fig, variation=variation, assurance=assurance, note=note, s=s)
    _spc_axes(fig, df, margin_labels, meta=meta, target=target, run_chart=run_chart,
              median=median, clip=clip, title=title, subtitle=subtitle, for_slides=for_slides,
              width=_fit_to(width, fit_width, for_slides), height=height, s=s)
    return theme.apply_theme(fig, for_slides=for_slides, width=width, height=height)


def _spc_frame(frame: pd.DataFrame, clip: tuple[float, float] | None) -> pd.DataFrame:
    """A copy of the series with a rebase segment (0 when none), numeric values, and the
    limits clipped to the value's possible range (``clip``)."""
    df = frame.copy()
    if "segment" not in df:
        df["segment"] = 0
    df["value"] = pd.to_numeric(df["value"], errors="coerce")
    if clip is not None:
        for col in ("lpl", "upl"):
            if col in df:
                df[col] = pd.to_numeric(df[col], errors="coerce").clip(*clip)
    return df


def _spc_centre_and_limits(fig: go.Figure, df: pd.DataFrame, *, run_chart: bool,
                           median: float | None, trial_segments: Iterable[int]) -> None:
    """The centre line and limits per rebase segment: a run chart's median; process limits
    (dashed), trial limits of short segments (dotted) and the mean."""
    c = theme.SPC_COLOURS
    if run_chart:
        fig.add_trace(go.Scatter(x=df["x"], y=[median] * len(df), mode="lines", name="Median",
                                 line={"color": c["mean_line"], "width": 1.5},
                                 hoverinfo="skip"))
    trial_seg = {int(k) for k in trial_segments}
    is_trial = df["segment"].isin(trial_seg)
    for col, name, colour, dash, rows in (
        ("upl", "Process limits", c["limits"], "dash", ~is_trial),
        ("lpl", None, c["limits"], "dash", ~is_trial),
        ("upl", "Trial limits (under 12 points)", c["limits"], "dot", is_trial),
        ("lpl", None, c["limits"], "dot", is_trial),
        ("mean", "Mean", c["mean_line"], "solid", pd.Series(True, index=df.index)),
    ):
        part = df[rows]
        if col not in df or part.empty or part[col].isna().all():
            continue
        xs, ys = _segment_lines(part, col)
        group = "mean" if col == "mean" else ("trial" if dash == "dot" else "limits")
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name=name or col,
                                 showlegend=name is not None, legendgroup=group,
                                 line={"color": colour, "width": 1.5, "dash": dash},
                                 hoverinfo="skip", connectgaps=False))


def _spc_points(fig: go.Figure, df: pd.DataFrame, *, d: int, unit: str | None,
                run_chart: bool, for_slides: bool) -> None:
    """The value line and its points, coloured and shaped by Making Data Count class, each
    with its hover text."""
    c = theme.SPC_COLOURS
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
            x=part["x"], y=part["value"], mode="markers",
            name="Values (no limits: run chart)" if run_chart else label,
            marker={"color": c[key], "size": 11 if for_slides else 9,
                    "symbol": theme.SPC_SYMBOLS.get(key, "circle"),
                    "line": {"width": 1, "color": theme.MARK_OUTLINE}},
            hovertext=part["hover"], hovertemplate="%{hovertext}<extra></extra>"))


def _spc_target_and_margin_labels(fig: go.Figure, df: pd.DataFrame, *, meta: IndicatorMeta,
                                  target: float | None, run_chart: bool,
                                  median: float | None, s: dict) -> list[_MarginLabel]:
    """Draw the target line; return the labels for the right margin: the target's, and the
    latest limits' and centre's."""
    c = theme.SPC_COLOURS
    d, unit = meta.decimals, meta.unit
    # the labels in the right margin, level with their lines (outside the plot: never over
    # a point or the line): the target's, and the latest limits' and centre's
    margin_labels: list[_MarginLabel] = []
    if target is not None and not _isnan(target):
        fig.add_shape(type="line", x0=0, x1=1, xref="x domain", y0=target, y1=target, yref="y",
                      line={"color": c["target"], "width": 2, "dash": "dot"})
        margin_labels.append(_MarginLabel(
            float(target), _wrap(meta.target_label or "Target", format_value(target, d, unit)),
            c["target"], s["tick"]))
    last = df.dropna(subset=["value"]).tail(1)
    if not last.empty and "mean" in df and not df["mean"].isna().all():
        lr = last.iloc[0]
        for col, name in (("upl", "Upper limit"), ("mean", "Mean"), ("lpl", "Lower limit")):
            if col in df and not _isnan(lr[col]):
                margin_labels.append(_MarginLabel(float(lr[col]),
                                                  f"{name} {format_value(lr[col], d)}",
                                                  theme.NHS_DARK_GREY, s["tick"] - 1))
    if run_chart and median is not None and not last.empty:
        margin_labels.append(_MarginLabel(float(median), f"Median {format_value(median, d)}",
                                          theme.NHS_DARK_GREY, s["tick"] - 1))
    return margin_labels


def _spc_dated_lines(fig: go.Figure, *, annotations: Sequence[Mapping[str, Any]] | None,
                     actions: Sequence[Mapping[str, Any]] | None,
                     rebases: Sequence[Mapping[str, Any]] | None, s: dict) -> None:
    """Vertical lines at dates, each labelled: notes (dotted, at the top), improvement actions
    (solid orange, at the foot) and accepted rebases (dashed grey, at the foot)."""
    for ann in annotations or ():
        when = ann.get("date", ann.get("x"))
        if when is None:
            continue
        xval = pd.Timestamp(when) if not isinstance(when, str) or when[:4].isdigit() else when
        fig.add_shape(type="line", x0=xval, x1=xval, y0=0, y1=1, yref="paper",
                      line={"color": theme.NHS_DARK_BLUE, "width": 1, "dash": "dot"})
        fig.add_annotation(x=xval, y=1, yref="paper", text=safe_text(ann.get("text"), 40),
                           showarrow=False, textangle=-90, xanchor="right", yanchor="top",
                           font={"size": s["tick"] - 1, "color": theme.NHS_DARK_BLUE})
    for act in actions or ():
        xval = pd.Timestamp(act["date"])
        fig.add_shape(type="line", x0=xval, x1=xval, y0=0, y1=1, yref="paper",
                      line={"color": ACTION_COLOUR, "width": 2})
        fig.add_annotation(x=xval, y=0, yref="paper",
                           text="▲ Action: " + safe_text(act.get("title"), 40),
                           showarrow=False, textangle=-90, xanchor="left", yanchor="bottom",
                           font={"size": s["tick"] - 1, "color": ACTION_COLOUR})
    for reb in rebases or ():
        xval = pd.Timestamp(reb["date"])
        fig.add_shape(type="line", x0=xval, x1=xval, y0=0, y1=1, yref="paper",
                      line={"color": theme.NHS_DARK_GREY, "width": 2, "dash": "dash"})
        # at the foot, left of its line (the top right holds the icons' box; actions are
        # labelled right of theirs)
        fig.add_annotation(x=xval, y=0, yref="paper", text=safe_text(reb.get("text"), 60),
                           showarrow=False, textangle=-90, xanchor="right", yanchor="bottom",
                           font={"size": s["tick"] - 1, "color": theme.NHS_DARK_GREY})


def _spc_icons_box(fig: go.Figure, *, variation: str | None, assurance: str | None,
                   note: str | None, s: dict) -> None:
    """The variation and assurance judgements (in place of the Making Data Count icons) and
    ``note`` in a box at the top right, when there are any."""
    badges = []
    if variation:
        badges.append(f"Variation: <b>{safe_text(variation)}</b>")
    if assurance:
        badges.append(f"Target: <b>{safe_text(assurance)}</b>")
    if note:
        badges.append(safe_text(note))
    if badges:
        fig.add_annotation(text="<br>".join(badges), xref="paper", yref="paper", x=1, y=1.0,
                           xanchor="right", yanchor="bottom", align="right", showarrow=False,
                           bordercolor=theme.NHS_MID_GREY, borderwidth=1, borderpad=4,
                           bgcolor="#FFFFFF", font={"size": s["tick"]})


def _spc_axes(fig: go.Figure, df: pd.DataFrame, margin_labels: list[_MarginLabel], *,
              meta: IndicatorMeta, target: float | None, run_chart: bool, median: float | None,
              clip: tuple[float, float] | None, title: str | None, subtitle: str | None,
              for_slides: bool, width: int | None, height: int | None, s: dict) -> None:
    """The axes, title, legend and margins: the x axis ends at the data, the value axis holds
    every value, limit and the target, the margin labels are placed level with their lines,
    ticks in the series' own periods, and the legend under the dates."""
    is_dates = "x" in df and pd.api.types.is_datetime64_any_dtype(df["x"])
    xs_all = df["x"].dropna() if is_dates else pd.Series([], dtype="datetime64[ns]")
    if len(xs_all) > 1:
        # the axis ends at the data: label annotations must not stretch it into empty months;
        # half a period of room either side keeps the end points whole
        step = pd.Series(xs_all.sort_values().to_numpy()).diff().median()
        pad = max((xs_all.max() - xs_all.min()) * 0.02, step / 2)
        fig.update_xaxes(range=[xs_all.min() - pad, xs_all.max() + pad])
    # the value axis is set here (not left to plotly) so that the margin labels' heights are
    # known: every value, limit, centre and the target, padded
    drawn = [df[col] for col in ("value", "upl", "lpl", "mean") if col in df]
    if run_chart:
        drawn.append(pd.Series([median], dtype=float))
    y_range = _value_range(drawn, [target], (None, None))
    if clip is not None:
        # a percentage's axis passes 0 or 100 by no more than a point's radius or so
        span = y_range[1] - y_range[0]
        y_range = [max(y_range[0], clip[0] - 0.03 * span), min(y_range[1], clip[1] + 0.03 * span)]
    fig.update_yaxes(title=safe_text(meta.value_title), range=y_range)
    # room on the right for those labels (measured: DejaVu Sans, the widest font the page
    # may fall back to)
    right = max(110, int(max([textfit.text_size(m.text, m.size)[0]
                              for m in margin_labels] + [0])) + 24)
    top, bottom = (70, 90) if for_slides else (110, 80)
    if for_slides:
        right = max(130, right)
    geo = _PlotBox.of(fig, for_slides=for_slides, width=width or 1100, height=height,
                      top=top, bottom=bottom, right=right, x_range=[0, 1], y_range=y_range)
    _draw_margin_labels(fig, margin_labels, geo)
    if is_dates and "period" in df and len(df):
        # ticks in the series' own periods: a dozen at most, and no more than fit level across
        # the plot at this font (a slide's half-width chart has room for about four)
        labels = [safe_text(p) for p in df["period"]]
        label_px = max(len(x) for x in labels) * s["tick"] * 0.62 + 24
        plot_px = (width or 1100) - max(130 if for_slides else 110, right) - 90
        most = int(max(2, min(12, plot_px // label_px)))
        every = max(1, -(-len(df) // most))
        fig.update_xaxes(tickmode="array", tickvals=df["x"].iloc[::every].tolist(),
                         ticktext=labels[::every], tickangle=0)
    # the legend on top would run under the variation box: it goes below the dates, which
    # need no "Period" title
    fig.update_xaxes(title=None)
    head, more = _wrapped_title(title, subtitle, s, (width or s["width"] or 1100) - 40)
    top += more * int(s["title"] * 1.3)
    fig.update_layout(title=head, hovermode="closest",
                      legend={"orientation": "h", "yanchor": "top", "y": -0.1,
                              "xanchor": "left", "x": 0},
                      margin={"r": right, "t": top, "b": bottom})


@dataclass(frozen=True)
class _MarginLabel:
    value: float
    text: str
    colour: str
    size: float


def _draw_margin_labels(fig: go.Figure, labels: Sequence[_MarginLabel], geo: _PlotBox) -> None:
    """Labels in the right margin, each level with its value (a line's end), pushed apart in
    order where they would meet (a target near a limit): outside the plot, so no label covers
    a point or a line."""
    if not labels:
        return
    order = sorted(labels, key=lambda m: -m.value)
    ys = [geo.px(0, m.value)[1] for m in order]
    hs = [textfit.text_size(m.text, m.size)[1] + 2 for m in order]
    pos = textfit.spread(ys, hs, -geo.top + 4, geo.area.y1 + geo.bottom - 4, gap=2) or ys
    for m, y0, y in zip(order, ys, pos, strict=True):
        fig.add_annotation(x=1, xref="paper", xanchor="left", xshift=6, y=m.value, yref="y",
                           yanchor="middle", yshift=-(y - y0), text=m.text, align="left",
                           showarrow=False, font={"size": m.size, "color": m.colour})


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


def axis_note(fig: go.Figure) -> str:
    """The words of the note under a chart's x axis title (:func:`_add_axis_note`; its line
    breaks as spaces), or ""."""
    return next((textfit.plain(a.text) for a in fig.layout.annotations
                 if a.name == "axis note"), "")
