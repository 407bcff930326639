"""The visual test matrix: every figure builder of ours at 1, 4, 80, 130 and 6,800 organisations,
on the dashboard (1,000 and 1,180 px wide; 1,850 for a 1,920 px screen) and on a slide
(1,600 x 900).

Two kinds of check:

* **on the figure** (fast, no browser): the value axis holds every point, whisker and drawn
  limit; limits are drawn over the data's denominators only; a proportion's limits and axis
  stay within 0 to 100%.
* **on the drawn chart** (headless Chromium draws each figure with plotly.js; the boxes are the
  browser's own, ``getBoundingClientRect``): no label runs outside the image (cut), none
  overlaps another label, the legend or the title, and no label sits on a bar. Each image is
  saved (``QIDASH_VISUAL_DIR``, default a temporary folder) to be looked at.

Organisations are real GP practices (the national ODS file and January 2021 list sizes in
/work/shared/data when present: names and sizes as published); the values are generated from
the list sizes (about 1.2% of a list is a birth cohort, uptake ~90% with between-practice
spread), because no national practice-level immunisation file exists (see the data README).
"""

from __future__ import annotations

import contextlib
import json
import os
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.stats.funnel import funnel as stats_funnel
from core.stats.intervals import wilson_interval
from dashboards import figures, theme

DATA = Path("/work/shared/data/gp_practice_national")
SCALES = (1, 4, 80, 130, 6800)
META = {"name": "MMR1 by 24 months", "unit": "%", "decimals": 1, "target": 95.0,
        "target_label": "95% national standard", "polarity": "higher_is_better",
        "value_type": "proportion", "multiplier": 100.0,
        "numerator_label": "Children vaccinated",
        "denominator_label": "children reaching 24 months registered at the practice"}
#: (label, for_slides, width): the dashboard at a laptop's and a wide screen's width, a slide
TARGETS = (("screen1000", False, 1000), ("screen1180", False, 1180),
           ("screen1850", False, 1850), ("slide", True, None), ("slide_half", True, 781))
#: heights of the slide targets that are not the whole slide (the pack's half slot)
HEIGHTS = {781: 577}
#: (label, width): the chart's width on the network and indicator pages at a 1,280 px laptop
#: and a 390 px phone (its card's content; a phone's chart keeps 720 px and scrolls sideways),
#: which the page measures and fits the labels to
PAGE_WIDTHS = (("page1280", 1190), ("page390", 720))


@lru_cache(maxsize=1)
def _practices() -> pd.DataFrame:
    """Real practices (code, name, list size): the national files, else a stand-in list."""
    try:
        ods = pd.read_csv(DATA / "epraccur.csv", header=None, usecols=[0, 1, 12, 25],
                          names=["code", "name", "status", "setting"], dtype=str)
        sizes = pd.read_csv(DATA / "gp-reg-pat-prac-all_jan2021.csv",
                            usecols=["CODE", "NUMBER_OF_PATIENTS"])
        ods = ods[(ods["status"] == "A") & (ods["setting"] == "4")]
        df = ods.merge(sizes, left_on="code", right_on="CODE")
        df = df.rename(columns={"NUMBER_OF_PATIENTS": "list_size"})
        df["name"] = df["name"].str.title()
        return df[["code", "name", "list_size"]].reset_index(drop=True)
    except OSError:
        rng = np.random.default_rng(1)
        n = 6800
        return pd.DataFrame({"code": [f"Z{i:05d}" for i in range(n)],
                             "name": [f"The Long Named Medical Practice {i}" for i in range(n)],
                             "list_size": rng.integers(1500, 40000, n)})


