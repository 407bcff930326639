"""End to end: ``qidash export pack`` and ``GET /api/v1/exports/pack.pptx`` on real data, on
SQLite and PostgreSQL; the PDF through LibreOffice."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pptx import Presentation
from typer.testing import CliRunner

from api.app import create_api
from qidash.cli import app as cli

PCN_CODE = "U08235"  # Regis Healthcare PCN
SMALL_PCN = "U87478"  # Lancing and Sompting PCN


def test_cli_pack_end_to_end(pack_db, chromium, tmp_path: Path):
    out = tmp_path / "network.pptx"
    res = CliRunner().invoke(cli, ["export", "pack", "--org", PCN_CODE, "--period", "2021-22",
                                   "--indicators", "imm_menb_12m", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert f"wrote {out} (5 slides, 1 indicators, 3 charts)" in res.output
    prs = Presentation(str(out))
    assert prs.slides[0].shapes.title.text == "Regis Healthcare PCN"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--org", "NOPE"], "unknown organisation 'NOPE'"),
        (["--org", PCN_CODE, "--indicators", "bogus"], "unknown indicator 'bogus'"),
        (["--org", PCN_CODE, "--period", "1999-00"], "periods with data"),
        (["--org", PCN_CODE, "--format", "docx"], "--format 'docx' is not supported"),
        (["--org", PCN_CODE, "--format", "pdf", "-o", "x.pptx"], "should end in .pdf"),
    ],
)
def test_cli_bad_input_exits_2_and_writes_nothing(pack_db, tmp_path: Path, args, message,
                                                  monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(cli, ["export", "pack", *args])
    assert res.exit_code == 2, res.output
    assert message in " ".join(res.output.split())
    assert "Traceback" not in res.output
    assert list(tmp_path.iterdir()) == []


def test_cli_pdf_pages_exist(pack_db, chromium, soffice, tmp_path: Path):
    out = tmp_path / "pack.pdf"
    res = CliRunner().invoke(cli, ["export", "pack", "--org", SMALL_PCN, "--indicators",
                                   "imm_menb_12m", "--format", "pdf", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert out.read_bytes().startswith(b"%PDF")
    info = subprocess.run(["pdfinfo", str(out)], capture_output=True, text=True, check=False)
    if info.returncode == 0:
        pages = next(int(line.split()[-1]) for line in info.stdout.splitlines()
                     if line.startswith("Pages:"))
        assert pages == 5
    else:  # no poppler: count the page objects
        assert out.read_bytes().count(b"/Type /Page\n") + out.read_bytes().count(
            b"/Type/Page") >= 5


def test_cli_pdf_without_libreoffice_is_a_clear_error(pack_db, chromium, tmp_path: Path,
                                                      monkeypatch):
    monkeypatch.setattr("exports.pdf.find_soffice", lambda: None)
    out = tmp_path / "pack.pdf"
    res = CliRunner().invoke(cli, ["export", "pack", "--org", SMALL_PCN, "--indicators",
                                   "imm_menb_12m", "--format", "pdf", "-o", str(out)])
    assert res.exit_code == 1
    assert "needs LibreOffice" in " ".join(res.output.split())
    assert list(tmp_path.iterdir()) == []


def _client() -> TestClient:
    app = create_api()
    try:  # the API's error handlers (one error shape), where the API module provides them
        from api.errors import install_error_handlers
    except ImportError:  # pragma: no cover
        return TestClient(app)
    if not any(k is Exception for k in app.exception_handlers):
        install_error_handlers(app)
    return TestClient(app, raise_server_exceptions=False)


def test_api_pack_download(pack_db, chromium):
    r = _client().get("/api/v1/exports/pack.pptx",
                      params={"org": SMALL_PCN, "indicator": "imm_menb_12m",
                              "period": "2021-22"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.presentationml.presentation")
    assert 'filename="qidash-pack-U87478-2021-22.pptx"' in r.headers["content-disposition"]
    prs = Presentation(io.BytesIO(r.content))
    assert len(prs.slides) == 5


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"org": "NOPE"}, 404, "not_found"),
        ({}, 422, "invalid_parameter"),
        ({"org": PCN_CODE, "indicators": "bogus"}, 404, "not_found"),
        ({"org": PCN_CODE, "peers": "odd"}, 422, "invalid_parameter"),
        ({"org": PCN_CODE, "indicators": " , "}, 422, "invalid_parameter"),
    ],
)
def test_api_errors_in_the_api_shape(pack_db, params, status, code):
    r = _client().get("/api/v1/exports/pack.pptx", params=params)
    assert r.status_code == status, r.text
    body = r.json()
    assert body["error"]["code"] == code
    assert body["error"]["message"]


def _slides_href(tree) -> str:
    """The href of the page's "Export slides" button, found in its component tree."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, list | tuple):
            stack.extend(node)
            continue
        ident = getattr(node, "id", None)
        if isinstance(ident, dict) and ident.get("type") == "slides-btn":
            return node.href
        stack.extend(x for x in (getattr(node, "children", None),) if x is not None)
    raise AssertionError("no Export slides button on the page")


