"""The canonical formats: CSV (UTF-8 with or without BOM, or Windows-1252), XLSX, YAML.

organisations  ``org_code,name,org_type,parent_code`` + any further columns as attributes
               (``is_active`` is read as a flag; ``parent_name``/``parent_type`` create a parent
               that is neither in the file nor in the database)
indicators     ``indicator_id,name,value_type,multiplier,polarity`` + optional fields
               (see :data:`INDICATOR_OPTIONAL`); or YAML: one file, or a folder with one
               indicator per file (lists such as ``thresholds`` and ``tags`` as YAML lists; in a
               CSV as ``90;95``)
values         ``org_code,indicator_id,period`` + ``numerator,denominator`` and/or ``value``
               + optional ``lower_ci,upper_ci,suppressed,note``. Any other column is an error.

A values cell holding a suppression marker (``*``, ``..``, ``-``, ``c``, ``x``, ``~``) is loaded
as a suppressed value (never as zero).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import yaml

from etl.extract import (
    ORG_COLUMNS,
    Extract,
    FileError,
    ReadOptions,
    RowError,
    Source,
)
from etl.formats._common import (
    Table,
    errors_for,
    parse_bools,
    parse_numbers,
    read_csv_chunks,
    read_xlsx,
)

NAME = "canonical"

INDICATOR_REQUIRED = ("indicator_id", "name", "value_type", "multiplier", "polarity")
INDICATOR_OPTIONAL = (
    "description", "why_it_matters", "target", "target_label", "thresholds", "numerator_label",
    "denominator_label", "unit", "source", "source_url", "domain", "tags", "decimals",
    "frequency", "authored_by", "checked_by", "date_reviewed",
)
VALUE_REQUIRED = ("org_code", "indicator_id", "period")
VALUE_NUMBERS = ("numerator", "denominator", "value", "lower_ci", "upper_ci")
VALUE_OPTIONAL = ("suppressed", "note")
ORG_KNOWN = (*ORG_COLUMNS, "parent_name", "parent_type", "is_active")


def detect(source: Source) -> bool:
    """Canonical files are the fallback: any CSV, XLSX or YAML."""
    return source.is_dir or source.suffix in (".csv", ".txt", ".xlsx", ".xlsm", ".yaml", ".yml")


def read(source: Source, kind: str, options: ReadOptions) -> Extract:
    """Read one canonical file of ``kind`` (organisations, indicators or values)."""
    if kind == "indicators" and (source.is_dir or source.suffix in (".yaml", ".yml")):
        return read_indicator_yaml(source)
    if source.is_dir:
        raise FileError(f"{source.name}: is a folder; only indicator YAML files can be a folder")
    header, tables, letters = open_tables(source, options)
    extract = Extract(source_name=source.name, format=NAME, cell_columns=letters)
    if kind == "values":
        errors = check_value_columns(header, header_ref(source, options))
        if errors:
            extract.errors = errors
            return extract
        extract.value_chunks = (values_from_text(t) for t in tables)
        return extract
    table = _concat(tables, header)
    extract.rows_read = len(table.frame)
    if kind == "organisations":
        frame, errors = organisations_from_text(table, header, header_ref(source, options))
        extract.organisations, extract.errors = frame, errors
    elif kind == "indicators":
        frame, errors = indicators_from_text(table, header, header_ref(source, options))
        extract.indicators, extract.errors = frame, errors
    else:
        raise FileError(f"unknown kind {kind!r}; use organisations, indicators or values")
    return extract


def header_ref(source: Source, options: ReadOptions, header_row: int = 1) -> str:
    if source.suffix in (".xlsx", ".xlsm"):
        return f"{options.sheet or 'sheet'}:{header_row}"
    return str(header_row)


def open_tables(
    source: Source, options: ReadOptions, header_row: int = 1
) -> tuple[list[str], Iterator[Table], dict[str, str] | None]:
    """Header and text chunks of a CSV or a workbook sheet."""
    if source.suffix in (".xlsx", ".xlsm"):
        header, table, letters, _sheet = read_xlsx(
            source, sheet=options.sheet, header_row=header_row
        )
        return header, iter([table]), letters
    if source.head(4) == b"PK\x03\x04":
        raise FileError(f"{source.name}: looks like a workbook; name it .xlsx (with --sheet)")
    header, chunks = read_csv_chunks(
        source, header_row=header_row, chunk_rows=options.chunk_rows
    )
    return header, chunks, None


def _concat(tables: Iterator[Table], header: list[str]) -> Table:
    parts = list(tables)
    if not parts:  # a header and no rows: the header's columns, empty
        return Table(pd.DataFrame({h: pd.Series([], dtype=object) for h in header}),
                     pd.Series([], dtype=object))
    if len(parts) == 1:
        return parts[0]
    return Table(
        pd.concat([p.frame for p in parts], ignore_index=True),
        pd.concat([p.refs for p in parts], ignore_index=True),
    )


# values ---------------------------------------------------------------------------------------
def check_value_columns(header: list[str], ref: str) -> list[RowError]:
    """File-level errors: missing required columns, unknown columns (named)."""
    errors = []
    cols = set(header)
    for col in VALUE_REQUIRED:
        if col not in cols:
            errors.append(RowError(ref, col, None,
                                   f"required column {col!r} is missing; the header has: "
                                   + ", ".join(header)))
    if not ({"value"} & cols or {"numerator", "denominator"} <= cols):
        errors.append(RowError(ref, "value", None,
                               "the file needs a 'value' column, or 'numerator' and "
                               "'denominator' columns"))
    known = set(VALUE_REQUIRED) | set(VALUE_NUMBERS) | set(VALUE_OPTIONAL)
    for col in header:
        if col not in known:
            errors.append(RowError(ref, col, None,
                                   f"unexpected column {col!r}: values files have "
                                   + ", ".join((*VALUE_REQUIRED, *VALUE_NUMBERS, *VALUE_OPTIONAL))
                                   + "; remove it, or describe the layout with --mapping"))
    return errors


def values_from_text(
    table: Table,
    *,
    markers: tuple[str, ...] | list[str] | None = None,
    thousands: str | None = None,
    percent: bool = False,
) -> tuple[pd.DataFrame, list[RowError]]:
    """Canonical values frame (numbers parsed) and the cells that are not numbers."""
    f, refs = table.frame, table.refs
    n = len(f)
    kwargs: dict[str, Any] = {"thousands": thousands, "percent": percent}
    if markers is not None:
        kwargs["markers"] = markers
    out: dict[str, Any] = {
        "org_code": _text(f, "org_code", n),
        "indicator_id": _text(f, "indicator_id", n),
        "period": _text(f, "period", n),
    }
    errors: list[RowError] = []
    suppressed = np.zeros(n, bool)
    for col in VALUE_NUMBERS:
        if col in f.columns:
            nums = parse_numbers(f[col], **kwargs)
            out[col] = nums.values
            suppressed |= nums.suppressed
            errors += errors_for(nums.bad, refs, col, f[col],
                                 "{value!r} is not a number (or too large or too small to "
                                 "hold); write a number, leave the cell blank, or use a "
                                 "suppression marker such as *")
        else:
            out[col] = np.full(n, np.nan)
    if "suppressed" in f.columns:
        flag, bad = parse_bools(f["suppressed"])
        suppressed |= flag
        errors += errors_for(bad, refs, "suppressed", f["suppressed"],
                             "{value!r} is not yes/no; write true or false")
    out["suppressed"] = suppressed
    out["note"] = _text(f, "note", n)
    # the references as they are (a column of pandas' strings for a CSV: not converted)
    out["_ref"] = refs.reset_index(drop=True)
    return pd.DataFrame(out), errors


def _text(f: pd.DataFrame, col: str, n: int) -> Any:
    if col in f.columns:
        s = f[col].reset_index(drop=True)
        return s if pd.api.types.is_string_dtype(s.dtype) and s.dtype != object else (
            s.astype(object).where(s.notna(), None).to_numpy())
    return np.full(n, None, dtype=object)


# organisations --------------------------------------------------------------------------------
def organisations_from_text(
    table: Table, header: list[str], ref: str
) -> tuple[pd.DataFrame | None, list[RowError]]:
    """Canonical organisations frame: further columns become attributes."""
    errors = [
        RowError(ref, col, None, f"required column {col!r} is missing; the header has: "
                 + ", ".join(header))
        for col in ("org_code", "name", "org_type") if col not in header
    ]
    if errors:
        return None, errors
    f, refs = table.frame, table.refs
    n = len(f)
    out: dict[str, Any] = {c: _text(f, c, n) for c in (*ORG_COLUMNS, "parent_name", "parent_type")}
    if "is_active" in f.columns:
        flag, bad = parse_bools(f["is_active"])
        blank = f["is_active"].isna().to_numpy()
        out["is_active"] = np.where(blank, np.array(None, dtype=object), flag).astype(object)
        errors += errors_for(bad, refs, "is_active", f["is_active"],
                             "{value!r} is not yes/no; write true or false")
    else:
        out["is_active"] = np.full(n, None, dtype=object)
    attr_cols = [c for c in header if c not in ORG_KNOWN]
    out["attributes"] = attributes_from_columns(f, attr_cols)
    # the references as they are (a column of pandas' strings for a CSV: not converted)
    out["_ref"] = refs.reset_index(drop=True)
    return pd.DataFrame(out), errors


def attributes_from_columns(f: pd.DataFrame, cols: list[str]) -> list[dict[str, Any]]:
    """One dict per row of the further columns (numbers as numbers; blanks left out)."""
    n = len(f)
    if not cols:
        return [{} for _ in range(n)]
    parsed = {}
    for c in cols:
        nums = parse_numbers(f[c], markers=())
        text = f[c].astype(object).to_numpy()
        vals = np.where(np.isnan(nums.values), text, nums.values).astype(object)
        ints = ~np.isnan(nums.values) & (np.mod(np.nan_to_num(nums.values), 1) == 0)
        vals[ints] = nums.values[ints].astype("int64")
        blank = f[c].isna().to_numpy()
        parsed[c] = (vals, blank)
    rows = []
    for i in range(n):
        rows.append({c: _plain(v[i]) for c, (v, b) in parsed.items() if not b[i]})
    return rows


def _plain(v: Any) -> Any:
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    return v


# indicators -----------------------------------------------------------------------------------
def indicators_from_text(
    table: Table, header: list[str], ref: str
) -> tuple[pd.DataFrame | None, list[RowError]]:
    """Canonical indicators frame from a CSV/XLSX table (lists as ``a;b``)."""
    errors = [
        RowError(ref, col, None, f"required column {col!r} is missing; the header has: "
                 + ", ".join(header))
        for col in INDICATOR_REQUIRED if col not in header
    ]
    known = set(INDICATOR_REQUIRED) | set(INDICATOR_OPTIONAL)
    errors += [
        RowError(ref, col, None, f"unexpected column {col!r}; indicator files have "
                 + ", ".join((*INDICATOR_REQUIRED, *INDICATOR_OPTIONAL)))
        for col in header if col not in known
    ]
    if errors:
        return None, errors
    f = table.frame
    n = len(f)
    out = {c: _text(f, c, n) for c in (*INDICATOR_REQUIRED, *INDICATOR_OPTIONAL)}
    out["_ref"] = table.refs.to_numpy()
    return pd.DataFrame(out), []


def read_indicator_yaml(source: Source) -> Extract:
    """Indicators from one YAML file (a mapping, or a list of mappings) or a folder of them."""
    extract = Extract(source_name=source.name, format=NAME)
    docs: list[tuple[str, Any]] = []
    if source.is_dir:
        assert source.path is not None
        files = sorted(p for p in source.path.iterdir() if p.suffix.lower() in (".yaml", ".yml"))
        if not files:
            raise FileError(f"{source.name}: the folder has no .yaml files")
        for p in files:
            docs.append((p.name, _load_yaml(p.name, p.read_bytes())))
    else:
        with source.open() as fh:
            docs.append((source.name, _load_yaml(source.name, fh.read())))
    rows = []
    for name, doc in docs:
        items = doc if isinstance(doc, list) else [doc]
        for i, item in enumerate(items):
            ref = name if len(items) == 1 else f"{name}#{i + 1}"
            if not isinstance(item, dict):
                extract.errors.append(RowError(ref, None, None,
                                               "expected a mapping of indicator fields "
                                               "(indicator_id: ..., name: ...)"))
                continue
            item = dict(item)
            if "id" in item and "indicator_id" not in item:
                item["indicator_id"] = item.pop("id")
            unknown = set(item) - set(INDICATOR_REQUIRED) - set(INDICATOR_OPTIONAL)
            for key in sorted(unknown):
                extract.errors.append(RowError(ref, str(key), None,
                                               f"unknown field {key!r}; indicator fields are "
                                               + ", ".join((*INDICATOR_REQUIRED,
                                                            *INDICATOR_OPTIONAL))))
            for key in INDICATOR_REQUIRED:
                if item.get(key) in (None, ""):
                    extract.errors.append(RowError(ref, key, None,
                                                   f"{key} is required; add '{key}: ...'"))
            item["_ref"] = ref
            rows.append(item)
    cols = [*INDICATOR_REQUIRED, *INDICATOR_OPTIONAL, "_ref"]
    frame = pd.DataFrame([{c: r.get(c) for c in cols} for r in rows], columns=cols, dtype=object)
    extract.indicators = frame
    extract.rows_read = len(frame)
    return extract


def _load_yaml(name: str, data: bytes) -> Any:
    try:
        return yaml.safe_load(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise FileError(f"{name}: YAML files must be UTF-8 text") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise FileError(f"{name}: not valid YAML{where}: {exc}") from None
