"""Peer comparison of one indicator: ranked bars, funnel plot, sortable table.

URL: ``/indicators/<id>?period=&peers=parent:CODE&highlight=CODE&confidence=95|99.8
&view=chart|funnel|table&od=1``. The first view is built in ``layout`` (no extra round trip);
the controls then update it through one callback and rewrite the URL.
"""



from dataclasses import dataclass
from typing import Any

import dash
import dash_ag_grid as dag
import dash_bootstrap_components as dbc
from dash import Input, Output, State, callback, dcc, html, no_update

from core.services import comparison as comparison_service
from core.services.data_periods import periods_with_data
from core.services.disclosure import active_rule
from core.services.indicators import get_indicator
from core.services.organisations import list_organisations, orgs_by_ids
from dashboards import adapters, components, figures
from dashboards.adapters import ViewError

dash.register_page(__name__, path_template="/indicators/<indicator_id>",
                   title="Peer comparison - qidash")

P = "ind"
KEY = components.declare_key_store(f"{P}-indicator", str)
KEYS = ("period", "peers", "highlight", "confidence", "view", "od")
VIEWS = ("chart", "funnel", "table")

HOW_TO_READ = (
    ("Bars", "Each bar is one organisation's value, sorted from lowest to highest. The thin "
             "line through the end of each bar is its confidence interval: the range the true "
             "value probably lies in, given how many people were counted."),
    ("Colours", "Blue: significantly better than the benchmark (its whole interval is on the "
                "better side). Grey: similar, the difference could be chance. Orange: "
                "significantly worse. White: too few people, or suppressed, to judge."),
    ("Benchmark and target", "The solid black line is the benchmark (by default all the peers "
                             "taken together). The dashed red line is the target."),
    ("Funnel plot", "The same organisations plotted against their size. Small organisations "
                    "vary more by chance, so the limits are wider on the left. A point outside "
                    "the funnel is unlikely to be chance alone. The overdispersion switch "
                    "widens the limits when organisations differ more than chance predicts."),
    ("Small numbers", "A practice with 12 eligible children can swing 8 points with one child. "
                      "Look at the interval, not the rank."),
)


@dataclass(frozen=True)
class State_:
    """One view of the page, as the URL says it."""

    indicator_id: str
    period: str | None = None
    peers: str | None = None
    highlight: str | None = None
    confidence: float = 95.0
    view: str = "chart"
    od: bool = False

    @classmethod
    def parse(cls, indicator_id: str, query: dict[str, Any]) -> "State_":
        """Read a state from query parameters; unknown values fall back to defaults."""
        try:
            conf = float(query.get("confidence") or 95)
        except (TypeError, ValueError):  # a list, or text that is not a number
            conf = 95.0
        view = query.get("view") or "chart"
        return cls(
            indicator_id=indicator_id,
            period=_text(query.get("period")),
            peers=_text(query.get("peers")),
            highlight=_text(query.get("highlight")),
            confidence=99.8 if conf in (99.8, 0.998) else 95.0,
            view=view if view in VIEWS else "chart",
            od=str(query.get("od", "")).lower() in ("1", "true", "yes", "on"),
        )


def _text(value: Any) -> str | None:
    """A control's text value, or None (empty, or not text: a value no control sends)."""
    return value if isinstance(value, str) and value else None


def _options(s: Any, st: State_) -> dict[str, Any]:
    meta = get_indicator(s, st.indicator_id)
    periods = periods_with_data(s, meta.id)
    return {"meta": meta, "periods": [p.label for p in reversed(periods)]}


def compute(s: Any, st: State_) -> dict[str, Any]:
    """Everything the page shows for one state (one read transaction)."""
    res = comparison_service.comparison(s, st.indicator_id, period=st.period, peers=st.peers,
                                        confidence=st.confidence)
    out: dict[str, Any] = {"result": res}
    parent_ids = sorted({int(p) for p in res.rows["parent_id"].dropna()})
    parents = orgs_by_ids(s, parent_ids)
    out["parents"] = sorted(((o.code, o.name) for o in parents.values()), key=lambda x: x[1])
    if st.view == "funnel":
        try:
            out["funnel"] = comparison_service.funnel(
                s, st.indicator_id, period=res.period.label, period_type=res.period.period_type,
                peers=st.peers, overdispersion=st.od)
        except Exception as exc:  # shown as a message in place of the funnel
            out["funnel_error"] = getattr(exc, "message", str(exc))
    return out


