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


def test_reused_tab_draws_each_chart_as_a_fresh_page_would(chromium):
    """Tabs are reused without kaleido's reload after each image: a chart drawn after others
    (and after a failed one) is byte for byte the chart drawn first, and drawing from several
    threads at once gives each caller its own image."""
    from concurrent.futures import ThreadPoolExecutor

    a = go.Figure(go.Bar(x=list("abcdef"), y=[3, 1, 4, 1, 5, 9]), layout={"title": "A"})
    b = go.Figure(go.Scatter(x=list(range(200)), y=[i % 7 for i in range(200)]),
                  layout={"title": "B", "annotations": [{"text": "note", "x": 3, "y": 3}]})
    first = render.render_png(a, width=640, height=360)
    render.render_png(b, width=900, height=500)
    with pytest.raises(render.RenderError):
        render.render_png({"data": [{"type": "scatter", "x": [object()]}], "layout": {}})
    assert render.render_png(a, width=640, height=360) == first
    with ThreadPoolExecutor(4) as pool:
        images = list(pool.map(lambda f: render.render_png(f, width=640, height=360),
                               [a, b, a, b]))
    assert images[0] == images[2] == first
    assert images[1] == images[3] != first
    assert _png_size(images[1]) == (640, 360)


def test_images_stay_the_same_across_page_reloads(chromium, monkeypatch):
    monkeypatch.setattr(render, "RELOAD_EVERY", 2)
    fig = go.Figure(go.Scatter(x=[1, 2], y=[2, 1]))
    images = {render.render_png(fig, width=300, height=200) for _ in range(5)}
    assert len(images) == 1  # a reloaded page draws the same image
