"""The network lead's weekly view: the alerts that values loads raised, each a link to its chart.

URL: ``/alerts?network=<code>&kind=<kind>&since=<YYYY-MM-DD>&org=&indicator=&load=&page=``.
The filters are a plain form (GET): the URL carries them, so a view can be bookmarked or shared.
``since`` defaults to seven days ago; an empty ``since`` shows every standing alert. Alerts
are shown :data:`PAGE_SIZE` at a time (``page``, from 1), with links to the pages before and
after.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote, urlencode

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

from core.models import ALERT_KINDS
from core.services import alerts as alert_service
from core.services.indicators import get_indicator
from dashboards import adapters, components
from dashboards.adapters import ViewError
from dashboards.figures import format_value

dash.register_page(__name__, path="/alerts", title="Alerts - qidash")

P = "alerts"
#: alerts on one page (a national load can raise thousands)
PAGE_SIZE = 50
_PAGER_LABEL: dict[str, Any] = {"aria-label": "Pages of alerts"}
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


def _chart_href(code: str, indicator_id: str, period_type: Any = None) -> str:
    href = f"/organisations/{quote(code, safe='')}/indicators/{quote(indicator_id, safe='')}"
    return href + (f"?period_type={quote(period_type, safe='')}"
                   if isinstance(period_type, str) and period_type else "")


def page_number(query: dict[str, Any]) -> int:
    """The ``page`` of the URL (from 1); anything else is page 1."""
    raw = str(query.get("page") or "1")
    return max(int(raw), 1) if raw.isdigit() else 1


def compute(s: Any, query: dict[str, Any]) -> tuple[Any, int, dict[str, Any]]:
    """One page of alerts, how many match in all, and the shown alerts' indicators."""
    load = query.get("load")
    frame, total = alert_service.list_alerts(
        s, load=int(str(load)) if str(load or "").isdigit() else None,
        since=query.get("since") or None, network=query.get("network") or None,
        org=query.get("org") or None, indicator=query.get("indicator") or None,
        kind=query.get("kind") or None, limit=PAGE_SIZE,
        offset=(page_number(query) - 1) * PAGE_SIZE)
    metas = {i: get_indicator(s, i) for i in sorted(set(frame["indicator_id"]))} if len(
        frame) else {}
    return frame, total, metas


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


def _table(frame: Any, metas: dict[str, Any]) -> Any:
    head = html.Thead(html.Tr([html.Th(h, scope="col") for h in (
        "Organisation", "Indicator", "Period", "Alert", "What changed", "Value", "Chart")]))
    rows = []
    for a in alert_service.alert_records(frame, (*alert_service.ALERT_COLUMNS, "period_type")):
        words, kind = KIND_WORDS.get(a["kind"], (a["kind"], "common"))
        meta = metas[a["indicator_id"]]  # every shown alert's (compute)
        name = meta.name
        value = "" if a["value"] is None else format_value(a["value"], meta.decimals, meta.unit)
        rows.append(html.Tr([
            html.Td([a["org_name"], html.Span(f" ({a['org_code']})", className="text-muted")]),
            html.Td(name, title=a["indicator_id"]),
            html.Td(a["period"]),
            html.Td(components.badge(words, kind)),
            html.Td(a["message"]),
            html.Td(value, className="text-nowrap"),
            html.Td(dcc.Link("View chart", href=_chart_href(
                a["org_code"], a["indicator_id"], a.get("period_type")),
                className="qd-alert-link", title=f"SPC chart of {name} for {a['org_name']}")),
        ], className=f"qd-alert qd-alert-{a['kind']}"))
    return html.Table([head, html.Tbody(rows)], className="table table-sm qd-alerts")


def _pager(query: dict[str, Any], total: int) -> Any:
    """Links to the previous and next pages, keeping the filters (nothing when one page)."""
    pages = max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1)
    page = page_number(query)
    if pages == 1 and page == 1:
        return html.Div()

    def href(n: int) -> str:
        kept = {k: v for k, v in query.items() if k != "page"}
        return "/alerts?" + urlencode({**kept, "page": str(n)})

    items: list[Any] = []
    if page > 1:
        items.append(dcc.Link("Previous page", href=href(min(page - 1, pages)),
                              className="btn btn-outline-primary btn-sm", id=f"{P}-previous"))
    items.append(html.Span(f"Page {page} of {pages}", className="mx-3"))
    if page < pages:
        items.append(dcc.Link("Next page", href=href(page + 1),
                              className="btn btn-outline-primary btn-sm", id=f"{P}-next"))
    return html.Nav(items, className="d-flex align-items-center mt-2", **_PAGER_LABEL)


def layout(**query: Any) -> Any:
    """The alerts, filtered by the URL."""
    query = {k: v for k, v in query.items() if isinstance(v, str)}
    if "since" not in query:
        query["since"] = (dt.date.today() - dt.timedelta(days=7)).isoformat()
    try:
        frame, total, metas = adapters.read(compute, query)
    except ViewError as exc:
        body: Any = components.error_panel(exc)
    else:
        shown = len(frame)
        first = (page_number(query) - 1) * PAGE_SIZE
        summary = (f"{total} alert{'s' if total != 1 else ''}"
                   + (f" raised since {query['since']}" if query.get("since") else "")
                   + (f" below {query['network']}" if query.get("network") else "")
                   + (f": {first + 1}-{first + shown} shown" if shown < total else "") + ".")
        body = html.Div([
            html.P(summary, id=f"{P}-summary", **components.ARIA_LIVE_POLITE),
            _table(frame, metas) if shown else html.P(
                "No alerts match." if not total else "No alerts on this page: go back to "
                "the first.", className="text-muted"),
            _pager(query, total),
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