def _data(n: int, seed: int = 7) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rows, limits) of ``n`` practices: values, Wilson intervals, funnel verdicts, limits."""
    prac = _practices()
    rng = np.random.default_rng(seed + n)
    pick = prac.iloc[np.sort(rng.choice(len(prac), size=min(n, len(prac)), replace=False))]
    den = np.maximum(np.round(pick["list_size"].to_numpy() * 0.012), 3)
    p = np.clip(rng.normal(0.9, 0.04, len(pick)), 0.5, 0.995)
    num = rng.binomial(den.astype(int), p).astype(float)
    res = stats_funnel(num, den, value_type="proportion", multiplier=100.0)
    lo, hi = wilson_interval(num, den)
    flags = res.rows["flag"].astype(object)
    comparison = np.where(flags.isin(["above_95", "above_998"]), "better",
                          np.where(flags.isin(["below_95", "below_998"]), "worse", "similar"))
    rows = pd.DataFrame({
        "org_code": pick["code"].to_numpy(), "org_name": pick["name"].to_numpy(),
        "numerator": num, "denominator": den, "value": num / den * 100,
        "lower": lo * 100, "upper": hi * 100, "comparison": comparison,
    })
    return rows, res.limits


def _highlight(rows: pd.DataFrame, k: int = 4) -> list[str]:
    """Up to ``k`` organisations spread over the range (a network's members)."""
    order = rows.sort_values("value")["org_code"].tolist()
    idx = np.unique(np.linspace(0, len(order) - 1, min(k, len(order))).round().astype(int))
    return [order[i] for i in idx]


def _figures(n: int, for_slides: bool, width: int | None,
             fit_width: int | None = None) -> dict[str, object]:
    height = HEIGHTS.get(width) if for_slides and width else None
    rows, limits = _data(n)
    hl = _highlight(rows)
    # a slide labels one highlighted organisation; the dashboard all of a network's members
    hl_one = hl[len(hl) // 2:len(hl) // 2 + 1]
    centre = float(rows["numerator"].sum() / rows["denominator"].sum() * 100)
    kw = {"for_slides": for_slides, "width": width, "height": height, "title": META["name"],
          "subtitle": f"2021-22; {n:,} practices; 95% confidence"}
    return {
        "comparison": figures.comparison_figure(
            rows, indicator=META, benchmark=centre,
            benchmark_label=f"the average of these {n:,} practices",
            highlight=hl_one if for_slides else hl, fit_width=fit_width, **kw),
        "funnel": figures.funnel_figure(
            rows, limits, indicator=META, centre=centre, centre_label="Peers pooled",
            highlight=hl_one if for_slides else hl,
            overdispersion_note="Limits not adjusted for overdispersion", fit_width=fit_width,
            **kw),
    }


def _traces(fig, mode: str) -> list:
    return [t for t in fig.data if getattr(t, "mode", None) == mode]


# ---------------------------------------------------------------------------------------------
# on the figure
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("for_slides", [False, True], ids=["screen", "slide"])
@pytest.mark.parametrize("n", SCALES)
def test_funnel_axis_holds_limits_and_points(n: int, for_slides: bool) -> None:
    """The funnel's limits are drawn over the data's denominators, within 0-100%, and the
    axes hold them and every point (the 4-practice slide drew 92-98.5 with both limit curves
    off the chart; the dashboard ran them down to a denominator of 1, axis 20-100)."""
    rows, _ = _data(n)
    fig = _figures(n, for_slides, None)["funnel"]
    y0, y1 = fig.layout.yaxis.range
    x0, x1 = fig.layout.xaxis.range
    lines = _traces(fig, "lines")
    assert len(lines) == 4, "all four limit curves drawn"
    den = rows["denominator"]
    for t in lines:
        ys = np.asarray(t.y, dtype=float)
        xs = np.asarray(t.x, dtype=float)
        assert np.all((ys >= 0) & (ys <= 100)), "a proportion's limits lie within 0-100%"
        assert y0 <= ys.min() <= ys.max() <= y1, f"{t.name}: limits leave the value axis"
        # (a stretch of +-15% about one organisation, or several of one size)
        assert den.min() / 1.16 <= xs.min() <= xs.max() <= den.max() * 1.16, \
            "limits drawn over the data's denominators only"
    vals = rows["value"]
    assert y0 <= vals.min() <= vals.max() <= y1
    assert x0 <= den.min() <= den.max() <= x1
    assert -1 <= y0 < y1 <= 101, "a percentage axis stays near 0-100"
    # the centre and the target are on the chart
    assert y0 <= 95.0 <= y1


@pytest.mark.parametrize("for_slides", [False, True], ids=["screen", "slide"])
@pytest.mark.parametrize("n", SCALES)
def test_comparison_axis_holds_whiskers_and_lines(n: int, for_slides: bool) -> None:
    rows, _ = _data(n)
    fig = _figures(n, for_slides, None)["comparison"]
    horizontal = n <= figures.NAMED_BARS_MAX
    lo, hi = (fig.layout.xaxis.range if horizontal else fig.layout.yaxis.range)
    assert lo <= 0 <= rows["upper"].max() <= hi
    assert 95.0 <= hi


def test_funnel_names_the_clipping() -> None:
    """Limits that reach 100% say that they stop there."""
    rows, _ = _data(4)
    fig = _figures(4, True, None)["funnel"]
    ys = np.concatenate([np.asarray(t.y, float) for t in _traces(fig, "lines")])
    if np.isclose(ys, 100).any():
        assert "stop at 100%" in figures.axis_note(fig)


def test_benchmark_label_names_the_peers() -> None:
    """The line is labelled with the benchmark the caller names (never a hard-coded word)."""
    fig = _figures(80, False, None)["comparison"]
    texts = " ".join(a.text for a in fig.layout.annotations)
    assert "the average of these 80 practices" in texts.replace("<br>", " ")


# ---------------------------------------------------------------------------------------------
# on the drawn chart (headless Chromium)
# ---------------------------------------------------------------------------------------------
CHROMIUM = os.environ.get("QIDASH_CHROMIUM", "/usr/bin/chromium")

_BOXES_JS = """
() => {
  const svg = document.querySelector('#g .main-svg').getBoundingClientRect();
  const box = el => { const r = el.getBoundingClientRect();
    return {x0: r.left - svg.left, y0: r.top - svg.top, x1: r.right - svg.left,
            y1: r.bottom - svg.top}; };
  const ann = [...document.querySelectorAll('#g g.annotation')].map(g => {
    const t = g.querySelector('.annotation-text-g') || g;
    const bg = t.querySelector('rect.bg');
    const txt = t.querySelector('text');
    const b = box(txt || t);
    return {text: g.textContent, box: b, bg: bg ? box(bg) : b};
  }).filter(a => a.text.trim());
  const legend = document.querySelector('#g g.legend');
  const title = document.querySelector('#g .gtitle');
  const bars = [...document.querySelectorAll('#g g.trace.bars path')].map(box)
    .filter(b => b.x1 > b.x0 || b.y1 > b.y0);
  const texts = [...document.querySelectorAll('#g text')]
    .filter(t => t.textContent.trim()).map(t => ({text: t.textContent, box: box(t)}))
    .filter(t => t.box.x1 > t.box.x0);
  return {w: svg.width, h: svg.height, ann, legend: legend ? box(legend) : null,
          title: title ? box(title) : null, bars, texts};
}
"""


def _inside(b: dict, got: dict, tol: float = 1.0) -> bool:
    return -tol <= b["x0"] <= b["x1"] <= got["w"] + tol and -tol <= b["y0"] <= b["y1"] <= \
        got["h"] + tol


def _overlap(a: dict, b: dict, tol: float = 1.0) -> bool:
    return not (a["x1"] - tol <= b["x0"] or b["x1"] - tol <= a["x0"]
                or a["y1"] - tol <= b["y0"] or b["y1"] - tol <= a["y0"])


@contextlib.contextmanager
def plotly_page(width: int, height: int):
    """A headless Chromium page holding plotly.js and an empty ``div#g`` to draw into
    (skips the test without Chromium or Playwright)."""
    if not Path(CHROMIUM).exists():
        pytest.skip("headless Chromium not installed")
    playwright = pytest.importorskip("playwright.sync_api")
    import plotly

    js = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=["--no-sandbox", "--disable-gpu",
                                          "--disable-dev-shm-usage"])
        pg = browser.new_page(viewport={"width": width, "height": height})
        pg.set_content("<html><body style='margin:0'><div id='g'></div></body></html>")
        pg.add_script_tag(path=str(js))
        try:
            yield pg
        finally:
            browser.close()


@pytest.fixture(scope="module")
def page():
    with plotly_page(1900, 1000) as pg:
        yield pg


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory) -> Path:
    where = os.environ.get("QIDASH_VISUAL_DIR")
    path = Path(where) if where else tmp_path_factory.mktemp("visual")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _draw(page, fig, width: int, height: int) -> dict:
    fig.update_layout(width=width, height=height)
    page.set_viewport_size({"width": width, "height": height})
    page.evaluate("f => Plotly.newPlot('g', f.data, f.layout, {staticPlot: true})",
                  json.loads(fig.to_json()))
    return page.evaluate(_BOXES_JS)


