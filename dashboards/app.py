"""The Dash application (mounted at ``/`` by :mod:`qidash.app`).

Every page is a module in ``dashboards/pages`` (``dash.register_page``) whose ``layout(**query)``
reads the query string, so every view is a bookmarkable URL. Bootstrap's CSS ships in
``dashboards/assets`` (no CDN: the service must work on a closed NHS network), and plotly.js is
served locally (``serve_locally=True``).
"""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import Dash, dcc, html

from dashboards import components


def create_dash(requests_pathname_prefix: str = "/") -> Dash:
    """Build the Dash app. Pages register themselves from ``dashboards/pages``."""
    app = Dash(
        __name__,
        use_pages=True,
        pages_folder="pages",
        requests_pathname_prefix=requests_pathname_prefix,
        suppress_callback_exceptions=True,
        title="qidash",
        serve_locally=True,
        update_title=None,  # no "Updating..." flicker in the tab title on every callback
        meta_tags=[{"name": "viewport", "content": "width=device-width, initial-scale=1"}],
    )
    app.layout = html.Div(
        [
            html.A("Skip to main content", href="#main", className="qd-skip"),
            components.header(),
            html.Main(dash.page_container, id="main", className="container-fluid qd-main",
                      tabIndex="-1"),
            components.footer(),
            # the analyst token lives in the tab's session storage only (see pages/trend.py)
            dcc.Store(id="auth-token", storage_type="session"),
            dcc.Store(id="exports-available", storage_type="session"),
        ]
    )
    components.register_global_callbacks(app)
    return app


__all__ = ["create_dash", "dbc"]
