"""A&E reader: the real NHSRdatasets file, and NHS England's published wide layout.

Wide variant (``wide_csv``): the real long file's March 2017 rows reshaped into the column
headers of NHS England's monthly CSV ("Period" = MSitAE-MARCH-2017, "Org Code", "Parent Org",
"Org name", "A&E attendances Type 1/2/Other A&E Department", "Attendances over 4hrs ..."), with
a TOTAL row as NHS England adds. Organisation names are not in the real file: the code is
written as the name. The numbers are the real ones, so both layouts must give the same values.
"""

from __future__ import annotations

import io

import pandas as pd
import pytest

from etl.extract import FileError
from etl.formats import nhse_ae

from .conftest import AE


@pytest.fixture(scope="module")
def wide_csv() -> bytes:
    long = pd.read_csv(AE)
    month = long[long["period"] == "2017-03-01"]
    wide = month.pivot_table(index="org_code", columns="type",
                             values=["attendances", "breaches"], aggfunc="sum").fillna(0)
    out = pd.DataFrame({
        "Period": "MSitAE-MARCH-2017", "Org Code": wide.index, "Parent Org": "NHS ENGLAND",
        "Org name": wide.index,
        "A&E attendances Type 1": wide[("attendances", "1")].to_numpy(),
        "A&E attendances Type 2": wide[("attendances", "2")].to_numpy(),
        "A&E attendances Other A&E Department": wide[("attendances", "other")].to_numpy(),
        "Attendances over 4hrs Type 1": wide[("breaches", "1")].to_numpy(),
        "Attendances over 4hrs Type 2": wide[("breaches", "2")].to_numpy(),
        "Attendances over 4hrs Other Department": wide[("breaches", "other")].to_numpy(),
    })
    total = out.iloc[[0]].copy()
    total.loc[:, "Org Code"] = "-"
    total.loc[:, "Org name"] = "TOTAL"
    buf = io.StringIO()
    pd.concat([out, total]).to_csv(buf, index=False)
    return buf.getvalue().encode()


def test_real_file(ae_extract):
    e = ae_extract
    assert e.errors == []
    v = e.values.set_index(["org_code", "indicator_id", "period"])
    # RF4, March 2017, type 1: 21289 attendances, 2879 breaches (line 2 of the file)
    row = v.loc[("RF4", "ae-4hr-type1", "2017-03")]
    assert (row["numerator"], row["denominator"]) == (21289 - 2879, 21289)
    assert row["value"] == pytest.approx((21289 - 2879) / 21289 * 100)
    # all types = ratio of sums over types 1, 2 and other
    all_types = v.loc[("RF4", "ae-4hr-all", "2017-03")]
    assert all_types["denominator"] == 21289 + 813 + 2850
    assert all_types["numerator"] == 21289 + 813 + 2850 - (2879 + 22 + 6)
    ind = e.indicators.set_index("indicator_id")
    assert set(ind.index) == {"ae-4hr-type1", "ae-4hr-type2", "ae-4hr-other", "ae-4hr-all"}
    assert (ind.loc["ae-4hr-all", "target"], ind.loc["ae-4hr-all", "polarity"]) == (
        95.0, "higher_is_better")
    assert len(e.organisations) == 274
    assert set(e.values["period"]) >= {"2016-04", "2019-03"}


def test_wide_layout_gives_the_same_values(wide_csv, ae_extract):
    e = nhse_ae.read((wide_csv, "March-2017-AE.csv"))
    assert e.errors == []
    assert any("total row" in n for n in e.notes)
    got = e.values.set_index(["org_code", "indicator_id", "period"])[["numerator", "denominator"]]
    real = ae_extract.values
    real = real[real["period"] == "2017-03"].set_index(
        ["org_code", "indicator_id", "period"])[["numerator", "denominator"]]
    assert len(got) == len(real)
    pd.testing.assert_frame_equal(got.sort_index(), real.sort_index())
    orgs = e.organisations.set_index("org_code")
    assert orgs.loc["RF4", "attributes"] == {"nhs_region": "NHS ENGLAND"}
    assert nhse_ae.sniff(wide_csv[:2000])


def test_errors_with_lines():
    text = "period,org_code,type,attendances,breaches,admissions\n" \
           "2017-03-01,RF4,1,100,120,0\n" \
           "2017-03-01,RF4,9,100,10,0\n" \
           "2017-13-01,RF4,2,100,10,0\n" \
           "2017-03-01,RF4,other,lots,10,0\n"
    e = nhse_ae.read((text.encode(), "bad.csv"))
    by_line = {x.line: x.message for x in e.errors}
    assert "more breaches than attendances" in by_line[2]
    assert "department type '9'" in by_line[3]
    assert "not a valid date" in by_line[4]
    assert "not a number" in by_line[5]
    with pytest.raises(FileError, match="not an NHS England A&E file"):
        nhse_ae.read((b"a,b\n1,2\n", "x.csv"))
