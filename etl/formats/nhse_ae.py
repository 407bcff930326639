"""Reader for NHS England's monthly A&E attendances and 4-hour performance by provider.

Two layouts are read, both found by header text:

* **Long** (as in NHSRdatasets ``ae_attendances``: ``period, org_code, type, attendances,
  breaches, admissions``; one row per provider, month and department type ``1``, ``2`` or
  ``other``).
* **Wide**: the monthly CSV NHS England publishes ("Monthly A&E Attendances and Emergency
  Admissions", https://www.england.nhs.uk/statistics/statistical-work-areas/ae-waiting-times-and-activity/),
  one row per provider with ``Period`` (``MSitAE-APRIL-2019``), ``Org Code``, ``Parent Org``,
  ``Org name``, ``A&E attendances Type 1|Type 2|Other A&E Department`` and ``Attendances over
  4hrs Type 1|Type 2|Other Department``, and (since they were introduced) the same for
  ``Booked Appointments``. The header names are taken from the published files as several
  public analysis repositories read them; booked appointments are added to their type's
  attendances and breaches, as NHS England's own totals do. The ``TOTAL`` row is skipped.

Indicators (created when missing): ``ae-4hr-type1``, ``ae-4hr-type2``, ``ae-4hr-other`` and
``ae-4hr-all`` = percentage of attendances seen within 4 hours: numerator attendances -
breaches, denominator attendances, multiplier 100, higher is better, target 95% (the NHS
constitutional standard), monthly. "All types" is the ratio of the summed counts, never an
average of percentages. Providers missing from the database are created as ``trust`` with their
name when the file has one (the long layout has none: the code is used, and the notes say so).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from core.periods import PeriodError, parse_period
from etl.extract import Extract, FileError, RowError
from etl.formats._importer_util import (
    csv_refs,
    head_header,
    indicators_frame,
    kind_and_options,
    match_columns,
    norm,
    orgs_frame,
    parse_numbers,
    read_csv_strings,
    source_bytes,
    values_frame,
)

FORMAT = "nhse-ae"
KINDS = ("values",)

#: Long layout (NHSRdatasets): canonical -> header text.
LONG_COLUMNS = {
    "period": ("period",),
    "org_code": ("org_code", "org code"),
    "type": ("type",),
    "attendances": ("attendances",),
    "breaches": ("breaches",),
    "admissions": ("admissions",),
}
#: Wide layout (NHS England monthly CSV): canonical -> header text.
WIDE_COLUMNS = {
    "period": ("Period",),
    "org_code": ("Org Code",),
    "parent": ("Parent Org",),
    "org_name": ("Org name",),
    "att_1": ("A&E attendances Type 1",),
    "att_2": ("A&E attendances Type 2",),
    "att_other": ("A&E attendances Other A&E Department",),
    "att_booked_1": ("A&E attendances Booked Appointments Type 1",),
    "att_booked_2": ("A&E attendances Booked Appointments Type 2",),
    "att_booked_other": ("A&E attendances Booked Appointments Other Department",),
    "br_1": ("Attendances over 4hrs Type 1",),
    "br_2": ("Attendances over 4hrs Type 2",),
    "br_other": ("Attendances over 4hrs Other Department",),
    "br_booked_1": ("Attendances over 4hrs Booked Appointments Type 1",),
    "br_booked_2": ("Attendances over 4hrs Booked Appointments Type 2",),
    "br_booked_other": ("Attendances over 4hrs Booked Appointments Other Department",),
}
WIDE_REQUIRED = ("period", "org_code", "att_1", "att_2", "att_other", "br_1", "br_2", "br_other")
#: Department type as written -> indicator id suffix and label.
TYPES = {"1": ("type1", "type 1 (major A&E)"), "2": ("type2", "type 2 (single specialty)"),
         "other": ("other", "other departments (UTC, MIU, walk-in)")}
_MSITAE = re.compile(r"([A-Za-z]+)-(\d{4})\s*$")


def sniff(head: Any) -> bool:
    """True for either A&E layout."""
    header = head_header(head)
    if not header:
        return False
    names = {norm(h) for h in header}
    long = {"period", "org_code", "type", "attendances", "breaches"} <= names
    wide = {"org code", "a&e attendances type 1", "attendances over 4hrs type 1"} <= names
    return long or wide


def detect(source: Any) -> bool:
    """Does the pipeline's ``Source`` look like this format (by its first bytes)?"""
    return sniff(source.head())


