"""Every validation rule, with the exact line numbers an editor shows (pure: no database)."""

from __future__ import annotations

import pytest

from etl.extract import ReadOptions, Source
from etl.formats import canonical
from etl.transform import IndicatorInfo, validate_indicators, validate_values

INFO = IndicatorInfo.from_rows([
    ("mmr1", "proportion", 100.0, "financial_year"),
    ("rate", "rate", 1000.0, None),
    ("monthly", "proportion", 100.0, "month"),
])
ORGS = {"P1": 1, "P2": 2}


def check(csv: str, period_type: str | None = None):
    extract = canonical.read(Source("t.csv", data=csv.encode()), "values", ReadOptions())
    assert not extract.errors, extract.errors
    frame, reader_errors = next(extract.value_chunks)
    return validate_values(frame, org_ids=ORGS, indicators=INFO, period_type=period_type,
                           reader_errors=reader_errors)


def found(result) -> list[tuple[int | None, str | None]]:
    return [(e.line, e.column) for e in result.errors]


def test_valid_rows_derive_value_and_keep_published_value():
    r = check("org_code,indicator_id,period,numerator,denominator,value\n"
              "P1,mmr1,2019/20,90,100,\n"
              "P2,rate,2019,3,1500,\n"
              "P1,rate,2019,,,1.9\n"
              "P2,mmr1,2019/20,0,0,\n")
    assert r.errors == []
    assert r.clean["value"].tolist()[:3] == [90.0, 2.0, 1.9]
    assert r.clean["value"].isna().tolist()[3]  # 0/0: no value, not an error
    assert r.clean["period_label"].tolist() == ["2019-20", "2019", "2019", "2019-20"]


def test_unknown_and_empty_keys_are_reported_with_lines():
    r = check("org_code,indicator_id,period,numerator,denominator\n"
              "P9,mmr1,2019/20,1,2\n"
              ",mmr1,2019/20,1,2\n"
              "P1,nope,2019/20,1,2\n"
              "P1,,2019/20,1,2\n"
              "P1,mmr1,,1,2\n"
              "P1,mmr1,not a period,1,2\n")
    assert found(r) == [(2, "org_code"), (3, "org_code"), (4, "indicator_id"),
                        (5, "indicator_id"), (6, "period"), (7, "period")]
    assert r.rejected == 6
    assert r.clean.empty
    assert "unknown organisation 'P9'" in r.errors[0].message
    assert r.errors[0].value == "P9"


def test_counts_must_be_numbers_not_negative_and_fit_proportions():
    r = check("org_code,indicator_id,period,numerator,denominator\n"
              "P1,mmr1,2019/20,abc,10\n"
              "P1,mmr1,2020/21,-1,10\n"
              "P1,mmr1,2021/22,11,10\n"
              "P2,rate,2019,5,0\n"
              "P2,rate,2020,4,-3\n"
              "P2,mmr1,2019/20,5,10\n")
    assert found(r) == [(2, "numerator"), (3, "numerator"), (4, "numerator"),
                        (5, "denominator"), (6, "denominator")]
    assert "'abc' is not a number" in r.errors[0].message
    assert "above the denominator 10" in r.errors[2].message
    assert len(r.clean) == 1


def test_value_required_without_counts():
    r = check("org_code,indicator_id,period,numerator,denominator,value\n"
              "P1,rate,2019,,,\n"
              "P1,rate,2020,5,,\n"
              "P1,rate,2021,,8,\n"
              "P1,rate,2022,*,,\n")
    assert found(r) == [(2, "value"), (3, "denominator"), (4, "numerator")]
    assert r.clean["suppressed"].tolist() == [True]  # line 5: a suppression marker


def test_duplicates_report_every_copy_with_the_first_line():
    r = check("org_code,indicator_id,period,numerator,denominator\n"
              "P1,mmr1,2019/20,1,2\n"
              "P2,mmr1,2019/20,1,2\n"
              "P1,mmr1,2019-20,1,2\n")  # the same financial year written another way
    assert found(r) == [(2, "period"), (4, "period")]
    assert "first at line 2" in r.errors[1].message
    assert len(r.clean) == 1


def test_ambiguous_period_needs_a_declared_type():
    csv = ("org_code,indicator_id,period,numerator,denominator\n"
           "P1,rate,2011-12,1,2\n"
           "P1,mmr1,2011-12,1,2\n"
           "P1,monthly,2011-12,1,2\n")
    r = check(csv)
    assert found(r) == [(2, "period")]
    assert "--period-type" in r.errors[0].message
    assert r.clean["period_label"].tolist() == ["2011-12", "2011-12"]
    assert r.clean["period_type"].tolist() == ["financial_year", "month"]
    r = check(csv, period_type="month")
    assert r.errors == []
    assert r.clean["period_type"].tolist() == ["month", "financial_year", "month"]


