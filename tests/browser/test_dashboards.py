"""The dashboards in a real browser: pages load cleanly, controls change the chart, the URL
carries the state, the highlight works."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import sign_in

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


def test_what_a_page_loads(served, page):
    """A chart page loads the basic plotly.js bundle only (not the full one), no polyfill and
    no ag-grid; its routing is in the first layout (no callback on load but the one redraw
    for the width the page draws the chart at); a page with a grid loads ag-grid when the
    grid appears."""
    requests: list[str] = []
    updates: list[dict] = []
    page.page.on("request", lambda r: requests.append(r.url))
    page.page.on("request", lambda r: updates.append(r.post_data_json)
                 if "_dash-update-component" in r.url else None)
    page.open(served + "/indicators/imm_6in1_12m?peers=parent:U33593")
    page.page.wait_for_timeout(1500)
    names = [u.rsplit("/", 1)[-1] for u in requests]
    assert [n for n in names if n.startswith("plotly-basic-")]
    assert not [n for n in names if "plotly.min" in n or "polyfill" in n or "ag_grid" in n]
    assert [u["changedPropIds"] for u in updates] == [["ind-width.data"]]
    assert page.page.evaluate("typeof regeneratorRuntime.mark") == "function"
    from plotly.offline import get_plotlyjs_version

    assert page.page.evaluate("Plotly.version") == get_plotlyjs_version()
    requests.clear()
    page.page.get_by_label("Table", exact=True).check()
    page.page.wait_for_selector(".ag-row")
    assert [u for u in requests if "dash_ag_grid" in u]
    assert page.errors == []


def test_api_docs_render_offline(served, page):
    """/api/docs draws every endpoint from the bundled Swagger UI (no internet here)."""
    page.open(served + "/api/docs", ".opblock")
    assert page.errors == []
    text = page.page.inner_text("body")
    assert "/api/v1/indicators/{indicator_id}/comparison" in text


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


def test_add_and_remove_a_note_on_the_trend_page(served, page):
    p = page.page
    page.open(served + "/organisations/RF4/indicators/ae_4hr")
    # not signed in: the note is refused, with what to do
    p.fill("#trend-note-date", "2018-06-01")
    p.fill("#trend-note-text", "Refused note")
    p.get_by_role("button", name="Add note").click()
    p.wait_for_selector("text=needs an analyst sign-in")
    sign_in(p, served, "analyst")
    page.open(served + "/organisations/RF4/indicators/ae_4hr")
    p.fill("#trend-note-date", "2018-06-01")
    p.fill("#trend-note-text", "New streaming at the front door")
    p.get_by_role("button", name="Add note").click()
    p.wait_for_selector("text=Note added.")
    assert "New streaming at the front door" in p.inner_text("#trend-notes")
    # the note is drawn on the chart, by its text
    p.wait_for_selector(".js-plotly-plot >> text=New streaming at the front door")
    # it is kept in the database: a reload shows it
    p.reload()
    p.wait_for_selector("#trend-notes >> text=New streaming at the front door")
    assert "(browser-analyst)" in p.inner_text("#trend-notes")  # who wrote it
    # removing asks first: dismissed, the note stays; accepted, it goes
    p.once("dialog", lambda d: d.dismiss())
    p.get_by_role("button", name="Remove").first.click()
    p.wait_for_timeout(500)
    assert "New streaming at the front door" in p.inner_text("#trend-notes")
    messages: list[str] = []
    p.once("dialog", lambda d: (messages.append(d.message), d.accept()))
    p.get_by_role("button", name="Remove").first.click()
    p.wait_for_selector("text=Note removed.")
    assert "Remove this note?" in messages[0]
    assert "New streaming" not in p.inner_text("#trend-notes")
    assert page.errors == []


def test_three_financial_years_are_a_run_chart_on_the_trend_page(served, page):
    """Issue 15: H82006's MMR1 (3 annual points) draws no limits, says why in the page's and
    the chart's words, and its ticks are financial years."""
    p = page.page
    page.open(served + "/organisations/H82006/indicators/imm_mmr1_24m",
              ".js-plotly-plot .main-svg")
    note = "3 points: too few for limits; at least 12 needed"
    assert note in p.inner_text("#trend-badges")
    assert "Run chart (median" in p.inner_text("#trend-badges")
    ticks = p.locator(".js-plotly-plot .xtick text").all_text_contents()
    assert ticks == ["2019-20", "2020-21", "2021-22"]
    chart = " ".join(p.locator(".js-plotly-plot text").all_text_contents())
    assert note in chart
    assert "Process limits" not in chart
    assert "Median" in chart
    assert page.errors == []


