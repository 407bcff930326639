"""One organisation's profile: every indicator on a spine chart, with comparison, SPC and
opportunity. URL: ``/organisations/<code>?period=``. Click a row (or a dot) for the trend."""

from typing import Any

import dash
import dash_ag_grid as dag
from dash import Input, Output, State, callback, dcc, html, no_update

from core.services import profile as profile_service
from core.services.organisations import organisation_detail
from dashboards import adapters, components, figures
from dashboards.adapters import ViewError

dash.register_page(__name__, path_template="/organisations/<code>", title="Profile - qidash")

P = "org"
KEY = components.declare_key_store(f"{P}-key", {"code": str, "indicators": list})
TREND_TEMPLATE = "/organisations/<code>/indicators/<indicator_id>"

HOW_TO_READ = (
    ("Each row", "One indicator. The light grey bar is the range of all organisations of the "
                 "same kind (lowest to highest); the darker part is the middle half (25th to "
                 "75th centile); the black tick is the median."),
    ("The dot", "This organisation. Better is always to the right, whichever way the "
                "indicator runs. Blue: significantly better than the peer average; orange: "
                "significantly worse; grey: similar."),
    ("Trend and opportunity", "The table says whether the latest point shows special cause "
                              "variation (Making Data Count), whether the target is reliably "
                              "met, and how many more patients would get the right care at "
                              "the peer median."),
)


def compute(s: Any, code: str, period: str | None) -> dict[str, Any]:
    """The profile and the organisation's place in the hierarchy."""
    return {"profile": profile_service.profile(s, code, period=period),
            "detail": organisation_detail(s, code)}


def table_rows(rows: Any, code: str) -> list[dict[str, Any]]:
    """The profile as table rows with words, not codes."""
    out = []
    for r in rows.itertuples():
        var, _ = adapters.variation_words(r.spc_variation)
        ass, _ = adapters.assurance_words(r.spc_assurance)
        d = int(r.decimals or 1)
        # disclosure control: a suppressed row (or opportunity) says so instead of a number
        note = getattr(r, "disclosure", None)
        note = note if isinstance(note, str) else None
        hidden = note is not None and (r.value is None or r.value != r.value)
        out.append({
            "Indicator": r.indicator_name,
            "Period": r.period,
            "Value": note if hidden else figures.format_value(r.value, d, r.unit),
            "Peer median": figures.format_value(r.peer_median, d, r.unit),
            "Compared with peers": adapters.COMPARISON_WORDS.get(r.comparison, "Not compared"),
            "Trend (SPC)": var or "Too few points",
            "Target": ass or ("Met" if r.meets_target is True else
                              "Not met" if r.meets_target is False else ""),
            "Opportunity": (f"{r.opportunity:,.0f} more patient"
                            + ("" if round(r.opportunity) == 1 else "s")
                            if isinstance(r.opportunity, float) and r.opportunity >= 0.5
                            else note or ""),
            "Trend link": f"[Trend](/organisations/{code}/indicators/{r.indicator_id})",
            "indicator_id": r.indicator_id,
        })
    return out


