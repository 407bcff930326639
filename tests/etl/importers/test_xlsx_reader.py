"""The fast workbook reader (python-calamine) against openpyxl, the reader it replaced.

The QOF importer used to read workbooks with openpyxl (read-only); it now reads them with
python-calamine and falls back to openpyxl only when calamine cannot open a file. These tests
read the same workbooks both ways and require identical Extracts: the real 2019-20 CCG workbook,
the rebuilt next-year variant of test_qof.py, and a variant with awkward cells (markers, text
numbers, a boolean, blanks, a numeric name, Excel error cells).
"""

from __future__ import annotations

import io
import re
import zipfile

import pandas as pd
import pytest

from etl.extract import FileError
from etl.formats import _importer_util, qof

from .conftest import QOF
from .test_qof import _rebuild


def _openpyxl_only(monkeypatch):
    """Make calamine unable to open any workbook, so the openpyxl fallback reads it."""
    def refuse(self):
        raise RuntimeError("calamine disabled for this test")

    monkeypatch.setattr(_importer_util.XlsxBook, "_open_calamine", refuse)


def _same(a, b):
    for frame in ("values", "indicators", "organisations"):
        pd.testing.assert_frame_equal(getattr(a, frame), getattr(b, frame), check_exact=True)
    assert [(x.ref, x.column, x.value, x.message) for x in a.errors] == \
        [(x.ref, x.column, x.value, x.message) for x in b.errors]
    assert a.notes == b.notes
    assert a.rows_read == b.rows_read


def _with_error_cells(data: bytes, sheet_part: str, cells: dict[str, str]) -> bytes:
    """The workbook with the given cells of one sheet part turned into Excel error cells."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for info in src.infolist():
            part = src.read(info)
            if info.filename == sheet_part:
                xml = part.decode()
                for ref, text in cells.items():
                    xml, n = re.subn(rf'<c r="{ref}"[^>]*?(/>|>.*?</c>)',
                                     f'<c r="{ref}" t="e"><v>{text}</v></c>', xml, count=1)
                    assert n == 1, ref
                part = xml.encode()
            zf.writestr(info, part)
    return out.getvalue()


def test_real_workbook_same_both_ways(qof_extract, monkeypatch):
    assert _importer_util.open_xlsx(QOF.read_bytes(), QOF.name).engine == "calamine"
    _openpyxl_only(monkeypatch)
    assert _importer_util.open_xlsx(QOF.read_bytes(), QOF.name).engine == "openpyxl"
    _same(qof_extract, qof.read(QOF))


def test_next_year_and_awkward_cells_same_both_ways(monkeypatch):
    moved = _rebuild(["Title sheet", "DM", "AF", "HYP"], shift=2, years=True)

    def awkward(name, cells):
        if name == "AF" and cells and cells[0] in ("02P", "02Q", "99E", "92G", "15A"):
            k = cells[0]
            cells[27] = {"02P": "12a", "02Q": "*", "99E": " 1,234 ", "92G": True, "15A": "c"}[k]
            cells[28] = {"02P": "", "02Q": "  ", "99E": "n/a", "92G": 5, "15A": "nan"}[k]
            if k == "99E":
                cells[1], cells[2] = None, 12345  # no ONS code; a name typed as a number
        return cells

    odd = _with_error_cells(_rebuild(["Title sheet", "AF", "DM"], edit=awkward),
                            "xl/worksheets/sheet2.xml", {"AB21": "#DIV/0!", "AC22": "#N/A"})
    fast = [qof.read((moved, "moved.xlsx")), qof.read((odd, "odd.xlsx"))]
    _openpyxl_only(monkeypatch)
    slow = [qof.read((moved, "moved.xlsx")), qof.read((odd, "odd.xlsx"))]
    for a, b in zip(fast, slow, strict=True):
        _same(a, b)
    errors = [(x.ref, x.value) for x in fast[1].errors]
    # error cells are reported like any other cell that is not a number, not read as blanks
    assert errors == [("AF!AB16", "12a"), ("AF!AB19", "True"), ("AF!AB21", "#DIV/0!"),
                      ("AF!AC21", "nan"), ("AF!AC22", "#N/A")]
    orgs = fast[1].organisations.set_index("org_code")
    assert orgs.loc["99E", "name"] == "12345"  # not "12345.0"
    assert orgs.loc["99E", "attributes"] is None
    v = fast[1].values.set_index(["org_code", "indicator_id"])
    assert v.loc[("99E", "qof-af006"), "numerator"] == 1234


def test_unreadable_workbook_is_a_file_error():
    data = QOF.read_bytes()
    with pytest.raises(FileError, match=r"broken\.xlsx: not a readable XLSX workbook"):
        qof.read((data[: len(data) // 2], "broken.xlsx"))