@pytest.mark.parametrize("target", TARGETS, ids=[t[0] for t in TARGETS])
@pytest.mark.parametrize("n", SCALES)
def test_labels_fit_and_never_overlap(page, out_dir: Path, n: int, target: tuple) -> None:
    """In the drawn chart: every label inside the image, none over another label, the legend,
    the title or a bar (the slide's 'The Petworth Surgery 9'; the network page's crossing
    leaders and labels on bars; the funnel's highlighted label over the standard's label)."""
    name, for_slides, width = target
    # a dashboard's chart is built without a width (it fills its card) and drawn at the
    # page's; a slide's at its slot's size
    for kind, fig in _figures(n, for_slides, width if for_slides else None).items():
        w = int(fig.layout.width or width or 1600)
        h = int(fig.layout.height or 480)
        got = _draw(page, fig, w, h)
        page.screenshot(path=str(out_dir / f"{kind}-{n}-{name}.png"), full_page=True)
        _check_drawn(got, kind, f"{kind}, {n} organisations, {name}")


def _check_drawn(got: dict, kind: str, where: str) -> None:
    """Every label inside the image, none over another label, the legend, the title or (on
    a comparison) a bar."""
    for t in got["texts"]:  # every word drawn lies within the image: nothing cut
        b = t["box"]
        assert _inside(b, got), f"{where}: text cut: {t['text']!r} {b}"
    if got["legend"] and got["title"]:
        assert not _overlap(got["legend"], got["title"]), f"{where}: legend over title"
    for a in got["ann"]:
        b = a["bg"]
        assert _inside(b, got), f"{where}: label cut: {a['text']!r} {b}"
        for other in (got["legend"], got["title"]):
            if other:
                assert not _overlap(b, other), f"{where}: {a['text']!r} meets legend/title"
    for i, a in enumerate(got["ann"]):
        for b in got["ann"][i + 1:]:
            assert not _overlap(a["bg"], b["bg"]), \
                f"{where}: {a['text']!r} overlaps {b['text']!r}"
    if kind == "comparison":
        for a in got["ann"]:
            hits = [b for b in got["bars"] if _overlap(a["bg"], b)]
            assert not hits, f"{where}: label {a['text']!r} sits on a bar"


