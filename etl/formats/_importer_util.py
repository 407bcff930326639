"""Small shared helpers for the named importers (fingertips, qof, nhse-ae, ods-practices,
list-sizes).

Each importer is a *declared mapping* (which published header text means which canonical column)
plus the little code its layout truly needs. What they share lives here: reading the source
(a path, or uploaded bytes with a file name), reading workbooks fast (:func:`open_xlsx`),
matching headers by their text, turning published number cells into floats while reporting
every cell that is not a number (with its line or "Sheet!C12" reference), and building frames
with the canonical columns of ``etl.extract``.
"""

from __future__ import annotations

import csv
import html
import io
import posixpath
import re
import zipfile
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
    raw: pd.Series, refs: Sequence[str] | np.ndarray, column: str, errors: list[RowError]
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
    for i in np.flatnonzero(bad).tolist():
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


#: ``None`` as a 0-d object array, for ``np.where`` (numpy's stubs refuse a bare ``None``)
NONE = np.array(None, dtype=object)


def none_if_blank(series: pd.Series) -> np.ndarray:
    """Text cells as an object array, None where blank (for optional text columns)."""
    arr = series.astype(object).to_numpy(dtype=object)
    return np.where((arr == "") | pd.isna(arr), NONE, arr)


# --- Workbooks -------------------------------------------------------------------------------
#
# openpyxl (even read-only) builds a Python object per cell while parsing the XML: a national
# practice-level QOF workbook (~10 million cells) took 40-100 s. python-calamine parses in Rust
# and hands back plain lists, ~50x faster. openpyxl stays as the fallback for files calamine
# cannot read, so nothing that loaded before stops loading.

_ERROR_CELL = re.compile(rb"""\st=["']e["']""")
_ERROR_MARKS = (b't="e"', b"t='e'")  # a false hit only costs the exact parse below
_CELL_TAG = re.compile(rb"<c\b([^>]*)>(.*?)</c>", re.S)
_CELL_REF = re.compile(rb"""\br=["']([A-Z]+)(\d+)["']""")
_CELL_V = re.compile(rb"<v>([^<]*)</v>")


def cell_value(v: Any) -> Any:
    """A cell as openpyxl gives it: None when empty, whole numbers as ``int``.

    calamine gives ``''`` for an empty cell and a float for every number; header text, codes
    and names are compared and printed, where ``744.0`` must read ``744``.
    """
    if isinstance(v, str) and v == "":
        return None
    if type(v) is float and v.is_integer() and abs(v) < 1e15:
        return int(v)
    return v


def _column_number(letters: bytes) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ch - 64
    return n - 1


