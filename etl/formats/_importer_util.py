"""Small shared helpers for the named importers (fingertips, qof, nhse-ae, ods-practices,
list-sizes).

Each importer is a *declared mapping* (which published header text means which canonical column)
plus the little code its layout truly needs. What they share lives here: reading the source
(a path, or uploaded bytes with a file name), matching headers by their text, turning published
number cells into floats while reporting every cell that is not a number (with its line or
"Sheet!C12" reference), and building frames with the canonical columns of ``etl.extract``.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from etl.extract import FileError, RowError

#: Markers that publications use for suppressed (disclosure-controlled) cells: not zeros.
SUPPRESSED_MARKERS = frozenset({"*", "**", "c", "..", "-", "~", "[c]", "[x]*"})
#: Markers for "not applicable / not available": there is no value, and nothing was hidden.
NOT_APPLICABLE_MARKERS = frozenset({"z", "x", "[z]", "[x]", "n/a", "na", ":"})

VALUE_FRAME_COLUMNS = (
    "org_code", "indicator_id", "period", "numerator", "denominator", "value",
    "lower_ci", "upper_ci", "suppressed", "note", "_ref",
)
ORG_FRAME_COLUMNS = (
    "org_code", "name", "org_type", "parent_code", "parent_name", "parent_type", "is_active",
    "attributes", "_ref",
)


def opt(options: Any, name: str, default: Any = None) -> Any:
    """One option from ``options``: a mapping, an object with attributes (a dataclass), or None.

    Readers accept either form so that the CLI, the API and tests can pass what they have.
    """
    if options is None:
        return default
    if isinstance(options, Mapping):
        value = options.get(name)
    else:
        value = getattr(options, name, None)
        # The pipeline's ReadOptions carries format-specific options in a dict of its own.
        for extra in ("format_options", "extra", "options"):
            bag = getattr(options, extra, None)
            if value is None and isinstance(bag, Mapping):
                value = bag.get(name)
    return default if value is None else value


def kind_and_options(kind: Any, options: Any) -> tuple[str | None, Any]:
    """Accept both ``read(source, options)`` and the registry's ``read(source, kind, options)``.

    A second positional argument that is not a kind name (a dict, a ReadOptions) is the options.
    """
    if kind is not None and not isinstance(kind, str) and options is None:
        return None, kind
    return kind, options


def source_bytes(source: Any, options: Any = None) -> tuple[bytes, str]:
    """The raw bytes and the file name of ``source``.

    ``source`` is the pipeline's ``etl.extract.Source``, a path (``Path`` or ``str``), raw
    ``bytes`` (the name then comes from the ``file_name`` option), a ``(bytes, name)`` pair, or
    a binary file-like object.
    """
    if hasattr(source, "open") and hasattr(source, "head") and hasattr(source, "name"):
        with source.open() as fh:  # etl.extract.Source: a path or uploaded bytes
            return fh.read(), str(source.name)
    if isinstance(source, tuple) and len(source) == 2:
        data, name = source
        return bytes(data), str(name)
    if isinstance(source, bytes | bytearray | memoryview):
        return bytes(source), str(opt(options, "file_name", opt(options, "source_name", "upload")))
    if isinstance(source, str | Path):
        path = Path(source)
        try:
            return path.read_bytes(), path.name
        except OSError as exc:
            raise FileError(f"{path}: cannot be read ({exc.strerror or exc}); check the path") \
                from None
    if hasattr(source, "read"):
        data = source.read()
        name = getattr(source, "name", None) or opt(options, "file_name", "upload")
        return bytes(data), Path(str(name)).name
    raise FileError(f"cannot read a source of type {type(source).__name__}")


def decode_text(data: bytes, name: str) -> str:
    """Text of a CSV: UTF-8 (with or without BOM), else Windows-1252 as older NHS files use."""
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise FileError(f"{name}: is neither UTF-8 nor Windows-1252 text; save it as UTF-8 CSV")


def read_csv_strings(data: bytes, name: str, *, header: bool = True) -> pd.DataFrame:
    """A CSV as a frame of stripped strings ('' for empty cells), columns as written.

    Everything stays text so that every cell that is not a number can be reported with its line
    rather than silently becoming NaN.
    """
    if data[:4] == b"PK\x03\x04":
        raise FileError(f"{name}: is a workbook (XLSX), not a CSV; use the format made for it")
    text = decode_text(data, name)
    if not text.strip():
        raise FileError(f"{name}: the file is empty")
    try:
        frame = pd.read_csv(
            io.StringIO(text), dtype=str, keep_default_na=False, header=0 if header else None,
            skipinitialspace=False,
        )
    except (pd.errors.ParserError, csv.Error) as exc:
        raise FileError(f"{name}: is not a readable CSV ({exc}); check the delimiter and quotes") \
            from None
    if header:
        frame.columns = [str(c).strip() for c in frame.columns]
    for col in frame.columns:
        frame[col] = frame[col].str.strip()
    return frame


def norm(text: Any) -> str:
    """Header text for matching: lower case, single spaces, no surrounding blanks."""
    if text is None:
        return ""
    return re.sub(r"\s+", " ", str(text)).strip().lower()


def match_columns(
    columns: Sequence[str],
    declaration: Mapping[str, Sequence[str]],
    *,
    required: Iterable[str],
    file_name: str,
    format_name: str,
) -> dict[str, str]:
    """Map canonical names to the file's own column names, by header text.

    ``declaration`` says, for each canonical name, which header texts mean it (compared after
    :func:`norm`). Raises :class:`FileError` naming every required header that is missing.
    """
    by_norm = {norm(c): c for c in columns}
    found: dict[str, str] = {}
    for canonical, aliases in declaration.items():
        for alias in aliases:
            if norm(alias) in by_norm:
                found[canonical] = by_norm[norm(alias)]
                break
    missing = [c for c in required if c not in found]
    if missing:
        wanted = "; ".join(f"{declaration[m][0]!r}" for m in missing)
        raise FileError(
            f"{file_name}: not a {format_name} file: missing column(s) {wanted}. "
            f"Columns found: {', '.join(repr(c) for c in list(columns)[:30])}"
        )
    return found


def csv_refs(n: int, first_line: int = 2) -> np.ndarray:
    """Line numbers as an editor shows them: the header is line 1, the first row line 2."""
    return np.arange(first_line, first_line + n).astype(str).astype(object)


def parse_numbers(
    raw: pd.Series, refs: Sequence[str], column: str, errors: list[RowError]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Published cells to floats.

    Returns ``(values, suppressed, bad)``: NaN for blanks and markers; ``suppressed`` is True for
    a disclosure-control marker (``*``, ``c``, ``..``, ``-``); ``bad`` marks cells that are not
    numbers, each reported in ``errors`` with its reference.
    """
    text = raw.astype("string").fillna("").str.strip().str.replace(",", "", regex=False)
    values = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    lowered = text.str.lower()
    blank = (text == "").to_numpy()
    suppressed = lowered.isin(SUPPRESSED_MARKERS).to_numpy()
    not_applicable = lowered.isin(NOT_APPLICABLE_MARKERS).to_numpy()
    bad = np.isnan(values) & ~blank & ~suppressed & ~not_applicable
    # "nan"/"inf" parse as floats in pandas; a published file never means them as numbers.
    bad |= lowered.isin({"nan", "inf", "-inf", "infinity"}).to_numpy()
    values[bad] = np.nan
    for i in np.flatnonzero(bad):
        errors.append(RowError(
            str(refs[i]), column, str(raw.iloc[i]),
            f"{column} {raw.iloc[i]!r} is not a number; write a number, leave it blank, or use a "
            "suppression marker (*, c, ..)",
        ))
    return values, suppressed, bad


