"""A network (PCN, ICB ...): its members against everyone, and where to look first.

URL: ``/networks/<code>?indicator=<id>``. The Making Data Count summary matrix shows each
member's latest variation and assurance icons for every indicator (:mod:`dashboards.mdc`), most
concerning first, each a link to the trend chart; the triage table lists indicators x members
with the flags that matter (significantly worse, special cause concern, failing the target),
most flagged indicators first.
"""

from typing import Any

import dash
import dash_ag_grid as dag
import dash_bootstrap_components as dbc
from dash import Input, Output, State, callback, dcc, html, no_update

from core.services import alerts as alert_service
from core.services import comparison as comparison_service
from core.services import profile as profile_service
from core.services.organisations import organisation_detail
from dashboards import adapters, components, figures, mdc
from dashboards.adapters import ViewError

dash.register_page(__name__, path_template="/networks/<code>", title="Network - qidash")

P = "net"
KEY = components.declare_key_store(f"{P}-key", {"code": str, "name": str, "members": list})
KEYS = ("indicator",)
FLAG_WORDS = {"significantly_worse": "Worse than peers", "special_cause_concern": "SPC concern",
              "failing_target": "Below target"}

HOW_TO_READ = (
    ("The chart", "Every organisation of the same kind in the data, ranked; this network's "
                  "members are outlined and labelled (on a narrow screen, numbered and named "
                  "in the key above the chart)."),
    ("Making Data Count summary", "Each cell holds the member's latest SPC icons for the "
                                  "indicator: variation (grey: common cause; blue: special "
                                  "cause improvement; orange: concern; H or L: high or low) "
                                  "and assurance against the target (P: met consistently; F: "
                                  "missed consistently; ?: hit and miss). Accepted rebases "
                                  "apply. Indicators and members with the most concerning "
                                  "icons come first; select a cell for its chart."),
    ("Where to look first", "For each indicator and member: 'Worse than peers' means "
                            "significantly worse than the average of those peers; 'SPC "
                            "concern' means the latest point is special cause concern (Making "
                            "Data Count); 'Below target' means the target is not met. The "
                            "indicators with the most flags come first."),
)


def compute_triage(s: Any, code: str) -> dict[str, Any]:
    """The triage, the network's place in the hierarchy and what its last load changed."""
    return {"triage": profile_service.triage(s, code), "detail": organisation_detail(s, code),
            "latest": alert_service.latest_network_alerts(s, code)}


def since_last_load(code: str, latest: Any) -> Any:
    """The alerts of the newest load that raised any below the network, each a link to its
    chart, and a link to all of them on /alerts."""
    load, frame, total = latest
    if load is None:
        return html.P("No load has raised alerts for this network's members yet.",
                      className="text-muted")
    when = load["finished_at"].strftime("%d %B %Y") if load["finished_at"] else ""
    items = [html.Li([html.Strong(f"{a['org_name']}: "), a["message"], " ",
                      dcc.Link("chart", href=f"/organisations/{a['org_code']}/indicators/"
                               f"{a['indicator_id']}")])
             for a in alert_service.alert_records(frame)]
    return html.Div([
        html.P(f"Load {load['id']} ({load['file_name']}, {when}) raised {total} alert"
               f"{'' if total == 1 else 's'} here; concerns first."),
        html.Ul(items, className="qd-since-load"),
        dcc.Link(f"All {total} on the alerts page",
                 href=f"/alerts?network={code}&load={load['id']}&since="),
    ])


def compute_chart(s: Any, indicator_id: str, members: list[str], network: str,
                  fit_width: int | None = None) -> Any:
    """The comparison of every peer of the members' kind, with the members highlighted; its
    labels fitted to ``fit_width`` px (the chart's width on the page, once it is known)."""
    res = comparison_service.comparison(s, indicator_id)
    return figures.comparison_figure(
        adapters.comparison_rows(res.rows), indicator=res.indicator,
        benchmark=res.benchmark.value, benchmark_label=f"the average of {res.peers.label}",
        highlight=members, confidence=res.confidence, title=res.indicator.name,
        subtitle=f"{res.period.label}; {network}'s members among {res.peers.label}",
        fit_width=fit_width)


