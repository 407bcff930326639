"""The Dash application (mounted at ``/`` by :mod:`qidash.app`).

Every page is a module in ``dashboards/pages`` (``dash.register_page``) whose ``layout(**query)``
reads the query string, so every view is a bookmarkable URL. Bootstrap's CSS ships in
``dashboards/assets`` (no CDN: the service must work on a closed NHS network), and so does
plotly.js.

Speed (issue 5 targets; figures in bench/bench_dashboards.py): the charts only use bar and scatter
traces, so ``dashboards/assets`` carries plotly.js's official *basic* bundle
(``plotly.js-basic-dist-min``, MIT, the same version as plotly.py's, 1.2 MB instead of 4.8 MB:
about a quarter of the parse time). It is preloaded by the page's head but is not one of its
parser-blocking scripts: ``assets/qidash.js`` runs it once Dash's renderer has asked for the
layout, so its 0.15-0.3 s of parsing overlaps the server building the page, and it sets
``window.Plotly``, which ``dcc.Graph`` uses instead of fetching the full bundle.
Assets carry their modification time in their URL (``?m=``), so they are cached for a year like
Dash's fingerprinted component bundles: a second visit revalidates nothing.

dash-ag-grid's main bundle (1.3 MB, ag-grid itself: about 0.1 s to parse and run) is not loaded
by every page: only the pages that show a grid need it, and Dash serves every component
library's scripts on every page. :func:`defer_ag_grid` leaves it out of the page's scripts (but
still served), and ``assets/qidash-grid.js`` loads it when the first grid is rendered.

Nor does the page load @babel/polyfill, which Dash puts first on every page for old browsers
(core-js 2: about 0.15 s to run on a fresh load here, and it swaps the browser's own
``parseInt`` and ``String.prototype.trim`` for slower ones that plotly.js calls for every bar's
colour, ~0.1 s more to draw 6,500 bars). Every browser React 18 runs in has what it adds; the one
thing Dash's bundles still need from it, the global ``regeneratorRuntime``, comes from
``assets/regenerator-runtime-0.14.1.js``.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import re
from typing import Any
from urllib.parse import urlsplit

import dash
import dash_ag_grid
import dash_bootstrap_components as dbc
import flask
from dash import Dash, dcc, html
from dash._utils import clean_property_name, split_callback_id, stringify_id
from dash.exceptions import DependencyException
from dash.fingerprint import build_fingerprint

from dashboards import components

log = logging.getLogger(__name__)

#: Cache lifetime of /assets files (seconds): one year, as Dash gives its fingerprinted bundles.
ASSET_MAX_AGE = 31_536_000


#: dash-ag-grid's main bundle, loaded on demand by ``assets/qidash-grid.js``.
AG_GRID_BUNDLE = "dash_ag_grid.min.js"


def defer_ag_grid(requests_pathname_prefix: str = "/") -> str:
    """Take dash-ag-grid's main bundle out of every page's scripts; return its URL.

    The bundle stays registered ("dynamic", as Dash's async chunks and source maps are), so Dash
    still serves it at its fingerprinted URL, cached for a year.
    """
    for resource in dash_ag_grid._js_dist:
        if resource.get("relative_package_path") == AG_GRID_BUNDLE:
            resource["dynamic"] = True
    path = os.path.join(os.path.dirname(dash_ag_grid.__file__), AG_GRID_BUNDLE)
    fingerprint = build_fingerprint(AG_GRID_BUNDLE, dash_ag_grid.__version__,
                                    int(os.stat(path).st_mtime))
    return f"{requests_pathname_prefix}_dash-component-suites/dash_ag_grid/{fingerprint}"


#: plotly.js's basic bundle in ``dashboards/assets`` (a regular expression on the file name).
PLOTLY_ASSET = r"^plotly-basic-[0-9.]+\.min\.js$"


def _asset_src(app: Dash, pattern: str) -> str | None:
    """The URL of the asset whose name matches, with its ``?m=`` as Dash gives assets."""
    folder = app.config.assets_folder
    for name in sorted(os.listdir(folder)):
        if re.match(pattern, name):
            return f"{app.get_asset_url(name)}?m={os.path.getmtime(os.path.join(folder, name))}"
    return None


#: an inline script (one without ``src``): its content
_INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.S)

#: Dash's @babel/polyfill script tag (its URL carries Dash's fingerprint).
_POLYFILL_TAG = re.compile(r'<script src="[^"]*/deps/polyfill@[^"]*"></script>\s*')


class QidashDash(Dash):
    """Dash without @babel/polyfill in the page (see the module's docstring).

    ``interpolate_index`` is Dash's documented hook for customising the page it serves.
    """

    #: URL of the plotly.js bundle, preloaded by the page and run by ``assets/qidash.js``.
    plotly_src: str | None = None
    #: CSP hashes of the inline scripts of the pages served so far (Dash's renderer start-up,
    #: the pages' title callback): the Content-Security-Policy allows these and no others
    csp_script_hashes: frozenset[str] = frozenset()

    # Dash calls this with keywords only; passing them on whole keeps up with Dash's list
    def interpolate_index(self, **kwargs: Any) -> str:  # type: ignore[override]
        """The page, its scripts without the polyfill, plotly.js preloaded."""
        kwargs["scripts"] = _POLYFILL_TAG.sub("", kwargs.get("scripts", ""))
        if self.plotly_src:
            kwargs["css"] = (f'<link rel="preload" as="script" id="qidash-plotly" '
                             f'href="{self.plotly_src}">\n' + kwargs.get("css", ""))
        page = str(super().interpolate_index(**kwargs))
        found = self.csp_script_hashes | {
            "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"
            for body in _INLINE_SCRIPT.findall(page)}
        if found != self.csp_script_hashes:
            self.csp_script_hashes = frozenset(found)
        return page


def create_dash(requests_pathname_prefix: str = "/") -> Dash:
    """Build the Dash app. Pages register themselves from ``dashboards/pages``."""
    grid_src = defer_ag_grid(requests_pathname_prefix)
    app = QidashDash(
        __name__,
        use_pages=True,
        pages_folder="pages",
        requests_pathname_prefix=requests_pathname_prefix,
        suppress_callback_exceptions=True,
        title="qidash",
        serve_locally=True,
        # no "Updating..." flicker in the tab title on every callback: Dash documents None for
        # this, but its signature types update_title as str
        update_title=None,  # type: ignore[arg-type]
        assets_ignore=PLOTLY_ASSET,  # not a script of the page: see QidashDash.plotly_src
        meta_tags=[{"name": "viewport", "content": "width=device-width, initial-scale=1"},
                   # where assets/qidash-grid.js loads ag-grid from
                   {"name": "qidash-ag-grid", "content": grid_src}],
    )
    # the page's language, for screen readers' voices and hyphenation (WCAG 3.1.1)
    app.index_string = app.index_string.replace("<html>", '<html lang="en-GB">', 1)
    # Dash's page wraps its scripts in a <footer>: a second, empty contentinfo landmark
    app.index_string = (app.index_string.replace("<footer>", "<div>", 1)
                        .replace("</footer>", "</div>", 1))
    # asset URLs change with the file (``?m=<mtime>``), so a long cache is safe
    app.server.config["SEND_FILE_MAX_AGE_DEFAULT"] = ASSET_MAX_AGE
    app.plotly_src = _asset_src(app, PLOTLY_ASSET)
    app.layout = lambda: _shell(_first_page(app))
    components.register_global_callbacks(app)
    _answer_bad_requests(app)
    return app


def _answer_bad_requests(app: Dash) -> None:
    """Requests Dash's own routes cannot serve get a 4xx that says why, never a 500.

    * a script under ``/_dash-component-suites/`` that no library has (Dash raises
      ``DependencyException``: a stale or made-up link, a scanner): 404;
    * a callback request (``POST /_dash-update-component``) that is not what dash-renderer
      sends: not a JSON object, an output no callback has, inputs or state of another shape
      or number than the callback's (Dash indexes them blindly: a ``KeyError`` or an
      ``IndexError`` before any callback ran), or a value its property cannot hold (a click
      count that is text, a search that is a number: the pages' code then failed): 400,
      checked by :func:`callback_problem` before Dash reads the body.
    """
    server = app.server

    def no_such_file(_exc: Exception) -> Any:
        return flask.Response("No such file.\n", status=404,
                              content_type="text/plain; charset=utf-8")

    def check_callback() -> Any:
        req = flask.request
        if req.method != "POST" or not req.path.endswith("/_dash-update-component"):
            return None
        problem = callback_problem(req.get_json(silent=True), app.callback_map)
        if problem is None:
            return None
        log.info("callback request refused: %s", problem)
        return flask.jsonify({"detail": f"not a callback request this page makes: {problem}"}
                             ), 400

    server.register_error_handler(DependencyException, no_such_file)
    server.before_request(check_callback)


def _is_count(v: Any) -> bool:
    return v is None or (isinstance(v, int) and not isinstance(v, bool) and v >= 0)


def _is_scalar(v: Any) -> bool:
    return v is None or isinstance(v, str | int | float | bool)


#: what dash-renderer can send for each property the pages' callbacks read (what the component
#: holds: a click count, a search text, a list of options or rows, a point clicked); ``data``
#: (a dcc.Store) may hold any JSON, and is checked by the callbacks that read it
_PROPERTY_VALUES: dict[str, Any] = {
    "n_clicks": _is_count, "submit_n_clicks": _is_count,
    "search_value": lambda v: v is None or isinstance(v, str),
    "filename": lambda v: v is None or isinstance(v, str),
    "contents": lambda v: v is None or isinstance(v, str),
    "options": lambda v: v is None or (isinstance(v, list) and all(
        isinstance(o, dict | str | int | float) for o in v)),
    "selectedRows": lambda v: v is None or (isinstance(v, list)
                                            and all(isinstance(r, dict) for r in v)),
    "clickData": lambda v: v is None or isinstance(v, dict),
    "cellClicked": lambda v: v is None or isinstance(v, dict),
    "value": lambda v: _is_scalar(v) or (isinstance(v, list) and all(map(_is_scalar, v))),
}


def _is_many(pattern_id: str) -> bool:
    """Does this input's id match many components (an ALL or ALLSMALLER wildcard)? Then the
    renderer sends a list of them."""
    return pattern_id.startswith("{") and ('["ALL"]' in pattern_id
                                           or '["ALLSMALLER"]' in pattern_id)


def _items_problem(name: str, items: Any, declared: list[dict[str, Any]]) -> str | None:
    if not isinstance(items, list):
        return f"{name} must be a list"
    if len(items) != len(declared):
        return f"this callback takes {len(declared)} {name}, not {len(items)}"
    for item, dep in zip(items, declared, strict=True):
        many = _is_many(str(dep.get("id", "")))
        if many != isinstance(item, list):
            return (f"{dep.get('id')}.{dep.get('property')} must be "
                    + ("a list of components" if many else "one component"))
        for one in (item if many else [item]):
            if not (isinstance(one, dict) and "id" in one
                    and isinstance(one.get("property"), str)):
                return f"each of {name} must be an object with an id and a property"
            check = _PROPERTY_VALUES.get(one["property"])
            if check is not None and not check(one.get("value")):
                return f"{one['property']} cannot hold {type(one.get('value')).__name__} values"
            if one["property"] == "data":
                problem = components.store_problem(one["id"], one.get("value"))
                if problem:
                    return problem
    return None


def callback_problem(body: Any, callback_map: dict[str, Any]) -> str | None:
    """What is wrong with a ``/_dash-update-component`` body, or None when it has the shape
    dash-renderer gives it: an object naming a registered ``output``, with the callback's
    number of ``inputs`` and ``state`` (each ``{id, property, value}``, or a list of them for
    an ALL pattern), each value of a type its property can hold (:data:`_PROPERTY_VALUES`),
    ``changedPropIds`` a list of strings and ``outputs`` an object or a list."""
    if not isinstance(body, dict):
        return "the body must be a JSON object"
    output = body.get("output")
    if not isinstance(output, str) or output not in callback_map:
        return "no callback has that output"
    spec = callback_map[output]
    for name in ("inputs", "state"):
        problem = _items_problem(name, body.get(name, []), list(spec.get(name) or []))
        if problem:
            return problem
    changed = body.get("changedPropIds", [])
    if not (isinstance(changed, list) and all(isinstance(c, str) for c in changed)):
        return "changedPropIds must be a list of strings"
    if "outputs" in body:
        return _outputs_problem(body["outputs"], split_callback_id(output))
    return None


def _prop(output: dict[str, Any]) -> str | None:
    prop = output.get("property")
    return clean_property_name(prop) if isinstance(prop, str) else None


def _outputs_problem(given: Any, expected: Any) -> str | None:
    """Do the request's ``outputs`` name the callback's outputs, as the renderer names them
    (a pattern id as an object, a list of them for an ALL pattern)? Dash writes its answer
    into them and fails (500) when they do not match what the callback returns."""
    many = isinstance(expected, list)
    if many != isinstance(given, list) or (many and len(given) != len(expected)):
        return (f"this callback has {len(expected)} outputs" if many
                else "outputs must name the callback's one output")
    for g, e in zip(given if many else [given], expected if many else [expected],
                    strict=True):
        # an allow_duplicate output's property carries "@<hash>" in the callback's id
        ident, prop = str(e["id"]), clean_property_name(e["property"])
        if _is_many(ident):
            ok = isinstance(g, list) and all(isinstance(x, dict) and isinstance(x.get("id"), dict)
                                             for x in g)
        elif ident.startswith("{"):
            ok = (isinstance(g, dict) and isinstance(g.get("id"), dict)
                  and stringify_id(g["id"]) == ident and _prop(g) == prop)
        else:
            ok = isinstance(g, dict) and g.get("id") == ident and _prop(g) == prop
        if not ok:
            return f"outputs do not name {ident}.{prop} as this callback does"
    return None


def _shell(page: Any = None) -> html.Div:
    """The chrome around the pages; ``page`` is the page container (Dash's empty one if None)."""
    return html.Div(
        [
            html.A("Skip to main content", href="#main", className="qd-skip"),
            components.header(),
            html.Main(page if page is not None else dash.page_container, id="main",
                      className="container-fluid qd-main", tabIndex="-1"),
            components.footer(),
            dcc.Store(id="exports-available", storage_type="session"),
        ]
    )


def _first_page(app: Dash) -> Any:
    """The page container with the page of the browser's address already in it, or None.

    Dash pages normally send an empty container in the layout (``/_dash-layout``); once it is
    drawn, its ``dcc.Location`` reports the address and a routing callback returns the page: a
    second round trip, and a second render, before the first chart can start. The layout request
    comes from the page itself, so its ``Referer`` is the address: this builds that page as the
    routing callback would and puts it in the layout, with the location's ``pathname`` and
    ``search`` already set to the address, so ``dcc.Location`` has nothing to report and the
    routing callback does not run. Later navigation goes through the routing callback as usual.
    Without a usable ``Referer`` (another origin, a policy that strips it) or if anything goes
    wrong here, the layout is Dash's usual empty container and the routing callback builds the
    page.
    """
    try:
        from dash._pages import _parse_query_string, _path_to_page

        referrer = flask.request.referrer
        if not referrer:
            return None
        url = urlsplit(referrer)
        here = urlsplit(flask.request.host_url)
        if (url.scheme, url.netloc) != (here.scheme, here.netloc):
            return None
        prefix = app.config.requests_pathname_prefix
        if not url.path.startswith(prefix.rstrip("/")):
            return None
        search = f"?{url.query}" if url.query else ""
        page, path_variables = _path_to_page(app.strip_relative_path(url.path))
        if not page:
            return None  # the routing callback's 404 page
        layout, title = page.get("layout", ""), page["title"]
        if callable(layout):
            layout = layout(**{**(path_variables or {}), **_parse_query_string(search)})
        if callable(title):
            title = title(**(path_variables or {}))
        location, content, store, dummy = dash.page_container.children
        return html.Div([
            dcc.Location(id=location.id, refresh=location.refresh, pathname=url.path,
                         search=search),
            html.Div(layout, id=content.id, disable_n_clicks=True),
            dcc.Store(id=store.id, data={"title": title}),
            html.Div(id=dummy.id, disable_n_clicks=True),
        ])
    except Exception:  # the routing callback builds the page instead
        log.warning("first page not built into the layout", exc_info=True)
        return None


__all__ = ["QidashDash", "create_dash", "dbc"]
