"""The API application (mounted under ``/api`` by :mod:`qidash.app`)."""

from __future__ import annotations

from fastapi import FastAPI

from api.routes import exports, health

API_PREFIX = "/api/v1"


def create_api() -> FastAPI:
    """Build the FastAPI app with every API route registered under ``/api/v1``."""
    app = FastAPI(
        title="qidash API",
        version="0.1.0",
        description=(
            "Indicator values with confidence intervals, peer comparison, funnel plots, SPC "
            "charts and opportunity for NHS clinical networks. All values, intervals, means and "
            "limits are in display units (the indicator's multiplier applied)."
        ),
        openapi_url="/api/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
    )
    app.include_router(health.router, prefix=API_PREFIX)
    app.include_router(exports.router, prefix=API_PREFIX)
    return app