_PLOT_W_JS = "() => document.getElementById('g')._fullLayout._size.w"


def _full_label_widths(page, texts: list[str]) -> list[float]:
    """The widths the browser draws ``texts`` at as the chart's labels (their size) in DejaVu
    Sans: the widest font the theme's stack may fall back to, which the label fitter allows
    for (:mod:`dashboards.textfit`; this machine draws Arial as the narrower Liberation Sans)."""
    probe = {"data": [], "layout": {
        "width": 1900, "height": 60 * (len(texts) + 1), "font": {"family": "DejaVu Sans"},
        "annotations": [{"text": t, "x": 0, "xanchor": "left", "xref": "paper",
                         "y": i / max(len(texts), 1), "yref": "paper", "showarrow": False,
                         "font": {"size": theme.SCREEN["font"]}} for i, t in enumerate(texts)]}}
    page.evaluate("f => Plotly.newPlot('g', f.data, f.layout, {staticPlot: true})", probe)
    return page.evaluate(
        "() => [...document.querySelectorAll('#g g.annotation text')]"
        ".map(t => t.getBoundingClientRect().width)")


@pytest.mark.parametrize("target", PAGE_WIDTHS, ids=[t[0] for t in PAGE_WIDTHS])
@pytest.mark.parametrize("n", SCALES)
def test_page_labels_fit_the_drawn_width(page, out_dir: Path, n: int, target: tuple) -> None:
    """The network and indicator pages' charts, their labels fitted to the width the page
    draws them at: every check above, each funnel label within the plot, and the members'
    names on the comparison shortened ("Pulborough\u2026") only when their full labels
    (measured by the browser) do not fit in one row across the plot (at 1,280 px they were
    shortened to 12 characters with room to spare: the labels were fitted to a 1,000 px
    chart)."""
    name, width = target
    rows, _ = _data(n)
    for kind, fig in _figures(n, False, None, fit_width=width).items():
        h = int(fig.layout.height or 480)
        got = _draw(page, fig, width, h)
        page.screenshot(path=str(out_dir / f"{kind}-{n}-{name}.png"), full_page=True)
        where = f"{kind}, {n} organisations, {name}"
        _check_drawn(got, kind, where)
        if kind == "funnel":
            _check_funnel_labels_in_plot(page, got, fig, where)
            continue
        if n <= figures.NAMED_BARS_MAX:
            # a named-bars chart wraps the names in its margin, never shortens them; each
            # name sits level with its row (within its own height: labels that would meet
            # are pushed apart), not stacked under the lowest one
            for r in rows[rows["org_code"].isin(_highlight(rows))].itertuples():
                tick = next(t["box"] for t in got["texts"] if t["text"] == r.org_name)
                label = next(a["box"] for a in got["ann"]  # (wrapped: lines run together)
                             if a["text"].replace(" ", "").startswith(r.org_name.replace(" ", "")))
                dy = (label["y0"] + label["y1"]) / 2 - (tick["y0"] + tick["y1"]) / 2
                assert abs(dy) <= label["y1"] - label["y0"], \
                    f"{where}: {r.org_name}'s label {dy:+.0f} px from its row"
            continue
        plot_w = page.evaluate(_PLOT_W_JS)
        labels = [a.text for a in fig.layout.annotations if a.showarrow]
        hl = rows[rows["org_code"].isin(_highlight(rows))].sort_values("value")
        full = [f"<b>{figures.safe_text(r.org_name)}</b> "
                f"{figures.format_value(r.value, 1, '%')}" for r in hl.itertuples()]
        widths = _full_label_widths(page, full)
        # the row the fitter needs: each label 10 px wider than its text, 6 px apart
        need = sum(w + 10 for w in widths) + 6 * (len(widths) - 1)
        shortened = not labels or any("\u2026" in t for t in labels)
        if need <= plot_w * 0.97:
            assert not shortened, (f"{where}: names shortened or left out though the full "
                                   f"labels need {need:.0f} of {plot_w:.0f} px: {labels}")
        # wider than the plot, they go in rows above it: every member still named
        _check_members_named(got, hl, where)