GOOD_CSV = (b"org_code,indicator_id,period,numerator,denominator\n"
            b"H82006,imm_6in1_12m,2021-22,12,40\n")
BAD_CSV = GOOD_CSV + b"H82006,no_such_indicator,2021-22,1,2\n"


def _rows(p) -> Any:
    return p.locator("#up-history .ag-center-cols-container .ag-row")


def test_upload_dry_run_then_load_then_revert(served, page):
    p = page.page
    page.open(served + "/upload", ".ag-root")
    # with default settings, a browser that is not signed in cannot even check a file
    p.set_input_files("#up-file input[type=file]", files=[
        {"name": "practice_fix.csv", "mimeType": "text/csv", "buffer": GOOD_CSV}])
    p.wait_for_selector("#up-report >> text=needs an analyst sign-in")
    assert "practice_fix.csv" in p.inner_text("#up-file")  # the chosen file's name shows
    sign_in(p, served, "analyst")
    page.open(served + "/upload", ".ag-root")
    assert "Signed in as browser-analyst" in p.inner_text("#up-who")
    loads_before = _rows(p).count()
    upload = "#up-file input[type=file]"
    load = p.get_by_role("button", name="Load this file")
    # a bad file: the dry run lists the bad row and why; it cannot be loaded
    p.set_input_files(upload, files=[{"name": "practice_fix.csv", "mimeType": "text/csv",
                                      "buffer": BAD_CSV}])
    p.wait_for_selector("text=dry run: nothing written")
    report = p.inner_text("#up-report")
    assert "practice_fix.csv: 2 rows read, 1 rejected" in report
    assert "no_such_indicator" in report
    assert "--" not in report  # the page's words, not the command line's
    assert "Load the valid rows, skip the rest" in report
    assert load.is_disabled()
    # the corrected file: a clean dry run, then Load writes it and the history shows it
    p.set_input_files(upload, files=[{"name": "practice_fix.csv", "mimeType": "text/csv",
                                      "buffer": GOOD_CSV}])
    p.wait_for_selector("text=1 rows read, 0 rejected")
    assert "dry run" in p.inner_text("#up-report")
    assert "would add 0 values, change 1 and leave 0 as they are" in p.inner_text("#up-report")
    assert _rows(p).count() == loads_before
    load.click()
    p.wait_for_function("() => !document.querySelector('#up-report').innerText"
                        ".includes('dry run')")
    p.wait_for_function(
        "n => document.querySelectorAll('#up-history .ag-center-cols-container .ag-row')"
        ".length === n", arg=loads_before + 1)
    first = p.locator("#up-history .ag-center-cols-container .ag-row[row-index='0']")
    assert "practice_fix.csv" in first.inner_text()
    assert "loaded" in first.inner_text()
    # revert: select the new load, revert it; its status says so
    assert "browser-analyst" in first.inner_text()  # who loaded it
    revert = p.get_by_role("button", name="Revert the selected load")
    assert revert.is_disabled()  # nothing selected yet
    assert p.inner_text("#up-selected") == "No load selected."
    first.click()
    expect(p.locator("#up-selected")).to_contain_text("practice_fix.csv")
    asked: list[str] = []
    p.once("dialog", lambda d: (asked.append(d.message), d.accept()))
    revert.click()
    p.wait_for_function("() => document.querySelector('#up-revert-msg').innerText")
    assert asked
    assert asked[0].startswith("Revert load ")
    assert "reverted" in p.inner_text("#up-revert-msg"), p.inner_text("#up-revert-msg")
    p.wait_for_function(
        "() => document.querySelector(\"#up-history .ag-row[row-index='0']\")"
        ".innerText.includes('reverted')")
    assert page.errors == []


def test_profile_table_shows_every_column_at_1280(served, page):
    """At 1280 px the profile's last column read 'Tre' (the columns' least widths passed the
    card's): every header and the Trend link now lie wholly inside the grid."""
    page.open(served + "/organisations/H82006", ".ag-row")
    grid = page.page.locator("#org-grid .ag-root-wrapper").bounding_box()
    link = page.page.locator(".ag-row a", has_text="Trend").first
    box = link.bounding_box()
    assert box is not None
    assert box["x"] + box["width"] <= grid["x"] + grid["width"]
    # the link's words are all visible, not clipped by its cell
    cell = link.locator("xpath=ancestor::div[contains(@class, 'ag-cell')][1]").bounding_box()
    assert box["x"] + box["width"] <= cell["x"] + cell["width"]
    assert page.errors == []


