"""Reader for NHS Digital "Patients Registered at a GP Practice" (practice totals).

The monthly publication (https://digital.nhs.uk/data-and-information/publications/statistical/
patients-registered-at-a-gp-practice) has a practice-level CSV ``gp-reg-pat-prac-all.csv``:
``PUBLICATION, EXTRACT_DATE, TYPE, CCG_CODE, ONS_CCG_CODE, CODE, POSTCODE, SEX, AGE,
NUMBER_OF_PATIENTS`` with ``SEX = ALL`` and ``AGE = ALL`` for the totals. Later releases name the
commissioner columns ``SUB_ICB_LOCATION_CODE``/``ICB_CODE``; only the columns below are needed.

A list size is used two ways, and this reader gives both:

* as the organisation attribute ``list_size`` (with ``list_size_date``, the extract date), an
  **attributes-only** update: the extract's ``organisations`` frame has only ``org_code`` and
  ``attributes``, and ``extract.attributes_only`` is True. The pipeline merges the attributes
  into existing practices and changes nothing else (name, type, parent, status); a code not in
  the database is reported, not created (this file has no practice names).
* as values of the indicator ``registered_patients`` (value_type ``count``, multiplier 1,
  ``no_judgement``, monthly), numerator = value = patients: a denominator source for local
  indicators and the size axis of peer groups.

Rows of other sexes or ages (the single-year-of-age files) are skipped: only ALL/ALL totals are
list sizes.
"""

from __future__ import annotations

import datetime as dt
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

FORMAT = "list-sizes"
KINDS = ("organisations", "values")
INDICATOR_ID = "registered_patients"

#: The declared mapping: canonical name -> header text(s).
COLUMNS = {
    "org_code": ("CODE", "PRACTICE_CODE", "ORG_CODE"),
    "extract_date": ("EXTRACT_DATE",),
    "sex": ("SEX",),
    "age": ("AGE",),
    "patients": ("NUMBER_OF_PATIENTS",),
    "type": ("TYPE", "ORG_TYPE"),
}
REQUIRED = ("org_code", "extract_date", "patients")


def sniff(head: Any) -> bool:
    """True for the practice list-size CSV header."""
    header = head_header(head)
    if not header:
        return False
    names = {norm(h) for h in header}
    return {"extract_date", "number_of_patients"} <= names and bool(
        names & {"code", "practice_code", "org_code"})


def detect(source: Any) -> bool:
    """Does the pipeline's ``Source`` look like a list-size file?"""
    return sniff(source.head())


def _extract_period(text: str) -> tuple[str, str]:
    """(``2021-01``, ``2021-01-01``) from ``01JAN2021`` (or an ISO date)."""
    for fmt in ("%d%b%Y", "%Y-%m-%d", "%d/%m/%Y"):
        try:
            date = dt.datetime.strptime(text.strip().title() if fmt == "%d%b%Y" else text.strip(),
                                        fmt).date()
        except ValueError:
            continue
        return parse_period(date.isoformat(), "month").label, date.isoformat()
    raise PeriodError(f"{text!r} is not an extract date (like 01JAN2021)")


def indicator_definition() -> pd.DataFrame:
    """The ``registered_patients`` indicator."""
    return indicators_frame([{
        "indicator_id": INDICATOR_ID, "name": "Registered patients (list size)",
        "value_type": "count", "multiplier": 1.0, "polarity": "no_judgement",
        "frequency": "month", "unit": "patients", "decimals": 0,
        "numerator_label": "Patients registered", "denominator_label": None,
        "description": "Patients registered at the practice on the extract date (all sexes, "
                       "all ages).",
        "source": "NHS Digital, Patients Registered at a GP Practice",
        "source_url": "https://digital.nhs.uk/data-and-information/publications/statistical/"
                      "patients-registered-at-a-gp-practice",
        "domain": "Population", "_ref": None,
    }])


def read(source: Any, kind: Any = None, options: Any = None) -> Extract:
    """Read practice list sizes: attributes-only organisations and ``registered_patients``."""
    kind, options = kind_and_options(kind, options)
    data, name = source_bytes(source, options)
    raw = read_csv_strings(data, name)
    cols = match_columns(list(raw.columns), COLUMNS, required=REQUIRED, file_name=name,
                         format_name="GP practice list-size (gp-reg-pat-prac-all)")
    extract = Extract(source_name=name, format=FORMAT, rows_read=len(raw),
                      create_missing_indicators=True, attributes_only=True)
    refs = csv_refs(len(raw))
    keep = np.ones(len(raw), dtype=bool)
    for key in ("sex", "age"):
        if key in cols:
            keep &= (raw[cols[key]].str.upper() == "ALL").to_numpy()
    if "type" in cols:
        keep &= raw[cols["type"]].str.upper().isin(["GP", ""]).to_numpy()
    if not keep.any():
        raise FileError(f"{name}: no practice rows with SEX = ALL and AGE = ALL; use the "
                        "'all patients' practice file (gp-reg-pat-prac-all.csv)")
    if not keep.all():
        extract.notes.append(f"{int((~keep).sum())} row(s) by sex, age or non-practice type "
                             "were skipped (only ALL/ALL practice totals are list sizes)")
    frame = raw[keep]
    refs = refs[keep]
    patients = parse_numbers(frame[cols["patients"]], refs, cols["patients"], extract.errors)[0]
    periods: dict[str, tuple[str, str] | None] = {}
    for label in frame[cols["extract_date"]].unique():
        try:
            periods[label] = _extract_period(label)
        except PeriodError as exc:
            periods[label] = None
            for ref in refs[(frame[cols["extract_date"]] == label).to_numpy()]:
                extract.errors.append(RowError(ref, cols["extract_date"], label, str(exc)))
    found = {k: v for k, v in periods.items() if v is not None}
    period = frame[cols["extract_date"]].map(lambda v: found[v][0] if v in found else None)
    date = frame[cols["extract_date"]].map(lambda v: found[v][1] if v in found else None)
    negative = patients < 0
    for ref in refs[negative]:
        extract.errors.append(RowError(ref, cols["patients"], None,
                                       "a negative number of patients; check the row"))
    ok = ~np.isnan(patients) & ~negative & period.notna().to_numpy()
    codes = frame[cols["org_code"]].to_numpy(object)
    dup = pd.Series(codes).duplicated(keep="first").to_numpy() & ok
    for ref, code in zip(refs[dup], codes[dup], strict=True):
        extract.errors.append(RowError(ref, cols["org_code"], code,
                                       f"practice {code} appears twice; keep one row"))
    ok &= ~dup
    extract.organisations = orgs_frame({
        "org_code": codes[ok],
        "attributes": [{"list_size": int(n), "list_size_date": d}
                       for n, d in zip(patients[ok], date.to_numpy(object)[ok], strict=True)],
        "_ref": refs[ok],
    })  # name, type and parent stay None: the pipeline must merge attributes only
    extract.values = values_frame({
        "org_code": codes[ok], "indicator_id": INDICATOR_ID,
        "period": period.to_numpy(object)[ok], "numerator": patients[ok],
        "value": patients[ok], "_ref": refs[ok],
    })
    extract.indicators = indicator_definition()
    return extract