def _check_members_named(got: dict, members: pd.DataFrame, where: str) -> None:
    """Each member is named by a label drawn (or the key of numbered bars): the whole name,
    or its first characters (12 at the least) and an ellipsis."""
    drawn = " ".join(a["text"].replace("\u2003", " ") for a in got["ann"])
    for name in members["org_name"]:
        assert name in drawn or any(name.startswith(part[-(k + 1):].lstrip())
                                    for part in drawn.split("\u2026") for k in range(11, 40)
                                    if len(part) > k), f"{where}: {name!r} is not named: {drawn}"


def _check_funnel_labels_in_plot(page, got: dict, fig, where: str) -> None:
    """Every highlighted organisation's label on a funnel within the plot (a label beyond
    its right edge runs over the line labels in the margin)."""
    plot_x1 = page.evaluate("() => { const s = document.getElementById('g')._fullLayout._size;"
                            " return s.l + s.w; }")
    named = {a.text for a in fig.layout.annotations if a.showarrow}
    for a in got["ann"]:
        if any(a["text"].replace(" ", "") == t.replace("<b>", "").replace("</b>", "")
               .replace("<br>", "").replace(" ", "") for t in named):
            assert a["bg"]["x1"] <= plot_x1 + 1, \
                f"{where}: the label {a['text']!r} runs out of the plot ({a['bg']['x1']:.0f} > " \
                f"{plot_x1:.0f})"


#: the slide targets, and the indicator page's chart at a laptop's and a phone's width
#: (built without a width, its labels fitted to the measured width)
LONG_NAME_TARGETS = [t for t in TARGETS if t[1]] + [(n, False, w) for n, w in PAGE_WIDTHS]


@pytest.mark.parametrize("target", LONG_NAME_TARGETS, ids=[t[0] for t in LONG_NAME_TARGETS])
def test_a_long_name_is_shortened_to_fit_the_funnel(page, out_dir: Path, target: tuple) -> None:
    """A trust's long name on the pack's half-slide funnel (781 px): the label was wider than
    the whole plot, so it was pushed left against the plot's edge and ran out over the
    standard's label in the right margin. Now the name is shortened until the label fits;
    on the page, until it fits the width the page draws the chart at (a phone's 720 px: laid
    out for 1,000 px, the label ran over the standard's label)."""
    name, for_slides, width = target
    rows, limits = _data(130)
    code = rows.sort_values("value")["org_code"].iloc[100]
    rows.loc[rows["org_code"] == code, "org_name"] = \
        "Western Sussex Hospitals NHS Foundation Trust"
    centre = float(rows["numerator"].sum() / rows["denominator"].sum() * 100)
    fig = figures.funnel_figure(
        rows, limits, indicator=META, centre=centre, centre_label="Peer average",
        highlight=[code], for_slides=for_slides, width=width if for_slides else None,
        height=HEIGHTS.get(width) if for_slides else None, title=META["name"],
        fit_width=None if for_slides else width)
    w, h = int(fig.layout.width or width), int(fig.layout.height or 480)
    got = _draw(page, fig, w, h)
    page.screenshot(path=str(out_dir / f"funnel-longname-{name}.png"), full_page=True)
    _check_drawn(got, "funnel", f"funnel, a long name, {name}")
    plot_x1 = page.evaluate("() => { const s = document.getElementById('g')._fullLayout._size;"
                            " return s.l + s.w; }")
    label = next(a for a in got["ann"] if a["text"].startswith("Western"))
    assert label["bg"]["x1"] <= plot_x1 + 1, f"{name}: the label runs out of the plot"


#: a trend chart's title as the trend page writes it (organisation: indicator), long
LONG_TITLE = ("Western Sussex Hospitals NHS Foundation Trust: "
              "A&E attendances waiting more than 4 hours from arrival to admission")


def _spc(title: str, **kw) -> object:
    x = pd.date_range("2020-01-01", periods=36, freq="MS")
    f = pd.DataFrame({"x": x, "value": [80.0 + (i * 7) % 5 for i in range(36)], "segment": 0,
                      "mean": 82.0, "upl": 88.0, "lpl": 76.0, "point_type": "common_cause",
                      "period": [d.strftime("%b %Y") for d in x]})
    return figures.spc_figure(f, indicator=META, title=title,
                              subtitle="XmR chart, 36 monthly periods",
                              variation="Common cause variation",
                              assurance="Inconsistent: target within limits", **kw)


