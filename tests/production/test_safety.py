"""Upload sniffing and workbook safety (etl.safety): content decides, never the name."""

from __future__ import annotations

import io
import zipfile

import openpyxl
import pytest

from etl.extract import FileError, Source
from etl.safety import (
    XlsxLimits,
    check_source,
    check_upload,
    check_xlsx,
    open_workbook,
    safe_file_name,
    sniff_format,
)
from tests.conftest import DATA

QOF = DATA / "qof_ccg_2019_20" / "qof-1920-prev-ach-pca-ccg.xlsx"
AE = DATA / "ae_attendances" / "ae_attendances.csv"


def _xlsx(rows: list[list[object]]) -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    for r in rows:
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _zip(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=method) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_real_files_are_recognised_by_content() -> None:
    """The real NHS files sniff as what they are, whatever they are called."""
    assert check_source(Source.of(QOF)) == "xlsx"
    assert check_source(Source.of(AE)) == "csv"
    # a workbook uploaded as .csv and a CSV uploaded as .xlsx: the bytes decide
    assert check_upload(QOF.read_bytes(), "values.csv").file_name == "values.xlsx"
    assert check_upload(AE.read_bytes(), "values.xlsx").file_name == "values.csv"


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"org_code,indicator_id,period,value\nA1,x,2020,1\n", "csv"),
        (b"\xef\xbb\xbforg_code,name\n", "csv"),
        ("org_code,name\nA1,Caf\u00e9\n".encode("cp1252"), "csv"),
        (b"# indicators\nid: imm\nname: Immunisation\n", "yaml"),
        (b"---\n- indicator_id: a\n", "yaml"),
        (b"- id: a\n  name: b\n", "yaml"),
        ("org_code,name\nA1,\u00e9".encode()[:-1], "csv"),  # cut inside a character
    ],
)
def test_sniff_text(head: bytes, kind: str) -> None:
    """Text is CSV unless it opens like YAML."""
    assert sniff_format(head) == kind


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"", "empty"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "password-protected"),
        (b"%PDF-1.7\n", "PDF"),
        (b"\x89PNG\r\n\x1a\n", "PNG"),
        ("org_code,name\n".encode("utf-16"), "UTF-16"),
        ("org_code,name\n".encode("utf-16-le"), "UTF-16"),
        (b"org_code,name\nA1,\x00\x01\x02", "binary data"),
        (b"\x1f\x8b\x08\x00", "gzip"),
        (b"org,\x81\x8d\x90", "neither UTF-8 nor Windows-1252"),
    ],
)
def test_sniff_refuses_with_a_clear_message(head: bytes, expected: str) -> None:
    """Non-text, non-workbook content is refused with what it is and what to do."""
    with pytest.raises(FileError, match=expected):
        sniff_format(head, "extract.csv")


def test_zip_that_is_not_a_workbook() -> None:
    """A zip archive (or a .docx) is not accepted as a workbook."""
    with pytest.raises(FileError, match="not an Excel workbook"):
        check_upload(_zip({"values.csv": b"a,b\n1,2\n"}), "values.zip")


def test_truncated_workbook() -> None:
    """A truncated download gives 'damaged or truncated', not a traceback."""
    data = _xlsx([["org_code", "name"], ["A1", "x"]])
    for cut in (10, len(data) // 2, len(data) - 10):
        with pytest.raises(FileError, match="damaged or truncated|damaged"):
            check_upload(data[:cut], "values.xlsx")


def test_zip_bomb_refused_by_ratio() -> None:
    """A member that inflates ~1000x is refused before any XML is parsed."""
    bomb = _zip({
        "[Content_Types].xml": b"<Types/>",
        "xl/workbook.xml": b"<workbook/>",
        "xl/worksheets/sheet1.xml": b"\x00" * (50 * 1024 * 1024),
    })
    assert len(bomb) < 200_000
    with pytest.raises(FileError, match="zip bomb"):
        check_upload(bomb, "values.xlsx")


def test_total_uncompressed_bound() -> None:
    """Many moderately compressible parts: refused by the total bound."""
    import os

    parts = {"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": b"<workbook/>"}
    for i in range(8):
        parts[f"xl/media/image{i}.bin"] = os.urandom(200_000)
    data = _zip(parts, zipfile.ZIP_STORED)
    limits = XlsxLimits(max_uncompressed=1_000_000)
    with pytest.raises(FileError, match="expands to"):
        check_xlsx(io.BytesIO(data), "big.xlsx", limits)
    check_xlsx(io.BytesIO(data), "big.xlsx", XlsxLimits(max_uncompressed=10_000_000))


def test_too_many_entries() -> None:
    """A workbook with thousands of parts is refused."""
    parts = {"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": b"<workbook/>"}
    parts.update({f"xl/p{i}.xml": b"<a/>" for i in range(2_100)})
    with pytest.raises(FileError, match="parts"):
        check_upload(_zip(parts), "values.xlsx")


def test_encrypted_member_refused() -> None:
    """A zip entry flagged as encrypted is refused (flag bit 0 in the directory)."""
    data = bytearray(_zip({"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": b"<w/>"}))
    # set the encryption flag in every central directory header
    pos = 0
    while (pos := data.find(b"PK\x01\x02", pos)) != -1:
        data[pos + 8] |= 0x1
        pos += 4
    with pytest.raises(FileError, match="encrypted"):
        check_upload(bytes(data), "values.xlsx")


def test_xml_entities_refused() -> None:
    """A billion-laughs style DOCTYPE in a part is refused before openpyxl parses it."""
    lol = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
           b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><workbook>&lol2;</workbook>')
    data = _zip({"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": lol})
    with pytest.raises(FileError, match="XML entities"):
        check_upload(data, "values.xlsx")


def test_open_workbook_reads_real_qof_read_only() -> None:
    """The real QOF workbook opens read-only through the checks."""
    wb = open_workbook(Source.of(QOF))
    try:
        assert wb.read_only
        assert len(wb.sheetnames) > 5
    finally:
        wb.close()


def test_open_workbook_refuses_csv() -> None:
    """open_workbook on text says what the file is."""
    with pytest.raises(FileError, match="not an XLSX"):
        open_workbook(b"a,b\n1,2\n", "x.xlsx")


def test_formula_cells_are_not_evaluated() -> None:
    """A formula cell yields its cached value (none here), never runs."""
    data = _xlsx([["org_code", "value"], ["A1", '=HYPERLINK("http://evil","x")']])
    wb = open_workbook(data, "f.xlsx")
    try:
        rows = list(wb.active.iter_rows(values_only=True))
    finally:
        wb.close()
    assert rows[1][1] is None  # data_only: the formula's cached value, absent here


def test_upload_limit_in_check_upload() -> None:
    """check_upload enforces the byte limit for callers other than the API."""
    with pytest.raises(FileError, match="upload limit"):
        check_upload(b"a,b\n" * 1000, "x.csv", max_bytes=100)


@pytest.mark.parametrize(
    ("client", "expected"),
    [
        ("../../etc/passwd", "passwd.csv"),
        ("C:\\Users\\me\\Desktop\\values 2020.xlsx", "values 2020.csv"),
        ("/abs/path/..", "upload.csv"),
        ("", "upload.csv"),
        (None, "upload.csv"),
        ("a\x00b;rm -rf.csv", "ab_rm -rf.csv"),
    ],
)
def test_safe_file_name_never_a_path(client: str | None, expected: str) -> None:
    """Client names lose folders and odd characters; the content chooses the extension."""
    assert safe_file_name(client, "csv") == expected