def figure_for(st: State_, data: dict[str, Any], *, for_slides: bool = False,
               fit_width: int | None = None) -> Any:
    """The chart of the state's view (comparison or funnel); on the page, its labels fitted to
    ``fit_width`` px (the chart's width there, once the browser has said)."""
    res = data["result"]
    meta = res.indicator
    peers_label = res.peers.label
    subtitle = f"{res.period.label}; {peers_label}; {res.confidence:g}% confidence"
    if st.view == "funnel":
        fv = data.get("funnel")
        if fv is None:
            return figures._empty(data.get("funnel_error", "No funnel plot for this selection"),
                                  for_slides=for_slides, width=None, height=None)
        pts = fv.rows.copy()
        pts["comparison"] = adapters.funnel_verdicts(pts["flag"], meta.polarity, res.confidence)
        if fv.overdispersion_requested:
            note = (f"Limits widened for overdispersion (phi = {fv.phi:.2f})"
                    if fv.overdispersion and fv.phi is not None else
                    "Overdispersion requested, but the organisations vary no more than chance "
                    "predicts: limits not widened")
        else:
            note = "Limits not adjusted for overdispersion"
        return figures.funnel_figure(
            pts, fv.limits, indicator=meta, centre=fv.target, centre_label="Peers pooled",
            highlight=st.highlight, overdispersion_note=note, title=meta.name,
            subtitle=subtitle, for_slides=for_slides, fit_width=fit_width)
    return figures.comparison_figure(
        adapters.comparison_rows(res.rows), indicator=meta, benchmark=res.benchmark.value,
        benchmark_label=bench_label(res), highlight=st.highlight,
        confidence=res.confidence, title=meta.name, subtitle=subtitle, for_slides=for_slides,
        fit_width=fit_width)


def bench_label(res: Any) -> str:
    """Words for the benchmark: "the peer average" rather than a technical label."""
    if res.benchmark.kind == "peers":
        return "the peer average"
    return res.benchmark.label


def _unit_words(unit: str | None) -> str:
    """A unit as a screen reader should say it ("per cent", not "%")."""
    return {"%": "per cent", None: "value", "": "value"}.get(unit, unit) or "value"


def _grid(rows: list[dict[str, Any]], meta: Any) -> dag.AgGrid:
    # numbers take what they need; the names and the verdict share the rest and never shrink
    # below readable (ag-grid gives unsized columns 200 px each, which squeezed the flex ones
    # to nothing at 1280 px)
    num = {"type": "rightAligned", "width": 95}
    cols = [
        {"field": "Rank", **num, "width": 75},
        {"field": "Organisation", "flex": 2, "minWidth": 180, "filter": True},
        {"field": "Code", "width": 85},
        {"field": "Value", **num, "headerName": f"Value ({_unit_words(meta.unit)})",
         "width": 120,
         "filter": "agNumberColumnFilter"},
        # intervals and units in words (read out by screen readers as the column's name)
        {"field": "Lower CI", **num, "headerName": "Lower confidence limit", "width": 120},
        {"field": "Upper CI", **num, "headerName": "Upper confidence limit", "width": 120},
        {"field": "Numerator", **num, "width": 110}, {"field": "Denominator", **num,
                                                        "width": 130},
        {"field": "Compared with benchmark", "headerName": "Comparison", "flex": 1,
         "minWidth": 170, "filter": True, "headerTooltip": "Compared with the benchmark"},
        {"field": "Meets target", "width": 105},
    ]
    if active_rule() is not None:  # disclosure control: says why a row has no value
        cols.append({"field": "Note", "width": 190})
    return dag.AgGrid(id=f"{P}-grid", rowData=rows, columnDefs=cols,
                      defaultColDef={"sortable": True, "resizable": True,
                                     "wrapHeaderText": True, "autoHeaderHeight": True},
                      dashGridOptions={"animateRows": False, "pagination": len(rows) > 200,
                                       "paginationPageSize": 100,
                                       # a short table is as tall as its rows, no empty grid
                                       **({"domLayout": "autoHeight"} if len(rows) <= 20
                                          else {}),
                                       # the grid is one Tab stop (arrows move inside it, Enter
                                       # on a header sorts): Tab leaves it, as in WAI-ARIA's
                                       # grid pattern, not after every one of 800 cells
                                       "tabToNextCell": {"function": "false"}},
                      style={} if len(rows) <= 20 else {"height": "560px"},
                      className="ag-theme-alpine")


