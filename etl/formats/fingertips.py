"""Reader for the standard Fingertips data export (OHID), the 27-column CSV.

Fingertips (https://fingertips.phe.org.uk) exports one row per indicator x area x sex x age x
category x time period, with the published value, 95% and 99.8% intervals, count and
denominator. This reader keeps the published value and the 95% interval (``lower_ci``/
``upper_ci``, for comparison with ours), the count as numerator and the denominator.

Choices, and why
----------------
* **Breakdowns.** By default a load takes the ``Persons`` rows at each indicator's own age band
  (the age most of its rows carry) without a category breakdown: that is the headline series
  Fingertips shows. Other breakdowns are chosen with options ``sexes``, ``ages`` and
  ``categories`` (a list, or ``"all"``); each non-default breakdown becomes its own indicator
  id, ``<Indicator ID>-female``, ``<id>-18-64-yrs``, ``<id>-<category type>-<category>``,
  because an indicator's values must be comparable across organisations.
* **Indicators** missing from the database are created with the name from the file. The export
  does not state the value type, so it is inferred from the numbers: when ``value =
  count / denominator x m`` on the rows that have all three, the indicator is a proportion
  (m = 100) or a rate per m (1,000, 10,000, 100,000); when there is no count or denominator (a
  score such as IMD) or the value is not such a ratio (age-standardised rates), it is loaded as a
  published value (value_type ``mean``, multiplier 1) and the load notes say so. Polarity is read
  from "Compared to England" (``Better``/``Worse`` against the England value); otherwise it is
  ``no_judgement`` with a note.
* **Organisations** missing from the database are created with their parents. ``Area Type``
  names map to qidash organisation types through :data:`AREA_TYPES`; a parent's type comes from
  its own rows when the file has them, else from the pattern of its code (:data:`CODE_TYPES`).
* **Periods**: ``2019`` (year), ``2019/20`` (financial year), ``2019 Q1`` (calendar quarter),
  ``2019/20 Q1`` (financial quarter: April-June 2019, stored as the calendar quarter 2019-Q2),
  ``Apr 2020`` (month). Pooled periods (``2017 - 19``) have no single period and are reported.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from core.periods import AmbiguousPeriod, PeriodError, parse_period
from etl.extract import Extract, RowError
from etl.formats._importer_util import (
    csv_refs,
    head_header,
    indicators_frame,
    kind_and_options,
    match_columns,
    none_if_blank,
    norm,
    opt,
    orgs_frame,
    parse_numbers,
    read_csv_strings,
    slug,
    source_bytes,
    values_frame,
)

FORMAT = "fingertips"
KINDS = ("values",)
ENGLAND = "E92000001"

#: The declared mapping: canonical name -> the Fingertips header text(s) that mean it.
COLUMNS: dict[str, tuple[str, ...]] = {
    "indicator_code": ("Indicator ID",),
    "indicator_name": ("Indicator Name",),
    "parent_code": ("Parent Code",),
    "parent_name": ("Parent Name",),
    "org_code": ("Area Code",),
    "org_name": ("Area Name",),
    "area_type": ("Area Type",),
    "sex": ("Sex",),
    "age": ("Age",),
    "category_type": ("Category Type",),
    "category": ("Category",),
    "period": ("Time period",),
    "value": ("Value",),
    "lower_ci": ("Lower CI 95.0 limit", "Lower CI 95 limit"),
    "upper_ci": ("Upper CI 95.0 limit", "Upper CI 95 limit"),
    "numerator": ("Count",),
    "denominator": ("Denominator",),
    "note": ("Value note",),
    "compared": ("Compared to England value or percentiles",),
}
REQUIRED = ("indicator_code", "indicator_name", "org_code", "org_name", "area_type", "sex", "age",
            "period", "value")

#: Fingertips area type names (matched in order, on lower-case text) -> qidash org_type.
AREA_TYPES: tuple[tuple[str, str], ...] = (
    (r"^england$", "nation"),
    (r"^gps?\b|general practice", "practice"),
    (r"\bpcns?\b|primary care network", "pcn"),
    (r"sub-icb|\bccgs?\b|clinical commissioning", "sub_icb"),
    (r"\bicbs?\b|integrated care board|\bstps?\b|sustainability and transformation", "icb"),
    (r"nhs region|nhs england region|^regions?\b", "region"),
    (r"\btrusts?\b|acute", "trust"),
    (r"count(y|ies)|district|\buas?\b|unitary|local authorit|london borough", "local_authority"),
)
#: Code patterns for parents that have no rows of their own in the file.
CODE_TYPES: tuple[tuple[str, str], ...] = (
    (r"^E92\d{6}$", "nation"),
    (r"^E40\d{6}$", "region"),
    (r"^E12\d{6}$", "region"),
    (r"^E54\d{6}$", "icb"),
    (r"^E38\d{6}$", "sub_icb"),
    (r"^E(0[6-9]|10|11)\d{6}$", "local_authority"),
    (r"^U\d{5}$", "pcn"),
    (r"^[A-Z]\d{5}$", "practice"),
    (r"^Q[A-Z0-9]{2}$", "icb"),
    (r"^Y\d{2}$", "region"),
    (r"^\d{2}[A-Z]$", "sub_icb"),
    (r"^R[A-Z0-9]{2}$", "trust"),
)
_FY_QUARTER = re.compile(r"^(\d{4})\s*/\s*(\d{2})\s+Q([1-4])$", re.I)
_RATE_MULTIPLIERS = (100.0, 1000.0, 10000.0, 100000.0)


def org_type_of_area_type(area_type: str) -> str | None:
    """The qidash organisation type of a Fingertips area type name (None when unknown)."""
    text = norm(area_type)
    for pattern, org_type in AREA_TYPES:
        if re.search(pattern, text):
            return org_type
    return None


def org_type_of_code(code: str) -> str | None:
    """The organisation type an ODS/ONS code's pattern suggests (None when unknown)."""
    for pattern, org_type in CODE_TYPES:
        if re.match(pattern, code):
            return org_type
    return None


