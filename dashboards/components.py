"""Page chrome and small building blocks shared by the pages (no data access here)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlencode

import dash_bootstrap_components as dbc
from dash import (
    MATCH,
    ClientsideFunction,
    Input,
    Output,
    State,
    clientside_callback,
    dcc,
    html,
)

from dashboards import theme

#: Where the slide-pack engineer serves the PowerPoint pack (enabled only when the API lists it).
SLIDES_PATH = "/api/v1/exports/pack.pptx"

#: ``**ARIA_LIVE_POLITE`` on a component whose updates a screen reader should announce
ARIA_LIVE_POLITE: dict[str, Any] = {"aria-live": "polite"}

GRAPH_CONFIG: dcc.Graph.Config = {
    "displaylogo": False,
    "responsive": True,
    # the toolbar gives PNG; SVG is one click away for print-quality figures
    "toImageButtonOptions": {"format": "png", "scale": 2, "filename": "qidash-chart"},
    "modeBarButtonsToRemove": ["lasso2d", "select2d", "autoScale2d"],
    "modeBarButtonsToAdd": ["toImage"],
}


def header() -> html.Header:
    """The NHS-blue bar with the product name and the main links."""
    return html.Header(
        dbc.Navbar(
            dbc.Container(
                [
                    dcc.Link(
                        html.Span(["qidash", html.Small("quality improvement dashboards")]),
                        href="/", className="navbar-brand qd-brand",
                    ),
                    dbc.Nav(
                        [
                            dbc.NavItem(dcc.Link("Start", href="/", className="nav-link")),
                            dbc.NavItem(dcc.Link("Alerts", href="/alerts",
                                                 className="nav-link")),
                            dbc.NavItem(dcc.Link("Upload data", href="/upload",
                                                 className="nav-link")),
                            dbc.NavItem(html.A("API", href="/api/docs", className="nav-link")),
                            *_account_items(),
                        ],
                        navbar=True, className="ms-auto",
                    ),
                ],
                fluid=True,
            ),
            className="qd-header", dark=True, color=theme.NHS_BLUE,
        )
    )


def _account_items() -> list[Any]:
    """Who is signed in, with sign-out; or a sign-in link (plain links: these are the
    server's own pages, outside the dashboards)."""
    from dashboards.pages_auth import current_principal

    who = current_principal()
    if who is None:
        return [dbc.NavItem(html.A("Sign in", href="/sign-in", className="nav-link",
                                   id="qd-sign-in"))]
    return [dbc.NavItem(html.Span(f"{who.name} ({who.role})", className="navbar-text px-2",
                                  id="qd-signed-in")),
            dbc.NavItem(html.A("Sign out", href="/sign-out", className="nav-link"))]


def footer() -> html.Footer:
    """Where the numbers come from (every number must be traceable to its source)."""
    return html.Footer(
        [
            "Statistics: Wilson and Byar intervals (OHID Fingertips methods), funnel limits "
            "(PHEindicatormethods, Spiegelhalter 2005), SPC as NHS England's Making Data Count. ",
            "Each indicator page names its source and the date its data were loaded. "
            "Data published under the Open Government Licence v3.0.",
        ],
        className="qd-footer",
    )


def breadcrumbs(items: Sequence[tuple[str, str | None]]) -> dbc.Breadcrumb:
    """A breadcrumb trail from ``(label, href)`` pairs; the last is the current page."""
    return dbc.Breadcrumb(
        items=[
            {"label": label, "href": href, "active": href is None or i == len(items) - 1}
            for i, (label, href) in enumerate(items)
        ]
    )


def error_panel(message: str | Exception, *, title: str = "This view cannot be shown"
                ) -> html.Div:
    """A clear message in place of a page (never a traceback); a
    :class:`dashboards.adapters.ViewError`'s links (e.g. the codes meant) follow it."""
    links = getattr(message, "links", None) or []
    # the page's one h1 (the panel stands in place of the whole page)
    body: list[Any] = [html.H1(title, className="h5"), html.P(str(message), className="mb-2")]
    if links:
        body.append(html.Ul([html.Li(dcc.Link(label, href=href)) for label, href in links],
                            className="mb-2"))
    body.append(dcc.Link("Back to the start page", href="/"))
    return html.Div(dbc.Alert(body, color="warning"), className="mt-3")


def badge(text: str, kind: str) -> html.Span:
    """A small labelled badge; ``kind`` picks its colour (better, worse, improvement...)."""
    return html.Span(text, className=f"qd-badge qd-badge-{kind}")


def slides_href(params: dict[str, Any]) -> str:
    """The slide-pack URL with this page's parameters (empty ones left out)."""
    clean = {k: v for k, v in params.items() if v not in (None, "", [])}
    return f"{SLIDES_PATH}?{urlencode(clean)}"


CAMERA_HINT = "PNG or SVG: use the camera icon above the chart."


def export_bar(prefix: str, slides_params: dict[str, Any], *,
               camera_hint: bool = True) -> html.Div:
    """CSV download of the data behind the chart, and "Export slides" (when available).
    ``camera_hint=False`` where the page shows the hint with the chart itself (a view
    without a chart must not point at a camera icon that is not there)."""
    return html.Div(
        [
            dbc.Button("Download data (CSV)", id=f"{prefix}-csv-btn", color="primary",
                       outline=True, size="sm", className="me-2"),
            dcc.Download(id=f"{prefix}-csv"),
            html.Span(
                dbc.Button("Export slides", id={"type": "slides-btn", "page": prefix},
                           href=slides_href(slides_params), external_link=True, color="primary",
                           outline=True, size="sm", disabled=True),
                id={"type": "slides-wrap", "page": prefix},
                title="Slide export is not available on this server yet",
                tabIndex="0",
            ),
            html.Span(CAMERA_HINT, className="text-muted small ms-3") if camera_hint
            else None,
        ],
        className="d-flex align-items-center flex-wrap mt-2",
    )


def how_to_read(items: Iterable[tuple[str, str]], *, title: str = "How to read this") -> Any:
    """A closed-by-default panel of plain-English explanations."""
    body = html.Dl([el for term, text in items for el in (html.Dt(term), html.Dd(text))],
                   className="qd-how mb-0")
    return dbc.Accordion([dbc.AccordionItem(body, title=title)], start_collapsed=True,
                         className="mt-3")


def sync_url(prefix: str, keys: Sequence[str]) -> None:
    """Keep the address bar in step with a page's controls (``{prefix}-{key}`` ids).

    Each change of control pushes a history entry with ``history.pushState`` (not through a
    ``dcc.Location``: Dash pages rebuild the whole page whenever its own location's search
    changes, which would redraw every chart on each click). Back and forward then put the
    controls back as that entry's URL says, and their callbacks redraw the chart (see the
    popstate listener in ``assets/qidash.js``). Reload or share the URL and ``layout(**query)``
    builds the same view.
    """
    clientside_callback(
        ClientsideFunction(namespace="qidash", function_name="syncUrl"),
        Output(f"{prefix}-url-sync", "data"),
        [Input(f"{prefix}-{k}", "value") for k in keys],
        State(f"{prefix}-url-sync", "data"),
        prevent_initial_call=True,
    )


def _url_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, float):
        return "float"
    if isinstance(value, int):
        return "int"
    if isinstance(value, list | tuple):
        return "list"
    return "str"


