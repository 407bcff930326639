"""The network lead's weekly view: the alerts that values loads raised, each a link to its chart.

URL: ``/alerts?network=<code>&kind=<kind>&since=<YYYY-MM-DD>&org=&indicator=&load=``. The
filters are a plain form (GET): the URL carries them, so a view can be bookmarked or shared.
``since`` defaults to seven days ago; an empty ``since`` shows every standing alert.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

from core.models import ALERT_KINDS
from core.services import alerts as alert_service
from dashboards import adapters, components
from dashboards.adapters import ViewError

dash.register_page(__name__, path="/alerts", title="Alerts - qidash")

P = "alerts"
LIMIT = 500
KIND_WORDS = {
    "special_cause_concern": ("SPC concern", "concern"),
    "crossed_limit_worse": ("Outside funnel (worse)", "worse"),
    "target_missed": ("Target missed", "fail"),
    "special_cause_improvement": ("SPC improvement", "improvement"),
    "crossed_limit_better": ("Funnel (better)", "better"),
    "target_met": ("Target met", "pass"),
}
HOW_TO_READ = (
    ("What raises an alert", "Each values load checks the periods that are news: those newer "
                             "than any the indicator had, and those where it changed values. "
                             "A special cause on the organisation's SPC chart, a move outside "
                             "(or back inside) the 99.8% funnel limits of its peers, or a "
                             "target newly missed or met. A first load of years of history "
                             "raises alerts for its latest period only."),
    ("Noise", "Points with small denominators, charts with trial limits (fewer than 12 "
              "points) and repeats of an alert that already stands raise nothing."),
)


def _chart_href(code: str, indicator_id: str) -> str:
    return f"/organisations/{quote(code, safe='')}/indicators/{quote(indicator_id, safe='')}"


def compute(s: Any, query: dict[str, Any]) -> tuple[Any, int]:
    load = query.get("load")
    return alert_service.list_alerts(
        s, load=int(str(load)) if str(load or "").isdigit() else None,
        since=query.get("since") or None, network=query.get("network") or None,
        org=query.get("org") or None, indicator=query.get("indicator") or None,
        kind=query.get("kind") or None, limit=LIMIT)


def _filters(query: dict[str, Any]) -> Any:
    def field(label: str, name: str, control: Any, md: int) -> Any:
        return dbc.Col([dbc.Label(label, html_for=f"{P}-{name}"), control], md=md)

    return html.Form([
        dbc.Row([
            field("Network (organisations below)", "network",
                  dbc.Input(id=f"{P}-network", name="network", value=query.get("network") or "",
                            placeholder="e.g. U33593"), 3),
            field("Kind", "kind", html.Select(
                [html.Option("Every kind", value="")]
                + [html.Option(KIND_WORDS[k][0], value=k, selected=query.get("kind") == k)
                   for k in ALERT_KINDS],
                id=f"{P}-kind", name="kind", className="form-select"), 3),
            field("Raised since", "since",
                  dbc.Input(id=f"{P}-since", name="since", type="date",
                            value=query.get("since") or ""), 3),
            dbc.Col(html.Button("Show", type="submit", className="btn btn-primary mt-4"), md=2),
        ], className="qd-controls g-3"),
        *[dcc.Input(type="hidden", name=k, value=query[k]) for k in ("org", "indicator", "load")
          if query.get(k)],
    ], action="/alerts", method="get")


def _table(frame: Any) -> Any:
    head = html.Thead(html.Tr([html.Th(h, scope="col") for h in (
        "Organisation", "Indicator", "Period", "Alert", "What changed", "Value", "Chart")]))
    rows = []
    for a in alert_service.alert_records(frame, (*alert_service.ALERT_COLUMNS, "period_type")):
        words, kind = KIND_WORDS.get(a["kind"], (a["kind"], "common"))
        rows.append(html.Tr([
            html.Td([a["org_name"], html.Span(f" ({a['org_code']})", className="text-muted")]),
            html.Td(a["indicator_id"]),
            html.Td(a["period"]),
            html.Td(components.badge(words, kind)),
            html.Td(a["message"]),
            html.Td("" if a["value"] is None else f"{a['value']:.4g}"),
            html.Td(dcc.Link("View chart", href=_chart_href(a["org_code"], a["indicator_id"]),
                             className="qd-alert-link",
                             title=f"SPC chart of {a['indicator_id']} for {a['org_name']}")),
        ], className=f"qd-alert qd-alert-{a['kind']}"))
    return html.Table([head, html.Tbody(rows)], className="table table-sm qd-alerts")


def layout(**query: Any) -> Any:
    """The alerts, filtered by the URL."""
    query = {k: v for k, v in query.items() if isinstance(v, str)}
    if "since" not in query:
        query["since"] = (dt.date.today() - dt.timedelta(days=7)).isoformat()
    try:
        frame, total = adapters.read(compute, query)
    except ViewError as exc:
        body: Any = components.error_panel(exc)
    else:
        shown = len(frame)
        summary = (f"{total} alert{'s' if total != 1 else ''}"
                   + (f" (the first {shown} shown)" if shown < total else "")
                   + (f" raised since {query['since']}" if query.get("since") else "")
                   + (f" below {query['network']}" if query.get("network") else "") + ".")
        body = html.Div([
            html.P(summary, id=f"{P}-summary", **components.ARIA_LIVE_POLITE),
            _table(frame) if shown else html.P("No alerts match.", className="text-muted"),
        ])
    return html.Div([
        components.breadcrumbs([("England", "/"), ("Alerts", None)]),
        html.H1("Alerts", className="qd-title"),
        html.P("What the latest loads changed: concerns first, each a link to its chart.",
               className="qd-lead"),
        html.Div(_filters(query), className="qd-card"),
        html.Div(body, className="qd-card"),
        components.how_to_read(HOW_TO_READ),
    ])