def test_table_view_has_no_camera_hint_and_no_empty_grid(served, page):
    """The table view pointed at the chart's camera icon and left a tall empty grid under
    four rows."""
    page.open(served + "/indicators/imm_mmr1_24m?peers=parent:U33593&view=table", ".ag-row")
    assert not page.page.get_by_text("camera icon").is_visible()
    rows = page.page.locator(".ag-center-cols-container .ag-row")
    assert rows.count() == 4
    last = rows.nth(3).bounding_box()
    grid = page.page.locator(".ag-root-wrapper").first.bounding_box()
    # the grid ends just under its last row (a header-row's height at most, not 560 px)
    assert grid["y"] + grid["height"] - (last["y"] + last["height"]) < 60
    page.open(served + "/indicators/imm_mmr1_24m?peers=parent:U33593",
              ".js-plotly-plot .main-svg")
    assert page.page.get_by_text("camera icon").is_visible()  # the chart view keeps it


#: the highlighted organisation's label on a funnel, and the plot's right edge (px)
_FUNNEL_LABEL_JS = """name => {
  const g = document.querySelector('.js-plotly-plot');
  const s = g._fullLayout._size, left = g.getBoundingClientRect().left;
  const a = [...g.querySelectorAll('g.annotation')].find(e => e.textContent.startsWith(name));
  if (!a) return null;
  return {x1: a.querySelector('rect.bg').getBoundingClientRect().right - left,
          plot: s.l + s.w};
}"""
_TITLE_JS = """() => { const g = document.querySelector('.js-plotly-plot');
  return {right: g.querySelector('.gtitle').getBoundingClientRect().right
                 - g.getBoundingClientRect().left, width: g._fullLayout.width}; }"""


def _reported(p, store: str) -> None:
    """Wait until the page has reported its chart's width (720 px) to ``store``."""
    p.wait_for_function(
        f"() => (window.qidashChartWidths || {{}})['{store}']?.width === 720", timeout=10000)


def test_charts_are_fitted_to_a_phones_width(served, page):
    """On a 390 px phone the indicator page's funnel and ranked bars and the trend chart are
    redrawn for the width the page draws them at (720 px: their card scrolls sideways; both
    pages laid their charts out for 1,000 px): the width is reported in every view (with
    the view a trigger of the measuring callback, its arguments shifted and nothing was
    reported), the highlighted label stays within the funnel's plot and the trend chart's
    title within the chart. (A long name and a long title at this width: test_visual_matrix.)"""
    p = page.page
    p.set_viewport_size({"width": 390, "height": 844})
    for view in ("funnel", "chart"):
        page.open(served + f"/indicators/ae_4hr?highlight=RF4&view={view}")
        _reported(p, "ind-width")
        p.wait_for_timeout(1500)  # the redraw for it
        if view == "funnel":
            got = p.evaluate(_FUNNEL_LABEL_JS, "Trust RF4")
            assert got is not None
            assert got["x1"] <= got["plot"] + 1, got
    page.open(served + "/organisations/RF4/indicators/ae_4hr")
    _reported(p, "trend-width")
    p.wait_for_timeout(1500)
    got = p.evaluate(_TITLE_JS)
    assert got["right"] <= got["width"], got
    assert page.errors == []


#: the texts of the chart's labels, and the network's members as its list names them
_NETWORK_NAMES_JS = """() => ({
  labels: [...document.querySelectorAll('#net-graph g.annotation')].map(a => a.textContent),
  members: [...document.querySelectorAll('ul.mt-3 li a')]
    .map(a => a.textContent.replace(/ \\([A-Z0-9]+\\)$/, '')),
  width: document.querySelector('#net-graph .js-plotly-plot')._fullLayout.width})"""


def test_network_chart_names_its_members_on_a_phone(served, page):
    """On a 390 px phone the network page's comparison (its chart 720 px wide, in a card that
    scrolls) names each of the PCN's 4 members in full: the labels that do not fit in one
    row go in rows above the plot (they were left out, the axis title saying '4
    highlighted: outlined, too many to name here')."""
    p = page.page
    p.set_viewport_size({"width": 390, "height": 844})
    page.open(served + "/networks/U33593")
    _reported(p, "net-width")
    p.wait_for_function("() => document.querySelectorAll('#net-graph g.annotation').length > 2",
                        timeout=10000)
    p.wait_for_timeout(1000)  # the redraw for the width
    got = p.evaluate(_NETWORK_NAMES_JS)
    assert got["width"] == 720
    assert len(got["members"]) == 4, got
    for name in got["members"]:
        assert any(t.startswith(name) for t in got["labels"]), (name, got["labels"])
    assert page.errors == []
