"""Pages and callbacks called directly against the real sample (SQLite and PostgreSQL)."""

from __future__ import annotations

import json

import pandas as pd
import plotly.io as pio
import pytest
from dash import no_update


def triggered(prop_id: str, fn, *args):
    """Call a callback as Dash would after ``prop_id`` changed (for ``ctx.triggered_id``)."""
    from contextvars import copy_context

    from dash._callback_context import context_value
    from dash._utils import AttributeDict

    def run():
        context_value.set(AttributeDict(triggered_inputs=[{"prop_id": prop_id, "value": 1}]))
        return fn(*args)

    return copy_context().run(run)


def _ids(component) -> set[str]:
    out = set()

    def walk(c):
        cid = getattr(c, "id", None)
        if isinstance(cid, str):
            out.add(cid)
        kids = getattr(c, "children", None)
        for k in kids if isinstance(kids, list | tuple) else [kids]:
            if hasattr(k, "to_plotly_json"):
                walk(k)

    walk(component)
    return out


def _find(component, cid):
    if getattr(component, "id", None) == cid:
        return component
    kids = getattr(component, "children", None)
    for k in kids if isinstance(kids, list | tuple) else [kids]:
        if hasattr(k, "to_plotly_json"):
            hit = _find(k, cid)
            if hit is not None:
                return hit
    return None


def test_indicator_layout_reads_the_url_state(sample, pages):
    page = pages["indicator"]
    lay = page.layout(indicator_id="imm_6in1_12m", period="2020-21", highlight="h82006",
                      peers="parent:U33593", confidence="99.8")
    assert _find(lay, "ind-period").value == "2020-21"
    assert _find(lay, "ind-peers").value == "parent:U33593"
    assert _find(lay, "ind-highlight").value == "H82006"
    assert _find(lay, "ind-confidence").value == 99.8
    fig = _find(lay, "ind-graph").figure
    # 4 practices in the PCN, named on the axis; the highlighted one labelled
    assert len(fig.layout.yaxis.ticktext) == 4
    assert any("The Petworth Surgery" in a.text for a in fig.layout.annotations)
    assert "2020-21" in fig.layout.title.text
    # "Export slides" on the first render already names the highlighted practice's pack
    slides = _find(lay, {"type": "slides-btn", "page": "ind"})
    assert "highlight=H82006" in slides.href
    assert "period=2020-21" in slides.href


def test_indicator_callback_switches_views(sample, pages):
    page = pages["indicator"]
    fig, gstyle, rows, tstyle, summary, href = page.update(
        "2021-22", "", "H82006", 95.0, "funnel", True, "imm_6in1_12m")
    assert gstyle == {"display": "block"}
    assert tstyle == {"display": "none"}
    names = [t.name for t in fig.data]
    assert "99.8% limits (3 SD)" in names
    # the funnel view's sentence counts the funnel's own verdicts, as the points are coloured
    # (78 of the 80 practices with a value have the counts a funnel needs)
    points = sum(len(t.x) for t in fig.data if t.mode == "markers")
    assert summary.startswith(f"Of {points} organisations on the funnel")
    similar = next(t for t in fig.data if t.name.startswith("Similar"))
    assert f"{len(similar.x)} lie within the 95% limits" in summary
    assert "highlight=H82006" in href
    assert "view=funnel" in href
    assert rows is None  # no grid (and no ag-grid chunk to load) outside the table view
    fig2, gstyle, grid, tstyle, _s, _h = page.update(
        "2021-22", "", None, 95.0, "table", False, "imm_6in1_12m")
    assert fig2 is no_update
    assert tstyle == {"display": "block"}
    rows = grid.rowData
    assert len(rows) == 80
    assert {"Organisation", "Value", "Lower CI"} <= set(rows[0])
    json.dumps(rows)  # the grid gets plain JSON


def test_indicator_bad_input_gives_a_message_not_a_traceback(sample, pages):
    page = pages["indicator"]
    lay = page.layout(indicator_id="no_such_indicator")
    text = json.dumps(lay.to_plotly_json(), default=str)
    assert "There is no indicator 'no_such_indicator'" in text
    assert "href='/indicators/imm_6in1_12m'" in text  # the real ones, as links
    assert "list them with" not in text  # the API's hint names an API path, not a page
    lay = page.layout(indicator_id="imm_6in1_12m", period="1999-00")
    assert "no values for period" in json.dumps(lay.to_plotly_json(), default=str)
    out = page.update("2021-22", "parent:NOPE", None, 95.0, "chart", False, "imm_6in1_12m")
    assert "There is no organisation 'NOPE'" in out[4]


def test_unknown_organisation_links_to_similar_codes(sample, pages):
    lay = pages["organisation"].layout(code="H8200")
    text = json.dumps(lay.to_plotly_json(), default=str)
    assert "There is no organisation 'H8200'" in text
    assert "href='/organisations/H82006'" in text  # a similar code, as a link
    assert "The Petworth Surgery (H82006)" in text  # named
    assert "/organisations?q=" not in text


def test_indicator_csv(sample, pages):
    sent = pages["indicator"].download_csv(1, "2021-22", "parent:U33593", 95.0,
                                           "imm_6in1_12m")
    assert sent["filename"] == "imm_6in1_12m_2021-22.csv"
    assert sent["content"].count("\n") == 5
    assert "The Petworth Surgery" in sent["content"]