def canonical_period(label: str, period_type: str | None = None) -> str:
    """A Fingertips time period label as a qidash period label (raises PeriodError)."""
    text = label.strip()
    if m := _FY_QUARTER.match(text):
        # Financial quarter Q1 = April-June of the first year: calendar Q2.
        year, q = int(m.group(1)), int(m.group(3))
        cal_year, cal_q = (year, q + 1) if q < 4 else (year + 1, 1)
        return f"{cal_year:04d}-Q{cal_q}"
    if re.match(r"^\d{4}\s*-\s*\d{2,4}$", text) and " " in text:
        raise PeriodError(
            f"{text!r} is a pooled period of several years; qidash stores single periods "
            "(load a single-year export of this indicator, or aggregate it yourself)"
        )
    return parse_period(text, period_type).label


def sniff(head: Any) -> bool:
    """True when the head (bytes or a frame) has the Fingertips export header."""
    header = head_header(head)
    if not header:
        return False
    names = {norm(h) for h in header}
    return {"indicator id", "area code", "area type", "time period", "value"} <= names


def detect(source: Any) -> bool:
    """Does the pipeline's ``Source`` look like this format (by its first bytes)?"""
    return sniff(source.head())


def _selection(value: Any) -> set[str] | str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return "all" if value.lower() == "all" else {norm(v) for v in value.split(",")}
    return {norm(v) for v in value}


