"""Helpers shared by readers: encodings, tables from CSV/XLSX, numbers and suppression markers.

Readers keep every cell as text until these helpers parse it, so that a bad cell is reported
with its line and value instead of silently becoming NaN.
"""

from __future__ import annotations

import codecs
import io
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pyarrow import ArrowInvalid

from etl.extract import FileError, RowError, Source

#: Markers that published statistics use for a suppressed (disclosure-controlled) cell.
DEFAULT_SUPPRESSION_MARKERS = ("*", "..", "-", "c", "x", "~")

_BOOLS = {
    "true": True, "t": True, "yes": True, "y": True, "1": True,
    "false": False, "f": False, "no": False, "n": False, "0": False,
}


def detect_encoding(source: Source) -> str:
    """``utf-8-sig`` (with or without BOM) when the bytes are valid UTF-8, else ``cp1252``.

    The whole file is checked incrementally (bounded memory), because a single Windows-1252
    character (``£``, ``é``) can sit anywhere in an extract.
    """
    decoder: codecs.IncrementalDecoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with source.open() as fh:
            while chunk := fh.read(1 << 22):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        return "utf-8-sig"
    except UnicodeDecodeError:
        pass
    decoder = codecs.getincrementaldecoder("cp1252")()
    try:
        with source.open() as fh:
            while chunk := fh.read(1 << 22):
                decoder.decode(chunk)
    except UnicodeDecodeError as exc:
        raise FileError(
            f"{source.name}: the file is neither UTF-8 nor Windows-1252 text (byte "
            f"{exc.object[exc.start]:#04x}); save it as CSV UTF-8 and load it again"
        ) from None
    return "cp1252"


def clean_header(names: Sequence[object]) -> list[str]:
    """Strip padding from header names (``' ITEMS  '`` -> ``'ITEMS'``)."""
    return ["" if n is None or (isinstance(n, float) and np.isnan(n)) else str(n).strip()
            for n in names]


@dataclass
class Table:
    """One chunk of a sheet or CSV: text cells, and the reference of each row."""

    frame: pd.DataFrame  # all object/str columns, NaN for blank cells
    refs: pd.Series  # "12" or "Sheet:12"


def _drop_blank(frame: pd.DataFrame, refs: pd.Series) -> tuple[pd.DataFrame, pd.Series]:
    if frame.empty:
        return frame, refs
    keep = frame.notna().any(axis=1).to_numpy()
    if keep.all():
        return frame, refs
    return frame.loc[keep].reset_index(drop=True), refs.loc[keep].reset_index(drop=True)


def _finish_header(source: Source, header: list[str], where: str) -> list[str]:
    header = clean_header(header)
    # trailing empty columns (a trailing comma on every line) are dropped, not errors
    while header and header[-1] == "":
        header.pop()
    if not header:
        raise FileError(f"{source.name}: {where} is empty; the first row must name the columns")
    blank = [i + 1 for i, h in enumerate(header) if h == ""]
    if blank:
        raise FileError(
            f"{source.name}: {where} has a column with no name (column {blank[0]}); name it or "
            "delete it"
        )
    seen: set[str] = set()
    for h in header:
        if h.lower() in seen:
            raise FileError(f"{source.name}: {where} names the column {h!r} twice; rename one")
        seen.add(h.lower())
    return header


