"""epraccur (ODS practices) and practice list-size readers on the real national files."""

from __future__ import annotations

import pytest

from etl.extract import FileError
from etl.formats import list_sizes, ods_practices

from .conftest import EPRACCUR, LIST_SIZES


@pytest.fixture(scope="module")
def ods():
    return ods_practices.read(EPRACCUR)


def test_epraccur_practices_with_commissioners(ods):
    e = ods
    assert e.errors == []
    orgs = e.organisations.set_index("org_code")
    assert len(orgs) == 8641  # prescribing setting 4 only (of 15,663 rows)
    a = orgs.loc["A81001"]
    assert (a["name"], a["org_type"], a["parent_code"], a["parent_type"]) == (
        "THE DENSHAM SURGERY", "practice", "16C", "sub_icb")
    assert a["is_active"]
    assert a["attributes"] == {"status": "active", "open_date": "1974-04-01",
                               "close_date": None, "prescribing_setting": 4,
                               "postcode": "TS18 1HU"}
    closed = orgs.loc["A81003"]  # closed 2017-10-31 (line 3)
    assert not closed["is_active"]
    assert closed["attributes"]["close_date"] == "2017-10-31"
    assert closed["_ref"] == "3"
    assert any("other than 4" in n for n in e.notes)


def test_epraccur_all_settings_and_errors():
    e = ods_practices.read(EPRACCUR, options={"include_all_settings": True})
    assert len(e.organisations) == 15663
    lines = EPRACCUR.read_text().splitlines()[:3]
    lines.append(lines[0].replace('"A81001"', '"bad code"').replace('"A","B"', '"Q","B"'))
    lines.append(lines[1].replace('"A81002"', '"A81099"').replace('"19740401"', '"19741341"'))
    e = ods_practices.read(("\n".join(lines).encode(), "ep.csv"))
    msgs = {x.line: x.message for x in e.errors}
    assert "is not an ODS code" in msgs[4]
    assert "not a date" in msgs[5]
    header = ",".join(["Organisation Code", "Name", *[f"Column {i}" for i in range(2, 27)]])
    with pytest.raises(FileError, match="looks like a header row"):
        ods_practices.read(((header + "\n" + "\n".join(lines)).encode(), "h.csv"))
    assert ods_practices.sniff(EPRACCUR.read_bytes()[:4000])


def test_list_sizes_attributes_and_values():
    e = list_sizes.read(LIST_SIZES)
    assert e.errors == []
    assert e.attributes_only
    orgs = e.organisations.set_index("org_code")
    assert orgs.loc["A84002", "attributes"] == {"list_size": 5903,
                                                 "list_size_date": "2021-01-01"}
    assert orgs["name"].isna().all()  # attributes only: nothing else is touched
    v = e.values.set_index("org_code")
    assert (v.loc["A84002", "indicator_id"], v.loc["A84002", "period"],
            v.loc["A84002", "value"]) == ("registered_patients", "2021-01", 5903)
    assert len(v) == 6658
    ind = e.indicators.iloc[0]
    assert (ind["value_type"], ind["multiplier"], ind["polarity"]) == (
        "count", 1.0, "no_judgement")


def test_list_sizes_breakdowns_and_errors():
    text = LIST_SIZES.read_text().splitlines()
    rows = [text[0], text[1], text[1].replace(",ALL,ALL,", ",MALE,ALL,"),
            text[2].replace(",14738", ",many"), text[1]]
    e = list_sizes.read(("\n".join(rows).encode(), "ls.csv"))
    assert any("by sex, age" in n for n in e.notes)
    msgs = {x.line: x.message for x in e.errors}
    assert "not a number" in msgs[4]
    assert "appears twice" in msgs[5]
    with pytest.raises(FileError, match="missing column.*NUMBER_OF_PATIENTS"):
        list_sizes.read((b"CODE,EXTRACT_DATE\nA1,01JAN2021\n", "x.csv"))
