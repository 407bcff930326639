"""The /alerts page in a real browser, on SQLite and PostgreSQL: alerts computed by the alerts
service from the sample's loads, filtered through the form, each row a link to its chart."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text

from core.db import make_engine
from core.services import alerts as alert_service
from tests.browser.conftest import start_server, stop_server
from tests.dashboards.sample_data import load_sample

pytestmark = pytest.mark.browser
#: dashboards/pages/alerts.py's PAGE_SIZE (a page module is not imported by name: see
#: tests/test_ci_rules.py)
PAGE_SIZE = 50


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served_alerts(request, module_database, database_factory) -> Iterator[tuple[str, int]]:
    url = module_database(request.param)
    engine = make_engine(url)
    load_sample(engine)
    total = 0
    with engine.begin() as conn:
        for (load_id,) in conn.execute(text("SELECT id FROM loads ORDER BY id")).all():
            total += alert_service.raise_load_alerts(conn, load_id)
    engine.dispose()
    assert total > 0
    proc, base = start_server(url)
    try:
        yield base, total
    finally:
        stop_server(proc, database_factory, url)


def test_alerts_page_filters_and_links_to_charts(served_alerts, page):
    base, total = served_alerts
    page.open(base + "/alerts?since=", ".qd-alerts")
    summary = page.page.inner_text("#alerts-summary")
    assert summary.startswith(f"{total} alert")
    rows = page.page.locator("tr.qd-alert")
    assert rows.count() == min(total, PAGE_SIZE)
    # the indicator's name and the value with its unit, not the slug and a bare number
    cells = page.page.locator("tr.qd-alert").first.locator("td")
    assert cells.nth(1).inner_text() != cells.nth(1).get_attribute("title")
    # concerns come first within the newest load
    page.page.select_option("#alerts-kind", "special_cause_concern")
    page.page.click("button[type=submit]")
    page.page.wait_for_url("**kind=special_cause_concern**")
    page.page.wait_for_selector(".qd-alerts")
    kinds = page.page.eval_on_selector_all(
        "tr.qd-alert", "rs => rs.map(r => r.className)")
    assert kinds
    assert all("qd-alert-special_cause_concern" in k for k in kinds)
    first = page.page.locator("a.qd-alert-link").first
    href = first.get_attribute("href")
    assert href is not None
    assert href.startswith("/organisations/")
    first.click()
    page.page.wait_for_url("**" + href)
    page.page.wait_for_selector(".js-plotly-plot .main-svg", timeout=15000)
    assert page.errors == []


def test_alerts_page_bad_filter_is_a_message(served_alerts, page):
    base, _ = served_alerts
    page.open(base + "/alerts?network=NOPE", ".alert")
    assert "NOPE" in page.page.inner_text(".alert")
    page.open(base + "/alerts?kind=bogus", ".alert")
    assert "unknown alert kind" in page.page.inner_text(".alert")


def test_alerts_page_pages_through_every_alert(served_alerts, page):
    """Every alert is reachable page by page (each once), the filters kept in the links."""
    base, total = served_alerts
    page.open(base + "/alerts?since=&kind=", ".qd-alerts")
    seen: list[str] = []
    pages = 0
    while True:
        pages += 1
        seen += page.page.eval_on_selector_all(
            "tr.qd-alert", "rs => rs.map(r => r.innerText)")
        nxt = page.page.locator("#alerts-next")
        if not nxt.count():
            break
        href = nxt.get_attribute("href")
        assert href is not None
        assert "since=" in href
        assert f"page={pages + 1}" in href
        nxt.click()
        page.page.wait_for_url(f"**page={pages + 1}**")
        page.page.wait_for_selector(f"text=Page {pages + 1} of")
    assert len(seen) == total
    assert pages == -(-total // PAGE_SIZE)
    assert pages > 1, "the sample should raise more alerts than one page holds"
    assert page.page.locator("#alerts-previous").count() == 1
    assert f"{(pages - 1) * PAGE_SIZE + 1}-{total} shown" in page.page.inner_text(
        "#alerts-summary")
    assert page.errors == []