def layout(code: str | None = None, **query: Any) -> Any:
    """The profile page of ``code``."""
    if code and "/indicators/" in code:
        # Dash matches /organisations/<code> before the longer trend template: hand it over
        org_code, _, indicator_id = code.partition("/indicators/")
        trend = next(p for p in dash.page_registry.values()
                     if p.get("path_template") == TREND_TEMPLATE)
        return trend["layout"](code=org_code, indicator_id=indicator_id, **query)
    try:
        data = adapters.read(compute, code or "", query.get("period") or None)
    except ViewError as exc:
        return components.error_panel(exc)
    prof, detail = data["profile"], data["detail"]
    org = prof.organisation
    rows = prof.rows
    crumbs: list[tuple[str, str | None]] = [("England", "/")]
    crumbs += [(a.name, f"/networks/{a.code}") for a in reversed(detail.ancestors)
               if a.org_type != "nation"]
    crumbs.append((org.name, None))
    fig = figures.spine_figure(adapters.spine_frame(rows), org_name=org.name,
                               peer_label=prof.peers_label,
                               title=f"{org.name} against {prof.peers_label}",
                               subtitle="Latest period of each indicator")
    # the grid fills the card: the wordy columns take the spare width; headers as written
    # (ag-grid would title-case a field name) and wrapped rather than cut
    # the columns' least widths add up to less than the card at 1280 px (about 1,180 px
    # inside), so nothing is cut; wordy cells wrap; the link to the trend stays pinned right
    wrap = {"wrapText": True, "autoHeight": True,
            "cellStyle": {"lineHeight": "1.4", "paddingTop": "6px", "paddingBottom": "6px"}}
    cols = [{"field": "Indicator", "flex": 2, "minWidth": 200, **wrap},
            {"field": "Period", "width": 90},
            {"field": "Value", "width": 90},
            {"field": "Peer median", "headerName": "Peer median", "width": 105},
            {"field": "Compared with peers", "headerName": "Compared with peers", "flex": 1,
             "minWidth": 120, **wrap},
            {"field": "Trend (SPC)", "headerName": "Trend (SPC)", "flex": 1, "minWidth": 150,
             **wrap},
            {"field": "Target", "flex": 1, "minWidth": 90},
            {"field": "Opportunity", "flex": 1, "minWidth": 120, **wrap},
            {"field": "Trend link", "headerName": "", "cellRenderer": "markdown",
             "width": 80, "pinned": "right"}]
    children = detail.children
    return html.Div([
        components.breadcrumbs(crumbs),
        html.H1(org.name, className="qd-title"),
        html.P(f"{org.code} - {org.org_type.replace('_', ' ')}"
               + (f" in {detail.parent.name}" if detail.parent else ""), className="qd-lead"),
        html.Div([
            dcc.Graph(id=f"{P}-graph", figure=fig, config=components.GRAPH_CONFIG),
            html.P("Click a dot or a row to see that indicator's trend.",
                   className="text-muted small"),
            dag.AgGrid(id=f"{P}-grid", rowData=table_rows(rows, org.code), columnDefs=cols,
                       defaultColDef={"sortable": True, "resizable": True,
                                      "wrapHeaderText": True, "autoHeaderHeight": True},
                       dashGridOptions={"domLayout": "autoHeight"},
                       className="ag-theme-alpine"),
            components.export_bar(P, {"org": org.code}),
        ], className="qd-card"),
        html.Div([html.H2("Below this organisation", className="h5"),
                  html.Ul([html.Li(dcc.Link(f"{c.name} ({c.code})",
                                            href=f"/organisations/{c.code}"))
                           for c in children.itertuples()][:200])],
                 className="qd-card") if len(children) else None,
        components.how_to_read(HOW_TO_READ),
        components.key_store(KEY, {"code": org.code,
                                   "indicators": rows["indicator_id"].tolist()}),
        dcc.Location(id=f"{P}-go", refresh="callback-nav"),
    ])


@callback(
    Output(f"{P}-go", "href"),
    Input(f"{P}-graph", "clickData"),
    Input(f"{P}-grid", "cellClicked"),
    State(f"{P}-key", "data"),
    prevent_initial_call=True,
)
def drill(click, cell, key):
    """Go to the trend of the clicked indicator."""
    ind = None
    if dash.ctx.triggered_id == f"{P}-graph" and click:
        pt = click["points"][0]
        y = pt.get("y")
        if isinstance(y, int) and 0 <= y < len(key["indicators"]):
            ind = key["indicators"][y]
    elif cell and cell.get("colId") != "Trend link":
        idx = cell.get("rowIndex")
        if isinstance(idx, int) and 0 <= idx < len(key["indicators"]):
            ind = key["indicators"][idx]
    if ind is None:
        return no_update
    return f"/organisations/{key['code']}/indicators/{ind}"


@callback(
    Output(f"{P}-csv", "data"),
    Input(f"{P}-csv-btn", "n_clicks"),
    State(f"{P}-key", "data"),
    prevent_initial_call=True,
)
def download_csv(_n, key):
    """The profile rows as CSV."""
    try:
        data = adapters.read(compute, key["code"], None)
    except ViewError:
        return no_update
    return dcc.send_data_frame(data["profile"].rows.to_csv, f"profile_{key['code']}.csv",
                               index=False)
