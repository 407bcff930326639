"""Pages and callbacks called directly against the real sample (SQLite and PostgreSQL)."""

from __future__ import annotations

import io
import json

import pandas as pd
import plotly.io as pio
import pytest
from dash import no_update

from dashboards import components


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
        "2021-22", "", "H82006", 95.0, "funnel", True, None, "imm_6in1_12m")
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
        "2021-22", "", None, 95.0, "table", False, None, "imm_6in1_12m")
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
    out = page.update("2021-22", "parent:NOPE", None, 95.0, "chart", False, None, "imm_6in1_12m")
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


def test_trend_csv(sample, pages):
    """The trend page's "Download data (CSV)" sends the chart's points (it had no callback)."""
    key = {"code": "H82006", "indicator": "imm_mmr1_24m"}
    sent = pages["trend"].download_csv(1, key, [], None, "xmr")
    assert sent["filename"] == "spc_H82006_imm_mmr1_24m.csv"
    frame = pd.read_csv(io.StringIO(sent["content"]))
    assert list(frame["period"]) == ["2019-20", "2020-21", "2021-22"]
    assert {"numerator", "denominator", "value", "special_cause"} <= set(frame.columns)
    assert (frame["numerator"] <= frame["denominator"]).all()
    assert frame["value"].to_numpy() == pytest.approx(
        100 * frame["numerator"].to_numpy() / frame["denominator"].to_numpy())
    assert frame["mean"].isna().all()  # 3 points: a run chart, no limits


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


def as_user(dash_app, token: str | None):
    """A dashboard request as Dash's server would get it, with ``token`` as its bearer (the
    write guard reads the signed-in user from the request)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return dash_app.server.test_request_context("/_dash-update-component", method="POST",
                                                headers=headers)


def _token(name: str, role: str) -> str:
    from core.auth import create_token
    from core.db import session_scope

    with session_scope() as s:
        return create_token(s, name, role)[1]


def test_trend_annotation_round_trip(sample, pages, dash_app):
    trend = pages["trend"]
    key = {"code": "RF4", "indicator": "ae_4hr"}
    analyst = _token("analyst1", "analyst")
    with as_user(dash_app, analyst):
        notes, msg, fig = triggered("trend-note-add.n_clicks", trend.edit_notes, 1, None,
                                    "2017-06-01", "New triage <b>model</b>", None, key, [],
                                    None, "xmr")
        assert "Note added" in json.dumps(msg.to_plotly_json(), default=str)
        assert any("New triage &lt;b&gt;model&lt;/b&gt;" == a.text
                   for a in fig.layout.annotations)
        assert "(analyst1)" in json.dumps(notes.to_plotly_json(), default=str)
        # a bad date is a message, not an error
        _n, msg, _f = triggered("trend-note-add.n_clicks", trend.edit_notes, 1, None, None,
                                "x", None, key, [], None, "xmr")
        assert "Choose the date" in json.dumps(msg.to_plotly_json(), default=str)


@pytest.mark.parametrize("require_auth", [False, True])
def test_writes_need_an_analyst_sign_in_whatever_the_setting(sample, pages, dash_app,
                                                             database_url, require_auth):
    """Adding a note needs an analyst with QIDASH_REQUIRE_AUTH on or off: no sign-in, an
    unknown token and a viewer are refused; an analyst's note records its author."""
    from core.settings import Settings, override_settings

    viewer, analyst = _token("viewer1", "viewer"), _token("analyst1", "analyst")
    override_settings(Settings(database_url=database_url, require_auth=require_auth))
    trend = pages["trend"]
    key = {"code": "RF4", "indicator": "ae_4hr"}
    args = (1, None, "2017-06-01", "Note", None, key, [], None, "xmr")
    for token, words in ((None, "needs an analyst sign-in"), ("qd_bogus", "needs an analyst"),
                         (viewer, "signed in with a viewer token")):
        with as_user(dash_app, token):
            _n, msg, _f = triggered("trend-note-add.n_clicks", trend.edit_notes, *args)
        assert words in json.dumps(msg.to_plotly_json(), default=str)
    with as_user(dash_app, analyst):
        notes, msg, _f = triggered("trend-note-add.n_clicks", trend.edit_notes, *args)
    assert "Note added" in json.dumps(msg.to_plotly_json(), default=str)