def test_profile_trend_and_drill(sample, pages):
    lay = pages["organisation"].layout(code="H82006")
    fig = _find(lay, "org-graph").figure
    assert list(fig.layout.yaxis.ticktext) == [
        "6-in-1 vaccine (DTaP/IPV/Hib/HepB) by 12 months", "MMR first dose by 24 months",
        "MMR second dose by 5 years"]
    key = _find(lay, "org-key").data
    href = triggered("org-graph.clickData", pages["organisation"].drill,
                     {"points": [{"y": 1}]}, None, key)
    assert href == f"/organisations/H82006/indicators/{key['indicators'][1]}"
    # the trend URL reaches the trend page even though /organisations/<code> matches first
    lay = pages["organisation"].layout(code="RF4/indicators/ae_4hr", rebase="2017-04")
    assert _find(lay, "trend-rebase").value == ["2017-04"]
    fig = _find(lay, "trend-graph").figure
    mean = next(t for t in fig.data if t.name == "Mean")
    assert list(mean.y).count(None) == 2  # two segments: rebased in April 2017


def test_trend_annotation_round_trip(sample, pages):
    trend = pages["trend"]
    key = {"code": "RF4", "indicator": "ae_4hr"}
    notes, msg, fig, _tok = triggered("trend-note-add.n_clicks", trend.edit_notes, 1, [],
                                       "2017-06-01", "New triage <b>model</b>", None, None,
                                       key, [], None, "xmr")
    assert "Note added" in json.dumps(msg.to_plotly_json(), default=str)
    assert any("New triage &lt;b&gt;model&lt;/b&gt;" == a.text for a in fig.layout.annotations)
    # a bad date is a message, not an error
    _n, msg, _f, _t = triggered("trend-note-add.n_clicks", trend.edit_notes, 1, [], None,
                                 "x", None, None, key, [], None, "xmr")
    assert "Choose the date" in json.dumps(msg.to_plotly_json(), default=str)


def test_writes_need_an_analyst_token_when_auth_is_required(sample, pages, database_url):
    from core.auth import create_token
    from core.db import session_scope
    from core.settings import Settings, override_settings

    with session_scope() as s:
        _info, viewer = create_token(s, "viewer1", "viewer")
        _info, analyst = create_token(s, "analyst1", "analyst")
    override_settings(Settings(database_url=database_url, require_auth=True))
    trend = pages["trend"]
    key = {"code": "RF4", "indicator": "ae_4hr"}
    args = (1, [], "2017-06-01", "Note", None, None, key, [], None, "xmr")
    for token, words in ((None, "needs an analyst token"), ("qd_bogus", "not valid"),
                         (viewer, "viewer token")):
        a = list(args)
        a[4] = token
        _n, msg, _f, _t = triggered("trend-note-add.n_clicks", trend.edit_notes, *a)
        assert words in json.dumps(msg.to_plotly_json(), default=str)
    a = list(args)
    a[4] = analyst
    _n, msg, fig, tok = triggered("trend-note-add.n_clicks", trend.edit_notes, *a)
    assert "Note added" in json.dumps(msg.to_plotly_json(), default=str)
    assert tok == analyst  # kept for the tab's session


def test_network_and_home(sample, pages):
    lay = pages["network"].layout(code="U33593")
    grid = _find(lay, "net-grid")
    assert {c["headerName"] for c in grid.columnDefs[2:]} >= {"The Petworth Surgery"}
    assert [r["Flags"] for r in grid.rowData] == sorted(
        [r["Flags"] for r in grid.rowData], reverse=True)
    fig = _find(lay, "net-graph").figure
    assert sum(bool(a.showarrow) for a in fig.layout.annotations) == 4  # the 4 members labelled
    # the line is the average of the peers compared (the sample holds one CCG's practices),
    # named for them: never 'national'
    words = json.dumps(fig.to_plotly_json(), default=str)
    assert "national peer" not in words
    assert "the average of all practice organisations" in words.replace("<br>", " ")
    home = pages["home"].layout()
    text = json.dumps(home.to_plotly_json(), default=str)
    assert "ae_attendances.csv" in text
    assert "financial year: 2019-20 to 2021-22" in text
    opts = pages["home"].search_orgs("chichester")
    assert any(o["value"] == "networks/U33593" for o in opts)
    assert triggered("home-indicator.value", pages["home"].go, "imm_mmr1_24m",
                     None) == "/indicators/imm_mmr1_24m"


@pytest.mark.parametrize("page", ["indicator", "organisation", "network"])
def test_figures_serialise(sample, pages, page):
    lay = {"indicator": lambda m: m.layout(indicator_id="ae_4hr"),
           "organisation": lambda m: m.layout(code="H82030"),
           "network": lambda m: m.layout(code="U33593")}[page](pages[page])
    found = [_find(lay, f"{p}-graph") for p in ("ind", "org", "net")]
    graph = next(c for c in found if c is not None)
    pio.from_json(graph.figure.to_json())  # what Dash sends the browser


def test_summary_sentence_reads_as_english():
    from types import SimpleNamespace

    from dashboards.adapters import summary_sentence

    meta = SimpleNamespace(decimals=1, unit="%")

    def say(*words: str) -> str:
        return summary_sentence(pd.DataFrame({"comparison": list(words)}),
                                "the peer average", 94.5, meta, 95.0)

    assert say("similar", "similar", "similar", "similar") == (
        "Against the peer average (94.5%) at 95% confidence: all 4 organisations are "
        "similar.")
    assert say("better", "similar", "similar", "worse", "worse", "not_compared") == (
        "Against the peer average (94.5%) at 95% confidence: 1 organisation is "
        "significantly better, 2 similar and 2 significantly worse; 1 is not compared "
        "(suppressed or no counts).")
    assert say("worse") == ("Against the peer average (94.5%) at 95% confidence: the one "
                            "organisation is significantly worse.")
    assert "no organisation could be compared" in say("not_compared")