def _content(st: State_, data: dict[str, Any],
             fit_width: int | None = None) -> tuple[Any, Any, Any, str]:
    """figure, grid rows, summary text, slides href for a state."""
    res = data["result"]
    rows = res.rows
    fv = data.get("funnel")
    if st.view == "funnel" and fv is not None:
        summary = adapters.funnel_summary_sentence(
            adapters.funnel_verdicts(fv.rows["flag"], res.indicator.polarity, res.confidence),
            fv.target, res.indicator, res.confidence, bool(fv.overdispersion))
    else:
        summary = adapters.summary_sentence(rows, bench_label(res), res.benchmark.value,
                                            res.indicator, res.confidence)
    fig = figure_for(st, data, fit_width=fit_width) if st.view != "table" else None
    grid_rows = (adapters.comparison_table(rows, res.indicator).to_dict("records")
                 if st.view == "table" else [])
    href = components.slides_href(_slides_params(st, res))
    return fig, grid_rows, summary, href


def _slides_params(st: State_, res: Any) -> dict[str, Any]:
    """The slide pack of this view: its indicator, period, peers, highlight, confidence. A
    pack is about one organisation: the highlighted one, else, where the peers are one
    network's members (``parent:CODE``), that network's pack, whose slides show the same
    members side by side; otherwise there is none to make ("Highlight an organisation")."""
    highlight = hit_code(res, st.highlight)
    network = None
    if not highlight and st.peers and st.peers.startswith("parent:"):
        network = st.peers.split(":", 1)[1] or None
    return {"indicator": st.indicator_id, "period": res.period.label, "peers": st.peers,
            "highlight": highlight, "network": network, "confidence": st.confidence,
            "view": st.view, "od": "true" if st.od else None}


def layout(indicator_id: str | None = None, **query: Any) -> Any:
    """The comparison page for ``indicator_id`` in the state the query string gives."""
    st = State_.parse(indicator_id or "", query)
    try:
        opts = adapters.read(_options, st)
        data = adapters.read(compute, st)
    except ViewError as exc:
        return components.error_panel(exc)
    meta, res = opts["meta"], data["result"]
    fig, grid_rows, summary, href = _content(st, data)
    peer_options = [{"label": f"All {res.peers.org_type or 'organisations'}s "
                              "(every one with data)", "value": ""}]
    peer_options += [{"label": f"{name} ({code})", "value": f"parent:{code}"}
                     for code, name in data["parents"]]
    hl_options = []
    if st.highlight:
        hit = res.rows[res.rows["org_code"].str.upper() == st.highlight.upper()]
        hl_options = [{"label": f"{r.org_name} ({r.org_code})", "value": r.org_code}
                      for r in hit.itertuples()] or [{"label": st.highlight,
                                                      "value": st.highlight}]
    controls = dbc.Row(
        [
            dbc.Col([dbc.Label("Period", html_for=f"{P}-period"),
                     dcc.Dropdown(id=f"{P}-period", options=opts["periods"],
                                  value=res.period.label, clearable=False)], md=2),
            dbc.Col([dbc.Label("Compare with", html_for=f"{P}-peers"),
                     dcc.Dropdown(id=f"{P}-peers", options=peer_options,
                                  value=st.peers or "", clearable=False)], md=3),
            dbc.Col([dbc.Label("Highlight an organisation", html_for=f"{P}-highlight"),
                     dcc.Dropdown(id=f"{P}-highlight", options=hl_options,
                                  value=hit_code(res, st.highlight),
                                  placeholder="Type a name or code...")], md=3),
            dbc.Col([dbc.Label("Confidence"),
                     dbc.RadioItems(id=f"{P}-confidence",
                                    options=[{"label": "95%", "value": 95.0},
                                             {"label": "99.8%", "value": 99.8}],
                                    value=st.confidence, inline=True)], md=2),
            dbc.Col([dbc.Label("Show as"),
                     dbc.RadioItems(id=f"{P}-view", options=[
                         {"label": "Ranked bars", "value": "chart"},
                         {"label": "Funnel", "value": "funnel"},
                         {"label": "Table", "value": "table"}], value=st.view, inline=True),
                     dbc.Switch(id=f"{P}-od", label="Adjust funnel for overdispersion",
                                value=st.od, className="small")], md=2),
        ],
        className="qd-controls g-3",
    )
    return html.Div(
        [
            components.breadcrumbs([("Start", "/"), (meta.domain or "Indicators", "/"),
                                    (meta.name, None)]),
            html.H1(meta.name, className="qd-title"),
            html.P([meta.description or "", " ",
                    html.Span(f"Source: {meta.source}" if meta.source else "",
                              className="text-muted")], className="qd-lead"),
            html.Div(controls, className="qd-card"),
            html.Div(
                [
                    html.P(summary, id=f"{P}-summary", className="qd-summary",
                           **components.ARIA_LIVE_POLITE),
                    _chart_links(st, meta, hl_options),
                    dcc.Loading(
                        [
                            html.Div([dcc.Graph(id=f"{P}-graph", figure=fig or {},
                                                config=components.GRAPH_CONFIG),
                                      # with the chart, so that the table view has none
                                      html.P(components.CAMERA_HINT,
                                             className="text-muted small mb-0")],
                                     id=f"{P}-graph-wrap",
                                     style={"display": "none" if st.view == "table" else
                                            "block"}),
                            # the grid exists only in the table view: ag-grid's 870 KB
                            # chunk then loads only when someone asks for the table
                            html.Div(_grid(grid_rows, meta) if st.view == "table" else None,
                                     id=f"{P}-grid-wrap",
                                     style={"display": "block" if st.view == "table" else
                                            "none"}),
                        ],
                        delay_show=300, type="dot",
                    ),
                    components.export_bar(P, _slides_params(st, res), camera_hint=False),
                ],
                className="qd-card",
            ),
            components.how_to_read(HOW_TO_READ),
            components.key_store(KEY, st.indicator_id),
            components.chart_width_store(P),  # the chart's width on the page (px)
            components.url_sync_store(P, url_defaults(opts["periods"])),
        ]
    )


