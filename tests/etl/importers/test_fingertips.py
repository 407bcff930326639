"""Fingertips export reader: the real IMD export, a constructed multi-indicator export, errors.

Constructed file (``multi_export``), built here from real rows, never hand-typed numbers:
* indicator 93553: the first 40 real practice rows and the England row of the real IMD export,
  as published; the same rows relabelled Sex "Male" and "Female" (values shifted by +1 / -1 so
  that a mix-up would show), Age "65+ yrs", and a category breakdown ("GP deprivation deciles",
  "Most deprived decile");
* indicator 99901 (an id no real Fingertips indicator uses): the real West Sussex practices'
  DTaP/IPV/Hib/HepB uptake at 12 months, 2019/20 (COVER numerator and denominator from
  gp_immunisations_wsx), laid out as Fingertips lays out a proportion: Count, Denominator,
  Value = Count / Denominator x 100, a Wilson 95% interval, parent = the practice's PCN, and
  "Compared to England" computed as Fingertips does (Better/Worse when the England value lies
  outside the interval, else Similar); England = the sum of the practices;
* a suppressed row, a pooled-period row ("2017 - 19") and a financial-quarter row.
"""

from __future__ import annotations

import csv
import io
import math

import pandas as pd
import pytest

from etl.extract import FileError
from etl.formats import fingertips

from .conftest import FINGERTIPS, IMMS

HEADER = [
    "Indicator ID", "Indicator Name", "Parent Code", "Parent Name", "Area Code", "Area Name",
    "Area Type", "Sex", "Age", "Category Type", "Category", "Time period", "Value",
    "Lower CI 95.0 limit", "Upper CI 95.0 limit", "Lower CI 99.8 limit", "Upper CI 99.8 limit",
    "Count", "Denominator", "Value note", "Recent Trend",
    "Compared to England value or percentiles", "Compared to percentiles",
    "Time period Sortable", "New data", "Compared to goal", "Time period range",
]


