"""The Dash application (mounted at ``/`` by :mod:`qidash.app`)."""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import Dash, html


def create_dash(requests_pathname_prefix: str = "/") -> Dash:
    """Build the Dash app. Pages register themselves from ``dashboards/pages``."""
    app = Dash(
        __name__,
        use_pages=True,
        pages_folder="pages",
        requests_pathname_prefix=requests_pathname_prefix,
        external_stylesheets=[dbc.themes.BOOTSTRAP],
        suppress_callback_exceptions=True,
        title="qidash",
        serve_locally=True,
    )
    app.layout = dbc.Container(
        [html.H1("qidash", className="my-3"), dash.page_container], fluid=True
    )
    return app