def indicator_definitions() -> pd.DataFrame:
    """The four 4-hour indicators this format loads."""
    rows = []
    for suffix, label in [*TYPES.values(), ("all", "all department types")]:
        rows.append({
            "indicator_id": f"ae-4hr-{suffix}",
            "name": f"A&E 4-hour performance, {label}",
            "value_type": "proportion", "multiplier": 100.0, "polarity": "higher_is_better",
            "target": 95.0, "target_label": "NHS constitutional standard (95%)",
            "frequency": "month", "unit": "%",
            "numerator_label": "Attendances seen within 4 hours",
            "denominator_label": "Attendances",
            "description": "Percentage of A&E attendances admitted, transferred or discharged "
                           "within 4 hours of arrival.",
            "source": "NHS England, A&E Attendances and Emergency Admissions",
            "source_url": "https://www.england.nhs.uk/statistics/statistical-work-areas/"
                          "ae-waiting-times-and-activity/",
            "domain": "Urgent and emergency care", "_ref": None,
        })
    return indicators_frame(rows)


def _period_label(text: str) -> str:
    m = _MSITAE.search(text)
    if m and not re.match(r"^\d{4}-\d{2}-\d{2}$", text):
        return parse_period(f"{m.group(1)} {m.group(2)}", "month").label
    return parse_period(text, "month").label


def read(source: Any, kind: Any = None, options: Any = None) -> Extract:
    """Read an A&E extract (long or NHS England wide layout) into 4-hour indicator values."""
    _, options = kind_and_options(kind, options)
    data, name = source_bytes(source, options)
    raw = read_csv_strings(data, name)
    names = {norm(c) for c in raw.columns}
    extract = Extract(source_name=name, format=FORMAT, rows_read=len(raw),
                      create_missing_organisations=True, create_missing_indicators=True)
    refs = csv_refs(len(raw))
    if "attendances over 4hrs type 1" in names:
        long, org_names, parents = _from_wide(raw, refs, name, extract)
    elif {"type", "attendances", "breaches"} <= names:
        cols = match_columns(list(raw.columns), LONG_COLUMNS,
                             required=("period", "org_code", "type", "attendances", "breaches"),
                             file_name=name, format_name="NHS England A&E")
        long = pd.DataFrame({
            "period_raw": raw[cols["period"]], "org_code": raw[cols["org_code"]],
            "type": raw[cols["type"]].str.lower(), "_ref": refs,
            "attendances": parse_numbers(raw[cols["attendances"]], refs, cols["attendances"],
                                         extract.errors)[0],
            "breaches": parse_numbers(raw[cols["breaches"]], refs, cols["breaches"],
                                      extract.errors)[0],
        })
        unknown = ~long["type"].isin(list(TYPES))
        for ref, t in zip(long.loc[unknown, "_ref"], long.loc[unknown, "type"], strict=True):
            extract.errors.append(RowError(ref, cols["type"], t,
                                           f"department type {t!r} is not 1, 2 or other"))
        long = long[~unknown]
        org_names, parents = {}, {}
    else:
        raise FileError(
            f"{name}: not an NHS England A&E file: expected the columns period, org_code, type, "
            "attendances, breaches (or NHS England's 'Org Code', 'A&E attendances Type 1', "
            f"'Attendances over 4hrs Type 1', ...). Columns found: {', '.join(raw.columns[:20])}")
    _finish(long, org_names, parents, extract)
    return extract