def test_missing_and_extra_columns_are_named():
    extract = canonical.read(Source("t.csv", data=b"org_code,period,colour\nP1,2019,red\n"),
                             "values", ReadOptions())
    cols = {(e.line, e.column) for e in extract.errors}
    assert cols == {(1, "indicator_id"), (1, "value"), (1, "colour")}
    assert any("unexpected column 'colour'" in e.message for e in extract.errors)


def test_indicator_definitions_are_checked():
    extract = canonical.read(Source("i.csv", data=(
        b"indicator_id,name,value_type,multiplier,polarity,thresholds,frequency\n"
        b"a,A,proportion,100,higher_is_better,90;95,financial year\n"
        b"b,B,percentage,100,up,,\n"
        b"c,,rate,zero,lower_is_better,x,weekly\n")), "indicators", ReadOptions())
    r = validate_indicators(extract.indicators)
    assert [c["id"] for c in r.clean] == ["a"]
    assert r.clean[0]["thresholds"] == [90.0, 95.0]
    assert r.clean[0]["frequency"] == "financial_year"
    assert sorted((e.ref, e.column) for e in r.errors) == [
        ("3", "polarity"), ("3", "value_type"), ("4", "frequency"), ("4", "multiplier"),
        ("4", "name"), ("4", "thresholds")]


@pytest.mark.parametrize("marker", ["*", "..", "-", "c"])
def test_suppression_markers_are_not_zeros(marker):
    r = check(f"org_code,indicator_id,period,numerator,denominator\nP1,mmr1,2019/20,{marker},9\n")
    assert r.errors == []
    assert r.clean["suppressed"].tolist() == [True]
    assert r.clean["numerator"].isna().all()
    assert r.clean["value"].isna().all()


def test_line_numbers_count_line_breaks_inside_quoted_cells():
    """A note spanning three lines, a blank line and an escaped quote: every later error still
    names the line an editor shows (a quoted record is referenced by its first line)."""
    r = check('org_code,indicator_id,period,numerator,denominator,note\n'
              'P1,mmr1,2019/20,90,100,"first line\nsecond ""line""\nthird line"\n'
              '\n'
              'P2,mmr1,2019/20,60,50,\n'
              'P9,mmr1,2020/21,1,2,"one\r\ntwo"\n'
              'P1,mmr1,2020/21,abc,2,\n')
    assert found(r) == [(6, "numerator"), (7, "org_code"), (9, "numerator")]
    assert r.clean["note"].tolist() == ['first line\nsecond "line"\nthird line']


def test_line_numbers_across_chunks_with_quoted_line_breaks(write):
    from etl.formats._common import has_quoted_newlines

    body = "".join(f'P1,mmr1,{2000 + i}/{(i + 1) % 100:02d},1,2,"a\nb"\n' for i in range(5))
    path = write("q.csv", "org_code,indicator_id,period,numerator,denominator,note\n" + body
                 + "P2,mmr1,2019/20,3,2,\n")
    assert has_quoted_newlines(Source.of(path))
    assert not has_quoted_newlines(Source.of(b'"org_code","x"\nP1,"a,b"\n', "h.csv"))
    extract = canonical.read(Source.of(path), "values", ReadOptions(chunk_rows=2))
    refs = [ref for frame, _ in extract.value_chunks for ref in frame["_ref"]]
    assert refs == ["2", "4", "6", "8", "10", "12"]


def test_clean_rows_are_held_to_the_contract_with_pandera_naming_a_breach():
    """The contract is checked with numpy on every row, and a breach anywhere is reported by
    pandera on the whole frame."""
    import numpy as np
    import pandera.errors

    from etl import transform
    r = check("org_code,indicator_id,period,numerator,denominator\n"
              "P1,mmr1,2019/20,90,100\nP2,mmr1,2019/20,9,10\nP1,rate,2019,3,1500\n")
    assert len(r.clean) == 3
    labels = np.array(["2019-20", "2019"], dtype=object)
    types = np.array(["financial_year", "year"], dtype=object)
    assert transform._check_contract(r.clean, labels, types) is r.clean
    bad = r.clean.copy()
    bad.loc[2, "denominator"] = -1.0  # beyond the sample
    with pytest.raises(pandera.errors.SchemaError, match="denominator"):
        transform._check_contract(bad, labels, types)
    bad = r.clean.copy()
    bad["period_type"] = np.array(["financial_year", "financial_year", "week"], dtype=object)
    with pytest.raises(pandera.errors.SchemaError, match="period_type"):
        transform._check_contract(bad, labels, np.array(["financial_year", "week"], dtype=object))
    bad = r.clean.copy()
    bad["org_id"] = bad["org_id"].astype("float64")  # a dtype the model does not allow
    with pytest.raises(pandera.errors.SchemaError, match="org_id"):
        transform._check_contract(bad, labels, types)
    bad = r.clean.drop(columns="ref")
    with pytest.raises(pandera.errors.SchemaError, match="ref"):
        transform._check_contract(bad, labels, types)