def _wilson(k: float, n: float, z: float = 1.959964) -> tuple[float, float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return 100 * (centre - half), 100 * (centre + half)


@pytest.fixture(scope="module")
def multi_export() -> bytes:
    real = pd.read_csv(FINGERTIPS, dtype=str, keep_default_na=False)
    base = pd.concat([real.iloc[[0]], real.iloc[2:42]])
    rows = [base]
    for sex, shift in (("Male", 1.0), ("Female", -1.0)):
        part = base.copy()
        part["Sex"] = sex
        part["Value"] = (part["Value"].astype(float) + shift).astype(str)
        rows.append(part)
    older = base.copy()
    older["Age"] = "65+ yrs"
    rows.append(older)
    cat = base.copy()
    cat["Category Type"] = "GP deprivation deciles in England (IMD2019)"
    cat["Category"] = "Most deprived decile"
    rows.append(cat)

    imms = pd.read_csv(IMMS, dtype=str, keep_default_na=False)
    imms = imms[(imms["Year"] == "2019/20") & (imms["Item"] == "DTaPIPVHibHepB")]
    num, den = imms["Numerator"].astype(float), imms["Denominator"].astype(float)
    eng = num.sum() / den.sum() * 100
    prop = []
    template = dict.fromkeys(HEADER, "")
    common = {"Indicator ID": "99901", "Indicator Name": "DTaP/IPV/Hib/HepB at 12 months",
              "Sex": "Persons", "Age": "1 yr", "Time period": "2019/20",
              "Time period range": "1y"}
    prop.append({**template, **common, "Area Code": "E92000001", "Area Name": "England",
                 "Area Type": "England", "Value": str(float(eng)), "Count": str(float(num.sum())),
                 "Denominator": str(float(den.sum()))})
    for (_, r), k, n in zip(imms.iterrows(), num, den, strict=True):
        lo, hi = _wilson(k, n)
        compared = "Better 95%" if lo > eng else "Worse 95%" if hi < eng else "Similar"
        prop.append({**template, **common, "Parent Code": r["PCN_Code"],
                     "Parent Name": r["PCN_Name"], "Area Code": r["ODS_Code"],
                     "Area Name": r["ODS_Name"], "Area Type": "GPs",
                     "Value": str(float(k / n * 100)),
                     "Lower CI 95.0 limit": str(float(lo)), "Upper CI 95.0 limit": str(float(hi)),
                     "Count": str(float(k)), "Denominator": str(float(n)),
                     "Compared to England value or percentiles": compared})
    first = prop[1]
    prop.append({**first, "Area Code": "H99001", "Area Name": "Suppressed practice",
                 "Value": "", "Count": "", "Denominator": "", "Lower CI 95.0 limit": "",
                 "Upper CI 95.0 limit": "",
                 "Value note": "Value suppressed for disclosure control due to small count"})
    prop.append({**first, "Time period": "2017 - 19"})
    prop.append({**first, "Indicator ID": "99902", "Time period": "2019/20 Q4"})
    rows.append(pd.DataFrame(prop, columns=HEADER))
    out = io.StringIO()
    pd.concat(rows, ignore_index=True).to_csv(out, index=False, quoting=csv.QUOTE_MINIMAL)
    return out.getvalue().encode()


def test_real_export(fingertips_extract):
    e = fingertips_extract
    assert e.errors == []
    v = e.values
    # 6,545 practices + England (the export repeats England: once under itself, read once)
    assert len(v) == 6546
    assert v["org_code"].is_unique
    assert set(v["indicator_id"]) == {"93553"}
    assert set(v["period"]) == {"2019"}
    row = v[v["org_code"] == "A81001"].iloc[0]
    assert row["value"] == pytest.approx(32.3609389, rel=1e-6)
    assert row["_ref"] == "4"  # the line an editor shows (header = line 1)
    assert v["numerator"].isna().all()
    assert v["lower_ci"].isna().all()
    ind = e.indicators.iloc[0]
    assert (ind["name"], ind["value_type"], ind["multiplier"], ind["frequency"]) == (
        "Deprivation score (IMD 2019)", "mean", 1.0, "year")
    assert any("no count and denominator" in n for n in e.notes)
    orgs = e.organisations.set_index("org_code")
    assert orgs.loc["A81001", "org_type"] == "practice"
    assert orgs.loc["E92000001", "org_type"] == "nation"
    assert pd.isna(orgs.loc["E92000001", "parent_code"])  # never its own parent


def test_sniff():
    head = FINGERTIPS.read_bytes()[:4096]
    assert fingertips.sniff(head)
    assert not fingertips.sniff(b"period,org_code,type,attendances,breaches\n")
    assert not fingertips.sniff(b"PK\x03\x04binary")


def test_default_breakdown_is_persons_own_age_no_category(multi_export):
    e = fingertips.read((multi_export, "multi.csv"))
    ids = set(e.values["indicator_id"])
    assert ids == {"93553", "99901", "99902"}
    assert len(e.values[e.values["indicator_id"] == "93553"]) == 41
    assert any("other breakdowns were not loaded" in n for n in e.notes)


def test_selected_breakdowns_make_distinct_ids(multi_export):
    e = fingertips.read((multi_export, "multi.csv"),
                        options={"sexes": "all", "ages": "all", "categories": "all"})
    ids = set(e.values["indicator_id"])
    assert {"93553", "93553-male", "93553-female", "93553-65-yrs",
            "93553-gp-deprivation-deciles-in-england-imd2019-most-deprived-decile"} <= ids
    v = e.values.set_index(["indicator_id", "org_code"])
    assert v.loc[("93553-male", "A81001"), "value"] == pytest.approx(
        v.loc[("93553", "A81001"), "value"] + 1)
    names = e.indicators.set_index("indicator_id")["name"]
    assert names["93553-female"] == "Deprivation score (IMD 2019) (Female)"


def test_proportion_indicator_inferred_with_intervals_and_polarity(multi_export):
    e = fingertips.read((multi_export, "multi.csv"))
    ind = e.indicators.set_index("indicator_id").loc["99901"]
    assert (ind["value_type"], ind["multiplier"], ind["polarity"], ind["frequency"]) == (
        "proportion", 100.0, "higher_is_better", "financial_year")
    v = e.values[(e.values["indicator_id"] == "99901") & (e.values["period"] == "2019-20")]
    real = v[v["org_code"] == "H82006"].iloc[0]
    assert (real["numerator"], real["denominator"]) == (30.0, 32.0)
    assert real["lower_ci"] < real["value"] < real["upper_ci"]
    orgs = e.organisations.set_index("org_code")
    assert orgs.loc["H82006", "parent_code"] == "U33593"
    assert orgs.loc["H82006", "parent_type"] == "pcn"
    # the suppressed row is kept as suppressed, not as a zero
    sup = e.values[e.values["org_code"] == "H99001"].iloc[0]
    assert sup["suppressed"]
    assert pd.isna(sup["value"])


def test_periods_pooled_is_an_error_financial_quarter_is_calendar(multi_export):
    e = fingertips.read((multi_export, "multi.csv"))
    pooled = [x for x in e.errors if x.value == "2017 - 19"]
    assert len(pooled) == 1
    assert "pooled" in pooled[0].message
    assert pooled[0].line is not None
    assert "2020-Q1" in set(e.values["period"])  # 2019/20 Q4 = January-March 2020
    assert fingertips.canonical_period("2019/20 Q1") == "2019-Q2"
    assert fingertips.canonical_period("2019 Q1") == "2019-Q1"


def test_conflicting_repeat_and_bad_number_are_reported_with_lines():
    rows = list(csv.reader(io.StringIO(FINGERTIPS.read_text(encoding="utf-8-sig"))))[:5]
    again = list(rows[3])
    again[12] = "40.0"  # A81001 (line 4) again with another value, on line 6
    bad = list(rows[4])
    bad[12] = "n/a value"  # line 7
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([*rows, again, bad])
    e = fingertips.read((out.getvalue().encode(), "broken.csv"))
    by_line = {x.line: x for x in e.errors}
    assert "appears again with other numbers (first on line 4)" in by_line[6].message
    assert by_line[7].column == "Value"
    assert "not a number" in by_line[7].message


def test_missing_header_names_what_is_missing():
    data = FINGERTIPS.read_bytes().replace(b"Area Code", b"Code", 1)
    with pytest.raises(FileError, match="missing column.*'Area Code'"):
        fingertips.read((data, "nocode.csv"))


def test_area_type_and_code_tables():
    assert fingertips.org_type_of_area_type("GPs") == "practice"
    assert fingertips.org_type_of_area_type("Sub-ICB, former CCGs") == "sub_icb"
    assert fingertips.org_type_of_area_type("ICBs") == "icb"
    assert fingertips.org_type_of_area_type("PCNs (v. 25/10/23)") == "pcn"
    assert fingertips.org_type_of_area_type("NHS region") == "region"
    assert fingertips.org_type_of_area_type("Counties & UAs (from Apr 2023)") == "local_authority"
    assert fingertips.org_type_of_area_type("Acute Trusts") == "trust"
    assert fingertips.org_type_of_area_type("MSOA") is None
    assert fingertips.org_type_of_code("E38000130") == "sub_icb"
    assert fingertips.org_type_of_code("U33593") == "pcn"