class XlsxBook:
    """A workbook's sheets as rows of cell values (python-calamine; openpyxl as the fallback).

    :meth:`rows` gives every row from A1, each a list padded to the sheet's width, ``''`` for an
    empty cell and floats for numbers (whole numbers too; :func:`cell_value` turns a cell into
    what openpyxl would give). Error cells (``#DIV/0!``, ``#N/A``) keep their text, as openpyxl
    gives them, so that they are reported as cells that are not numbers instead of becoming
    blanks. Use :func:`open_xlsx` to open one.
    """

    def __init__(self, data: bytes, name: str) -> None:
        self.name = name
        self._data = data
        self._parts: dict[str, str] | None = None
        self._openpyxl: Any = None
        self._book: Any = None
        self._last: tuple[str, Any] | None = None
        try:
            self._open_calamine()
        except Exception:  # calamine cannot read it: openpyxl may, or says what is wrong
            self._book = None
            self._open_openpyxl()

    def _open_calamine(self) -> None:
        import python_calamine

        self._zip = zipfile.ZipFile(io.BytesIO(self._data))
        if "xl/workbook.xml" not in self._zip.namelist():
            raise ValueError("no xl/workbook.xml: not an XLSX workbook")
        self._book = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(self._data))
        self.sheet_names: list[str] = list(self._book.sheet_names)
        self.worksheet_names: list[str] = [
            m.name for m in self._book.sheets_metadata
            if m.typ == python_calamine.SheetTypeEnum.WorkSheet]

    def _open_openpyxl(self) -> None:
        import openpyxl

        try:
            self._openpyxl = openpyxl.load_workbook(io.BytesIO(self._data), read_only=True,
                                                    data_only=True)
        except Exception as exc:  # openpyxl raises many kinds of errors for a damaged file
            raise FileError(f"{self.name}: not a readable XLSX workbook ({exc})") from None
        self.sheet_names = list(self._openpyxl.sheetnames)
        self.worksheet_names = [ws.title for ws in self._openpyxl.worksheets]

    def rows(self, sheet: str, nrows: int | None = None) -> list[list[Any]]:
        """The sheet's rows from row 1 (the first ``nrows`` when given)."""
        if self._book is None:
            return self._openpyxl_rows(sheet, nrows)
        try:
            # The title rows are read first, then the whole sheet: parse it once.
            if self._last is not None and self._last[0] == sheet:
                parsed = self._last[1]
            else:
                parsed = self._book.get_sheet_by_name(sheet)
            self._last = (sheet, parsed) if nrows is not None else None
            rows = parsed.to_python(skip_empty_area=False, nrows=nrows)
        except Exception:  # a part calamine cannot parse: openpyxl may
            return self._openpyxl_rows(sheet, nrows)
        self._restore_error_cells(sheet, rows)
        return rows

    @property
    def engine(self) -> str:
        """``calamine``, or ``openpyxl`` when calamine could not open the file."""
        return "openpyxl" if self._book is None else "calamine"

    def close(self) -> None:
        """Release the workbook."""
        if self._book is not None:
            self._book.close()
            self._zip.close()
        if self._openpyxl is not None:
            self._openpyxl.close()

    def _openpyxl_rows(self, sheet: str, nrows: int | None) -> list[list[Any]]:
        import openpyxl

        try:
            if self._openpyxl is None:
                self._openpyxl = openpyxl.load_workbook(io.BytesIO(self._data), read_only=True,
                                                        data_only=True)
            rows = [["" if v is None else v for v in r]
                    for r in self._openpyxl[sheet].iter_rows(values_only=True, max_row=nrows)]
        except Exception as exc:  # openpyxl raises many kinds of errors for a damaged part
            raise FileError(f"{self.name}: sheet {sheet!r} cannot be read ({exc})") from None
        width = max((len(r) for r in rows), default=0)
        return [r + [""] * (width - len(r)) for r in rows]

    def _sheet_part(self, sheet: str) -> str | None:
        """The zip member holding ``sheet`` (from xl/workbook.xml and its relationships)."""
        if self._parts is None:
            book = self._zip.read("xl/workbook.xml").decode("utf-8", errors="replace")
            try:
                rels = self._zip.read("xl/_rels/workbook.xml.rels").decode("utf-8", "replace")
            except KeyError:
                rels = ""
            targets = {}
            for tag in re.findall(r"<(?:\w+:)?Relationship\b[^>]*>", rels):
                rid = re.search(r'\sId="([^"]+)"', tag)
                target = re.search(r'\sTarget="([^"]+)"', tag)
                if rid and target:
                    path = html.unescape(target.group(1))
                    targets[rid.group(1)] = (path.lstrip("/") if path.startswith("/")
                                             else posixpath.normpath(posixpath.join("xl", path)))
            self._parts = {}
            for tag in re.findall(r"<(?:\w+:)?sheet\b[^>]*>", book):
                sheet_name = re.search(r'\sname="([^"]*)"', tag)
                rid = re.search(r'\s\w+:id="([^"]+)"', tag)
                if sheet_name and rid and rid.group(1) in targets:
                    self._parts[html.unescape(sheet_name.group(1))] = targets[rid.group(1)]
        return self._parts.get(sheet)

    def _restore_error_cells(self, sheet: str, rows: list[list[Any]]) -> None:
        """Put back the text of error cells, which calamine reads as empty."""
        part = self._sheet_part(sheet)
        if part is None or part not in self._zip.namelist():
            return
        # Stream the part: most sheets have no error cell, and only then is it parsed.
        found, tail = False, b""
        with self._zip.open(part) as fh:
            while chunk := fh.read(1 << 20):
                window = tail + chunk
                if any(mark in window for mark in _ERROR_MARKS):
                    found = True
                    break
                tail = chunk[-16:]
        if not found:
            return
        xml = self._zip.read(part)
        for m in _CELL_TAG.finditer(xml):
            attrs = m.group(1)
            ref = _CELL_REF.search(attrs)
            if not _ERROR_CELL.search(b" " + attrs) or ref is None:
                continue
            v = _CELL_V.search(m.group(2))
            r, c = int(ref.group(2)) - 1, _column_number(ref.group(1))
            if v is not None and r < len(rows) and c < len(rows[r]):
                rows[r][c] = html.unescape(v.group(1).decode("utf-8", errors="replace"))


def open_xlsx(data: bytes, name: str) -> XlsxBook:
    """Open workbook bytes with python-calamine, or with openpyxl when calamine cannot.

    Raises :class:`FileError` (naming the file and the reason) when neither can read it.
    """
    return XlsxBook(data, name)


def parse_cells(
    cells: Sequence[Any], refs: Sequence[str], column: str, errors: list[RowError]
) -> np.ndarray:
    """Workbook cells to floats, as :func:`parse_numbers` does with their text.

    Number cells are taken as they are (a float is exactly the number its text says); only the
    other cells (text, markers, booleans, dates) go through :func:`parse_numbers`, so every one
    that is not a number is reported with its reference. ``refs`` may be lazy: only the bad
    cells' references are read.
    """
    nan = float("nan")
    values = np.array([v if type(v) is float or type(v) is int else nan for v in cells],
                      dtype=float)
    other = [i for i, v in enumerate(cells)
             if type(v) is not float and type(v) is not int and v is not None and v != ""]
    if other:
        text = pd.Series([str(cells[i]) for i in other], dtype=object)
        parsed = parse_numbers(text, _Subset(refs, other), column, errors)[0]
        values[other] = parsed
    return values


class _Subset(Sequence):
    """``refs[i]`` for the chosen positions only (references built when read)."""

    def __init__(self, refs: Sequence[str], positions: list[int]) -> None:
        self._refs, self._positions = refs, positions

    def __len__(self) -> int:
        return len(self._positions)

    def __getitem__(self, i):
        return self._refs[self._positions[i]]
