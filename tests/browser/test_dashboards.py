"""The dashboards in a real browser: pages load cleanly, controls change the chart, the URL
carries the state, the highlight works."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.browser

PAGES = [
    ("/", ".qd-card"),
    ("/indicators/imm_6in1_12m?highlight=H82006", ".js-plotly-plot .main-svg"),
    ("/organisations/H82006", ".js-plotly-plot .main-svg"),
    ("/organisations/RF4/indicators/ae_4hr?rebase=2017-04", ".js-plotly-plot .main-svg"),
    ("/networks/U33593", ".js-plotly-plot .main-svg"),
    ("/upload", ".ag-root"),
    ("/indicators/no_such_indicator", ".alert"),
]


def test_every_page_loads_without_console_errors(served, page):
    for path, selector in PAGES:
        page.open(served + path, selector)
        page.page.wait_for_timeout(300)  # let follow-up callbacks settle
        assert page.errors == [], f"{path}: {page.errors}"
    # the unknown indicator is a message that lists the real ones, not a traceback
    assert "imm_6in1_12m" in page.page.inner_text(".alert")


def test_controls_change_the_chart_and_the_url(served, page):
    page.open(served + "/indicators/imm_6in1_12m?highlight=H82006")
    svg = page.page.inner_text(".js-plotly-plot")
    assert "The Petworth Surgery" in svg  # the highlighted practice is labelled
    summary = page.page.inner_text("#ind-summary")
    page.page.get_by_label("99.8%").check()
    page.page.wait_for_function(
        "s => document.querySelector('#ind-summary').innerText !== s", arg=summary)
    assert "99.8% confidence" in page.page.inner_text("#ind-summary")
    assert "confidence=99.8" in page.page.url
    page.page.get_by_role("radio", name="Funnel").check()
    page.page.wait_for_selector("text=99.8% limits (3 SD)")
    assert re.search(r"view=funnel", page.page.url)
    assert "highlight=H82006" in page.page.url
    # reload: the same view comes back from the URL alone
    page.page.reload()
    page.page.wait_for_selector("text=99.8% limits (3 SD)")
    assert page.page.is_checked("input[value='99.8']")
    assert page.errors == []


def test_peers_from_the_url_and_the_table(served, page):
    page.open(served + "/indicators/imm_mmr1_24m?peers=parent:U33593&view=table", ".ag-root")
    page.page.wait_for_selector(".ag-row")
    rows = page.page.locator(".ag-center-cols-container .ag-row").count()
    assert rows == 4  # the four practices of Rural North Chichester PCN
    assert page.errors == []


def test_comparison_page_on_postgresql(served_pg, page):
    page.open(served_pg + "/indicators/ae_4hr?highlight=RF4")
    assert "Trust RF4" in page.page.inner_text(".js-plotly-plot")
    assert page.errors == []


def test_back_and_forward_step_through_control_settings(served, page):
    """Each control change is a history entry; back/forward restore the controls and chart
    without Dash rebuilding the page (no request to the pages router)."""
    p = page.page
    page.open(served + "/indicators/imm_6in1_12m?highlight=H82006")
    rebuilds: list[str] = []
    p.on("request", lambda r: rebuilds.append(r.url) if "_dash-update-component" in r.url
         and "_pages_location" in (r.post_data or "") else None)

    def summary_changes(action) -> str:
        before = p.inner_text("#ind-summary")
        action()
        p.wait_for_function("s => document.querySelector('#ind-summary').innerText !== s",
                            arg=before)
        return p.inner_text("#ind-summary")

    summary_changes(lambda: p.get_by_label("99.8%").check())
    assert "confidence=99.8" in p.url
    p.get_by_role("radio", name="Funnel").check()
    p.wait_for_selector("text=99.8% limits (3 SD)")
    assert "view=funnel" in p.url

    p.go_back()  # funnel -> ranked bars, still 99.8%
    p.wait_for_function("() => location.search.includes('view=chart')")
    p.wait_for_selector("text=99.8% limits (3 SD)", state="detached")
    assert p.is_checked("input[value='chart']")
    assert p.is_checked("input[value='99.8']")
    text = summary_changes(lambda: p.go_back())  # 99.8% -> 95%
    assert "95% confidence" in text
    assert "confidence=99.8" not in p.url
    assert "highlight=H82006" in p.url  # never changed, still there
    assert p.is_checked("input[value='95']")
    assert "The Petworth Surgery" in p.inner_text(".js-plotly-plot")
    text = summary_changes(lambda: p.go_forward())
    assert "99.8% confidence" in text
    assert p.is_checked("input[value='99.8']")
    assert rebuilds == []
    assert page.errors == []
