"""The one module that mounts the API and the dashboards in one process.

API routes are registered first (Starlette matches in order), then Dash's Flask server is
mounted at ``/`` through ``a2wsgi.WSGIMiddleware``.
"""

from __future__ import annotations

from a2wsgi import WSGIMiddleware
from fastapi import FastAPI

from api.app import create_api
from dashboards.app import create_dash


def create_app() -> FastAPI:
    """The whole service: ``/api/v1`` (docs at ``/api/docs``) and the dashboards at ``/``."""
    app = create_api()
    dash_app = create_dash(requests_pathname_prefix="/")
    app.mount("/", WSGIMiddleware(dash_app.server))  # type: ignore[arg-type]
    return app
