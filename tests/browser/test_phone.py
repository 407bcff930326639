"""On a phone (390 px): the header stays one line, and charts keep a readable width inside a
card that scrolls sideways instead of being squeezed (labels and intervals cut off)."""

from __future__ import annotations

import pytest

from tests.browser.conftest import Page

pytestmark = pytest.mark.browser


def test_phone_header_and_charts_stay_readable(served, browser):
    phone = Page(browser, width=390)
    try:
        phone.open(served + "/indicators/imm_6in1_12m?highlight=H82006")
        header = phone.page.locator(".qd-header").bounding_box()
        assert header is not None
        assert header["height"] < 80
        graph = phone.page.locator(".dash-graph").first.bounding_box()
        assert graph is not None
        assert graph["width"] >= 720
        card_scrolls = phone.page.evaluate(
            "() => { const g = document.querySelector('.dash-graph');"
            " const c = g.closest('.qd-card'); return c.scrollWidth > c.clientWidth; }")
        assert card_scrolls
        # the page itself does not scroll sideways: only the chart's card does
        assert phone.page.evaluate(
            "() => document.documentElement.scrollWidth <= window.innerWidth + 1")
        phone.open(served + "/organisations/H82006")
        spine = phone.page.locator("#org-graph").bounding_box()
        assert spine is not None
        assert spine["width"] >= 1100
        assert phone.errors == []
    finally:
        phone.page.close()


@pytest.mark.parametrize("path", ["/indicators/imm_6in1_12m?highlight=H82006",
                                  "/indicators/imm_6in1_12m?highlight=H82006&view=funnel"])
def test_upright_tablet_charts_fill_their_card(served, browser, path):
    """At 720 px (a tablet held upright) the chart fits its card: no sideways scroll hides the
    labels of its right margin (the benchmark's and the target's)."""
    tablet = Page(browser, width=720)
    try:
        tablet.open(served + path)
        fit = tablet.page.evaluate(
            "() => { const g = document.querySelector('.dash-graph .main-svg');"
            " const c = g.closest('.qd-card');"
            " return [c.scrollWidth <= c.clientWidth + 1,"
            "  g.getBoundingClientRect().right <= c.getBoundingClientRect().right]; }")
        assert fit == [True, True]
        assert tablet.errors == []
    finally:
        tablet.page.close()