def read(source: Any, kind: Any = None, options: Any = None) -> Extract:
    """Read a Fingertips export into organisations, indicators and values.

    Options: ``sexes`` (default ``["Persons"]``), ``ages`` (default: each indicator's own age
    band), ``categories`` (category types or categories; default none), each a list or
    ``"all"``; ``period_type`` to decide ambiguous labels; ``id_prefix`` for indicator ids.
    """
    _, options = kind_and_options(kind, options)
    data, name = source_bytes(source, options)
    raw = read_csv_strings(data, name)
    cols = match_columns(list(raw.columns), COLUMNS, required=REQUIRED, file_name=name,
                         format_name="Fingertips export")
    extract = Extract(source_name=name, format=FORMAT, rows_read=len(raw),
                      create_missing_organisations=True, create_missing_indicators=True)
    if raw.empty:
        extract.errors.append(RowError(None, None, None, f"{name}: has a header but no rows"))
        return extract

    def col(key: str) -> pd.Series:
        return raw[cols[key]] if key in cols else pd.Series([""] * len(raw), index=raw.index)

    refs = csv_refs(len(raw))
    frame = pd.DataFrame({
        "code": col("indicator_code"), "iname": col("indicator_name"),
        "org_code": col("org_code"), "org_name": col("org_name"), "area_type": col("area_type"),
        "parent_code": col("parent_code"), "parent_name": col("parent_name"),
        "sex": col("sex"), "age": col("age"), "cat_type": col("category_type"),
        "cat": col("category"), "period_raw": col("period"), "note": col("note"),
        "compared": col("compared"), "_ref": refs,
    })
    errors = extract.errors
    for key in ("value", "lower_ci", "upper_ci", "numerator", "denominator"):
        if key in cols:
            values, suppressed, _bad = parse_numbers(raw[cols[key]], refs, cols[key], errors)
        else:
            values, suppressed = np.full(len(raw), np.nan), np.zeros(len(raw), dtype=bool)
        frame[key] = values
        if key == "value":
            frame["value_marker"] = suppressed

    for key, label in (("code", "Indicator ID"), ("org_code", "Area Code")):
        empty = frame[key] == ""
        for ref in frame.loc[empty, "_ref"]:
            errors.append(RowError(ref, cols["indicator_code" if key == "code" else "org_code"],
                                   "", f"{label} is empty; every row needs one"))
        frame = frame[~empty]

    frame = _select_breakdowns(frame, options, extract)
    frame = _with_periods(frame, opt(options, "period_type"), errors)
    prefix = str(opt(options, "id_prefix", ""))
    frame["indicator_id"] = prefix + frame["indicator_id"]

    # A row with nothing published is not a value; a suppressed one is kept as suppressed.
    suppressed = frame["value_marker"] | (
        frame["value"].isna() & frame["note"].str.contains("suppress", case=False, regex=False)
    )
    empty = frame[["value", "numerator", "denominator"]].isna().all(axis=1) & ~suppressed
    if empty.any():
        extract.notes.append(f"{int(empty.sum())} row(s) with no value, count or denominator "
                             "were skipped (nothing published)")
    frame = frame[~empty].assign(suppressed=suppressed[~empty])
    frame = _drop_duplicates(frame, errors, extract)

    extract.values = values_frame({
        "org_code": frame["org_code"].to_numpy(object),
        "indicator_id": frame["indicator_id"].to_numpy(object),
        "period": frame["period"].to_numpy(object),
        "numerator": frame["numerator"].to_numpy(float),
        "denominator": frame["denominator"].to_numpy(float),
        "value": frame["value"].to_numpy(float),
        "lower_ci": frame["lower_ci"].to_numpy(float),
        "upper_ci": frame["upper_ci"].to_numpy(float),
        "suppressed": frame["suppressed"].to_numpy(bool),
        "note": none_if_blank(frame["note"]),
        "_ref": frame["_ref"].to_numpy(object),
    })
    extract.indicators = _indicators(frame, name, extract)
    extract.organisations = _organisations(frame, extract)
    return extract


def _per_unique(series: pd.Series, fn: Any) -> pd.Series:
    """``series.map(fn)``, calling ``fn`` once per distinct value.

    A national practice export has hundreds of thousands of rows but a handful of distinct
    sexes, ages and categories: mapping every row through Python took seconds.
    """
    return series.map({v: fn(v) for v in series.unique()})


