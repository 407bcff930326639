"""Chart images: one browser, PNG at the size asked for, clear errors."""

from __future__ import annotations

import struct

import plotly.graph_objects as go
import pytest

from core.settings import Settings, override_settings
from exports import render


def _png_size(data: bytes) -> tuple[int, int]:
    return struct.unpack(">II", data[16:24])


def test_png_at_the_requested_size(chromium):
    fig = go.Figure(go.Scatter(x=[1, 2, 3], y=[3, 1, 2]))
    data = render.render_png(fig, width=800, height=450, scale=2)
    assert data.startswith(render.PNG_MAGIC)
    assert _png_size(data) == (1600, 900)


def test_a_chart_that_cannot_be_drawn_names_itself(chromium):
    bad = {"data": [{"type": "scatter", "x": [object()]}], "layout": {}}  # not serialisable
    with pytest.raises(render.RenderError, match="could not draw the funnel plot for x"):
        render.render_png(bad, name="the funnel plot for x")


def test_missing_browser_is_a_clear_message(tmp_path):
    override_settings(Settings(chromium_path=str(tmp_path / "no-chromium")))
    try:
        assert render.find_browser() is None
        message = render._no_browser_message()
    finally:
        override_settings(None)
    assert "apt-get install -y chromium" in message
    assert "QIDASH_CHROMIUM_PATH" in message
    assert "no slide pack was written" in message
