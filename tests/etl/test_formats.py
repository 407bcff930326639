"""Readers: encodings, XLSX sheets, YAML indicators, mapping files (SQLite and PostgreSQL)."""

from __future__ import annotations

import openpyxl
import pytest
from sqlalchemy import text

from etl.extract import FileError, Source
from etl.formats import FormatError, detect_format, get_reader
from etl.pipeline import run_load
from tests.etl.conftest import DATA, values_rows


@pytest.mark.parametrize(("encoding", "bom"), [("utf-8", b""), ("utf-8", b"\xef\xbb\xbf"),
                                               ("cp1252", b"")])
def test_csv_encodings(engine, write, encoding, bom):
    content = "org_code,name,org_type,parent_code\nP1,Café Surgery £,practice,\n"
    path = write("o.csv", bom + content.encode(encoding))
    result = run_load(engine, path, kind="organisations")
    assert result.status == "loaded"
    with engine.connect() as conn:
        assert conn.execute(text("SELECT name FROM organisations")).scalar_one() == (
            "Café Surgery £")


def test_unreadable_files_raise_file_error(engine, write):
    with pytest.raises(FileError, match="no such file"):
        run_load(engine, write("x.csv", "a").parent / "missing.csv", kind="values")
    with pytest.raises(FileError, match="empty"):
        run_load(engine, write("e.csv", ""), kind="values")
    with pytest.raises(FileError, match="neither UTF-8 nor Windows-1252"):
        run_load(engine, write("b.csv", b"org_code\n\x81\x8d\n"), kind="organisations")
    with pytest.raises(FormatError, match="unknown format"):
        run_load(engine, write("v.csv", "a\n"), kind="values", format="nope")


def test_xlsx_with_sheet_and_cell_references(seeded, tmp_path):
    wb = openpyxl.Workbook()
    wb.active.title = "Notes"
    wb.active["A1"] = "this sheet is not data"
    ws = wb.create_sheet("Data")
    ws.append(["org_code", "indicator_id", "period", "numerator", "denominator"])
    ws.append(["P1", "mmr1", "2019/20", 90, 100])
    ws.append(["P2", "mmr1", "2019/20", 60, 50])
    path = tmp_path / "v.xlsx"
    wb.save(path)
    result = run_load(seeded, path, kind="values", sheet="Data")
    assert result.status == "rejected"
    assert [e.as_dict()["line"] for e in result.errors] == ["Data!D3"]
    with pytest.raises(FileError, match="no sheet named 'Nope'; the sheets are 'Notes', 'Data'"):
        run_load(seeded, path, kind="values", sheet="Nope")
    ws["D3"] = 45
    wb.save(path)
    result = run_load(seeded, path, kind="values", sheet="Data")
    assert (result.status, result.rows_inserted) == ("loaded", 2)


def test_yaml_indicators_file_and_folder(engine, write):
    one = write("defs/a.yaml", "indicator_id: a\nname: A\nvalue_type: proportion\n"
                               "multiplier: 100\npolarity: higher_is_better\n"
                               "thresholds: [90, 95]\ntags: [x]\nfrequency: month\n")
    write("defs/b.yml", "indicator_id: b\nname: B\nvalue_type: rate\nmultiplier: 1000\n"
                        "polarity: lower_is_better\ndate_reviewed: 2024-03-31\n")
    result = run_load(engine, one, kind="indicators")
    assert (result.status, result.rows_inserted) == ("loaded", 1)
    result = run_load(engine, one.parent, kind="indicators")
    assert (result.rows_inserted, result.rows_unchanged) == (1, 1)
    bad = write("bad.yaml", "indicator_id: c\nname: C\nvalue_type: odd\nmultiplier: 1\n"
                            "polarity: higher_is_better\ncolour: red\n")
    result = run_load(engine, bad, kind="indicators")
    assert result.status == "rejected"
    assert sorted((e.ref, e.column) for e in result.errors) == [
        ("bad.yaml", "colour"), ("bad.yaml", "value_type")]


def test_mapping_wide_constants_suppression_and_number_formats(seeded, write):
    data = write("wide.csv",
                 "Practice , MMR1 done ,Cohort,Admissions rate,\n"
                 "P1,\"1,090\",\"1,200\",12.5%,\n"
                 "P2,,40,*,\n")
    mapping = write("map.yaml",
                    "columns: {org_code: Practice}\n"
                    "constants: {period: 2019/20}\n"
                    "wide:\n"
                    "  - {indicator_id: mmr1, numerator: MMR1 done, denominator: Cohort}\n"
                    "  - {indicator_id: rate, value: admissions RATE}\n"
                    "suppression: ['*', '']\n"
                    "numbers: {thousands: ',', percent: true}\n")
    result = run_load(seeded, data, kind="values", mapping=mapping, period_type="year")
    assert result.status == "rejected"  # the rate indicator is not financial-year: 2019/20
    assert {e.line for e in result.errors} == {2, 3}
    write("map.yaml", mapping.read_text().replace("2019/20", "2019"))
    mapping.write_text(mapping.read_text().replace(
        "constants: {period: 2019/20}", "constants: {period: 2019-20}"))
    data2 = write("wide2.csv", data.read_text().replace("Admissions rate", "Ignored"))
    mapping.write_text(mapping.read_text().replace(
        "  - {indicator_id: rate, value: admissions RATE}\n", "").replace(
        "suppression", "ignore: [ignored]\nsuppression"))
    result = run_load(seeded, data2, kind="values", mapping=mapping)
    assert result.status == "loaded", result.as_json()
    assert values_rows(seeded) == [
        ("P1", "mmr1", "2019-20", 1090.0, 1200.0, pytest.approx(90.8333, abs=1e-3), False,
         result.load_id),
        ("P2", "mmr1", "2019-20", None, 40.0, None, True, result.load_id),
    ]


