"""Issue 16's page parts in a real browser, on SQLite and PostgreSQL: the trend page's action
form and "Accept rebase" (analysts; readers see why not), and the network page's Making Data
Count summary matrix (icons with words, links to the trend charts), with axe on both."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator

import pytest

from tests.browser.conftest import Page, _serve, axe_violations, sign_in

pytestmark = pytest.mark.browser

#: a trust whose A&E series has a sustained shift (from 2018-04) after April 2017 in the sample
TRUST, IND = "R1K", "ae_4hr"
TREND = f"/organisations/{TRUST}/indicators/{IND}"
NETWORK = "U33593"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served_loop(request, module_database, database_factory) -> Iterator[str]:
    yield from _serve(module_database, database_factory, request.param)


def test_analyst_records_an_action_and_accepts_the_suggested_rebase(served_loop, browser,
                                                                     axe_source):
    base = served_loop
    # a reader: the chart, no form, and no rebase to accept yet
    reader = Page(browser)
    reader.open(base + TREND)
    assert reader.page.locator("#trend-act-title").count() == 0
    assert "Recording an action needs an analyst sign-in" in reader.page.inner_text(
        ".qd-action-refused")
    reader.page.close()

    analyst = Page(browser)
    p = analyst.page
    sign_in(p, base, "analyst")
    analyst.open(base + TREND)
    assert axe_violations(p, axe_source) == []  # the form signed in
    p.get_by_label("What was done").fill("Front door streaming")
    p.get_by_label("Owner").fill("ED lead")
    p.get_by_label("Date", exact=True).fill("2017-04-01")
    p.get_by_label("Status").select_option("in_progress")
    p.get_by_role("button", name="Record action").click()
    p.wait_for_selector("#trend-act-msg .alert-success")
    assert p.input_value("#trend-act-title") == ""  # cleared: not recorded twice by accident
    actions = p.inner_text("#trend-actions")
    assert "Front door streaming" in actions
    assert "special cause of improvement from 2018-04" in actions
    accept = p.get_by_role("button", name="Accept rebase at 2018-04")
    assert accept.is_enabled()
    p.once("dialog", lambda d: d.accept())
    accept.click()
    p.wait_for_selector("#trend-accept-msg .alert-success")
    assert "new limits from 2018-04" in p.inner_text("#trend-accept-msg")
    p.wait_for_function("document.querySelector('#trend-badges').innerText"
                        ".includes('New limits from 2018-04, accepted by browser-analyst')")
    assert "rebase accepted by browser-analyst" in p.inner_text("#trend-actions")
    marks = p.eval_on_selector_all(".js-plotly-plot .annotation-text",
                                   "es => es.map(e => e.textContent)")
    assert any(m.startswith("Rebase: browser-analyst, ") for m in marks)
    assert analyst.errors == []
    p.close()
    # recorded with who and when, applied for everyone (a fresh reader's page and the API)
    with urllib.request.urlopen(f"{base}/api/v1/rebases?org={TRUST}") as r:
        items = json.load(r)["items"]
    assert [(i["period"], i["accepted_by"], i["active"]) for i in items] == [
        ("2018-04", "browser-analyst", True)]
    with urllib.request.urlopen(f"{base}/api/v1/organisations/{TRUST}/indicators/{IND}/spc"
                                ) as r:
        assert json.load(r)["rebase"] == ["2018-04"]
    reader = Page(browser)
    reader.open(base + TREND)
    assert "New limits from 2018-04, accepted by browser-analyst" in reader.page.inner_text(
        "#trend-badges")
    reader.page.close()


def test_network_summary_matrix(served_loop, page, axe_source):
    base = served_loop
    page.open(base + f"/networks/{NETWORK}", ".qd-mdc-table")
    p = page.page
    n_members = p.locator(".qd-mdc-member").count()
    n_rows = p.locator(".qd-mdc-table tbody tr").count()
    assert n_members >= 2
    assert n_rows >= 2
    assert p.locator(".qd-mdc-cell").count() == n_members * n_rows
    # each cell's words are there for a screen reader, and as the link's title
    link = p.locator("a.qd-mdc-link").first
    words = link.get_attribute("title") or ""
    assert words
    assert link.locator(".visually-hidden").inner_text() == words
    assert axe_violations(p, axe_source) == []
    # on a phone the matrix scrolls inside its box: the page itself does not widen (its
    # cells' visually hidden words are absolutely positioned, and escaped the box once)
    p.set_viewport_size({"width": 390, "height": 844})
    assert p.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1")
    p.set_viewport_size({"width": 1280, "height": 900})
    href = link.get_attribute("href") or ""
    assert href.startswith("/organisations/")
    link.click()
    p.wait_for_url("**" + href)
    p.wait_for_selector(".js-plotly-plot .main-svg", timeout=15000)
    assert page.errors == []
