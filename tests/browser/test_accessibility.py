"""WCAG 2.2 AA in a real browser (issue 17): axe-core on every page, view and state, at 1280 px
and on a phone (390 px), on SQLite and PostgreSQL; a keyboard-only walk through a comparison,
its trend and the export."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import Page, axe_violations, sign_in

pytestmark = pytest.mark.browser

CSV = (b"org_code,indicator_id,period,numerator,denominator\n"
       b"H82006,imm_6in1_12m,2021-22,12,40\n"
       b"H82006,no_such_indicator,2021-22,1,2\n")

COMPARISON = "/indicators/imm_6in1_12m?highlight=H82006"
CHART = ".js-plotly-plot .main-svg"


def _open_dropdown(p) -> None:
    p.locator("#ind-period").click()
    p.wait_for_selector("#ind-period [role=listbox], .dash-dropdown-options, [role=listbox]")


def _expand_how_to_read(p) -> None:
    p.get_by_role("button", name="How to read this").click()
    p.wait_for_selector(".accordion-collapse.show")


def _show_upload_report(p) -> None:
    p.set_input_files("#up-file input[type=file]",
                      files=[{"name": "fix.csv", "mimeType": "text/csv", "buffer": CSV}])
    p.wait_for_selector("text=dry run: nothing written")


Action = Callable[[object], None] | None

#: (name, path, selector to wait for, what to do before checking)
VIEWS: list[tuple[str, str, str, Action]] = [
    ("start", "/", ".qd-card", None),
    ("comparison chart", COMPARISON, CHART, None),
    ("comparison chart, dropdown open", COMPARISON, CHART, _open_dropdown),
    ("comparison chart, how to read this", COMPARISON, CHART, _expand_how_to_read),
    ("comparison funnel", COMPARISON + "&view=funnel&od=1", CHART, None),
    ("comparison table", COMPARISON + "&view=table", ".ag-row", None),
    ("profile", "/organisations/H82006", CHART, None),
    ("trend", "/organisations/RF4/indicators/ae_4hr", CHART, None),
    ("trend, how to read this", "/organisations/RF4/indicators/ae_4hr", CHART,
     _expand_how_to_read),
    ("network", "/networks/U33593", CHART, None),
    ("upload", "/upload", ".ag-row", None),
    ("upload, report shown", "/upload", ".ag-row", _show_upload_report),
    ("error", "/indicators/no_such_indicator", ".alert", None),
    ("not found", "/no/such/page", ".alert", None),
]


#: One h1, headings in order (no level skipped), the landmarks; problems as lines.
STRUCTURE = """() => {
  const out = [];
  const h1 = document.querySelectorAll('h1').length;
  if (h1 !== 1) { out.push(`structure: ${h1} h1 elements, not one`); }
  let prev = 0;
  for (const h of document.querySelectorAll('h1, h2, h3, h4, h5, h6')) {
    const level = +h.tagName[1];
    if (level > prev + 1) {
      out.push(`structure: ${h.tagName} "${h.innerText.trim()}" follows h${prev}`);
    }
    prev = level;
  }
  for (const sel of ['header', 'main', 'footer']) {
    if (document.querySelectorAll(sel).length !== 1) { out.push(`structure: not one ${sel}`); }
  }
  if (!document.querySelector('header nav')) { out.push('structure: no navigation'); }
  if (document.documentElement.lang !== 'en-GB') { out.push('structure: lang is not en-GB'); }
  return out;
}"""


def _axe_walk(base: str, browser, axe_source: str, width: int) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for name, path, selector, action in VIEWS:
        page = Page(browser, width=width)
        try:
            if action is _show_upload_report:  # checking a file is for analysts (one access rule)
                sign_in(page.page, base, "analyst")
            page.open(base + path, selector)
            page.page.wait_for_timeout(300)  # follow-up callbacks settle
            if action is not None:
                action(page.page)
                page.page.wait_for_timeout(200)
            violations = axe_violations(page.page, axe_source) + page.page.evaluate(STRUCTURE)
            if violations:
                found[name] = violations
        finally:
            page.page.close()
    return found


def _report(found: dict[str, list[str]]) -> str:
    return "\n".join(f"{name}:\n  " + "\n  ".join(v) for name, v in found.items())


@pytest.mark.parametrize("width", [1280, 390])
def test_no_axe_violation_sqlite(served, browser, axe_source, width):
    found = _axe_walk(served, browser, axe_source, width)
    assert not found, _report(found)


@pytest.mark.parametrize("width", [1280, 390])
def test_no_axe_violation_postgresql(served_pg, browser, axe_source, width):
    found = _axe_walk(served_pg, browser, axe_source, width)
    assert not found, _report(found)


def _tab_to(p, selector: str, limit: int = 120, back: bool = False) -> None:
    """Press Tab (Shift+Tab) until the focused element matches ``selector``."""
    for _ in range(limit):
        p.keyboard.press("Shift+Tab" if back else "Tab")
        if p.evaluate("s => document.activeElement && document.activeElement.matches(s)",
                      selector):
            return
    focused = p.evaluate("() => document.activeElement && document.activeElement.outerHTML")
    raise AssertionError(f"{selector} not reached by Tab; focus is on {str(focused)[:200]}")


def test_keyboard_only_comparison_to_trend_to_export(served, page):
    """Skip link, period picker, view switch, overdispersion switch, sortable table, the link
    to the trend, the trend's export: all with the keyboard alone, in a logical order."""
    p = page.page
    page.open(served + COMPARISON)
    # the first Tab stop is the skip link, shown when focused; it moves focus to the content
    p.keyboard.press("Tab")
    assert p.evaluate("document.activeElement.className") == "qd-skip"
    box = p.locator(".qd-skip").bounding_box()
    assert box is not None
    assert box["x"] >= 0
    p.keyboard.press("Enter")
    assert p.evaluate("document.activeElement.id") == "main"
    # controls in reading order: period, peers, highlight, confidence, view, overdispersion
    order = ["#ind-period", "#ind-peers", "#ind-highlight", "#ind-confidence input",
             "#ind-view input", "#ind-od"]
    seen = []
    for _ in range(40):
        p.keyboard.press("Tab")
        for i, sel in enumerate(order):
            if p.evaluate("s => document.activeElement.matches(s)", sel) and i not in seen:
                seen.append(i)
        if len(seen) == len(order):
            break
    assert seen == list(range(len(order)))
    # the period picker: open with Enter, move with the arrows, choose with Enter
    p.locator("body").focus()
    _tab_to(p, "#ind-period")
    # a screen reader hears the field's label, then its value
    expect(p.locator("#ind-period")).to_have_accessible_name(re.compile(r"^Period\s*2021-22"))

    def choose_previous_period() -> None:
        p.keyboard.press("Enter")
        # focus moves onto the chosen option, in a group named by the field's label
        p.wait_for_function("() => document.activeElement.type === 'radio'")
        expect(p.get_by_role("radiogroup", name="Period")).to_be_visible()
        # the list may still settle (it focuses the selected option once its options are
        # drawn): move down until the next period has focus, then choose it
        for _ in range(20):
            if p.evaluate("document.activeElement.value") == "2020-21":
                break
            if p.evaluate("document.activeElement.value") == "2021-22":
                p.keyboard.press("ArrowDown")
            p.wait_for_timeout(100)
        assert p.evaluate("document.activeElement.value") == "2020-21"
        p.keyboard.press("Enter")

    choose_previous_period()
    p.wait_for_function("() => location.search.includes('period=2020-21')")
    p.wait_for_selector("#ind-graph >> text=2020-21")
    assert "period=2020-21" in p.url
    assert p.inner_text("#ind-period") == "2020-21"
    assert p.evaluate("document.activeElement.id") == "ind-period"  # focus back on the picker
    # the view switch: arrow keys move between Ranked bars, Funnel and Table
    _tab_to(p, "#ind-view input:checked")
    p.keyboard.press("ArrowRight")
    p.wait_for_selector("text=99.8% limits (3 SD)")
    assert "view=funnel" in p.url
    # the overdispersion switch: Space toggles it
    _tab_to(p, "#ind-od")
    p.keyboard.press("Space")
    p.wait_for_function("() => location.search.includes('od=1')")
    _tab_to(p, "#ind-view input:checked", back=True)
    p.keyboard.press("ArrowRight")
    p.wait_for_selector(".ag-row")
    assert "view=table" in p.url
    # the table sorts from the keyboard: Enter on a column header
    _tab_to(p, ".ag-header-cell")
    for _ in range(10):
        if "Value" in p.evaluate("document.activeElement.innerText"):
            break
        p.keyboard.press("ArrowRight")
    header = p.evaluate("document.activeElement.getAttribute('col-id')")
    assert header == "Value"
    p.keyboard.press("Enter")
    p.wait_for_selector(".ag-header-cell[col-id='Value'][aria-sort='ascending']")
    values = p.eval_on_selector_all(
        ".ag-center-cols-container .ag-row [col-id='Value']",
        "els => els.map(e => parseFloat(e.innerText)).filter(v => !isNaN(v))")
    assert values == sorted(values)
    # out of the grid (no trap) to the highlighted organisation's trend
    _tab_to(p, "#ind-trend-link")
    p.keyboard.press("Enter")
    p.wait_for_selector("#trend-graph .main-svg")
    assert "/organisations/H82006/indicators/imm_6in1_12m" in p.url
    # export from the trend page: its slide pack, from the keyboard
    p.wait_for_selector("a[href*='exports/pack.pptx']:not(.disabled)")
    _tab_to(p, "a[href*='exports/pack.pptx']")
    with p.expect_download(timeout=90_000) as download:
        p.keyboard.press("Enter")
    assert download.value.suggested_filename.endswith(".pptx")
    assert page.errors == []