def _select_breakdowns(frame: pd.DataFrame, options: Any, extract: Extract) -> pd.DataFrame:
    """Keep the chosen sexes, ages and categories; give each breakdown its own indicator id."""
    sexes = _selection(opt(options, "sexes", ["Persons"]))
    ages = _selection(opt(options, "ages"))
    categories = _selection(opt(options, "categories"))
    sex_n, age_n = _per_unique(frame["sex"], norm), _per_unique(frame["age"], norm)
    has_cat = (frame["cat_type"] != "") | (frame["cat"] != "")

    # Each indicator's own age band: the age most of its headline rows carry.
    headline = frame[(sex_n == "persons") & ~has_cat]
    basis = headline if not headline.empty else frame
    own_age = basis.groupby("code")["age"].agg(lambda s: s.value_counts().index[0])
    frame = frame.assign(own_age=frame["code"].map(own_age).fillna(frame["age"]))

    keep = pd.Series(True, index=frame.index)
    if sexes != "all":
        keep &= sex_n.isin(sexes)
    if ages is None:
        keep &= frame["age"] == frame["own_age"]
    elif ages != "all":
        keep &= age_n.isin(ages)
    if categories is None:
        keep &= ~has_cat
    elif categories != "all":
        keep &= ~has_cat | _per_unique(frame["cat_type"], norm).isin(categories) \
            | _per_unique(frame["cat"], norm).isin(categories)
    dropped = frame[~keep]
    if not dropped.empty:
        parts = []
        for key, label in (("sex", "sexes"), ("age", "ages"), ("cat_type", "category types")):
            other = sorted(set(dropped[key]) - set(frame.loc[keep, key]) - {""})
            if other:
                parts.append(f"{label}: {', '.join(other[:8])}")
        extract.notes.append(
            f"{len(dropped)} row(s) of other breakdowns were not loaded"
            + (f" ({'; '.join(parts)})" if parts else "")
            + "; choose them with the options sexes, ages or categories (a list or 'all')"
        )
    frame = frame[keep].copy()

    suffix = pd.Series("", index=frame.index)
    name_parts = pd.Series("", index=frame.index)
    not_persons = _per_unique(frame["sex"], norm) != "persons"
    suffix[not_persons] += "-" + _per_unique(frame.loc[not_persons, "sex"], slug)
    name_parts[not_persons] += ", " + frame.loc[not_persons, "sex"]
    other_age = frame["age"] != frame["own_age"]
    suffix[other_age] += "-" + _per_unique(frame.loc[other_age, "age"], slug)
    name_parts[other_age] += ", " + frame.loc[other_age, "age"]
    cat = (frame["cat_type"] != "") | (frame["cat"] != "")
    suffix[cat] += "-" + _per_unique(frame.loc[cat, "cat_type"], slug) + "-" + _per_unique(
        frame.loc[cat, "cat"], slug)
    name_parts[cat] += ", " + frame.loc[cat, "cat_type"] + ": " + frame.loc[cat, "cat"]
    frame["indicator_id"] = frame["code"] + suffix
    frame["indicator_name"] = frame["iname"] + np.where(
        name_parts != "", " (" + name_parts.str[2:] + ")", "")
    return frame


def _with_periods(frame: pd.DataFrame, period_type: str | None,
                  errors: list[RowError]) -> pd.DataFrame:
    labels: dict[str, str | None] = {}
    messages: dict[str, str] = {}
    for label in frame["period_raw"].unique():
        try:
            labels[label] = canonical_period(label, period_type)
        except AmbiguousPeriod as exc:
            labels[label], messages[label] = None, f"{exc} (option period_type)"
        except PeriodError as exc:
            labels[label], messages[label] = None, str(exc)
    frame = frame.assign(period=frame["period_raw"].map(labels))
    bad = frame["period"].isna()
    for ref, label in zip(frame.loc[bad, "_ref"], frame.loc[bad, "period_raw"], strict=True):
        errors.append(RowError(ref, "Time period", label, messages[label]))
    return frame[~bad]


def _drop_duplicates(frame: pd.DataFrame, errors: list[RowError],
                     extract: Extract) -> pd.DataFrame:
    """Exports repeat some rows (England under itself and under no parent): keep one.

    Repeats with different numbers are errors, since either could be the right one.
    """
    key = ["indicator_id", "org_code", "period"]
    dup = frame.duplicated(key, keep=False)
    if not dup.any():
        return frame
    numbers = ["value", "numerator", "denominator", "lower_ci", "upper_ci"]
    same = frame.duplicated([*key, *numbers], keep="first")
    repeated = frame.duplicated(key, keep="first")
    conflicting = repeated & ~same
    if same.any():
        extract.notes.append(f"{int(same.sum())} repeated row(s) (same area, indicator, period "
                             "and numbers) were read once")
    firsts = frame[dup & ~repeated].set_index(key)["_ref"]
    for _, row in frame[conflicting].iterrows():
        first = firsts.get(tuple(row[k] for k in key), "?")
        errors.append(RowError(
            row["_ref"], "Area Code", row["org_code"],
            f"{row['org_code']} {row['indicator_id']} {row['period']} appears again with other "
            f"numbers (first on line {first}); keep one row per area, indicator and period",
        ))
    return frame[~repeated]


def _infer_value_type(group: pd.DataFrame) -> tuple[str, float, str | None]:
    """(value_type, multiplier, note) from how value relates to count / denominator."""
    full = group.dropna(subset=["value", "numerator", "denominator"])
    full = full[(full["denominator"] > 0) & (full["numerator"] > 0)]
    if full.empty:
        return "mean", 1.0, "no count and denominator: loaded as a published value " \
            "(value_type mean, multiplier 1)"
    ratio = full["value"] / (full["numerator"] / full["denominator"])
    med = float(ratio.median())
    close = np.isclose(ratio, med, rtol=0.01).mean() >= 0.95
    if close:
        for m in _RATE_MULTIPLIERS:
            if np.isclose(med, m, rtol=0.01):
                if m == 100.0 and (full["numerator"] <= full["denominator"]).all():
                    return "proportion", 100.0, None
                return "rate", m, None
    return "mean", 1.0, "value is not count / denominator x a constant (e.g. age-standardised):" \
        " loaded as a published value with its published interval (value_type mean)"


