"""The API application (mounted under ``/api`` by :mod:`qidash.app`)."""

from __future__ import annotations

import gc
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from api.cache import make_cache
from api.errors import error_response, install_error_handlers
from api.guard import TextGuardMiddleware
from api.responses import JSONBytes
from api.routes import (
    actions,
    admin,
    alerts,
    exports,
    groups,
    health,
    indicators,
    loads,
    networks,
    organisations,
    rebases,
    subscriptions,
)
from api.routes import (
    annotations as annotation_routes,
)
from core.db import get_engine
from core.services.warm import start_warmer, stop_warmer
from core.settings import get_settings

API_PREFIX = "/api/v1"

DESCRIPTION = """\
Indicator values with confidence intervals, peer comparison, funnel plots, SPC charts and
opportunity for NHS clinical networks. All values, intervals, means and limits are in display
units (the indicator's multiplier applied). `period` defaults to the latest period with data.

**Formats**: JSON by default; `?format=csv` on every table-shaped endpoint downloads the table
(cells that a spreadsheet would read as a formula get a leading apostrophe).

**Auth**: reads are open unless the server sets `QIDASH_REQUIRE_AUTH=true` (then they need the
`viewer` role); every write needs a bearer token with the `analyst` role or above, whatever the
setting (`Authorization: Bearer TOKEN`; create one with
`qidash tokens create --role analyst --name NAME`); tokens and the audit log need `admin`.
A browser signed in to the dashboards (`/sign-in`) is authenticated by its session cookie.
No token: 401; a role too low: 403; too many failed token checks from one address: 429.

**Errors** always have one shape: `{"error": {"status", "code", "message", "details"}}`;
unknown indicators, organisations or periods give 404 with a message that lists valid values,
invalid parameters 422 naming the parameter (`details.parameter`).
"""

TAGS = [
    {"name": "indicators", "description": "Indicators and their peer views for one period"},
    {"name": "organisations", "description": "Organisations, SPC charts and profiles"},
    {"name": "networks", "description": "Network triage for meetings"},
    {"name": "groups", "description": "Saved peer groups"},
    {"name": "annotations", "description": "Notes on SPC charts"},
    {"name": "loads", "description": "Uploads through the loading pipeline, history, revert"},
    {"name": "health", "description": "Health and data freshness"},
    {"name": "admin", "description": "Tokens and the audit log (admin role)"},
    {"name": "alerts", "description": "Alerts raised by values loads"},
    {"name": "subscriptions", "description": "Email digests of alerts"},
    {"name": "actions", "description": "Improvement actions and their effect"},
    {"name": "rebases", "description": "Rebases of SPC charts that people accepted"},
]


@asynccontextmanager
async def _lifespan(_app: FastAPI) -> AsyncIterator[None]:
    # Everything imported and built at start-up lives as long as the worker. Freezing it moves
    # it out of the garbage collector's generations, so the full collections that the row
    # dicts of big responses trigger (one every ~10 national comparison requests) no longer
    # re-scan ~200,000 long-lived objects: measured ~90 ms per collection before, ~0.2 ms
    # per request after (bench/bench_api.py). The documented use of gc.freeze (Python's gc
    # docs) for long-running servers.
    gc.collect()
    gc.freeze()
    # A national comparison allocates ~100,000 container objects (result tuples, row dicts),
    # which at the default first-generation threshold (700) means ~150 young collections and
    # ~15 middle ones per request. A threshold of 20,000 keeps the same collections, fewer and
    # larger: measured in process (bench/bench_api.py, uncached) median -0.5 ms and p95
    # 38 -> 32 ms; cyclic garbage is still collected, a little later.
    gc.set_threshold(20_000, 10, 10)
    # the profile's national peer summaries, built before the first profile asks for them
    # (at start, after each load or revert, before their hour ends): core.services.warm
    warmer = start_warmer(get_engine(), get_settings().warm_interval)
    try:
        yield
    finally:
        stop_warmer(warmer)


SWAGGER_DIR = Path(__file__).resolve().parent / "static" / "swagger-ui"
SWAGGER_PATH = "/api/static/swagger-ui"


def _methods_of(app: FastAPI, request: Request) -> list[str]:
    """The methods the OpenAPI description documents for the request's path (none: no such
    path). The path templates are compiled once per app."""
    table = getattr(app.state, "documented_methods", None)
    if table is None:
        table = []
        for template, ops in app.openapi().get("paths", {}).items():
            pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
            methods = [m.upper() for m in ("get", "post", "put", "patch", "delete") if m in ops]
            table.append((re.compile(f"^{pattern}$"), methods))
        app.state.documented_methods = table
    path = request.url.path
    found: list[str] = []
    for regex, methods in table:
        if regex.match(path):
            found += [m for m in methods if m not in found]
    return found


def create_api() -> FastAPI:
    """Build the FastAPI app with every API route registered under ``/api/v1``."""
    app = FastAPI(
        title="qidash API",
        version="0.1.0",
        description=DESCRIPTION,
        openapi_url="/api/openapi.json",
        docs_url=None,  # served below from bundled Swagger UI files, not a CDN
        redoc_url=None,
        openapi_tags=TAGS,
        default_response_class=JSONBytes,
        lifespan=_lifespan,
    )
    install_error_handlers(app)
    app.add_middleware(TextGuardMiddleware)  # NUL / lone surrogates: 422, never a 500
    # heavy reads are cached per worker by data version (api/cache.py)
    app.state.response_cache = make_cache()
    for module in (health, indicators, organisations, networks, groups, annotation_routes, loads,
                   admin, alerts, subscriptions, actions, rebases):
        app.include_router(module.router, prefix=API_PREFIX)
    app.include_router(exports.router, prefix=API_PREFIX)  # slide packs (exports/)

    # The docs page with Swagger UI shipped in the package (api/static/swagger-ui): FastAPI's
    # default loads it from a CDN, which the Content-Security-Policy (script-src 'self') and
    # networks without internet access both block, leaving a blank page.
    app.mount(SWAGGER_PATH, StaticFiles(directory=SWAGGER_DIR), name="swagger-ui")

    @app.get("/api/docs", include_in_schema=False)
    def api_docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/api/openapi.json", title="qidash API - docs",
            swagger_js_url=f"{SWAGGER_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{SWAGGER_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{SWAGGER_PATH}/favicon-32x32.png")

    # Under /api nothing falls through to the dashboards mounted at "/": an unknown API path
    # is a JSON 404 in the one error shape.
    # A path that exists under another method answers 405 with the methods it has (``Allow``),
    # and OPTIONS lists them: this catch-all would otherwise take them as unknown paths, and
    # OPTIONS fell through to the dashboards (which answered for GET only).
    @app.api_route("/api/{path:path}",
                   methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
                   include_in_schema=False)
    def unknown_api_route(request: Request, path: str):
        allowed = _methods_of(app, request)
        if allowed:
            allow = ", ".join([*allowed, "OPTIONS"])
            if request.method == "OPTIONS":
                return Response(status_code=204, headers={"Allow": allow})
            return error_response(
                405, "method_not_allowed",
                f"{request.method} is not allowed on /api/{path}; use {' or '.join(allowed)}",
                {"allowed": allowed}, headers={"Allow": allow})
        return error_response(
            404, "not_found",
            f"no such endpoint {request.method} /api/{path}; see /api/docs for the endpoints",
        )

    return app
