"""A real qidash server (uvicorn, the whole app) on a free port, and headless Chromium.

The database is a fresh migrated one with the real sample loaded (tests/dashboards/
sample_data.py); ``served`` runs on SQLite, ``served_pg`` on PostgreSQL.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.db import make_engine
from tests.conftest import skip_unless_ci
from tests.dashboards.sample_data import load_sample

REPO = Path(__file__).resolve().parents[2]
#: axe-core's browser bundle; scripts/test.sh installs it from npm into .cache/axe
AXE_JS = Path(os.environ.get("QIDASH_AXE_JS")
              or REPO / ".cache/axe/node_modules/axe-core/axe.min.js")
#: The WCAG 2.2 AA rule sets the NHS must meet (as FingertipsNext runs them).
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
CHROMIUM = os.environ.get("QIDASH_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--no-first-run"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(database_url: str, require_auth: bool = False
                 ) -> tuple[subprocess.Popen, str]:
    """Start ``qidash.app:create_app`` under uvicorn; returns the process and its base URL.
    Reads are open unless ``require_auth``; writes from the pages always need an analyst
    sign-in (:func:`sign_in`)."""
    port = _free_port()
    env = {**os.environ, "QIDASH_DATABASE_URL": database_url,
           "QIDASH_REQUIRE_AUTH": "true" if require_auth else "false"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "qidash.app:create_app", "--factory", "--host",
         "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            urllib.request.urlopen(base + "/api/v1/health", timeout=1)
            return proc, base
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not start within 30 s")


#: tokens of each served test server, by base URL and role (see :func:`sign_in`)
TOKENS: dict[str, dict[str, str]] = {}


def _make_tokens(engine) -> dict[str, str]:  # type: ignore[no-untyped-def]
    from sqlalchemy.orm import Session

    from core import auth

    out = {}
    with Session(engine) as s:
        for role in ("viewer", "analyst", "admin"):
            out[role] = auth.create_token(s, f"browser-{role}", role)[1]
        s.commit()
    return out


def sign_in(page, base: str, role: str) -> None:  # type: ignore[no-untyped-def]
    """Sign in through the sign-in page with the server's ``role`` token."""
    page.goto(base + "/sign-in")
    page.get_by_label("Access token").fill(TOKENS[base][role])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(base + "/")


def stop_server(proc, database_factory, url: str) -> None:  # type: ignore[no-untyped-def]
    """Stop a server from :func:`start_server` and drop its database."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
    database_factory.drop(url)


def _serve(module_database, database_factory, backend: str,
           require_auth: bool = False) -> Iterator[str]:
    url = module_database(backend)
    engine = make_engine(url)
    load_sample(engine)
    tokens = _make_tokens(engine)
    engine.dispose()
    proc, base = start_server(url, require_auth)
    TOKENS[base] = tokens
    try:
        yield base
    finally:
        stop_server(proc, database_factory, url)


@pytest.fixture(scope="module")
def served(module_database, database_factory) -> Iterator[str]:
    """Base URL of a server on SQLite with the sample loaded."""
    yield from _serve(module_database, database_factory, "sqlite")


@pytest.fixture(scope="module")
def served_pg(module_database, database_factory) -> Iterator[str]:
    """Base URL of a server on PostgreSQL with the sample loaded."""
    yield from _serve(module_database, database_factory, "postgresql")


@pytest.fixture(scope="module")
def served_auth(module_database, database_factory, request) -> Iterator[str]:
    """Base URL of a server with QIDASH_REQUIRE_AUTH=true (``request.param``: backend)."""
    yield from _serve(module_database, database_factory, request.param, require_auth=True)


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium (Debian's) for the module."""
    if not Path(CHROMIUM).exists():
        skip_unless_ci(f"no chromium at {CHROMIUM} (scripts/test.sh installs it as root)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


class Page:
    """A browser page that records console errors and uncaught exceptions."""

    def __init__(self, browser, width: int = 1280) -> None:
        self.page = browser.new_page(viewport={"width": width, "height": 900})
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text)
                     if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def open(self, url: str, selector: str = ".js-plotly-plot .main-svg") -> None:
        self.page.goto(url)
        self.page.wait_for_selector(selector, timeout=15000)


@pytest.fixture
def page(browser):
    """A fresh page; closed afterwards."""
    p = Page(browser)
    yield p
    p.page.close()


@pytest.fixture(scope="session")
def axe_source() -> str:
    """axe-core's script; skipped without it, except under CI=true where that is a failure."""
    if not AXE_JS.is_file():
        message = (f"no axe-core at {AXE_JS}: scripts/test.sh installs it "
                   "(npm install --prefix .cache/axe axe-core@4)")
        if IN_CI:
            pytest.fail(message + " (CI=true: the accessibility checks must run)")
        pytest.skip(message)
    return AXE_JS.read_text(encoding="utf-8")


def axe_violations(page, source: str) -> list[str]:
    """axe-core's WCAG 2.2 AA violations on the page as it is now, one line per element."""
    if not page.evaluate("typeof window.axe === 'object'"):
        # evaluated by the browser's debugging protocol, which the page's Content-Security-Policy
        # does not govern (an inline <script> tag would be refused by it, as it should be)
        page.evaluate(source + "\n;void 0")
    found = page.evaluate(
        "async tags => (await axe.run(document, {runOnly: {type: 'tag', values: tags}}))"
        ".violations.map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => "
        "({target: n.target.join(' '), summary: n.failureSummary}))}))", AXE_TAGS)
    return [f"{v['id']} ({v['impact']}) {n['target']}: {' '.join((n['summary'] or '').split())}"
            for v in found for n in v["nodes"]]