def read_csv_chunks(
    source: Source, *, header_row: int = 1, chunk_rows: int = 250_000, strip: bool = True,
    fast: bool = True,
) -> tuple[list[str], Iterator[Table]]:
    """The header and an iterator of chunks of a CSV file, every cell as text.

    Line references count as an editor does (header on ``header_row``, first data row the next
    line); blank lines are skipped but still counted, and so are the line breaks inside quoted
    cells (a record spanning lines 5-7 is line 5, the next one line 8). Cells are stripped of
    padding. ``fast=False`` reads the whole file with pandas (see :func:`_arrow_chunks`).
    """
    encoding = detect_encoding(source)
    # a record's line is its index + 1, unless a quoted cell holds a line break: then (only
    # then, a rare file) the csv module finds where each record starts
    starts = record_lines(source, encoding) if has_quoted_newlines(source) else None
    # stripping a million rows' cells costs about 0.3 s: skip it when no cell can hold padding
    padded = has_padding(source)
    strip = strip and padded
    fh = source.open()
    try:
        reader = pd.read_csv(
            fh, header=None, dtype=str, keep_default_na=False, na_values=[""],
            skip_blank_lines=False, encoding=encoding, chunksize=chunk_rows,
            skiprows=header_row - 1, engine="c", quotechar='"', on_bad_lines="error",
        )
        first = next(reader, None)
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        fh.close()
        raise FileError(f"{source.name}: not a readable CSV file ({exc}); save it as CSV") from None
    if first is None or first.empty:
        fh.close()
        raise FileError(f"{source.name}: the file is empty; it needs a header row and data rows")
    raw_header = first.iloc[0].tolist()
    header = _finish_header(source, raw_header, f"the header row (line {header_row})")
    width = len(header)
    cells = first.shape[1]
    # the rest of a plain file (ASCII, no quote, white space or blank line after the header,
    # every line with the header's number of cells) is read by Arrow's CSV reader: the same
    # text cells, about 0.3 s less per million rows (no Python string per cell). Any other
    # file, and the first chunk (which found the header), is read by pandas.
    rest_at = None
    if fast and len(first) == chunk_rows and starts is None and not padded:
        rest_at = plain_offset(source, header_row, cells, header_row - 1 + len(first))
    if rest_at is not None:
        fh.close()
        reader = _arrow_chunks(source, rest_at, cells, chunk_rows)
    first = first.iloc[1:]

    def chunks() -> Iterator[Table]:
        offset = header_row + 1  # line of the first data row (when no cell spans lines)
        record = header_row  # index of the first data row among the file's records

        def line(i: int) -> int:
            if starts is not None and record + i < len(starts):
                return int(starts[record + i])
            return offset + i

        try:
            for chunk in _chain(first, reader):
                n = len(chunk)
                if chunk.shape[1] > width:
                    extra = chunk.iloc[:, width:]
                    bad = extra.notna().any(axis=1).to_numpy()
                    if bad.any():
                        i = int(np.argmax(bad))
                        raise FileError(
                            f"{source.name}: line {line(i)} has more cells than the header "
                            f"({width} columns); remove the extra cells or name the column"
                        )
                    chunk = chunk.iloc[:, :width]
                frame = chunk.reset_index(drop=True)
                frame.columns = header[: frame.shape[1]]
                for missing in header[frame.shape[1]:]:
                    frame[missing] = np.nan
                if strip:
                    frame = strip_frame(frame)
                if starts is not None and record + n <= len(starts):
                    refs = pd.Series(starts[record:record + n].astype(str).astype(object),
                                     dtype=object)
                else:
                    refs = _line_refs(line(0), n)
                offset += n
                record += n
                yield Table(*_drop_blank(frame, refs))
        except pd.errors.ParserError as exc:
            raise FileError(f"{source.name}: not a readable CSV file ({exc})") from None
        except ArrowInvalid as exc:
            # a line with a cell too many or too few: pandas says where, in its own words
            for _ in read_csv_chunks(source, header_row=header_row, chunk_rows=chunk_rows,
                                     strip=strip, fast=False)[1]:
                pass
            raise FileError(f"{source.name}: not a readable CSV file ({exc})") from None
        finally:
            fh.close()

    return header, chunks()


def has_quoted_newlines(source: Source) -> bool:
    """Does a line break sit inside a quoted cell? True when some line ends after an odd
    number of ``"`` in the file so far (an escaped ``""`` keeps the parity). Vectorised over
    4 MiB blocks: a few hundredths of a second for a million rows. A stray literal quote in an
    unquoted cell also answers True; the exact pass (:func:`record_lines`) then finds the lines.
    """
    carry = 0  # quotes seen before this block
    with source.open() as fh:
        while block := fh.read(1 << 22):
            if b'"' not in block:  # the common case: nothing to count
                if carry % 2 and b"\n" in block:
                    return True
                continue
            a = np.frombuffer(block, dtype=np.uint8)
            q = np.flatnonzero(a == 34)
            # only line breaks between the first opening and the last closing quote can be
            # inside a quoted cell: usually a small part of the block (a quoted header: none)
            lo = 0 if carry % 2 else int(q[0])
            hi = len(a) if (carry + len(q)) % 2 else int(q[-1])
            breaks = np.flatnonzero(a[lo:hi] == 10) + lo
            if ((np.searchsorted(q, breaks) + carry) % 2).any():
                return True
            carry += len(q)
    return False


#: the bytes that need no stripping: printable ASCII and line feeds (a carriage return only
#: before a line feed, checked apart); any other byte may be, or be part of, white space
_PLAIN_BYTES = bytes(range(33, 127)) + b"\n"


