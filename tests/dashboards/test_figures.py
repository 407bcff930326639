"""The pure figure builders: numbers in, figures out (no database, no Dash)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dashboards import figures, textfit, theme

META = {"name": "MMR first dose by 24 months", "unit": "%", "decimals": 1, "target": 95.0,
        "target_label": "95% standard", "polarity": "higher_is_better",
        "numerator_label": "Children vaccinated"}


def _frame(n: int = 12) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    value = rng.uniform(80, 99, n)
    return pd.DataFrame({
        "org_code": [f"P{i:03d}" for i in range(n)],
        "org_name": [f"Practice {i}" for i in range(n)],
        "value": value, "lower": value - 3, "upper": np.minimum(value + 2, 100),
        "denominator": rng.integers(20, 300, n).astype(float),
        "comparison": (["better", "similar", "worse"] * n)[:n],
    })


def test_comparison_colours_legend_and_highlight():
    fig = figures.comparison_figure(_frame(), indicator=META, benchmark=90.0,
                                    benchmark_label="England", highlight="p004")
    names = {t.name for t in fig.data}
    assert names == {theme.COMPARISON_LABELS[k] for k in ("better", "similar", "worse")}
    colours = {t.name: t.marker.color for t in fig.data}
    assert colours[theme.COMPARISON_LABELS["better"]] == theme.COMPARISON_COLOURS["better"]
    assert colours[theme.COMPARISON_LABELS["worse"]] == theme.COMPARISON_COLOURS["worse"]
    labels = [a.text for a in fig.layout.annotations]
    assert any("Practice 4" in t for t in labels)  # highlighted org is labelled, by name
    # benchmark, with decimals and unit
    assert any("England 90.0%" in textfit.plain(t) for t in labels)
    assert any("95% standard 95.0%" in textfit.plain(t) for t in labels)  # target line
    # the highlighted bar has a thick outline; no other bar does
    widths = np.concatenate([np.atleast_1d(t.marker.line.width) for t in fig.data])
    assert (widths == 3).sum() == 1


def test_comparison_ranks_low_to_high_and_names_axis():
    fig = figures.comparison_figure(_frame(), indicator=META)
    pos_value = sorted((p, v) for t in fig.data for v, p in zip(t.x, t.y, strict=True))
    values = [v for _, v in pos_value]
    assert values == sorted(values)
    assert "Children vaccinated (%)" in fig.layout.xaxis.title.text
    assert list(fig.layout.yaxis.ticktext)[0].startswith("Practice")


def test_comparison_many_orgs_vertical_and_suppressed_counted():
    f = _frame(500)
    f.loc[:9, "value"] = np.nan
    fig = figures.comparison_figure(f, indicator=META)
    assert all(t.orientation in (None, "v") for t in fig.data)
    bars = [t for t in fig.data if t.type == "bar"]
    assert sum(len(t.x) for t in bars) == 490
    assert sum(len(t.error_y.array) for t in bars) == 490  # a whisker on every bar
    assert "10 without a value" in fig.layout.xaxis.title.text


def test_comparison_thousands_of_bars_stay_light():
    """A national chart: scalar styles (no per-bar arrays), highlight drawn on top once."""
    f = _frame(6500)
    fig = figures.comparison_figure(f, indicator=META, highlight="P1234")
    bars = [t for t in fig.data if t.type == "bar"]
    assert all(np.ndim(t.marker.line.width) == 0 for t in bars)
    outlined = [t for t in bars if t.marker.line.width == 3]
    assert len(outlined) == 1
    assert list(outlined[0].hovertext) == ["Practice 1234 (P1234)"]
    assert outlined[0].showlegend is False
    # intervals as one shaded band (upper line, lower line filled to it), not 6,500 whiskers
    assert all(t.error_y.array is None for t in bars)
    upper, lower = [t for t in fig.data if t.type == "scatter"]
    assert lower.fill == "tonexty"
    assert len(upper.y) == len(lower.y) == 6500
    assert np.all(np.asarray(upper.y) >= np.asarray(lower.y))
    assert "Shading: 95% confidence intervals" in fig.layout.xaxis.title.text
    assert len(fig.to_json()) < 450_000  # was 780 KB with per-bar outlines and whiskers
    # traces of at most BARS_PER_TRACE bars (plotly.js draws a trace in O(n^2)), each category
    # once in the legend, its traces toggled together
    assert max(len(t.x) for t in bars) <= figures.BARS_PER_TRACE
    assert sum(len(t.x) for t in bars if t.marker.line.width != 3) == 6500
    in_legend = [t.legendgroup for t in bars if t.showlegend is not False]
    assert sorted(in_legend) == sorted({t.legendgroup for t in bars})


def test_names_from_uploads_are_escaped():
    f = _frame(3)
    f.loc[0, "org_name"] = "<script>alert(1)</script>"
    fig = figures.comparison_figure(f, indicator=META, highlight="P000")
    text = " ".join([*fig.layout.yaxis.ticktext, *(a.text for a in fig.layout.annotations)])
    assert "<script>" not in text
    assert "&lt;script&gt;" in text


def test_empty_and_all_suppressed_say_so():
    assert "No values" in figures.comparison_figure(
        _frame(0), indicator=META).layout.annotations[0].text
    f = _frame(3)
    f["value"] = np.nan
    assert "suppressed" in figures.comparison_figure(f, indicator=META).layout.annotations[
        0].text


def test_funnel_limits_points_and_note():
    pts = _frame(20)
    lim = pd.DataFrame({"denominator": [10.0, 100, 300], "lower_95": [70.0, 85, 88],
                        "upper_95": [100.0, 95, 93], "lower_998": [60.0, 80, 86],
                        "upper_998": [100.0, 98, 95]})
    fig = figures.funnel_figure(pts, lim, indicator=META, centre=90.5, highlight="P002",
                                overdispersion_note="Limits widened (phi = 2.10)")
    names = [t.name for t in fig.data]
    assert "99.8% limits (3 SD)" in names
    assert "95% limits (2 SD)" in names
    assert sum(len(t.x) for t in fig.data if t.mode == "markers") == 20
    texts = [a.text for a in fig.layout.annotations]
    # under the axis title, never on it
    assert "phi = 2.10" in figures.axis_note(fig)
    assert "phi" not in fig.layout.xaxis.title.text
    assert any("Practice 2" in t for t in texts)


def test_spc_colours_segments_annotations():
    x = pd.date_range("2020-01-01", periods=24, freq="MS")
    v = np.r_[np.full(12, 80.0), np.full(12, 90.0)] + np.sin(np.arange(24))
    f = pd.DataFrame({"x": x, "value": v, "segment": [0] * 12 + [1] * 12,
                      "mean": [80.0] * 12 + [90.0] * 12})
    f["upl"], f["lpl"] = f["mean"] + 4, f["mean"] - 4
    f["point_type"] = "common_cause"
    f.loc[14, "point_type"] = "special_cause_improvement"
    f.loc[3, "point_type"] = "special_cause_concern"
    fig = figures.spc_figure(f, indicator=META, annotations=[{"date": "2021-01-01",
                                                              "text": "New recall system"}],
                             variation="Improving", assurance="Target hit and miss")
    by_name = {t.name: t for t in fig.data}
    assert by_name["Special cause: improvement"].marker.color == "#289DE0"
    assert by_name["Special cause: concern"].marker.color == "#FAB428"
    assert by_name["Common cause variation"].marker.color == "#7B7D7D"
    mean = by_name["Mean"]
    assert list(mean.y).count(None) == 2  # one break after each of the two segments
    texts = [a.text for a in fig.layout.annotations]
    assert "New recall system" in texts
    assert any("Improving" in t and "hit and miss" in t for t in texts)


def test_spine_better_on_the_right_for_both_polarities():
    prof = pd.DataFrame({
        "indicator_name": ["Uptake", "Waiting"], "value": [95.0, 10.0],
        "lowest": [50.0, 5.0], "q1": [70.0, 20.0], "median": [80.0, 30.0],
        "q3": [90.0, 40.0], "highest": [99.0, 60.0],
        "polarity": ["higher_is_better", "lower_is_better"], "decimals": [1, 0],
        "unit": ["%", "days"], "comparison": ["better", "better"]})
    pos = figures.spine_positions(prof)
    assert pos["pos_median"].tolist() == [0.5, 0.5]
    assert (pos["pos_value"] > 0.5).all()  # both are better than the median: right side
    assert pos[[c for c in pos if c.startswith("pos_")]].stack().between(0, 1).all()
    fig = figures.spine_figure(prof, org_name="Practice A")
    assert [a.text for a in fig.layout.annotations][:2] == ["<b>95.0%</b>", "<b>10 days</b>"]


@pytest.mark.parametrize("builder", ["comparison", "spine"])
def test_slides_size_and_fonts(builder):
    if builder == "comparison":
        fig = figures.comparison_figure(_frame(), indicator=META, for_slides=True)
    else:
        fig = figures.spine_figure(pd.DataFrame({
            "indicator_name": ["A"], "value": [1.0], "lowest": [0.0], "q1": [0.5],
            "median": [1.0], "q3": [1.5], "highest": [2.0], "polarity": ["higher_is_better"],
            "decimals": [1], "unit": [None], "comparison": ["similar"]}), for_slides=True)
    assert (fig.layout.width, fig.layout.height) == (1600, 900)
    assert fig.layout.template.layout.font.size == theme.SLIDES["font"]


def test_format_value():
    assert figures.format_value(91.234, 1, "%") == "91.2%"
    assert figures.format_value(1234.4, 0, None) == "1,234"
    assert figures.format_value(3.14159, 2, "per 1,000") == "3.14 per 1,000"
    assert figures.format_value(float("nan"), 1, "%") == "n/a"
    # a frame column of units that are all missing holds NaN, not None: no "nan" after values
    assert figures.format_value(100.0, 1, float("nan")) == "100.0"


def test_horizontal_labels_take_no_levels_and_leave_the_title_alone():
    """Several highlights on a horizontal chart (labels beside their rows) do not push the
    title up or grow the top margin: levels are for labels above vertical bars."""
    f = _frame(40)
    f["org_name"] = [f"A practice with a long name, number {i}" for i in range(40)]
    fig = figures.comparison_figure(f, indicator=META,
                                    highlight=",".join(f"P{i:03d}" for i in range(8)))
    assert fig.layout.yaxis.tickvals is not None  # horizontal: names on the y axis
    one = figures.comparison_figure(f, indicator=META, highlight="P000")
    assert fig.layout.margin.t == one.layout.margin.t  # the labels take no room at the top
    assert fig.layout.title.y == one.layout.title.y


def test_funnel_with_every_point_suppressed_keeps_a_finite_axis():
    pts = _frame(4)
    pts["value"] = np.nan
    pts["denominator"] = np.nan
    lim = pd.DataFrame({"denominator": [10.0, 300], "lower_95": [70.0, 88],
                        "upper_95": [100.0, 93], "lower_998": [60.0, 86],
                        "upper_998": [100.0, 95]})
    fig = figures.funnel_figure(pts, lim, indicator=META, centre=90.5, highlight="P002")
    rng = fig.layout.xaxis.range
    assert rng is not None
    assert len(rng) == 2
    assert all(np.isfinite(v) for v in rng)
    assert rng[0] < rng[1]


def test_page_comparison_plot_sits_under_its_subtitle():
    """A page's ranked comparison (vertical bars: more than NAMED_BARS_MAX) kept 110 px
    above the plot for a 17 px title and its subtitle (about 45 px): 67 px of nothing. The
    page keeps the title's room and a 20 px gap; a slide (26 px title) keeps its 110;
    highlighted labels add their rows to it."""
    f = _frame(figures.NAMED_BARS_MAX + 40)
    kw = {"indicator": META, "title": "A title", "subtitle": "2024-25; all practices"}
    page = figures.comparison_figure(f, **kw)
    title_room = theme.SCREEN["title"] * (1.4 + 0.8 * 1.3) + 12
    assert page.layout.margin.t == int(title_room) + figures.PAGE_TITLE_GAP < 80
    assert figures.comparison_figure(f, for_slides=True, **kw).layout.margin.t == 110
    labelled = figures.comparison_figure(f, highlight="P010", **kw)
    assert labelled.layout.margin.t > page.layout.margin.t + 30  # a row of labels above


def test_page_funnel_plot_keeps_its_height_under_a_wrapped_legend():
    """At 720 px the funnel's legend takes several rows above the plot: the page's figure
    grows by them so that the plot keeps its height (it was squeezed to 230 px of 480)."""
    pts = _frame(20)
    lim = pd.DataFrame({"denominator": [10.0, 100, 300], "lower_95": [70.0, 85, 88],
                        "upper_95": [100.0, 95, 93], "lower_998": [60.0, 80, 86],
                        "upper_998": [100.0, 98, 95]})
    wide = figures.funnel_figure(pts, lim, indicator=META, centre=90.5, title="T",
                                 subtitle="S", fit_width=1400)
    narrow = figures.funnel_figure(pts, lim, indicator=META, centre=90.5, title="T",
                                   subtitle="S", fit_width=670)

    def plot_height(fig) -> float:
        return (fig.layout.height or theme.SCREEN["height"]) - fig.layout.margin.t \
            - fig.layout.margin.b

    assert narrow.layout.margin.t > wide.layout.margin.t  # more legend rows at 670 px
    assert abs(plot_height(narrow) - plot_height(wide)) < 2
    slide = figures.funnel_figure(pts, lim, indicator=META, centre=90.5, title="T",
                                  subtitle="S", for_slides=True)
    assert slide.layout.height == theme.SLIDES["height"]  # a slide's size is fixed