def _trend_link(indicator_id: str, code: str | None, label: str | None) -> dict[str, Any]:
    """Where the highlighted organisation's trend is (hidden with no highlight)."""
    if not code:
        return {"href": "/", "children": "", "style": {"display": "none"}}
    return {"href": f"/organisations/{code}/indicators/{indicator_id}",
            "children": f"Trend over time: {label or code}", "style": {}}


def _chart_links(st: State_, meta: Any, hl_options: list[dict[str, Any]]) -> html.Div:
    """The chart's data table one button away (its text alternative, with units and
    intervals in words), and the highlighted organisation's trend (issue 17: every view
    reachable by keyboard, not only by clicking a bar)."""
    label = hl_options[0]["label"] if hl_options else None
    trend = _trend_link(meta.id, st.highlight and (hl_options[0]["value"] if hl_options
                                                   else st.highlight), label)
    return html.Div([
        dbc.Button("Show the chart's data as a table", id=f"{P}-table-link", color="link",
                   size="sm", className="p-0 me-3"),
        dcc.Link(trend["children"], id=f"{P}-trend-link", href=trend["href"],
                 style=trend["style"]),
    ], className="qd-chart-links mb-2")


def url_defaults(periods: list[str]) -> dict[str, Any]:
    """What each control shows when the URL leaves its key out (the latest period...)."""
    return {"period": periods[0] if periods else None, "peers": "", "highlight": None,
            "confidence": 95.0, "view": "chart", "od": False}


def hit_code(res: Any, code: str | None) -> str | None:
    """The highlight code as stored (case as in the database), or None."""
    if not code:
        return None
    hit = res.rows[res.rows["org_code"].str.upper() == code.upper()]
    return str(hit["org_code"].iloc[0]) if len(hit) else code