@pytest.mark.parametrize("target", PAGE_WIDTHS, ids=[t[0] for t in PAGE_WIDTHS])
def test_a_long_trend_title_fits_the_drawn_width(page, out_dir: Path, target: tuple) -> None:
    """The trend page's title at the width the page draws the chart at: a long title (an
    organisation's and an indicator's names) was cut at the right edge of a phone's 720 px
    chart. Now it is broken into lines that fit, the plot moved down to hold them, and
    nothing drawn meets the title (the variation box, the margin labels)."""
    name, width = target
    fig = _spc(LONG_TITLE, fit_width=width)
    got = _draw(page, fig, width, int(fig.layout.height or 480))
    page.screenshot(path=str(out_dir / f"spc-longtitle-{name}.png"), full_page=True)
    where = f"spc, a long title, {name}"
    assert got["title"], f"{where}: no title"
    assert _inside(got["title"], got), f"{where}: title cut {got['title']}"
    for t in got["texts"]:
        assert _inside(t["box"], got), f"{where}: text cut: {t['text']!r} {t['box']}"
    # each of the title's lines (the box of them all holds the short subtitle's empty end)
    lines = page.evaluate(
        "() => [...document.querySelectorAll('#g .gtitle tspan.line')].map(l => {"
        " const r = l.getBoundingClientRect();"
        " return {x0: r.left, y0: r.top, x1: r.right, y1: r.bottom}; })")
    assert len(lines) >= (3 if width < 900 else 2), f"{where}: {lines}"
    for a in got["ann"]:
        for line in lines:
            assert not _overlap(a["bg"], line), f"{where}: {a['text']!r} meets the title"


def test_a_normal_trend_title_is_unchanged_on_a_slide() -> None:
    """A title that fits stays one plain line (slides and the page as before); a slide's long
    title is broken to the slide's width."""
    short = "The Petworth Surgery: MMR1 by 24 months"
    for kw in ({"for_slides": True}, {"for_slides": True, "width": 781, "height": 577}, {},
               {"fit_width": 720}):
        fig = _spc(short, **kw)
        assert fig.layout.title.text == f"{short}<br><sup>XmR chart, 36 monthly periods</sup>"
        assert fig.layout.title.y is None
        assert fig.layout.margin.t in (70, 110)
    wide = _spc(LONG_TITLE, for_slides=True, width=781, height=577)
    assert wide.layout.title.text.count("<br>") >= 2
    assert wide.layout.margin.t > 70


#: the widths the pages draw a chart at: a phone (390 px: the chart keeps 720 px and its card
#: scrolls), a tablet in portrait and a 1,280 px laptop
MEMBER_WIDTHS = (720, 768, 1190)


@pytest.mark.parametrize("width", MEMBER_WIDTHS)
@pytest.mark.parametrize(("n", "k"), [(80, 4), (80, 10), (130, 4), (130, 10), (6800, 4),
                                      (6800, 10)])
def test_network_members_are_named_at_every_page_width(page, out_dir: Path, n: int, k: int,
                                                       width: int) -> None:
    """The network page's comparison (a network's members among every organisation of their
    kind) names every member of a PCN of 4 to 10 at a phone's 720 px chart: the labels
    that do not fit in one row across the plot go in rows above it, each leader clear of the
    other labels (they were left out: '4 highlighted: outlined, too many to name here'). A
    PCN of 4 keeps its whole names."""
    rows, _ = _data(n)
    members = _highlight(rows, k)
    fig = figures.comparison_figure(
        rows, indicator=META, benchmark=float(rows["value"].mean()),
        benchmark_label=f"the average of these {n:,} practices", highlight=members,
        title=META["name"], subtitle=f"2021-22; the network's members among {n:,} practices",
        fit_width=width)
    got = _draw(page, fig, width, int(fig.layout.height or 480))
    page.screenshot(path=str(out_dir / f"network-{n}-{k}-{width}.png"), full_page=True)
    where = f"network of {k} among {n}, {width} px"
    _check_drawn(got, "comparison", where)
    _check_leaders(page, got, where)
    named = rows[rows["org_code"].isin(members)]
    _check_members_named(got, named, where)
    if k == 4:
        labels = [a.text for a in fig.layout.annotations if a.showarrow]
        assert not any("\u2026" in t for t in labels), f"{where}: names shortened: {labels}"


def test_a_large_network_says_its_members_are_not_named(page, out_dir: Path) -> None:
    """A region's 130 trusts among England's: too many to name at 720 px; the bars are
    outlined and the axis title says so."""
    rows, _ = _data(6800)
    members = _highlight(rows, 130)
    fig = figures.comparison_figure(rows, indicator=META, highlight=members,
                                    title=META["name"], fit_width=720)
    got = _draw(page, fig, 720, int(fig.layout.height or 480))
    page.screenshot(path=str(out_dir / "network-6800-130-720.png"), full_page=True)
    _check_drawn(got, "comparison", "130 members, 720 px")
    assert "130 highlighted: outlined, too many to name here" in fig.layout.xaxis.title.text
    assert not [a for a in fig.layout.annotations if a.showarrow]


