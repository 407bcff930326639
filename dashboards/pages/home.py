"""Start page."""

import dash
from dash import html

dash.register_page(__name__, path="/", title="qidash")


def layout(**_query: str) -> html.Div:
    return html.Div([html.P("Quality-improvement dashboards for NHS clinical networks.")])