def _tiny_png(fig, **kwargs) -> bytes:
    """A real (tiny) PNG in place of a chart: this test is about the parameters; drawing is
    tested by the other pack tests."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (16, 9), "white").save(buf, format="PNG")
    return buf.getvalue()


def test_every_export_button_gets_a_pack(pack_db):
    """The href each dashboard page builds, requested as the browser would, is a pack."""
    import sys

    import dash

    from api.routes.exports import chart_renderer
    from dashboards.app import create_dash

    create_dash()
    pages = {p["module"].rsplit(".", 1)[-1]: sys.modules[p["module"]]
             for p in dash.page_registry.values()}
    ind_page = pages["indicator"]
    st = ind_page.State_.parse("imm_menb_12m", {"period": "2021-22", "highlight": "H82006",
                                                "confidence": "99.8", "view": "funnel"})
    data = ind_page.adapters.read(ind_page.compute, st)
    # the members of one network, nobody highlighted: the network's pack of this view
    st_net = ind_page.State_.parse("imm_menb_12m", {"period": "2021-22",
                                                    "peers": f"parent:{SMALL_PCN}"})
    net_view = ind_page._content(st_net, ind_page.adapters.read(ind_page.compute, st_net))[3]
    assert f"network={SMALL_PCN}" in net_view
    assert "highlight=" not in net_view
    hrefs = {
        "comparison": ind_page._content(st, data)[3],
        "network view": net_view,
        "network": _slides_href(pages["network"].layout(SMALL_PCN, indicator="imm_menb_12m")),
        "profile": _slides_href(pages["organisation"].layout("H82006")),
    }
    assert "highlight=H82006" in hrefs["comparison"]
    assert "confidence=99.8" in hrefs["comparison"]
    assert f"network={SMALL_PCN}" in hrefs["network"]
    client = _client()
    client.app.dependency_overrides[chart_renderer] = lambda: _tiny_png
    for page, href in hrefs.items():
        assert href.startswith("/api/v1/exports/pack.pptx?"), href
        r = client.get(href)
        assert r.status_code == 200, (page, href, r.text)
        prs = Presentation(io.BytesIO(r.content))
        titles = [s.shapes.title.text for s in prs.slides if s.shapes.title is not None]
        assert titles[-1] == "Methods and data sources", page
        assert len(prs.slides) >= 5, page
    # the comparison page's pack is the highlighted practice's, at 99.8%
    r = client.get(hrefs["comparison"])
    notes = Presentation(io.BytesIO(r.content)).slides[2].notes_slide.notes_text_frame.text
    assert "99.8% CI" in notes


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"indicator": "imm_menb_12m"}, "say whose pack to make"),
        ({"org": SMALL_PCN, "network": PCN_CODE}, "disagree"),
        ({"org": SMALL_PCN, "confidence": "90"}, "confidence"),
    ],
)
def test_button_contract_errors(pack_db, params, message):
    r = _client().get("/api/v1/exports/pack.pptx", params=params)
    assert r.status_code == 422, r.text
    assert message in r.json()["error"]["message"]