def test_mapping_names_unmapped_and_missing_columns(seeded, write):
    data = write("d.csv", "Practice,Year,Num,Den,Extra\nP1,2019/20,1,2,x\n")
    mapping = write("m.yaml", "columns: {org_code: Practice, period: Year, numerator: Num, "
                              "denominator: Den}\nconstants: {indicator_id: mmr1}\n")
    result = run_load(seeded, data, kind="values", mapping=mapping)
    assert [(e.line, e.column) for e in result.errors] == [(1, "Extra")]
    assert "not used by the mapping" in result.errors[0].message
    bad = write("m2.yaml", "columns: {org_code: Surgery}\n")
    with pytest.raises(FileError, match="'Surgery', which d.csv does not have"):
        run_load(seeded, data, kind="values", mapping=bad)


def test_messy_prescribing_extract_with_mapping(engine, write):
    """The real legacy HSCIC extract: padded headers and values, a trailing comma."""
    src = DATA / "messy_extracts" / "hscic_prescribing_sample.csv"
    practices = sorted({line.split(",")[2].strip() for line in
                        src.read_text().splitlines()[1:]})
    write("o.csv", "org_code,name,org_type,parent_code\n"
          + "".join(f"{p},{p},practice,\n" for p in practices))
    run_load(engine, write("o.csv", "org_code,name,org_type,parent_code\n"
                           + "".join(f"{p},{p},practice,\n" for p in practices)),
             kind="organisations")
    run_load(engine, write("i.csv", "indicator_id,name,value_type,multiplier,polarity,"
                                    "frequency\nitems,Items,count,1,no_judgement,month\n"),
             kind="indicators")
    mapping = write("m.yaml", "columns: {org_code: PRACTICE, period: PERIOD, value: ITEMS}\n"
                              "constants: {indicator_id: items}\n"
                              "ignore: [SHA, PCT, BNF CODE, BNF NAME, NIC, ACT COST, QUANTITY]\n"
                              "aggregate: sum\n")
    result = run_load(engine, src, kind="values", mapping=mapping)
    assert result.status == "loaded", result.as_json()
    assert result.rows_read == len(src.read_text().splitlines()) - 1
    # oracle: the sum of ITEMS per practice, computed independently
    expected: dict[str, float] = {}
    for line in src.read_text().splitlines()[1:]:
        cells = line.split(",")
        expected[cells[2].strip()] = expected.get(cells[2].strip(), 0) + int(cells[5])
    got = {r[0]: r[5] for r in values_rows(engine)}
    assert got == expected
    assert {r[2] for r in values_rows(engine)} == {"2014-10"}


def test_aggregate_mean_of_raw_values(seeded, write):
    """``aggregate: mean``: one raw value per row -> the mean per key with its Student-t 95%
    interval as the row's interval (hand-worked: 1, 2, 3, 6 -> mean 3, sd sqrt(14/3)); a
    key with one value has no interval; suppressed cells are left out."""
    src = write("raw.csv", "who,wait\nP1,1\nP1,2\nP1,3\nP1,6\nP1,*\nP2,4\n")
    mapping = write("m.yaml", "columns: {org_code: who, value: wait}\n"
                              "constants: {indicator_id: rate, period: 2019-20}\n"
                              "aggregate: mean\n")
    result = run_load(seeded, src, kind="values", mapping=mapping)
    assert result.status == "loaded", result.as_json()
    assert result.rows_read == 6
    with seeded.connect() as conn:
        got = {r[0]: tuple(r[1:]) for r in conn.execute(text(
            "SELECT o.code, v.value, v.lower_ci, v.upper_ci, v.numerator FROM indicator_values v"
            " JOIN organisations o ON o.id = v.org_id"))}
    half = 3.182446305284263 * (14 / 3) ** 0.5 / 2  # t(0.975, 3) x sd / sqrt(4)
    assert got["P1"][0] == 3.0
    assert got["P1"][1] == pytest.approx(3 - half, rel=1e-12)
    assert got["P1"][2] == pytest.approx(3 + half, rel=1e-12)
    assert got["P1"][3] is None
    assert got["P2"][:3] == (4.0, None, None)
    counts = write("n.csv", "who,n,d\nP1,1,2\n")
    bad = write("b.yaml", "columns: {org_code: who, numerator: n, denominator: d}\n"
                          "constants: {indicator_id: rate, period: 2019-20}\naggregate: mean\n")
    with pytest.raises(FileError, match="aggregate: mean needs a value column"):
        run_load(seeded, counts, kind="values", mapping=bad)
    odd = write("c.yaml", "columns: {org_code: who, value: wait}\n"
                          "constants: {indicator_id: rate, period: 2019-20}\naggregate: max\n")
    with pytest.raises(FileError, match="'sum' or 'mean'"):
        run_load(seeded, src, kind="values", mapping=odd)


def test_registry_and_detection(write):
    assert get_reader("canonical").NAME == "canonical"
    assert detect_format(Source.of(write("v.csv", "org_code,indicator_id\n"))) == "canonical"
    head = (DATA / "gp_practice_national" / "fingertips_93553_imd_score_by_practice.csv")
    try:
        get_reader("fingertips")
    except FormatError:
        pytest.skip("the fingertips importer is not in this checkout")
    assert detect_format(Source.of(head)) == "fingertips"