def _from_wide(raw: pd.DataFrame, refs: np.ndarray, name: str,
               extract: Extract) -> tuple[pd.DataFrame, dict[str, str], dict[str, str]]:
    cols = match_columns(list(raw.columns), WIDE_COLUMNS, required=WIDE_REQUIRED,
                         file_name=name, format_name="NHS England A&E monthly")
    total = raw[cols["org_code"]].str.upper().isin(["", "-", "TOTAL"])
    if "org_name" in cols:
        total |= raw[cols["org_name"]].str.upper().str.strip() == "TOTAL"
    if total.any():
        extract.notes.append(f"{int(total.sum())} total row(s) skipped (England totals are "
                             "computed from the providers)")
    keep = ~total.to_numpy()
    frames = []
    for key, suffix in (("1", "1"), ("2", "2"), ("other", "other")):
        att = parse_numbers(raw[cols[f"att_{suffix}"]], refs, cols[f"att_{suffix}"],
                            extract.errors)[0]
        br = parse_numbers(raw[cols[f"br_{suffix}"]], refs, cols[f"br_{suffix}"],
                           extract.errors)[0]
        for extra, target in ((f"att_booked_{suffix}", "att"), (f"br_booked_{suffix}", "br")):
            if extra in cols:
                more = parse_numbers(raw[cols[extra]], refs, cols[extra], extract.errors)[0]
                more = np.nan_to_num(more)
                if target == "att":
                    att = att + more
                else:
                    br = br + more
        frames.append(pd.DataFrame({
            "period_raw": raw[cols["period"]].to_numpy(object)[keep],
            "org_code": raw[cols["org_code"]].to_numpy(object)[keep], "type": key,
            "_ref": refs[keep], "attendances": att[keep], "breaches": br[keep],
        }))
    kept = raw[keep]
    org_names = dict(zip(kept[cols["org_code"]], kept[cols["org_name"]], strict=True)) \
        if "org_name" in cols else {}
    parents = dict(zip(kept[cols["org_code"]], kept[cols["parent"]], strict=True)) \
        if "parent" in cols else {}
    return pd.concat(frames, ignore_index=True), org_names, parents


def _finish(long: pd.DataFrame, org_names: dict[str, str], parents: dict[str, str],
            extract: Extract) -> None:
    errors = extract.errors
    labels: dict[str, str | None] = {}
    for label in long["period_raw"].unique():
        try:
            labels[label] = _period_label(label)
        except PeriodError as exc:
            labels[label] = None
            for ref in long.loc[long["period_raw"] == label, "_ref"]:
                errors.append(RowError(ref, "period", label, str(exc)))
    long = long.assign(period=long["period_raw"].map(labels))
    long = long[long["period"].notna()]
    over = long["breaches"] > long["attendances"]
    for ref in long.loc[over, "_ref"]:
        errors.append(RowError(ref, "breaches", None, "more breaches than attendances; check "
                                                      "the row"))
    long = long[~over]
    # Rows without attendances have no 4-hour figure (a department that saw nobody).
    usable = long["attendances"].notna() & long["breaches"].notna() & (long["attendances"] > 0)
    skipped = int((~usable).sum())
    if skipped:
        extract.notes.append(f"{skipped} provider-month-type row(s) with no attendances have no "
                             "4-hour figure and were skipped")
    long = long[usable]
    dup = long.duplicated(["org_code", "period", "type"], keep="first")
    for ref in long.loc[dup, "_ref"]:
        errors.append(RowError(ref, "org_code", None, "the same provider, month and type "
                                                      "appears twice; keep one row"))
    long = long[~dup]
    per_type = pd.DataFrame({
        "org_code": long["org_code"],
        "indicator_id": "ae-4hr-" + long["type"].map(lambda t: TYPES[t][0]),
        "period": long["period"], "numerator": long["attendances"] - long["breaches"],
        "denominator": long["attendances"], "_ref": long["_ref"],
    })
    grouped = long.groupby(["org_code", "period"], sort=False)
    total = grouped[["attendances", "breaches"]].sum()
    first_ref = grouped["_ref"].first()
    all_types = pd.DataFrame({
        "org_code": total.index.get_level_values(0),
        "indicator_id": "ae-4hr-all",
        "period": total.index.get_level_values(1),
        "numerator": (total["attendances"] - total["breaches"]).to_numpy(),
        "denominator": total["attendances"].to_numpy(),
        "_ref": first_ref.to_numpy(),
    })
    values = pd.concat([per_type, all_types], ignore_index=True)
    values["value"] = values["numerator"] / values["denominator"] * 100.0
    extract.values = values_frame({c: values[c].to_numpy() for c in values.columns})
    extract.indicators = indicator_definitions()
    codes = pd.unique(long["org_code"])
    first = long.drop_duplicates("org_code").set_index("org_code")["_ref"]
    if not org_names:
        extract.notes.append("the file names no providers: providers missing from the database "
                             "are created with their code as name and type trust; load an "
                             "organisations file to name them")
    extract.organisations = orgs_frame({
        "org_code": codes,
        "name": [org_names.get(c) or c for c in codes],
        "org_type": "trust",
        "attributes": [{"nhs_region": parents[c]} if parents.get(c) else None for c in codes],
        "_ref": first.reindex(codes).to_numpy(object),
    })
