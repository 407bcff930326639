"""Start page: choose an indicator or an organisation; how fresh the data is."""

from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, callback, dcc, html, no_update

from core.services.indicators import list_indicator_meta
from core.services.loads import freshness
from core.services.organisations import list_organisations
from dashboards import adapters, components
from dashboards.adapters import ViewError

dash.register_page(__name__, path="/", title="qidash")

P = "home"
NETWORK_TYPES = ("pcn", "sub_icb", "ccg", "icb", "region", "nation")


def compute(s: Any) -> dict[str, Any]:
    """Indicators and freshness (one read transaction). The page shows the indicators' names
    only, so it reads their metadata, not the indicator list's summary of every value
    (``list_indicators``: two scans of the values table in the first request of each data
    version, 3.2 s at 7.7M values)."""
    return {"indicators": list_indicator_meta(s), "fresh": freshness(s)}


def _fresh_card(f: Any) -> Any:
    if f.last_load is None:
        return html.P("No data loaded yet. An analyst can load files on the Upload page.")
    last = f.last_load
    when = last.get("finished_at")
    items = [html.Div([html.Div(f"{f.indicators}", className="qd-stat"),
                       html.Div("indicators with data", className="qd-stat-label")]),
             html.Div([html.Div(f"{f.values:,}", className="qd-stat"),
                       html.Div("values", className="qd-stat-label")])]
    periods = [html.Li(f"{p['period_type'].replace('_', ' ')}: {p['first']} to {p['last']} "
                       f"({p['count']} periods)") for p in f.periods]
    changes = [html.Li(f"{c['indicator_id']}: {c['inserted']:,} new, {c['updated']:,} changed")
               for c in f.changes]
    return html.Div([
        dbc.Row([dbc.Col(i, width="auto", className="me-4") for i in items]),
        html.P([f"Last load: {last.get('file_name')} ",
                f"on {when:%d %b %Y %H:%M}" if when else "", "."], className="mt-2 mb-1"),
        html.Div("Periods covered:", className="fw-bold"), html.Ul(periods),
        html.Div("What the last load changed:", className="fw-bold") if changes else None,
        html.Ul(changes) if changes else None,
    ])


#: up to this many indicators are listed as one list; more are listed by domain, each
#: domain a disclosure ("Childhood immunisation (12)") that opens to its indicators
FLAT_LIST_MAX = 30


def _indicator_links(inds: list[Any]) -> Any:
    """Every indicator as a link to its comparison: one list for a few, and grouped by domain
    (closed until opened) when there are more than :data:`FLAT_LIST_MAX`, so that a national
    deployment's hundreds of indicators do not make the start page thousands of pixels long."""
    def links(rows: list[Any], space: str = "mt-2") -> Any:
        return html.Ul([html.Li(dcc.Link(r.name, href=f"/indicators/{r.id}")) for r in rows],
                       className=f"{space} mb-0")

    if len(inds) <= FLAT_LIST_MAX:
        return links(inds, "mt-3")
    by_domain: dict[str, list[Any]] = {}
    for r in inds:  # already ordered by domain, then id
        by_domain.setdefault(r.domain or "Other indicators", []).append(r)
    return html.Div([
        html.P(f"{len(inds):,} indicators in {len(by_domain):,} domains: open a domain, or "
               "search above.", className="text-muted small mt-3 mb-1"),
        *[html.Details([html.Summary(f"{domain} ({len(rows):,})"), links(rows)],
                       className="mb-1") for domain, rows in by_domain.items()],
    ])


def layout(**_query: str) -> Any:
    """Pickers and freshness."""
    try:
        data = adapters.read(compute)
    except ViewError as exc:
        return components.error_panel(exc)
    inds = data["indicators"]
    ind_options = [{"label": f"{r.name} ({r.domain})" if r.domain else r.name, "value": r.id}
                   for r in inds]
    return html.Div([
        html.H1("Where does your organisation stand?", className="qd-title"),
        html.P("Compare practices, networks and trusts with their peers, see whether a "
               "difference is real or noise, and whether things are changing.",
               className="qd-lead"),
        dbc.Row([
            dbc.Col(html.Div([
                html.H2("Choose an indicator", className="h5"),
                dcc.Dropdown(id=f"{P}-indicator", options=ind_options,
                             placeholder="Search indicators...", searchable=True),
                _indicator_links(inds),
            ], className="qd-card"), md=6),
            dbc.Col(html.Div([
                html.H2("Choose an organisation", className="h5"),
                dcc.Dropdown(id=f"{P}-org", options=[], searchable=True,
                             placeholder="Type a practice, PCN or trust name or code..."),
                html.P("Networks (PCNs, ICBs) open the network view; practices and trusts "
                       "their profile.", className="text-muted small mt-2 mb-0"),
            ], className="qd-card"), md=6),
        ]),
        html.Div([html.H2("Data freshness", className="h5"), _fresh_card(data["fresh"])],
                 className="qd-card"),
        dcc.Location(id=f"{P}-go", refresh="callback-nav"),
    ])


@callback(Output(f"{P}-org", "options"), Input(f"{P}-org", "search_value"),
          prevent_initial_call=True)
def search_orgs(search):
    """Organisations matching what is typed (server-side: there may be thousands)."""
    if not search or len(search.strip()) < 2:
        return no_update
    try:
        page = adapters.read(lambda s: list_organisations(s, q=search, limit=30))
    except ViewError:
        return no_update
    return [{"label": f"{r.name} ({r.code}, {r.org_type.replace('_', ' ')})",
             "value": f"{'networks' if r.org_type in NETWORK_TYPES else 'organisations'}/"
                      f"{r.code}"} for r in page.items.itertuples()]


@callback(Output(f"{P}-go", "href"), Input(f"{P}-indicator", "value"),
          Input(f"{P}-org", "value"), prevent_initial_call=True)
def go(indicator_id, org):
    """Open the chosen indicator or organisation."""
    if dash.ctx.triggered_id == f"{P}-indicator" and indicator_id:
        return f"/indicators/{indicator_id}"
    if dash.ctx.triggered_id == f"{P}-org" and org:
        return f"/{org}"
    return no_update