_LEADERS_JS = """() => [...document.querySelectorAll('#g g.annotation')].map(g => {
  const p = g.querySelector('path'); if (!p) return null;
  const r = p.getBoundingClientRect(), svg = document.querySelector('#g .main-svg')
    .getBoundingClientRect();
  const d = p.getAttribute('d'), m = d.match(/-?[0-9.]+/g).map(Number);
  const t = p.getCTM();
  const at = (x, y) => ({x: t.a * x + t.c * y + t.e, y: t.b * x + t.d * y + t.f});
  const a = at(m[0], m[1]), b = at(m[m.length - 2], m[m.length - 1]);
  return {text: g.textContent, seg: [a.x, a.y, b.x, b.y]};
}).filter(x => x)"""


def _check_leaders(page, got: dict, where: str) -> None:
    """No leader (a label's arrow to its bar) runs through another label, nor crosses
    another leader."""
    leaders = page.evaluate(_LEADERS_JS)
    for lead in leaders:
        for a in got["ann"]:
            if a["text"] == lead["text"]:
                continue
            assert not _segment_meets(lead["seg"], a["bg"]), \
                f"{where}: the leader of {lead['text']!r} runs through {a['text']!r}"
    for i, one in enumerate(leaders):
        for other in leaders[i + 1:]:
            assert not figures._crosses(tuple(one["seg"]), tuple(other["seg"])), \
                f"{where}: the leaders of {one['text']!r} and {other['text']!r} cross"


def _segment_meets(seg: list[float], box: dict) -> bool:
    """Whether a segment passes through a box (sampled every pixel or so)."""
    x0, y0, x1, y1 = seg
    steps = int(max(abs(x1 - x0), abs(y1 - y0))) + 1
    return any(box["x0"] + 1 < x0 + (x1 - x0) * t / steps < box["x1"] - 1
               and box["y0"] + 1 < y0 + (y1 - y0) * t / steps < box["y1"] - 1
               for t in range(steps + 1))


#: a highlighted trust's name of 45 characters (the labels cut every name at 40)
LONG_NAME = "Western Sussex Hospitals NHS Foundation Trust"


@pytest.mark.parametrize("width", [720, 1190])
@pytest.mark.parametrize("kind", ["funnel", "comparison"])
def test_a_long_name_is_whole_where_it_fits(page, out_dir: Path, kind: str, width: int) -> None:
    """A highlighted organisation's name is shortened only when its label does not fit the
    width measured (the funnel and the comparison cut every name at 40 characters: 'Western
    Sussex Hospitals NHS Foundation\u2026' on a 1,190 px chart with room for it twice)."""
    rows, limits = _data(130)
    code = rows.sort_values("value")["org_code"].iloc[100]
    rows.loc[rows["org_code"] == code, "org_name"] = LONG_NAME
    if kind == "funnel":
        fig = figures.funnel_figure(rows, limits, indicator=META, centre=90.0,
                                    centre_label="Peer average", highlight=[code],
                                    title=META["name"], fit_width=width)
    else:
        fig = figures.comparison_figure(rows, indicator=META, benchmark=90.0,
                                        benchmark_label="the peer average", highlight=[code],
                                        title=META["name"], fit_width=width)
    got = _draw(page, fig, width, int(fig.layout.height or 480))
    page.screenshot(path=str(out_dir / f"{kind}-wholename-{width}.png"), full_page=True)
    _check_drawn(got, kind, f"{kind}, a long name, {width} px")
    assert any(a["text"].startswith(LONG_NAME) for a in got["ann"]), \
        [a["text"] for a in got["ann"]]


#: an indicator's name as long as QOF's (the title of the funnel and the comparison)
LONG_INDICATOR = ("Percentage of patients with diabetes, on the register, in whom the last "
                  "IFCC-HbA1c is 58 mmol/mol or less in the preceding 12 months (QOF DM006, "
                  "after personalised care adjustments)")
TITLE_WIDTHS = (390, 720, 1190)


@pytest.mark.parametrize("width", TITLE_WIDTHS)
@pytest.mark.parametrize(("kind", "n"), [("funnel", 80), ("comparison", 80),
                                         ("comparison", 30)])