def test_pages_reflow_at_400_percent_zoom(served, browser):
    """1280 px at 400% zoom is 320 CSS px: the page itself never scrolls sideways (WCAG 1.4.10;
    charts and tables, two-dimensional content, scroll inside their card)."""
    narrow = Page(browser, width=320)
    try:
        for name, path, selector, _action in VIEWS:
            narrow.open(served + path, selector)
            assert narrow.page.evaluate(
                "() => document.documentElement.scrollWidth <= window.innerWidth + 1"), name
        assert narrow.errors == []
    finally:
        narrow.page.close()


def test_reduced_motion_turns_transitions_off(served, browser):
    """With prefers-reduced-motion, the chart toolbar appears without plotly's fade (Bootstrap
    handles its own components); without it, the fade is kept."""
    durations = {}
    for motion in ("reduce", "no-preference"):
        page = Page(browser)
        try:
            page.page.emulate_media(reduced_motion=motion)
            page.open(served + "/organisations/RF4/indicators/ae_4hr")
            durations[motion] = page.page.evaluate(
                "() => parseFloat(getComputedStyle(document.querySelector('.modebar'))"
                ".transitionDuration)")
        finally:
            page.page.close()
    assert durations["reduce"] < 0.001
    assert durations["no-preference"] > 0.1


