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
from tests.exports.demo_data import PCN_CODE

SMALL_PCN = "U87478"


def test_cli_pack_end_to_end(pack_db, chromium, tmp_path: Path):
    out = tmp_path / "network.pptx"
    res = CliRunner().invoke(cli, ["export", "pack", "--org", PCN_CODE, "--period", "2021-22",
                                   "--indicators", "imm_12m_menb", "-o", str(out)])
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
                                   "imm_12m_menb", "--format", "pdf", "-o", str(out)])
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
                                   "imm_12m_menb", "--format", "pdf", "-o", str(out)])
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
                      params={"org": SMALL_PCN, "indicator": "imm_12m_menb",
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
