"""Signing in, in Chromium, on a server with QIDASH_REQUIRE_AUTH=true (SQLite and PostgreSQL):
a browser without a session sees no data on any page, one signed in with a viewer token sees
everything, and the export button carries the session."""

from __future__ import annotations

import pytest

from tests.browser.conftest import TOKENS, sign_in

pytestmark = pytest.mark.browser

DATA_PAGES = [
    ("/", ".qd-card"),
    ("/indicators/imm_6in1_12m?highlight=H82006", ".js-plotly-plot .main-svg"),
    ("/organisations/H82006", ".js-plotly-plot .main-svg"),
    ("/organisations/RF4/indicators/ae_4hr", ".js-plotly-plot .main-svg"),
    ("/networks/U33593", ".js-plotly-plot .main-svg"),
    ("/upload", ".ag-root"),
]


@pytest.mark.parametrize("served_auth", ["sqlite", "postgresql"], indirect=True)
def test_no_data_without_a_session_everything_with_a_viewer(served_auth, page):
    base, p = served_auth, page.page
    data_responses: list[str] = []
    p.on("response", lambda r: data_responses.append(r.url)
         if ("/_dash-" in r.url or "/api/v1/" in r.url) and r.status == 200 else None)
    for path, _selector in DATA_PAGES:
        p.goto(base + path)
        p.wait_for_selector("h1:has-text('Sign in')")
        assert p.url.startswith(base + "/sign-in?next=")
        assert p.locator(".js-plotly-plot, .ag-root").count() == 0
        assert "Surgery" not in p.inner_text("body")  # no practice's name
    assert [u for u in data_responses if "/api/v1/health" not in u] == []
    # the sign-in page: labelled input, a language, one heading; a bad token is refused
    assert p.get_attribute("html", "lang") == "en"
    p.get_by_label("Access token").fill("qd_not_a_token")
    p.get_by_role("button", name="Sign in").click()
    p.wait_for_selector("[role=alert]")
    assert "not known" in p.inner_text("[role=alert]")
    # signed in as a viewer, every page shows its data
    sign_in(p, base, "viewer")
    for path, selector in DATA_PAGES:
        page.open(base + path, selector)
    assert "browser-viewer (viewer)" in p.inner_text("header")
    # the comparison page's data download works with the session
    page.open(base + "/indicators/imm_6in1_12m", ".js-plotly-plot .main-svg")
    with p.expect_download() as dl:
        p.get_by_role("button", name="Download data (CSV)").click()
    assert dl.value.suggested_filename.endswith(".csv")
    # the export button's link carries the session: the API answers it (not a JSON 401)
    page.open(base + "/organisations/H82006", ".js-plotly-plot .main-svg")
    p.wait_for_selector("a[id*='slides-btn']:not(.disabled)")
    href = p.get_attribute("a[id*='slides-btn']", "href")
    assert href.startswith("/api/v1/exports/pack.pptx?")
    # (an unknown organisation: answered at once, 404 once signed in; 401 without a session)
    status = p.evaluate("async () => (await fetch('/api/v1/exports/pack.pptx?org=NOPE1')"
                        ").status")
    assert status == 404, status
    # a viewer cannot upload: the page says so, and a check is refused
    page.open(base + "/upload", ".ag-root")
    assert "viewer token" in p.inner_text("#up-who")
    # signing out ends it: the pages go back to the sign-in page
    p.goto(base + "/sign-out")
    p.get_by_role("button", name="Sign out").click()
    p.wait_for_selector("text=You are signed out.")
    p.goto(base + "/organisations/H82006")
    p.wait_for_selector("h1:has-text('Sign in')")
    # the only console errors: the refused sign-in (401) and the unknown organisation (404);
    # no script blocked by the Content-Security-Policy, nothing else broken
    assert all(e.startswith("Failed to load resource") and ("401" in e or "404" in e)
               for e in page.errors), page.errors


@pytest.mark.parametrize("served_auth", ["sqlite"], indirect=True)
def test_pages_accept_a_bearer_header(served_auth, browser):
    """Scripted screenshots and kiosks: an Authorization header instead of a session."""
    base = served_auth
    ctx = browser.new_context(extra_http_headers={
        "Authorization": f"Bearer {TOKENS[base]['viewer']}"})
    try:
        p = ctx.new_page()
        p.goto(base + "/organisations/H82006")
        p.wait_for_selector(".js-plotly-plot .main-svg", timeout=15000)
    finally:
        ctx.close()