def test_network_and_home(sample, pages):
    lay = pages["network"].layout(code="U33593")
    grid = _find(lay, "net-grid")
    assert {c["headerName"] for c in grid.columnDefs[2:]} >= {"The Petworth Surgery"}
    assert [r["Flags"] for r in grid.rowData] == sorted(
        [r["Flags"] for r in grid.rowData], reverse=True)
    fig = _find(lay, "net-graph").figure
    # the 4 members labelled, each once, by name (shortened with an ellipsis when the names
    # do not fit beside the bars); the benchmark lines' labels carry bold values too
    members = [c["headerName"] for c in grid.columnDefs[2:]]
    assert len(members) == 4
    assert sum(bool(a.showarrow) for a in fig.layout.annotations) == 4
    names = [a.text.split("</b>")[0].removeprefix("<b>").removesuffix("\u2026")
             for a in fig.layout.annotations if a.showarrow]
    assert sorted(next(m for m in members if m.startswith(n)) for n in names) == sorted(members)
    # the page reports the chart's width (1,190 px on a 1,280 px screen) and the chart is
    # redrawn with its labels fitted to it: the members' names in full
    net = pages["network"]
    wide = net.update(_find(lay, "net-indicator").value, 1190, _find(lay, "net-key").data)
    labels = [a.text for a in wide.layout.annotations if a.showarrow]
    assert sorted(t.split("</b>")[0].removeprefix("<b>") for t in labels) == sorted(members)
    assert [components.chart_width(w) for w in (1190, 720.0, "1190", 50, None, 10**6)] == [
        1190, 720, None, None, None, None]
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


@pytest.mark.parametrize(("page", "title"), [
    ("indicator", "A&amp;E patients seen within 4 hours (type 1)<br><sup>2019-03; all trust "
                  "organisations; 95% confidence</sup>"),
    ("organisation", "Pulborough Medical Group against all practice organisations"),
    ("network", "MMR second dose by 5 years<br><sup>2021-22; Rural North Chichester PCN's "
                "members among all practice organisations</sup>"),
])
def test_figures_serialise(sample, pages, page, title):
    """What Dash sends the browser parses back to the same figure, titled for the view;
    the indicator page draws one bar per trust with a value."""
    from sqlalchemy.orm import Session

    from core.services.comparison import comparison

    lay = {"indicator": lambda m: m.layout(indicator_id="ae_4hr"),
           "organisation": lambda m: m.layout(code="H82030"),
           "network": lambda m: m.layout(code="U33593")}[page](pages[page])
    found = [_find(lay, f"{p}-graph") for p in ("ind", "org", "net")]
    graph = next(c for c in found if c is not None)
    sent = graph.figure.to_json()
    back = pio.from_json(sent)
    assert json.loads(back.to_json())["data"] == json.loads(sent)["data"]
    assert back.layout.title.text.startswith(title)
    if page == "indicator":
        with Session(sample) as s:
            n = comparison(s, "ae_4hr").n
        assert n > 1
        assert sum(len(t.y) for t in graph.figure.data if t.type == "bar") == n


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


def test_start_page_groups_many_indicators_by_domain(pages):
    """A few indicators are one list; hundreds (a national deployment) are listed by domain,
    each domain closed until opened, every indicator still a link."""
    from types import SimpleNamespace

    home = pages["home"]

    def ind(k: int, domain: str | None) -> SimpleNamespace:
        return SimpleNamespace(id=f"i{k:03d}", name=f"Indicator {k}", domain=domain)

    few = [ind(k, "Screening") for k in range(3)]
    flat = json.dumps(home._indicator_links(few).to_plotly_json(), default=str)
    assert "Details" not in flat
    assert flat.count("/indicators/i") == 3
    many = ([ind(k, "Childhood immunisation") for k in range(200)]
            + [ind(k, None) for k in range(200, 340)])
    grouped = home._indicator_links(many)
    text = json.dumps(grouped.to_plotly_json(), default=str)
    assert "340 indicators in 2 domains" in text
    assert "Childhood immunisation (200)" in text
    assert "Other indicators (140)" in text
    assert text.count("Details(") == 2
    assert text.count("/indicators/i") == 340


def test_each_page_declares_the_stores_it_writes(sample, pages):
    """The callback check refuses a request whose page store holds anything but what the page
    wrote: each page declares its stores where it writes them (one place, no copy in the app
    to fall out of step), and a layout writing another shape fails when it is built."""
    assert set(components.KEY_STORES) >= {"trend-key", "net-key", "org-key", "ind-indicator"}
    lay = pages["organisation"].layout(code="H82006")
    key = _find(lay, "org-key").data
    assert components.store_problem("org-key", key) is None
    assert "org-key does not hold" in components.store_problem("org-key", {"code": "H82006"})
    assert components.store_problem("ind-indicator", 3) is not None
    with pytest.raises(ValueError, match="does not hold"):
        components.key_store("trend-key", {"code": "H82006"})
    with pytest.raises(KeyError, match="not declared"):
        components.key_store("nope-key", {})
