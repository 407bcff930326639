"""Disclosure control in a real browser: a server with ``QIDASH_DISCLOSURE_CONTROL=true`` on the
real sample with small counts; hovering every bar of a comparison shows rounded counts only,
and the suppressed practice has no bar."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

import pytest

from core.db import make_engine
from tests.browser.conftest import start_server, stop_server
from tests.disclosure_data import PERIOD, load_disclosure_sample

pytestmark = pytest.mark.browser

COUNTS = re.compile(r"^(\d[\d,]*) / (\d[\d,]*)$", re.M)


@pytest.fixture(scope="module")
def served_disclosed(module_database, database_factory) -> Iterator[str]:  # type: ignore[no-untyped-def]
    url = module_database("sqlite")
    engine = make_engine(url)
    load_disclosure_sample(engine)
    engine.dispose()
    before = os.environ.get("QIDASH_DISCLOSURE_CONTROL")
    os.environ["QIDASH_DISCLOSURE_CONTROL"] = "true"
    try:
        proc, base = start_server(url)
    finally:
        if before is None:
            os.environ.pop("QIDASH_DISCLOSURE_CONTROL", None)
        else:
            os.environ["QIDASH_DISCLOSURE_CONTROL"] = before
    try:
        yield base
    finally:
        stop_server(proc, database_factory, url)


def test_hovering_every_bar_shows_no_small_count(served_disclosed, page) -> None:  # type: ignore[no-untyped-def]
    # U80779 holds H82010 (5 of 5 in 2021-22): its few practices are drawn as named bars
    page.open(f"{served_disclosed}/indicators/imm_6in1_12m?period={PERIOD}"
              "&peers=parent:U80779&highlight=H82010")
    bars = page.page.locator(".js-plotly-plot .barlayer .point path")
    n = bars.count()
    assert n >= 3
    hovers = []
    for i in range(n):
        box = bars.nth(i).bounding_box()
        if not box or box["width"] < 1 or box["height"] < 1:
            continue
        page.page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.page.wait_for_selector(".hoverlayer .hovertext", timeout=5000)
        # SVG text: one tspan per line of the hover
        hovers.append("\n".join(page.page.locator(".hoverlayer .hovertext tspan")
                                 .all_text_contents()))
        page.page.mouse.move(0, 0)
        page.page.wait_for_timeout(50)
    assert len(hovers) >= 3
    counts = [int(x.replace(",", "")) for h in hovers for m in COUNTS.finditer(h)
              for x in m.groups()]
    assert counts, hovers  # the hover shows counts ...
    assert all(c % 5 == 0 and not 1 <= c <= 7 for c in counts), hovers  # ... rounded
    assert not any("H82010" in h for h in hovers)  # the suppressed practice has no bar
    # the table says why it has no value
    page.page.get_by_label("Table", exact=True).check()
    page.page.wait_for_selector(".ag-row")
    assert "suppressed: small numbers" in page.page.inner_text(".ag-root")
    assert page.errors == []
