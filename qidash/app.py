"""The one module that mounts the API and the dashboards in one process.

API routes are registered first (Starlette matches in order), then Dash's Flask server is
mounted at ``/`` through ``a2wsgi.WSGIMiddleware``. Process-wide middleware (request ids,
structured access logs, security headers, CORS when configured, and the dashboards' sign-in
gate, :mod:`qidash.security`) wraps both.
"""

from __future__ import annotations

import base64
import hashlib
import re

from a2wsgi import WSGIMiddleware
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.middleware.gzip import GZipMiddleware

from api.app import create_api
from core.settings import get_settings
from dashboards.app import create_dash
from qidash.middleware import RequestContextMiddleware, content_security_policy
from qidash.security import DashboardGate, install_sign_in


def inline_script_hashes(app: FastAPI, path: str) -> list[str]:
    """The CSP hashes of the inline scripts of the fixed page ``path`` (the API docs page,
    whose Swagger UI set-up is an inline script)."""
    for route in app.router.routes:
        if getattr(route, "path", None) == path:
            body = route.endpoint().body  # type: ignore[attr-defined]
            scripts = re.findall(rb"<script>(.*?)</script>", body, flags=re.S)
            return ["'sha256-" + base64.b64encode(hashlib.sha256(s).digest()).decode() + "'"
                    for s in scripts]
    return []


def create_app() -> FastAPI:
    """The whole service: ``/api/v1`` (docs at ``/api/docs``) and the dashboards at ``/``."""
    settings = get_settings()
    app = create_api()
    dash_app = create_dash(requests_pathname_prefix="/")
    install_sign_in(app)  # /sign-in and /sign-out, before the dashboards take "/"
    # gzip the dashboards' scripts, layouts and figures (~3x smaller). Level 1: a 6,500-bar
    # figure compresses in 3 ms (level 6: 10 ms) to within 12% of level 6's size.
    app.mount("/", GZipMiddleware(WSGIMiddleware(dash_app.server),  # type: ignore[arg-type]
                                  minimum_size=1024, compresslevel=1))
    if settings.cors_origins:  # closed by default: no CORS headers unless origins are listed
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
        )
    # who is asking, for every dashboard request; nothing without a viewer when reads need one
    app.add_middleware(DashboardGate)
    docs_hashes = inline_script_hashes(app, "/api/docs")
    app.add_middleware(RequestContextMiddleware, csp=lambda: content_security_policy(
        sorted({*docs_hashes, *getattr(dash_app, "csp_script_hashes", ())})))
    return app