def _infer_polarity(group: pd.DataFrame, england: pd.Series) -> str | None:
    """Polarity from Fingertips' own Better/Worse comparison against the England value."""
    compared = group["compared"].str.lower()
    judged = group[compared.str.startswith("better") | compared.str.startswith("worse")]
    if judged.empty:
        return None
    lookup = england.to_dict()
    eng = pd.Series([lookup.get((i, p), np.nan) for i, p in zip(
        judged["indicator_id"], judged["period"], strict=True)], index=judged.index, dtype=float)
    above = judged["value"] > eng
    better = judged["compared"].str.lower().str.startswith("better")
    usable = eng.notna() & judged["value"].notna() & (judged["value"] != eng)
    if not usable.any():
        return None
    agree = (above[usable] == better[usable]).mean()
    if agree >= 0.95:
        return "higher_is_better"
    if agree <= 0.05:
        return "lower_is_better"
    return None


def _indicators(frame: pd.DataFrame, file_name: str, extract: Extract) -> pd.DataFrame:
    england = frame[frame["org_code"] == ENGLAND].set_index(["indicator_id", "period"])["value"]
    england = england[~england.index.duplicated()]
    rows = []
    for indicator_id, group in frame.groupby("indicator_id", sort=True):
        value_type, multiplier, vt_note = _infer_value_type(group)
        polarity = _infer_polarity(group, england)
        if vt_note:
            extract.notes.append(f"indicator {indicator_id}: {vt_note}")
        if polarity is None:
            extract.notes.append(
                f"indicator {indicator_id}: polarity not stated in the export; created as "
                "no_judgement (set it in the indicator definition)")
        types = {parse_period(p).period_type for p in group["period"].unique()}
        first = group.iloc[0]
        rows.append({
            "indicator_id": indicator_id,
            "name": str(first["indicator_name"])[:300],
            "value_type": value_type,
            "multiplier": multiplier,
            "polarity": polarity or "no_judgement",
            "frequency": types.pop() if len(types) == 1 else None,
            "source": f"OHID Fingertips, indicator {first['code']} ({file_name})",
            "numerator_label": "Count" if group["numerator"].notna().any() else None,
            "denominator_label": "Denominator" if group["denominator"].notna().any() else None,
            "_ref": first["_ref"],
        })
    return indicators_frame(rows)


def _organisations(frame: pd.DataFrame, extract: Extract) -> pd.DataFrame:
    areas = frame.drop_duplicates("org_code")
    type_by_code: dict[str, str] = {}
    unknown_types: set[str] = set()
    for code, area_type in zip(areas["org_code"], areas["area_type"], strict=True):
        org_type = org_type_of_area_type(area_type)
        if org_type is None:
            unknown_types.add(area_type)
            org_type = slug(area_type)[:32]
        type_by_code[code] = org_type
    if unknown_types:
        extract.notes.append(
            f"area type(s) {', '.join(sorted(unknown_types))} are not known qidash organisation "
            "types; their organisations were given the area type's name as type")
    # The export repeats England with itself as parent: an organisation is not its own parent.
    parent = areas["parent_code"].where(areas["parent_code"] != areas["org_code"], "")
    parent_types: list[str | None] = []
    for code in parent:
        if not code:
            parent_types.append(None)
            continue
        parent_types.append(type_by_code.get(code) or org_type_of_code(code) or "area")
    if "area" in parent_types:
        extract.notes.append("some parents' types are not in the file nor clear from their "
                             "codes: created as type 'area' (correct them with an organisations "
                             "file)")
    return orgs_frame({
        "org_code": areas["org_code"].to_numpy(object),
        "name": areas["org_name"].to_numpy(object),
        "org_type": areas["org_code"].map(type_by_code).to_numpy(object),
        "parent_code": parent.replace("", None).to_numpy(object),
        "parent_name": areas["parent_name"].where(parent != "", None).to_numpy(object),
        "parent_type": np.array(parent_types, dtype=object),
        "_ref": areas["_ref"].to_numpy(object),
    })
