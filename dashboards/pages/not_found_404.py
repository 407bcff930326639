"""Shown for any address that is not a page."""

import dash

from dashboards import components

dash.register_page(__name__, path="/404", title="Not found - qidash")


def layout(**_query: str):
    """A plain message and a way back."""
    return components.error_panel("There is no page at this address.", title="Page not found")