def test_keyboard_only_upload_load_and_revert(served, page):
    """Choose a file, load it, select it in the history and revert it: keyboard only."""
    p = page.page
    sign_in(p, served, "analyst")  # every write needs an analyst (the one access rule)
    page.open(served + "/upload", ".ag-row")
    p.locator("body").focus()
    _tab_to(p, "#up-file input[type=file]")
    expect(p.locator("#up-file input[type=file]")).to_have_accessible_name("File")
    with p.expect_file_chooser() as chooser:
        p.keyboard.press("Space")
    chooser.value.set_files(files=[{"name": "kb.csv", "mimeType": "text/csv", "buffer": (
        b"org_code,indicator_id,period,numerator,denominator\n"
        b"H82006,imm_6in1_12m,2021-22,13,40\n")}])
    p.wait_for_selector("text=1 rows read, 0 rejected")
    _tab_to(p, "#up-commit")
    p.keyboard.press("Enter")
    p.wait_for_function("() => document.querySelector(\"#up-history .ag-row[row-index='0']\")"
                        "?.innerText.includes('kb.csv')")
    # into the history grid (one Tab stop), select the newest load with Space, then revert
    _tab_to(p, "#up-history .ag-cell, #up-history .ag-header-cell")
    if p.evaluate("document.activeElement.classList.contains('ag-header-cell')"):
        p.keyboard.press("ArrowDown")
    p.keyboard.press("Space")
    p.wait_for_selector("#up-history .ag-row[row-index='0'].ag-row-selected")
    # the grid tells Dash of the selection after it draws it; the page says when the server
    # has it (and only then enables the button), so wait for those words, not for a time
    expect(p.locator("#up-selected")).to_contain_text("kb.csv", timeout=30000)
    expect(p.locator("#up-revert")).to_be_enabled()
    _tab_to(p, "#up-revert")
    # a revert asks for confirmation (the browser's own dialog, which Enter confirms)
    with p.expect_event("dialog", timeout=30000) as dialog:
        p.keyboard.press("Enter")
    dialog.value.accept()
    p.wait_for_function("() => document.querySelector('#up-revert-msg').innerText")
    assert "reverted" in p.inner_text("#up-revert-msg")
    assert page.errors == []