def has_padding(source: Source) -> bool:
    """Can a cell of the file hold white space that :func:`strip_frame` would remove? False
    only when every byte is printable ASCII or a line break (``\\n``, ``\\r\\n``): no space,
    tab, form feed, lone carriage return, control separator or non-ASCII byte (which could
    encode a no-break or other Unicode space). About 10 ms for a million rows."""
    with source.open() as fh:
        if fh.read(3) != codecs.BOM_UTF8:  # a byte order mark is no cell's padding
            fh.seek(0)
        while block := fh.read(1 << 22):
            while block.endswith(b"\r") and (more := fh.read(1)):
                block += more  # keep a \r\n split between blocks together
            rest = block.translate(None, _PLAIN_BYTES)
            if rest and (rest.strip(b"\r") or block.count(b"\r") != block.count(b"\r\n")):
                return True
    return False


#: every byte but the comma, the quote and the line feed (deleted to see a file's structure)
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b',"\n')


def plain_offset(source: Source, header_row: int, cells: int, skip: int) -> int | None:
    """Where line ``skip + 1`` starts (a byte offset), when every line after the header row is
    plain: ``cells - 1`` commas and no quote (so no blank line, no quoted cell, a record a
    line). None for any other file, or one shorter than ``skip`` lines. About 20 ms for a
    million rows (the bytes that are not commas, quotes or line feeds are deleted first)."""
    unit = b"," * (cells - 1) + b"\n"
    offset = None
    with source.open() as fh:
        position = 0
        for _ in range(header_row):
            line = fh.readline()
            if not line.endswith(b"\n"):
                return None
            position += len(line)
        lines, carry = header_row, b""
        while block := fh.read(1 << 22):
            structure = carry + block.translate(None, _NOT_STRUCTURE)
            end = structure.rfind(b"\n") + 1
            whole, carry = structure[:end], structure[end:]
            breaks = len(whole) // len(unit)
            if whole != unit * breaks:
                return None
            if offset is None and lines + breaks >= skip:
                at = np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == 10)[skip - lines - 1]
                offset = position + int(at) + 1
            lines += breaks
            position += len(block)
    # (a file that ends where the reader would start has nothing left to read fast)
    return offset if carry in (b"", unit[:-1]) and offset != position else None