def triage_grid(tri: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Rows (one per indicator) x columns (one per member) of flag words."""
    members = tri.members
    # wrapped cells: a text line height (ag-grid's default is the row height) and room above
    # and below, so that rows grow to fit "Worse than peers; Below target"
    wrapped = {"wrapText": True, "autoHeight": True,
               "cellStyle": {"lineHeight": "1.35", "paddingTop": "8px", "paddingBottom": "8px",
                             "wordBreak": "normal"}}
    cols = [{"field": "Indicator", "pinned": "left", "width": 250, **wrapped},
            {"field": "Flags", "width": 105, "type": "rightAligned", "sort": "desc"}]
    cols += [{"field": c, "headerName": n, "flex": 1, "minWidth": 150, **wrapped}
             for c, n in members.itertuples(index=False)]
    rows = []
    for ind_id, part in tri.rows.groupby("indicator_id", sort=False):
        row: dict[str, Any] = {"Indicator": part["indicator_name"].iloc[0], "Flags": 0,
                               "indicator_id": ind_id}
        for r in part.itertuples():
            words = [FLAG_WORDS[f] for f in (r.flags or [])]
            row[r.org_code] = "; ".join(words) if words else (
                str(getattr(r, "disclosure", None) or "-"))  # disclosure control's note
            row["Flags"] += len(words)
        rows.append(row)
    rows.sort(key=lambda r: -r["Flags"])
    return rows, cols


def layout(code: str | None = None, **query: Any) -> Any:
    """The network page of ``code``."""
    try:
        data = adapters.read(compute_triage, code or "")
    except ViewError as exc:
        return components.error_panel(exc)
    tri, detail = data["triage"], data["detail"]
    net = tri.parent
    members = tri.members["code"].tolist()
    summary = tri.summary
    indicators = (summary[["indicator_id", "indicator_name"]].drop_duplicates()
                  if not summary.empty else None)
    chosen = query.get("indicator") or (indicators["indicator_id"].iloc[0]
                                        if indicators is not None else None)
    fig = None
    if chosen:
        try:
            fig = adapters.read(compute_chart, chosen, members, net.name)
        except ViewError as exc:
            fig = figures._empty(str(exc), for_slides=False, width=None, height=None)
    rows, cols = triage_grid(tri)
    crumbs: list[tuple[str, str | None]] = [("England", "/")]
    crumbs += [(a.name, f"/networks/{a.code}") for a in reversed(detail.ancestors)
               if a.org_type != "nation"]
    crumbs.append((net.name, None))
    n_flags = sum(r["Flags"] for r in rows)
    return html.Div([
        components.breadcrumbs(crumbs),
        html.H1(net.name, className="qd-title"),
        html.P(f"{net.code} - {len(members)} {tri.member_type or 'member'}s. "
               f"{n_flags} flags across {len(rows)} indicators.", className="qd-lead"),
        html.Div([
            dbc.Row(dbc.Col([dbc.Label("Indicator", html_for=f"{P}-indicator"),
                             dcc.Dropdown(id=f"{P}-indicator", clearable=False, value=chosen,
                                          options=[] if indicators is None else [
                                              {"label": n, "value": i} for i, n in
                                              indicators.itertuples(index=False)])], md=6),
                    # room between the picker and the chart's title, which sits at the top
                    className="mb-3"),
            dcc.Loading(dcc.Graph(id=f"{P}-graph", figure=fig or {},
                                  config=components.GRAPH_CONFIG), delay_show=300, type="dot"),
            components.export_bar(P, {"network": net.code, "indicator": chosen}),
        ], className="qd-card"),
        html.Div([
            html.H2("Since the last load", className="h5"),
            since_last_load(net.code, data["latest"]),
        ], className="qd-card"),
        html.Div([
            html.H2("Making Data Count summary", className="h5"),
            mdc.matrix(tri.rows, tri.members),
        ], className="qd-card", id=f"{P}-mdc"),
        html.Div([
            html.H2("Where to look first", className="h5"),
            dag.AgGrid(id=f"{P}-grid", rowData=rows, columnDefs=cols,
                       defaultColDef={"sortable": True, "resizable": True,
                                      "wrapHeaderText": True, "autoHeaderHeight": True},
                       dashGridOptions={"domLayout": "autoHeight"},
                       className="ag-theme-alpine"),
            html.Ul([html.Li(dcc.Link(f"{n} ({c})", href=f"/organisations/{c}"))
                     for c, n in tri.members.itertuples(index=False)], className="mt-3"),
        ], className="qd-card"),
        components.how_to_read(HOW_TO_READ),
        components.key_store(KEY, {"code": net.code, "name": net.name, "members": members}),
        components.chart_width_store(P),  # the chart's width on the page (px), from the browser
        components.url_sync_store(P, {"indicator": None if indicators is None else
                                      indicators["indicator_id"].iloc[0]}),
    ])


# the chart's width once the page has drawn it (and again when a resized window changes it)
components.report_chart_width(P, Input(f"{P}-key", "data"))


@callback(
    Output(f"{P}-graph", "figure"),
    Input(f"{P}-indicator", "value"),
    Input(f"{P}-width", "data"),
    State(f"{P}-key", "data"),
    prevent_initial_call=True,
)
def update(indicator_id, width, key):
    """Redraw the comparison for another indicator, or with its labels fitted to the width
    the page draws it at (the first drawing assumed :data:`figures.SCREEN_WIDTH`)."""
    if not indicator_id:
        return no_update
    try:
        return adapters.read(compute_chart, indicator_id, key["members"], key["name"],
                             components.chart_width(width))
    except ViewError as exc:
        return figures._empty(str(exc), for_slides=False, width=None, height=None)


@callback(
    Output(f"{P}-csv", "data"),
    Input(f"{P}-csv-btn", "n_clicks"),
    State(f"{P}-key", "data"),
    prevent_initial_call=True,
)
def download_csv(_n, key):
    """The triage rows as CSV."""
    try:
        data = adapters.read(compute_triage, key["code"])
    except ViewError:
        return no_update
    return dcc.send_data_frame(data["triage"].rows.to_csv, f"triage_{key['code']}.csv",
                               index=False)


components.sync_url(P, KEYS)