def test_a_long_title_wraps_to_the_drawn_width(page, out_dir: Path, kind: str, n: int,
                                               width: int) -> None:
    """The funnel's and the comparison's titles (the indicator's name) are broken into lines
    that fit the width the page draws the chart at, as the trend page's are: a long name ran
    off the chart's right edge at 390, 720 and 1,190 px. Nothing drawn meets the title."""
    rows, limits = _data(n)
    hl = _highlight(rows)

    def build(title: str) -> object:
        kw = {"title": title, "subtitle": f"2021-22; {n:,} practices", "highlight": hl,
              "fit_width": width, "indicator": META}
        if kind == "funnel":
            return figures.funnel_figure(rows, limits, centre=90.0,
                                         centre_label="Peers pooled", **kw)
        return figures.comparison_figure(rows, benchmark=90.0, benchmark_label="the average",
                                         **kw)

    short = build(META["name"])
    _draw(page, short, width, int(short.layout.height or 480))
    short_plot = page.evaluate("() => document.getElementById('g')._fullLayout._size.h")
    fig = build(LONG_INDICATOR)
    got = _draw(page, fig, width, int(fig.layout.height or 480))
    if width >= 720:  # the figure grows by the title's lines: the plot keeps its height
        plot = page.evaluate("() => document.getElementById('g')._fullLayout._size.h")
        assert plot >= short_plot - 2, (plot, short_plot)
    page.screenshot(path=str(out_dir / f"{kind}-{n}-longtitle-{width}.png"), full_page=True)
    where = f"{kind}, {n}, a long title, {width} px"
    assert got["title"], f"{where}: no title"
    assert _inside(got["title"], got), f"{where}: title cut {got['title']}"
    lines = page.evaluate(
        "() => [...document.querySelectorAll('#g .gtitle tspan.line')].map(l => {"
        " const r = l.getBoundingClientRect();"
        " return {x0: r.left, y0: r.top, x1: r.right, y1: r.bottom}; })")
    # the title's lines and the subtitle's (the name needs two lines even at 1,190 px)
    assert len(lines) >= (5 if width < 500 else 4 if width < 900 else 3), f"{where}: {lines}"
    for line in lines:
        assert line["x1"] <= got["w"] + 1, f"{where}: a title line is cut: {line}"
    # at the top of the image (a title of four lines came 35 px down, over the legend)
    assert 0 <= min(line["y0"] for line in lines) <= 16, f"{where}: {lines}"
    if width < 720:
        return  # a page draws no chart narrower (its card scrolls): the title alone here
    _check_drawn(got, kind, where)
    for a in got["ann"]:
        for line in lines:
            assert not _overlap(a["bg"], line), f"{where}: {a['text']!r} meets the title"
    if got["legend"]:
        for line in lines:
            assert not _overlap(got["legend"], line), f"{where}: the legend meets the title"


_ROOM_JS = """
() => {
  const g = document.getElementById('g');
  const svg = g.querySelector('.main-svg').getBoundingClientRect();
  const box = el => { const r = el.getBoundingClientRect();
    return {y0: r.top - svg.top, y1: r.bottom - svg.top}; };
  const sub = [...g.querySelectorAll('.gtitle tspan, .gtitle')].map(box);
  const entries = [...g.querySelectorAll('g.legend g.traces text')].map(box);
  return {title_bottom: Math.max(...sub.map(b => b.y1)),
          legend: {y0: Math.min(...entries.map(b => b.y0)),
                   y1: Math.max(...entries.map(b => b.y1))},
          rows: new Set(entries.map(b => Math.round(b.y0))).size,
          plot_top: g._fullLayout._size.t};
}
"""


@pytest.mark.parametrize(("label", "width"), [*PAGE_WIDTHS, ("page1000", 910)])
@pytest.mark.parametrize("n", [4, 130])
def test_page_funnel_legend_fills_the_room_kept_for_it(page, out_dir: Path, n: int,
                                                        label: str, width: int) -> None:
    """The page's funnel keeps room above the plot for its legend's rows. Counted from
    text widths measured in DejaVu Sans (wider than the Arial Chromium draws), the room was
    two rows too many at 720 px: a 60-70 px gap between the subtitle and a legend of two
    rows. Each entry now takes the width measured (``legendwidth``), so plotly lays out the
    rows counted: drawn, the legend's entries start within a few px under the subtitle and
    end just above the plot, never over either."""
    fig = _figures(n, False, None, fit_width=width)["funnel"]
    _draw(page, fig, width, int(fig.layout.height or 480))
    got = page.evaluate(_ROOM_JS)
    assert got["rows"] == figures._legend_rows(fig, theme.SCREEN, page.evaluate(_PLOT_W_JS)), got
    page.screenshot(path=str(out_dir / f"funnel-legend-{n}-{label}.png"), full_page=True)
    legend = got["legend"]
    assert legend["y0"] >= got["title_bottom"] - 1, got  # not over the subtitle
    assert legend["y1"] <= got["plot_top"] + 1, got  # nor over the plot
    assert legend["y0"] - got["title_bottom"] < 24, got  # no empty row above it
    assert got["plot_top"] - legend["y1"] < 24, got  # nor below it
