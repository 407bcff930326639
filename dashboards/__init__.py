"""The Dash edge: one page per module; figures come from pure builders in dashboards.figures."""
