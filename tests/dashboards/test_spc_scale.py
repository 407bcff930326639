"""SPC at every scale: 3, 12 and 60 periods of months, quarters and financial years, through the
service, the API, the chart and the trend page. Under 12 values there are no limits (a run chart
with the shared words); from 12 the XmR limits of a percentage stay within 0-100; the x ticks are
the series' own period labels."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.app import create_api
from core.periods import parse_period
from core.services import spc as spcs
from core.services.spc import period_sequence
from tests.core.services.factories import add_indicator, add_org, add_values, period_id
from tests.dashboards.test_pages import _find

FIRST = {"month": "2019-04", "quarter": "2019-Q2", "financial_year": "2019-20"}
SIZES = (3, 12, 60)


def _labels(period_type: str, n: int) -> list[str]:
    first = parse_period(FIRST[period_type], period_type)
    last = first
    for _ in range(n - 1):
        last = parse_period((last.end + dt.timedelta(days=1)).isoformat(), period_type)
    return period_sequence(first.label, last.label, period_type)


def _build(engine, period_type: str) -> dict[int, list[str]]:
    """One practice per size; uptake near 100% so XmR limits would pass 100."""
    rng = np.random.default_rng(3)
    out = {}
    with Session(engine) as s:
        add_org(s, "ENG", "England", "nation")
        add_indicator(s, "pct", name="Uptake", target=95.0, frequency=period_type)
        for n in SIZES:
            code = f"P{n:05d}"
            oid = add_org(s, code, f"Practice {n}", "practice", "ENG")
            labels = _labels(period_type, n)
            rows = []
            for lab in labels:
                den = 200.0
                num = float(min(den, round(den * (0.975 + rng.normal(0, 0.015)))))
                rows.append({"org_id": oid, "indicator_id": "pct",
                             "period_id": period_id(s, lab, period_type), "numerator": num,
                             "denominator": den, "value": num / den * 100})
            add_values(s, rows)
            out[n] = labels
        s.commit()
    return out


@pytest.mark.parametrize("period_type", ["month", "quarter", "financial_year"])
def test_spc_at_3_12_and_60_periods(engine, pages, period_type):
    series = _build(engine, period_type)
    trend = pages["trend"]
    with TestClient(create_api(), raise_server_exceptions=False) as client, \
            Session(engine) as s:
        for n in SIZES:
            code, labels = f"P{n:05d}", series[n]
            view = spcs.spc(s, code, "pct")
            body = client.get(f"/api/v1/organisations/{code}/indicators/pct/spc").json()
            assert view.period_type == body["period_type"] == period_type
            assert [p["period"] for p in body["points"]] == labels
            assert body["n_points"] == n
            assert body["run_chart"]["n_useful"] <= n
            fig = trend.figure_for(view)
            lay = trend.layout(code=code, indicator_id="pct")
            page_fig = _find(lay, "trend-graph").figure
            badges = str(_find(lay, "trend-badges").children)
            names = {t.name for t in fig.data}
            box = " ".join(a.text for a in fig.layout.annotations if a.text)
            # ticks: the series' own labels, in order, at most a dozen
            ticks = list(fig.layout.xaxis.ticktext)
            assert ticks == [lab for lab in labels if lab in ticks]
            assert ticks[0] == labels[0]
            assert len(ticks) <= 12
            # the axis holds every point with room: half a period, or 2% of a long span
            lo, hi = (pd.Timestamp(x) for x in fig.layout.xaxis.range)
            first = pd.Timestamp(parse_period(labels[0], period_type).start)
            last = pd.Timestamp(parse_period(labels[-1], period_type).start)
            room = max((last - first) * 0.021, pd.Timedelta(days=200))
            assert first - room < lo < first
            assert last < hi < last + room
            if n < 12:
                note = f"{n} points: too few for limits; at least 12 needed"
                assert view.limits_note == body["limits_note"] == note
                assert body["warnings"] == [note]
                assert all(p["upper_limit"] is None and p["mean"] is None
                           for p in body["points"])
                assert {p["special_cause"] for p in body["points"]} == {"none"}
                assert body["variation"] is None
                assert body["assurance"] is None
                assert body["run_chart"]["sentence"].startswith("Run chart (median")
                assert "Process limits" not in names
                assert "Mean" not in names
                assert "Median" in names
                median = next(t for t in fig.data if t.name == "Median")
                assert median.y[0] == pytest.approx(np.median([p["value"] for p in
                                                               body["points"]]))
                assert note in box
                assert note in badges
                assert body["run_chart"]["sentence"] in badges
            else:
                assert view.limits_note is None
                assert body["limits_note"] is None
                upl = [p["upper_limit"] for p in body["points"]]
                assert all(u is not None and 0 <= u <= 100 for u in upl)
                limits = [y for t in fig.data if t.name in ("Process limits", "lpl")
                          for y in t.y if y is not None]
                assert limits
                assert min(limits) >= 0
                assert max(limits) <= 100
                # uptake near 100%: the XmR upper limit passes 100, is clipped, and said so
                assert max(upl) == 100
                assert spcs.clipped_note(100.0) in body["warnings"]
                assert "Median" not in names
            # the page draws the same figure
            assert list(page_fig.layout.xaxis.ticktext) == ticks
            assert {t.name for t in page_fig.data} == names


def test_short_rebase_segment_has_labelled_trial_limits(engine, pages):
    labels = _build(engine, "month")[60]
    with Session(engine) as s:
        view = spcs.spc(s, "P00060", "pct", rebase=[labels[54]])
    assert view.trial_segments == [1]
    assert spcs.trial_limits_note(6, labels[54]) in view.warnings
    assert view.warnings[0] == "trial limits from 2023-10: 6 points (fewer than 12; revised as " \
                               "points are added)"
    fig = pages["trend"].figure_for(view)
    firm = [t for t in fig.data if t.legendgroup == "limits"]
    trial = [t for t in fig.data if t.legendgroup == "trial"]
    assert {t.name for t in trial} == {"Trial limits (under 12 points)", "lpl"}
    trial_x = {pd.Timestamp(x) for t in trial for x in t.x if x is not None}
    firm_x = {pd.Timestamp(x) for t in firm for x in t.x if x is not None}
    assert min(trial_x) == pd.Timestamp(parse_period(labels[54]).start)
    assert max(firm_x) < min(trial_x)
    assert all(t.line.dash == "dot" for t in trial)


# ---------------------------------------------------------------------------------------------
# the drawn chart: the target's label is outside the plot, level with its line
# ---------------------------------------------------------------------------------------------
_SPC_BOXES_JS = """
() => {
  const gd = document.getElementById('g');
  const svg = gd.querySelector('.main-svg').getBoundingClientRect();
  const size = gd._fullLayout._size;
  const box = el => { const r = el.getBoundingClientRect();
    return {x0: r.left - svg.left, y0: r.top - svg.top, x1: r.right - svg.left,
            y1: r.bottom - svg.top}; };
  const ann = [...gd.querySelectorAll('g.annotation')].map(g => ({text: g.textContent,
    box: box(g.querySelector('text') || g)})).filter(a => a.text.trim());
  const points = [...gd.querySelectorAll('g.trace.scatter path.point')].map(box);
  const ya = gd._fullLayout.yaxis;
  return {w: svg.width, h: svg.height, ann, points,
          plot: {x0: size.l, y0: size.t, x1: size.l + size.w, y1: size.t + size.h},
          target_y: size.t + ya.l2p(95.0)};
}
"""


@pytest.mark.parametrize("for_slides", [False, True], ids=["page", "slide"])
def test_target_label_stays_off_the_data(engine, pages, for_slides):
    """At 3, 12 and 60 periods, on the page (1,190 px: a 1,280 px screen; 720 px: a phone's
    chart) and on a slide (1,600 x 900, as the pack draws it): the target's label lies right
    of the plot, level with its line, inside the image, over no point and no other label (it
    sat on the line and the first points at the plot's left end)."""
    from tests.dashboards.test_visual_matrix import _overlap, plotly_page

    _build(engine, "month")
    out = os.environ.get("QIDASH_VISUAL_DIR")
    widths = [1600] if for_slides else [1190, 720]
    with plotly_page(1600, 900) as page, Session(engine) as s:
        for n in SIZES:
            fig = pages["trend"].figure_for(spcs.spc(s, f"P{n:05d}", "pct"),
                                            for_slides=for_slides)
            for width in widths:
                height = int(fig.layout.height or 480)
                fig.update_layout(width=width, height=height)
                page.set_viewport_size({"width": width, "height": height})
                page.evaluate("f => Plotly.newPlot('g', f.data, f.layout, {staticPlot: true})",
                              json.loads(fig.to_json()))
                got = page.evaluate(_SPC_BOXES_JS)
                if out:  # to be looked at
                    page.screenshot(path=str(Path(out) / f"spc-{n}-{width}.png"))
                where = f"{n} periods at {width} px"
                target = [a for a in got["ann"] if a["text"].startswith("Target")]
                assert len(target) == 1, f"{where}: {[a['text'] for a in got['ann']]}"
                b = target[0]["box"]
                assert b["x0"] >= got["plot"]["x1"], f"{where}: target label over the plot {b}"
                assert b["x1"] <= got["w"] + 1, f"{where}: target label cut {b}"
                assert 0 <= b["y0"] <= b["y1"] <= got["h"] + 1, f"{where}: target label cut {b}"
                # level with its line: the line's height is within the label (or, pushed
                # apart from a limit's label, within one label's height of it)
                tall = b["y1"] - b["y0"]
                assert b["y0"] - tall <= got["target_y"] <= b["y1"] + tall, where
                assert not [pt for pt in got["points"] if _overlap(b, pt)], where
                others = [a for a in got["ann"] if a is not target[0]]
                for a in others:
                    assert not _overlap(b, a["box"]), f"{where}: target label meets {a['text']}"