@callback(
    Output(f"{P}-graph", "figure"),
    Output(f"{P}-graph-wrap", "style"),
    Output(f"{P}-grid-wrap", "children"),
    Output(f"{P}-grid-wrap", "style"),
    Output(f"{P}-summary", "children"),
    Output({"type": "slides-btn", "page": P}, "href"),
    Input(f"{P}-period", "value"),
    Input(f"{P}-peers", "value"),
    Input(f"{P}-highlight", "value"),
    Input(f"{P}-confidence", "value"),
    Input(f"{P}-view", "value"),
    Input(f"{P}-od", "value"),
    Input(f"{P}-width", "data"),
    State(f"{P}-indicator", "data"),
    prevent_initial_call=True,
)
def update(period, peers, highlight, confidence, view, od, width, indicator_id):
    """Redraw the chart/table for the controls' state, its labels fitted to the width the page
    draws the chart at (the first drawing assumed :data:`figures.SCREEN_WIDTH`)."""
    st = State_.parse(indicator_id, {"period": period, "peers": peers, "highlight": highlight,
                                     "confidence": confidence, "view": view,
                                     "od": "1" if od else ""})
    try:
        data = adapters.read(compute, st)
    except ViewError as exc:
        return (figures._empty(str(exc), for_slides=False, width=None, height=None),
                {"display": "block"}, None, {"display": "none"}, str(exc), no_update)
    fig, grid_rows, summary, href = _content(st, data, components.chart_width(width))
    show, hide = {"display": "block"}, {"display": "none"}
    if st.view == "table":
        return no_update, hide, _grid(grid_rows, data["result"].indicator), show, summary, href
    return fig, show, None, hide, summary, href


# the chart's width once the page has drawn it, again when the view shows a hidden chart, and
# when a resized window changes it
components.report_chart_width(P, Input(f"{P}-indicator", "data"), Input(f"{P}-view", "value"))


@callback(
    Output(f"{P}-trend-link", "href"),
    Output(f"{P}-trend-link", "children"),
    Output(f"{P}-trend-link", "style"),
    Input(f"{P}-highlight", "value"),
    State(f"{P}-highlight", "options"),
    State(f"{P}-indicator", "data"),
    prevent_initial_call=True,
)
def trend_link(code, options, indicator_id):
    """The link to the highlighted organisation's trend follows the highlight."""
    label = next((o.get("label") for o in options or []
                  if isinstance(o, dict) and o.get("value") == code), None)
    link = _trend_link(indicator_id, code, label)
    return link["href"], link["children"], link["style"]


# the table button shows the table view (the view switch's callbacks do the rest)
dash.clientside_callback(
    "function (n) { return n ? 'table' : window.dash_clientside.no_update; }",
    Output(f"{P}-view", "value", allow_duplicate=True),
    Input(f"{P}-table-link", "n_clicks"),
    prevent_initial_call=True,
)


@callback(
    Output(f"{P}-highlight", "options"),
    Input(f"{P}-highlight", "search_value"),
    State(f"{P}-highlight", "value"),
    State(f"{P}-indicator", "data"),
    prevent_initial_call=True,
)
def search_highlight(search, current, indicator_id):
    """Organisations matching what is typed (server-side: there may be thousands)."""
    if not search or len(search.strip()) < 2:
        return no_update
    try:
        page = adapters.read(lambda s: list_organisations(s, q=search, limit=30))
    except ViewError:
        return no_update
    opts = [{"label": f"{r.name} ({r.code})", "value": r.code}
            for r in page.items.itertuples()]
    if current and current not in {o["value"] for o in opts}:
        opts.insert(0, {"label": current, "value": current})
    return opts


@callback(
    Output(f"{P}-csv", "data"),
    Input(f"{P}-csv-btn", "n_clicks"),
    State(f"{P}-period", "value"),
    State(f"{P}-peers", "value"),
    State(f"{P}-confidence", "value"),
    State(f"{P}-indicator", "data"),
    prevent_initial_call=True,
)
def download_csv(_n, period, peers, confidence, indicator_id):
    """The data behind the chart, as CSV (names, values, intervals, counts, verdicts)."""
    st = State_.parse(indicator_id, {"period": period, "peers": peers,
                                     "confidence": confidence})
    try:
        data = adapters.read(compute, st)
    except ViewError:
        return no_update
    res = data["result"]
    table = adapters.comparison_table(res.rows, res.indicator)
    name = f"{st.indicator_id}_{res.period.label}.csv".replace("/", "-")
    return dcc.send_data_frame(table.to_csv, name, index=False)


components.sync_url(P, KEYS)
