"""QOF workbook reader: the real 2019-20 CCG workbook, a rebuilt variant, broken variants.

Rebuilt variant (``moved_workbook``): made here with openpyxl from the real workbook's own cells
(values only): the title sheet and the sheets DM, AF and HYP in that new order, two empty
columns inserted after column C in every data sheet (every block moves two columns right),
and every year label moved on one year ("2019-20" -> "2020-21", "2018-19" -> "2019-20"), as the
next year's workbook would be. The numbers are the real 2019-20 numbers; only the layout and
the year labels change, so the expected values are the real file's.
"""

from __future__ import annotations

import io

import openpyxl
import pytest

from etl.extract import FileError
from etl.formats import qof

from .conftest import QOF


def _rebuild(sheets: list[str], *, shift: int = 0, years: bool = False,
             edit=None) -> bytes:
    src = openpyxl.load_workbook(QOF, read_only=True, data_only=True)
    out = openpyxl.Workbook(write_only=True)
    for name in sheets:
        ws = out.create_sheet(name)
        for row in src[name].iter_rows(values_only=True, max_col=120):
            cells = list(row)
            if name != "Title sheet" and shift:
                cells = cells[:3] + [None] * shift + cells[3:]
            if years:
                cells = [c.replace("2019-20", "2020-21").replace("2018-19", "2019-20")
                         if isinstance(c, str) else c for c in cells]
            if edit is not None:
                cells = edit(name, cells)
            ws.append(cells)
    src.close()
    buf = io.BytesIO()
    out.save(buf)
    return buf.getvalue()


@pytest.fixture(scope="module")
def moved_workbook() -> bytes:
    return _rebuild(["Title sheet", "DM", "AF", "HYP"], shift=2, years=True)


def test_real_workbook(qof_extract):
    e = qof_extract
    assert e.errors == []
    v = e.values
    assert set(v["period"]) == {"2019-20"}
    assert v["org_code"].nunique() == 135
    assert len(v) == 14985
    # Barking and Dagenham (07L), AF006: numerator 744, denominator 761, PCAs 30 (AF!AB15..)
    af = v[(v["org_code"] == "07L")].set_index("indicator_id")
    assert (af.loc["qof-af006", "numerator"], af.loc["qof-af006", "denominator"]) == (744, 761)
    assert af.loc["qof-af006", "_ref"] == "AF!AB15"
    assert (af.loc["qof-af006-pca", "numerator"],
            af.loc["qof-af006-pca", "denominator"]) == (30, 791)
    assert (af.loc["qof-af-prev", "numerator"], af.loc["qof-af-prev", "denominator"]) == (
        2033, 232895)
    # the published percentages agree with numerator / denominator everywhere
    pub = v.dropna(subset=["value"])
    pub = pub[pub["denominator"] > 0]
    assert (pub["numerator"] / pub["denominator"] * 100 - pub["value"]).abs().max() < 1e-9
    # CHD: the 2019-20 block puts Register before List size and adds age bands
    chd = v[(v["indicator_id"] == "qof-chd-prev") & (v["org_code"] == "07L")].iloc[0]
    assert chd["value"] == pytest.approx(chd["numerator"] / chd["denominator"] * 100)


def test_real_workbook_definitions_and_notes(qof_extract):
    ind = qof_extract.indicators.set_index("indicator_id")
    assert ind.loc["qof-af006", "polarity"] == "higher_is_better"
    assert ind.loc["qof-af006", "name"].startswith("AF006: The percentage of patients with")
    assert ind.loc["qof-af006-pca", "polarity"] == "no_judgement"
    assert ind.loc["qof-cvdpp-prev", "denominator_label"] == "List size ages 30-74"
    assert ind.loc["qof-af-prev", "domain"] == "atrial fibrillation"
    assert ind.loc["qof-af-prev", "source_url"] == "https://digital.nhs.uk/pubs/qof1920"
    assert set(ind["frequency"]) == {"financial_year"}
    assert "qof-af001" not in ind.index  # register indicator: points only
    assert any("AF001 has no numerator and denominator" in n for n in qof_extract.notes)
    orgs = qof_extract.organisations.set_index("org_code")
    assert orgs.loc["07L", "name"] == "NHS Barking and Dagenham CCG"
    assert orgs.loc["07L", "org_type"] == "sub_icb"
    assert orgs.loc["07L", "attributes"] == {"ons_code": "E38000004"}


def test_moved_columns_sheets_and_next_year(moved_workbook, qof_extract):
    e = qof.read((moved_workbook, "qof-2021-moved.xlsx"))
    assert e.errors == []
    assert set(e.values["period"]) == {"2020-21"}
    got = e.values.set_index(["org_code", "indicator_id"])
    real = qof_extract.values
    real = real[real["indicator_id"].str.match(r"qof-(dm|af|hyp)")].set_index(
        ["org_code", "indicator_id"])
    assert len(got) == len(real)
    joined = got.merge(real, left_index=True, right_index=True, suffixes=("", "_real"))
    assert (joined["numerator"] == joined["numerator_real"]).all()
    assert (joined["denominator"] == joined["denominator_real"]).all()
    assert got.loc[("07L", "qof-af006"), "_ref"] == "AF!AD15"  # two columns to the right


def test_sheet_option_and_unknown_sheet(moved_workbook):
    e = qof.read((moved_workbook, "q.xlsx"), options={"sheet": "AF"})
    assert set(e.values["indicator_id"]) == {"qof-af-prev", "qof-af006", "qof-af006-pca",
                                             "qof-af007", "qof-af007-pca"}
    with pytest.raises(FileError, match=r"no sheet named 'XYZ'; the sheets are 'Title sheet'"):
        qof.read((moved_workbook, "q.xlsx"), options={"sheet": "XYZ"})


def test_broken_headers_say_which_sheet_and_header():
    def edit(name, cells):
        if name == "AF":
            cells = ["CCG" if c == "CCG ODS code (practice parent)" else c for c in cells]
        if name == "HYP":
            cells = ["Num." if c == "Numerator" else c for c in cells]
        return cells

    data = _rebuild(["Title sheet", "AF", "HYP"], edit=edit)
    e = qof.read((data, "broken.xlsx"))
    assert any("sheet 'AF' skipped: no organisation code header" in n for n in e.notes)
    assert any("'HYP': HYP003 has no numerator and denominator" in n for n in e.notes)
    assert set(e.values["indicator_id"]) == {"qof-hyp-prev"}
    with pytest.raises(FileError, match="no sheet was understood as a QOF table"):
        qof.read(_rebuild(["Title sheet", "AF"], edit=edit), options={"file_name": "x.xlsx"})


def test_bad_number_cell_is_reported_by_cell():
    def edit(name, cells):
        if name == "AF" and cells and cells[0] == "02P":
            cells[27] = "12a"
        return cells

    e = qof.read((_rebuild(["Title sheet", "AF"], edit=edit), "bad.xlsx"))
    assert [(x.ref, x.value) for x in e.errors] == [("AF!AB16", "12a")]
    assert "not a number" in e.errors[0].message


def test_not_a_workbook_and_sniff():
    with pytest.raises(FileError, match="not an XLSX workbook"):
        qof.read((b"a,b\n1,2\n", "x.csv"))
    assert qof.sniff(QOF.read_bytes())
    assert not qof.sniff(b"Indicator ID,Area Code\n")