#: the stores the pages write into their layouts and read back in callbacks, by id: the keys
#: and types each holds (a dict) or its type. Each page declares its own
#: (:func:`declare_key_store`, at import); the callback check (``dashboards.app``) refuses a
#: request whose store holds anything else: the page did not write it.
KEY_STORES: dict[str, dict[str, type] | type] = {}


def declare_key_store(store_id: str, shape: dict[str, type] | type) -> str:
    """Declare what the store ``store_id`` holds (see :data:`KEY_STORES`); returns the id."""
    KEY_STORES[store_id] = shape
    return store_id


def store_problem(store_id: Any, value: Any) -> str | None:
    """What is wrong with ``value`` for a declared store (None: nothing, or not declared)."""
    shape = KEY_STORES.get(store_id) if isinstance(store_id, str) else None
    if shape is None:
        return None
    if isinstance(shape, type):
        held = isinstance(value, shape)
    else:
        held = isinstance(value, dict) and all(isinstance(value.get(k), t)
                                               for k, t in shape.items())
    return None if held else f"{store_id} does not hold what the page put in it"


def key_store(store_id: str, data: Any) -> dcc.Store:
    """A declared store holding ``data``, which must have the declared shape (a page that
    writes anything else would have every callback reading it refused)."""
    if store_id not in KEY_STORES:
        raise KeyError(f"store {store_id!r} is not declared (declare_key_store)")
    problem = store_problem(store_id, data)
    if problem:
        raise ValueError(problem)
    return dcc.Store(id=store_id, data=data)


def chart_width_store(prefix: str) -> dcc.Store:
    """The store of the width (px) the browser draws ``{prefix}-graph`` at (see
    :func:`report_chart_width`)."""
    return dcc.Store(id=f"{prefix}-width")


def report_chart_width(prefix: str, *triggers: Input) -> None:
    """Register the clientside callback that puts the width ``{prefix}-graph`` is drawn at into
    ``{prefix}-width`` once the page has laid it out (``triggers``: when to measure, e.g. the
    page's key store, or a control that shows a hidden chart), and again when a resized window
    changes it; an unchanged width is not sent again. Figures fitted to their width
    (``fit_width=``) are redrawn for it by callbacks with that store as an input."""
    clientside_callback(
        ClientsideFunction(namespace="qidash", function_name="chartWidth"),
        Output(f"{prefix}-width", "data"),
        *triggers,
        State(f"{prefix}-graph", "id"),
        State(f"{prefix}-width", "data"),
    )


def chart_width(data: Any) -> int | None:
    """The chart's width the browser reported (px), when it is a plausible one."""
    return int(data) if isinstance(data, int | float) and 200 <= data <= 8000 else None


def url_sync_store(prefix: str, defaults: dict[str, Any],
                   types: dict[str, str] | None = None) -> dcc.Store:
    """The store the URL-sync callback reads: each key's value when the URL leaves it out.

    ``defaults`` maps each query key (in the order of :func:`sync_url`'s keys) to the value its
    control takes when the key is absent; ``types`` names how to read a key from the URL
    (``str``, ``float``, ``int``, ``bool``, ``list``) where its default (e.g. None) cannot say.
    """
    types = {k: _url_type(v) for k, v in defaults.items()} | (types or {})
    return dcc.Store(id=f"{prefix}-url-sync",
                     data={"keys": list(defaults), "defaults": dict(defaults), "types": types})


def register_global_callbacks(app: Any) -> None:
    """Callbacks of the chrome: enable "Export slides" where the API serves the pack."""
    app.clientside_callback(
        ClientsideFunction(namespace="qidash", function_name="slidesAvailable"),
        Output({"type": "slides-btn", "page": MATCH}, "disabled"),
        Output({"type": "slides-wrap", "page": MATCH}, "title"),
        Input({"type": "slides-btn", "page": MATCH}, "href"),
    )