def test_a_valid_values_load_does_not_import_pandera(tmp_path):
    """pandera (about 0.7 s to import) is loaded only to word a breach of the contract."""
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import sys\n"
        "from etl import transform\n"
        "from etl.extract import ReadOptions, Source\n"
        "from etl.formats import canonical\n"
        "info = transform.IndicatorInfo.from_rows([('mmr1', 'proportion', 100.0, None)])\n"
        "ex = canonical.read(Source.of(b'org_code,indicator_id,period,numerator,denominator\\n'\n"
        "                             b'P1,mmr1,2019/20,90,100\\n', 'v.csv'), 'values',\n"
        "                    ReadOptions())\n"
        "for frame, errs in ex.value_chunks:\n"
        "    r = transform.validate_values(frame, org_ids={'P1': 1}, indicators=info,\n"
        "                                  reader_errors=errs)\n"
        "    assert len(r.clean) == 1 and not r.errors, r.errors\n"
        "print('pandera' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(("data", "padded"), [
    (b"a,b\nc,d\n", False), (b"a,b\r\nc,d\r\n", False), (b"", False),
    (b"a, b\n", True), (b"a,b\tc\n", True), (b"a,b\rc,d\n", True), (b"a,b\r\n\r\r\n", True),
    (b"a,\xc2\xa0b\n", True), (b"a,b\x0c\n", True), (b"a,b\r", True),
])
def test_has_padding_is_false_only_when_no_cell_can_hold_white_space(data, padded):
    from etl.formats._common import has_padding

    assert has_padding(Source.of(data, "p.csv")) is padded


@pytest.mark.parametrize("pad", [" ", "\t", "\u00a0", "\u3000"])
def test_padding_is_stripped_from_cells_whatever_the_white_space(pad):
    """Cells are stripped of every kind of white space (the check that skips stripping for a
    file without any must not miss one)."""
    r = check("org_code,indicator_id,period,numerator,denominator\n"
              f"P1{pad},{pad}mmr1,2019/20{pad},90,100\nP2,mmr1,2019/20,{pad},50\n")
    assert r.clean["org_id"].tolist() == [ORGS["P1"]]
    assert [(e.line, e.column) for e in r.errors] == [(3, "numerator")]


@pytest.mark.parametrize(("data", "plain"), [
    (b"org_code,indicator_id,period,numerator,denominator\n" + b"".join(
        b"P%d,mmr1,20%02d/%02d,%d,%d\n" % (i % 3, i % 90, i % 90 + 1, i, i + 5)
        for i in range(23)), True),
    (b'"org_code","indicator_id","period","numerator","denominator"\r\n'
     b"P1,mmr1,2019/20,1,2\r\nP2,mmr1,2019/20,,\r\n,,,,\r\nP3,rate,2019,4,5", True),
    (b"\xef\xbb\xbforg_code,indicator_id,period,value,note\nP1,mmr1,2019/20,1,x\n"
     b"P2,mmr1,2019/20,2,\nP1,rate,2019,3,y\nP2,rate,2019,*,z\nP1,mmr1,2020/21,1,\n", True),
    (b"org_code,indicator_id,period,value\nP1,mmr1,2019/20,1\nP2,mmr1,2019/20\n"
     b"P1,rate,2019,3,9,9\nP2,rate,2019,4\n", False),
    (b"org_code,indicator_id,period,value\nP1,mmr1,2019/20,1\nP2,mmr1,2019/20,2\n"
     b"P1,rate,2019,3\n\nP2,rate,2019,4\n", False),
    (b'org_code,indicator_id,period,value\nP1,mmr1,2019/20,1\nP2,mmr1,"2019/20",2\n', False),
])
def test_plain_files_read_by_arrow_give_what_pandas_gives(data, plain, monkeypatch):
    """Past the first chunk a plain file is read by Arrow's CSV reader: the same cells, line
    references and errors as pandas' reader, which reads every other file."""
    from etl.formats import _common
    from etl.formats._common import FileError, read_csv_chunks

    source = Source.of(data, "p.csv")
    used = []
    arrow_chunks = _common._arrow_chunks
    monkeypatch.setattr(_common, "_arrow_chunks", lambda *a: used.append(a) or arrow_chunks(*a))
    out = []
    for fast in (True, False):
        try:
            header, chunks = read_csv_chunks(source, chunk_rows=2, fast=fast)
            out.append((header, [(t.frame.to_dict("list"), t.refs.tolist()) for t in chunks]))
        except FileError as exc:
            out.append(str(exc))
    assert out[0] == out[1]
    assert bool(used) is plain
