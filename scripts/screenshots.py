"""Take the README's dashboard screenshots from a running qidash with the demo data.

    qidash demo && qidash serve --port 8000 &
    python scripts/screenshots.py [--base http://127.0.0.1:8000] [--out docs/screenshots]

Drives Debian's chromium (``QIDASH_CHROMIUM``, default /usr/bin/chromium) with Playwright,
waits until every chart on the page has drawn, and saves full-page PNGs.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

#: file name, path (a shareable URL of the demo data), viewport width
PAGES = [
    ("start.png", "/", 1280),
    ("comparison.png", "/indicators/imm_mmr1_24m?highlight=H82006", 1280),
    ("comparison_pcn_1920.png",
     "/indicators/imm_mmr1_24m?peers=parent:U33593&highlight=H82006", 1920),
    ("funnel.png", "/indicators/ae_4hr_all?view=funnel&od=1&highlight=RYR", 1920),
    ("profile.png", "/organisations/H82006", 1920),
    ("trend.png", "/organisations/RYR/indicators/ae_4hr_all", 1280),
    ("network.png", "/networks/U33593", 1280),
]


def main() -> None:
    from playwright.sync_api import sync_playwright

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", default="http://127.0.0.1:8000")
    ap.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    chromium = os.environ.get("QIDASH_CHROMIUM", "/usr/bin/chromium")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True,
                                    args=["--no-sandbox", "--disable-gpu",
                                          "--disable-dev-shm-usage"])
        for name, path, width in PAGES:
            page = browser.new_page(viewport={"width": width, "height": 900})
            page.goto(args.base + path, wait_until="networkidle")
            page.wait_for_selector("h1", timeout=30_000)  # the page's content is in
            # every plotly chart has drawn its main SVG, and Dash is not updating
            page.wait_for_function(
                "() => [...document.querySelectorAll('.js-plotly-plot')]"
                ".every(g => g.querySelector('.main-svg'))"
                " && !document.querySelector('[data-dash-is-loading=\"true\"]')",
                timeout=30_000)
            if "highlight=" in path:  # "Export slides" turns on once the API has answered
                page.wait_for_selector("a.btn:has-text('Export slides'):not(.disabled)",
                                       timeout=15_000)
            page.wait_for_timeout(800)  # transitions
            page.screenshot(path=str(args.out / name), full_page=True)
            print(f"{name}: {path} at {width} px")  # noqa: T201 - a command-line tool
            page.close()
        browser.close()


if __name__ == "__main__":
    main()