def _arrow_chunks(source: Source, offset: int, cells: int, chunk_rows: int
                  ) -> Iterator[pd.DataFrame]:
    """The records from byte ``offset`` on, as text frames of ``chunk_rows`` rows with
    columns 0, 1, ... (what ``pd.read_csv(header=None, dtype=str, na_values=[""])`` gives),
    read by Arrow's CSV reader (about 0.3 s less per million rows: no Python string per
    cell). Only for a file :func:`plain_offset` passes: a line Arrow cannot read (a cell too
    many or too few) raises ``ArrowInvalid``, and the caller reads the file again with pandas
    for its error."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    names = [str(i) for i in range(cells)]
    dtype = pd.StringDtype("pyarrow", na_value=np.nan)
    if source.data is not None:
        data = pa.BufferReader(pa.py_buffer(source.data)[offset:])
    else:
        data = pa.OSFile(str(source.path))
        data.seek(offset)
    stream = pcsv.open_csv(
        data, read_options=pcsv.ReadOptions(column_names=names, block_size=1 << 22),
        parse_options=pcsv.ParseOptions(quote_char=False, newlines_in_values=False),
        convert_options=pcsv.ConvertOptions(
            column_types=dict.fromkeys(names, pa.string()), strings_can_be_null=True,
            null_values=[""]))

    def frame(batches: list[pa.RecordBatch]) -> pd.DataFrame:
        f = pa.Table.from_batches(batches).to_pandas(types_mapper={pa.string(): dtype}.get)
        f.columns = range(cells)
        return f

    pending: list[pa.RecordBatch] = []
    rows = 0
    for batch in stream:
        pending.append(batch)
        rows += batch.num_rows
        while rows >= chunk_rows:
            table = pa.Table.from_batches(pending)
            yield frame(table.slice(0, chunk_rows).to_batches())
            pending = table.slice(chunk_rows).to_batches()
            rows -= chunk_rows
    if rows:
        yield frame(pending)


def record_lines(source: Source, encoding: str) -> np.ndarray:
    """The line (1-based, as an editor shows it) on which each CSV record starts, blank lines
    included, as the csv module reads the file (the same quoting rules as pandas' parser)."""
    import array
    import csv

    starts = array.array("q")
    with source.open() as fh:
        text = io.TextIOWrapper(fh, encoding=encoding, newline="")
        reader = csv.reader(text)
        previous = 0
        old_limit = csv.field_size_limit()
        csv.field_size_limit(1 << 30)  # a long quoted cell is the file's business, not ours
        try:
            for _ in reader:
                starts.append(previous + 1)
                previous = reader.line_num
        except csv.Error:
            pass  # pandas reports the malformed file; the lines found so far still hold
        finally:
            csv.field_size_limit(old_limit)
    return np.frombuffer(starts, dtype=np.int64) if len(starts) else np.zeros(0, np.int64)


def _line_refs(first: int, n: int) -> pd.Series:
    """``["12", "13", ...]`` as a Series of pandas' Arrow strings, made by Arrow (no Python
    string per row: 0.03 s per million rows, where an object array took 0.18 s and pandas
    then spent 0.22 s converting it to its string type in the values frame)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pc.cast(pa.array(np.arange(first, first + n)), pa.large_string())
    return pd.Series(pd.array(text, dtype=pd.StringDtype("pyarrow", na_value=np.nan)),
                     copy=False)


def _chain(first: pd.DataFrame, rest: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    if len(first):
        yield first
    yield from rest


def strip_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Strip padding from text cells; cells that become empty become NaN."""
    out = {}
    for col in frame.columns:
        s = frame[col]
        if s.dtype == object or pd.api.types.is_string_dtype(s):
            s = s.str.strip()
            s = s.mask(s == "")
        out[col] = s
    return pd.DataFrame(out, index=frame.index)


def _letters(i: int) -> str:
    s = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        s = chr(65 + r) + s
    return s


def read_xlsx(
    source: Source, *, sheet: str | None, header_row: int = 1
) -> tuple[list[str], Table, dict[str, str], str]:
    """The header, the rows as text, column letters, and the sheet name of a workbook sheet."""
    import openpyxl

    with source.open() as fh:
        try:
            wb = openpyxl.load_workbook(fh, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many kinds for a non-workbook
            raise FileError(f"{source.name}: not a readable XLSX workbook ({exc})") from None
        try:
            names = wb.sheetnames
            if sheet is None:
                sheet = names[0]
            elif sheet not in names:
                raise FileError(
                    f"{source.name}: no sheet named {sheet!r}; the sheets are "
                    + ", ".join(repr(n) for n in names)
                )
            rows = list(wb[sheet].iter_rows(values_only=True))
        finally:
            wb.close()
    if len(rows) < header_row:
        raise FileError(f"{source.name}: sheet {sheet!r} has no header row at row {header_row}")
    raw_header = list(rows[header_row - 1])
    header = _finish_header(source, raw_header, f"sheet {sheet!r} row {header_row}")
    width = len(header)
    body = [list(r[:width]) + [None] * (width - len(r[:width])) for r in rows[header_row:]]
    frame = pd.DataFrame(body, columns=header, dtype=object)
    frame = frame.map(_cell_text) if len(frame) else frame
    frame = strip_frame(frame)
    refs = pd.Series(
        [f"{sheet}:{header_row + 1 + i}" for i in range(len(frame))], dtype=object
    )
    letters = {h: _letters(i) for i, h in enumerate(header)}
    frame, refs = _drop_blank(frame, refs)
    return header, Table(frame, refs), letters, sheet


def _cell_text(v: object) -> object:
    if v is None:
        return np.nan
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    if hasattr(v, "isoformat"):
        return v.isoformat()
    return str(v)


@dataclass
class Numbers:
    """A text column parsed as numbers."""

    values: np.ndarray  # float64, NaN where blank, suppressed or bad
    suppressed: np.ndarray  # bool: a suppression marker
    bad: np.ndarray  # bool: text that is not a number


def parse_numbers(
    text: pd.Series,
    *,
    markers: tuple[str, ...] | list[str] = DEFAULT_SUPPRESSION_MARKERS,
    thousands: str | None = None,
    percent: bool = False,
) -> Numbers:
    """Parse a text column into floats, vectorised.

    ``thousands`` (e.g. ``","``) is removed, as are ``%`` signs when ``percent`` is true (the
    number is kept as shown: ``95.2%`` -> 95.2). Blank cells are NaN and neither suppressed nor
    bad; a marker in ``markers`` is suppressed (a blank marker ``""`` makes blanks suppressed).
    """
    n = len(text)
    if pd.api.types.is_numeric_dtype(text.dtype):
        vals = text.to_numpy(dtype="float64", na_value=np.nan)
        return Numbers(vals, np.zeros(n, bool), np.zeros(n, bool))
    s = text.reset_index(drop=True)
    if not pd.api.types.is_string_dtype(s.dtype) or s.dtype == object:
        s = pd.Series(s.astype(object).where(s.notna(), None), dtype="str")
    blank = s.isna().to_numpy()
    marker_set = {m.lower() for m in markers}
    suppressed = np.zeros(n, bool)
    if marker_set - {""}:
        # markers are short: only short cells need the (slower) case-folded comparison
        suppressed = s.str.lower().isin(marker_set - {""}).fillna(False).to_numpy(dtype=bool)
    if "" in marker_set:
        suppressed = suppressed | blank
    cleaned = s
    fast = _cast_numbers(s) if not suppressed.any() else None
    if fast is not None:
        # every non-blank cell is a plain number: no markers, separators or signs to remove
        vals = fast
        bad = ~blank & ~np.isfinite(vals)  # "nan"/"inf" parse as numbers; they are not counts
        bad |= _underflow(s, vals)
        vals = np.where(bad, np.nan, vals)
        return Numbers(vals, suppressed, bad)
    if thousands:
        cleaned = cleaned.str.replace(thousands, "", regex=False)
    if percent:
        cleaned = cleaned.str.replace("%", "", regex=False).str.strip()
    vals = pd.to_numeric(cleaned, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    bad = ~blank & ~suppressed & np.isnan(vals)
    # "nan"/"inf" parse as numbers in pandas; they are not counts
    special = ~blank & ~np.isfinite(vals) & ~np.isnan(vals)
    bad |= special | _underflow(cleaned, vals)
    vals = np.where(bad | suppressed, np.nan, vals)
    return Numbers(vals, suppressed, bad)


_NONZERO_MANTISSA = re.compile(r"^[^eE]*[1-9]")


def _underflow(text: pd.Series, vals: np.ndarray) -> np.ndarray:
    """Cells whose text is a non-zero number that parsed as 0 (``1e-400``: below the smallest
    float): never silently a zero."""
    out = np.zeros(len(vals), bool)
    with np.errstate(invalid="ignore"):
        zero = np.flatnonzero(vals == 0)
    if len(zero):
        cells = text.iloc[zero].astype(object).to_numpy()
        out[zero] = [isinstance(c, str) and bool(_NONZERO_MANTISSA.match(c)) for c in cells]
    return out


def _cast_numbers(s: pd.Series) -> np.ndarray | None:
    """Floats from an Arrow-backed text column when every cell is a plain number (Arrow's
    cast, tens of times faster than ``pd.to_numeric``); None when any cell is not, so that the
    caller takes the general path (markers, separators, bad cells reported)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not isinstance(s.array, pd.arrays.ArrowStringArray):
        return None
    try:
        cast = pc.cast(pa.array(s.array), pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    return cast.to_numpy(zero_copy_only=False)


def parse_bools(text: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Parse yes/no, true/false, 1/0 (blank = False). Returns (values, bad)."""
    s = pd.Series(text.astype(object).where(text.notna(), None), dtype="str").str.lower()
    mapped = s.map(_BOOLS)
    blank = s.isna().to_numpy()
    bad = ~blank & mapped.isna().to_numpy()
    return mapped.fillna(False).to_numpy(dtype=bool), bad


def errors_for(
    mask: np.ndarray, refs: pd.Series, column: str, values: pd.Series, message: str
) -> list[RowError]:
    """RowErrors for the rows where ``mask`` is true; ``{value}`` in ``message`` is the cell."""
    if not mask.any():
        return []
    idx = np.flatnonzero(mask)
    out = []
    rv = refs.to_numpy()
    vv = values.to_numpy()
    for i in idx:
        v = vv[i]
        v = None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)
        out.append(RowError(str(rv[i]), column, v, message.format(value=v)))
    return out


_SLUG = re.compile(r"[^a-z0-9]+")


def slug(text: str) -> str:
    """A lower-case identifier from free text (``'MenB Booster'`` -> ``'menb_booster'``)."""
    return _SLUG.sub("_", text.lower()).strip("_")