def slug(text: Any) -> str:
    """A short lower-case id part: ``"18-64 yrs"`` -> ``"18-64-yrs"``."""
    s = re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-")
    return s or "blank"


def values_frame(columns: Mapping[str, Any]) -> pd.DataFrame:
    """A values frame with every canonical column, in order (missing ones filled)."""
    frame = pd.DataFrame(dict(columns))
    n = len(frame)
    for col in VALUE_FRAME_COLUMNS:
        if col not in frame:
            if col in ("numerator", "denominator", "value", "lower_ci", "upper_ci"):
                frame[col] = np.full(n, np.nan)
            elif col == "suppressed":
                frame[col] = np.zeros(n, dtype=bool)
            else:
                frame[col] = pd.Series([None] * n, dtype=object)
    for col in ("numerator", "denominator", "value", "lower_ci", "upper_ci"):
        frame[col] = frame[col].astype(float)
    frame["suppressed"] = frame["suppressed"].astype(bool)
    return frame[list(VALUE_FRAME_COLUMNS) + [c for c in frame.columns
                                              if c not in VALUE_FRAME_COLUMNS]]


def orgs_frame(rows: Sequence[Mapping[str, Any]] | Mapping[str, Any]) -> pd.DataFrame:
    """An organisations frame with the canonical columns present (None where unknown)."""
    frame = pd.DataFrame(rows if not isinstance(rows, Mapping) else dict(rows))
    for col in ORG_FRAME_COLUMNS:
        if col not in frame:
            frame[col] = None
    return frame[list(ORG_FRAME_COLUMNS) + [c for c in frame.columns
                                            if c not in ORG_FRAME_COLUMNS]]


def indicators_frame(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """An indicators frame from one dict per indicator (canonical keys)."""
    frame = pd.DataFrame(list(rows))
    for col in ("indicator_id", "name", "value_type", "multiplier", "polarity", "_ref"):
        if col not in frame:
            frame[col] = None
    return frame


def head_text(head: Any, limit: int = 65536) -> str | None:
    """The first text of a sniffed head (bytes or str), or None for binary or other input."""
    if isinstance(head, str):
        return head[:limit]
    if isinstance(head, bytes | bytearray | memoryview):
        data = bytes(head[:limit])
        if data[:4] == b"PK\x03\x04":
            return None
        try:
            return data.decode("utf-8-sig", errors="strict")
        except UnicodeDecodeError:
            return data.decode("cp1252", errors="replace")
    return None


def head_header(head: Any) -> list[str] | None:
    """The header cells of a sniffed head: a frame's columns, or a CSV's first line."""
    if isinstance(head, pd.DataFrame):
        return [str(c) for c in head.columns]
    text = head_text(head)
    if text is None:
        return None
    first = text.splitlines()[0] if text else ""
    try:
        return next(csv.reader([first]))
    except (StopIteration, csv.Error):
        return None


def none_if_blank(series: pd.Series) -> np.ndarray:
    """Text cells as an object array, None where blank (for optional text columns)."""
    arr = series.astype(object).to_numpy(dtype=object)
    return np.where((arr == "") | pd.isna(arr), None, arr)
