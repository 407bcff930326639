"""``--mapping map.yaml``: adapt any other CSV/XLSX layout to the canonical columns.

A mapping file is YAML; every key is optional::

    sheet: Practices          # the workbook sheet (XLSX); --sheet overrides it
    header_row: 3             # the line (CSV) or row (XLSX) holding the column names
    columns:                  # canonical column: the header in the file (matched ignoring
      org_code: PRACTICE      #   case and padding)
      period: PERIOD
      value: ITEMS
    constants:                # the same value on every row (e.g. one period per file)
      indicator_id: items_per_practice
    wide:                     # one column (pair) per indicator, unpivoted to one row each
      - indicator_id: mmr1_24m
        numerator: MMR1 vaccinated
        denominator: Children aged 24 months
      - indicator_id: dtap_24m
        value: DTaP %
    suppression: ["*", "..", "-", "c", ""]   # cells that mean "suppressed" ("" = blank cells)
    numbers: {thousands: ",", percent: true} # 1,234 and 95.2% read as 1234 and 95.2
    ignore: [SHA, PCT]        # columns dropped on purpose
    ignore_other_columns: false   # true: drop every column not mentioned
    aggregate: sum            # values: add up rows with the same key (line-level extracts)
    # aggregate: mean         # or: one raw value per row (e.g. a patient's wait) -> the
                              #   mean per key with its Student-t 95% interval (phe_mean)

Columns of the file that the mapping neither uses nor ignores are errors (named), so that a
changed extract layout is noticed instead of silently half-loaded. For organisations, such
columns become attributes, as in the canonical format.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd

from core.stats import mean_of_values
from etl.extract import Extract, FileError, ReadOptions, RowError, Source
from etl.formats import canonical
from etl.formats._common import Table

NAME = "mapping"

_KEYS = {"sheet", "header_row", "columns", "constants", "wide", "suppression", "numbers",
         "ignore", "ignore_other_columns", "aggregate", "kind", "period_type", "description"}


class MappingError(FileError):
    """A mapping file that does not fit the data file (missing header, bad key)."""


def _norm(h: object) -> str:
    return " ".join(str(h).split()).lower()


def _check_spec(spec: dict[str, Any] | None, label: str, kind: str) -> int:
    """The mapping's keys and its ``kind`` (if it names one) against ``kind``; returns its
    header row (counted from 1)."""
    if not spec:
        raise MappingError("--format mapping needs --mapping map.yaml")
    unknown = set(spec) - _KEYS
    if unknown:
        raise MappingError(f"{label}: unknown key(s) {', '.join(sorted(unknown))}; a mapping has "
                           + ", ".join(sorted(_KEYS)))
    if spec.get("kind") and spec["kind"] != kind:
        raise MappingError(f"{label} describes {spec['kind']}, not {kind}")
    header_row = int(spec.get("header_row", 1))
    if header_row < 1:
        raise MappingError(f"{label}: header_row counts from 1")
    return header_row


def _wide_columns(wide: list[dict[str, Any]], resolve: Callable[[str, str], str],
                  label: str) -> list[dict[str, str]]:
    """The ``wide`` entries (one indicator's columns each) with the file's column names."""
    wide_cols: list[dict[str, str]] = []
    for i, entry in enumerate(wide):
        if not isinstance(entry, dict) or "indicator_id" not in entry:
            raise MappingError(f"{label}: wide[{i}] needs an indicator_id and its columns")
        cols = {k: resolve(str(v), f"wide[{i}].{k}") for k, v in entry.items()
                if k in ("numerator", "denominator", "value", "lower_ci", "upper_ci", "note")}
        if not cols:
            raise MappingError(f"{label}: wide[{i}] names no numerator/denominator/value column")
        wide_cols.append({"indicator_id": str(entry["indicator_id"]), **cols})
    return wide_cols


def _check_values_mapping(label: str, mapped: set[str], constants: dict[str, Any],
                          wide_cols: list[dict[str, str]]) -> None:
    """A values mapping gives every column a values file needs (``mapped``: the canonical
    names the columns are renamed to)."""
    given = mapped | set(constants)
    if not wide_cols:
        missing = [c for c in canonical.VALUE_REQUIRED if c not in given]
        have_value = {"value"} & given or {"numerator", "denominator"} <= mapped
        if missing or not have_value:
            raise MappingError(
                f"{label}: the mapping gives no column for "
                + ", ".join(missing or ["value (or numerator and denominator)"])
                + "; add it under columns or constants")
    else:
        missing = [c for c in ("org_code", "period") if c not in given]
        if missing:
            raise MappingError(f"{label}: the mapping gives no column for "
                               + ", ".join(missing))


def read(source: Source, kind: str, options: ReadOptions) -> Extract:
    """Read ``source`` as described by ``options.mapping``."""
    spec = options.mapping
    label = options.mapping_name or "mapping"
    header_row = _check_spec(spec, label, kind)
    assert spec is not None  # checked
    sheet = options.sheet or spec.get("sheet")
    opts = ReadOptions(sheet=sheet, chunk_rows=options.chunk_rows)
    header, tables, letters = canonical.open_tables(source, opts, header_row)
    by_norm = {_norm(h): h for h in header}
    columns: dict[str, str] = {str(k): str(v) for k, v in (spec.get("columns") or {}).items()}
    constants: dict[str, Any] = dict(spec.get("constants") or {})
    wide: list[dict[str, Any]] = list(spec.get("wide") or [])
    ignore = {_norm(c) for c in spec.get("ignore") or []}
    hdr_ref = (f"{sheet or 'sheet'}:{header_row}" if source.suffix in (".xlsx", ".xlsm")
               else str(header_row))

    def resolve(col: str, what: str) -> str:
        if _norm(col) not in by_norm:
            raise MappingError(
                f"{label}: {what} names the column {col!r}, which {source.name} does not have "
                f"(its header on line {header_row}: {', '.join(header)})")
        return by_norm[_norm(col)]

    rename = {resolve(src, f"columns.{canon}"): canon for canon, src in columns.items()}
    wide_cols = _wide_columns(wide, resolve, label)
    used = set(rename) | {c for w in wide_cols for k, c in w.items() if k != "indicator_id"}
    extra = [h for h in header if h not in used and _norm(h) not in ignore]
    errors: list[RowError] = []
    if extra and not spec.get("ignore_other_columns") and kind != "organisations":
        errors += [RowError(hdr_ref, h, None,
                            f"column {h!r} is not used by the mapping {label}; map it under "
                            "columns, or list it under ignore") for h in extra]
    for h in [h for h in header if _norm(h) in ignore or (
            spec.get("ignore_other_columns") and h not in used)]:
        rename.setdefault(h, f"__ignored__{h}")
    cell_columns = None
    if letters:
        cell_columns = {**{rename.get(h, h): letters[h] for h in header}, **letters}
    extract = Extract(source_name=source.name, format=NAME, cell_columns=cell_columns)
    if errors:
        extract.errors = errors
        return extract
    num_opts = spec.get("numbers") or {}
    markers = spec.get("suppression")
    parse: dict[str, Any] = {
        "markers": None if markers is None else [str(m) for m in markers],
        "thousands": num_opts.get("thousands"),
        "percent": bool(num_opts.get("percent", False)),
    }

    def canon(table: Table) -> Table:
        f = table.frame.rename(columns=rename)
        f = f[[c for c in f.columns if not str(c).startswith("__ignored__")]]
        for k, v in constants.items():
            f[k] = None if v is None else str(v)
        return Table(f, table.refs)

    if kind == "values":
        _check_values_mapping(label, set(rename.values()), constants, wide_cols)

        def values_chunks() -> Iterator[tuple[pd.DataFrame, list[RowError]]]:
            for table in tables:
                t = canon(table)
                if wide_cols:
                    yield _unpivot(t, wide_cols, rename, parse)
                else:
                    frame, errs = canonical.values_from_text(t, **parse)
                    back = {v: k for k, v in rename.items()}
                    yield frame, [_rename_error(e, back) for e in errs]

        chunks = values_chunks()
        if spec.get("aggregate"):
            how = spec["aggregate"]
            if how not in ("sum", "mean"):
                raise MappingError(f"{label}: aggregate can only be 'sum' or 'mean'")
            if how == "mean" and "value" not in set(rename.values()) | set(constants):
                raise MappingError(f"{label}: aggregate: mean needs a value column (one raw "
                                   "value per row)")
            parts = list(chunks)
            extract.rows_read = sum(len(f) for f, _ in parts)
            chunks = iter([_aggregate(parts, how)])
        extract.value_chunks = chunks
        return extract
    table = canon(canonical._concat(tables, header))
    extract.rows_read = len(table.frame)
    new_header = list(table.frame.columns)
    if kind == "organisations":
        frame, errs = canonical.organisations_from_text(table, new_header, hdr_ref)
        extract.organisations, extract.errors = frame, errs
    else:
        frame, errs = canonical.indicators_from_text(table, new_header, hdr_ref)
        extract.indicators, extract.errors = frame, errs
    return extract


def _rename_error(e: RowError, back: dict[str, str]) -> RowError:
    if e.column in back:
        return RowError(e.ref, back[e.column], e.value, e.message)
    return e


def _unpivot(t: Table, wide_cols: list[dict[str, str]], rename: dict[str, str],
             parse: dict[str, Any]) -> tuple[pd.DataFrame, list[RowError]]:
    frames, errors = [], []
    base = t.frame
    for w in wide_cols:
        f = pd.DataFrame({
            "org_code": base.get("org_code"),
            "period": base.get("period"),
        }, index=base.index)
        f["indicator_id"] = w["indicator_id"]
        back: dict[str, str] = {}
        for canon_col in ("numerator", "denominator", "value", "lower_ci", "upper_ci", "note"):
            src = w.get(canon_col)
            if src is not None:
                col = rename.get(src, src)
                f[canon_col] = base[col]
                back[canon_col] = src
        if "suppressed" in base:
            f["suppressed"] = base["suppressed"]
        frame, errs = canonical.values_from_text(Table(f, t.refs), **parse)
        frames.append(frame)
        errors += [_rename_error(e, back) for e in errs]
    return pd.concat(frames, ignore_index=True), errors


def _aggregate(parts: list[tuple[pd.DataFrame, list[RowError]]], how: str = "sum") -> tuple[
        pd.DataFrame, list[RowError]]:
    """Sum rows with the same organisation, indicator and period (a line-level extract), or
    (``how="mean"``) take the mean of their values with its Student-t 95% interval as the
    published interval (:func:`core.stats.mean_of_values`, PHEindicatormethods ``phe_mean``;
    a key with one value has no interval)."""
    frame = pd.concat([p[0] for p in parts], ignore_index=True) if parts else pd.DataFrame()
    errors = [e for p in parts for e in p[1]]
    if frame.empty:
        return frame, errors
    bad = frame["_ref"].isin({e.ref for e in errors})
    good = frame[~bad]
    key = ["org_code", "indicator_id", "period"]
    g = good.fillna(dict.fromkeys(key, "")).groupby(key, sort=False, dropna=False)
    out = g[["numerator", "denominator", "value", "lower_ci", "upper_ci"]].sum(min_count=1)
    lower = upper = np.full(len(out), np.nan)
    if how == "mean" and len(out):
        keys = [tuple(k) for k in good[key].fillna("").astype(str).to_numpy()]
        m = mean_of_values(good["value"].to_numpy(dtype=float), keys, confidence=0.95)
        stat = m.reindex([tuple(str(x) for x in k) for k in out.index])
        out["numerator"] = np.nan
        out["denominator"] = np.nan
        out["value"] = stat["value"].to_numpy()
        lower, upper = stat["lower"].to_numpy(), stat["upper"].to_numpy()
    out["suppressed"] = g["suppressed"].any()
    out["note"] = None
    out["_ref"] = g["_ref"].first()
    out = out.reset_index()
    for k in key:
        out[k] = out[k].replace("", None)
    # CIs do not add up: drop them for summed rows; a mean's are its own
    out["lower_ci"] = lower
    out["upper_ci"] = upper
    return pd.concat([out, frame[bad]], ignore_index=True), errors
