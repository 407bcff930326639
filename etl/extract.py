"""The contract between file readers (formats) and the loading pipeline.

Every format -- the canonical CSV/XLSX/YAML files, a ``--mapping`` file, or a named importer
(``fingertips``, ``qof``, ``nhse-ae``, ``ods-practices``, ``list-sizes``) -- is a *reader*: it turns
one file into an :class:`Extract` and does nothing else. It never touches the database. The
pipeline (``etl.pipeline``) then validates the extract against the database, and loads it in one
transaction, recording the load, its counts and every rejected row.

Frames use the canonical column names below. Every frame carries ``_ref``: where the row came from,
as a reader would look for it -- the line number as an editor shows it (header = line 1) for a CSV
(``"12"``), or ``"Sheet!C12"`` / ``"Sheet:12"`` for a workbook. Errors use the same references.

Canonical columns
-----------------
organisations: ``org_code, name, org_type, parent_code`` (+ ``parent_name``, ``parent_type`` to
    create a missing parent), ``is_active`` (bool, optional), ``attributes`` (dict, optional:
    free attributes such as list_size or imd_score).
indicators: ``indicator_id, name, value_type, multiplier, polarity`` and optionally ``target,
    target_label, thresholds, description, why_it_matters, numerator_label, denominator_label,
    unit, source, source_url, domain, tags, decimals, frequency, authored_by, checked_by,
    date_reviewed``.
values: ``org_code, indicator_id, period, numerator, denominator, value`` and optionally
    ``lower_ci, upper_ci`` (published intervals, kept for comparison), ``suppressed`` (bool),
    ``note``. ``period`` is the label as read (parsed later with the indicator's frequency or the
    load's ``period_type``). Numbers are floats (NaN = missing).
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import pandas as pd

ORG_COLUMNS = ("org_code", "name", "org_type", "parent_code")
INDICATOR_COLUMNS = ("indicator_id", "name", "value_type", "multiplier", "polarity")
VALUE_COLUMNS = ("org_code", "indicator_id", "period", "numerator", "denominator", "value")


@dataclass(frozen=True)
class RowError:
    """A problem with one row (or the whole file when ``ref`` is None): what and how to fix."""

    ref: str | None  # "12" (line), "Sheet!C12", or None for the file as a whole
    column: str | None
    value: str | None
    message: str

    def __post_init__(self) -> None:
        # a hostile or broken file can put megabytes into one cell or header: an error quotes
        # at most a bounded piece of it (load_errors.column is 200 characters), and a message
        # keeps its start and its advice at the end
        # A NUL character cannot be stored in PostgreSQL's text columns (load_errors): it is
        # shown as the four characters \x00 instead
        for name, limit in (("ref", 200), ("column", 200), ("value", 2000), ("message", 4000)):
            text = getattr(self, name)
            if isinstance(text, str) and "\x00" in text:
                text = text.replace("\x00", "\\x00")
                object.__setattr__(self, name, text)
            if isinstance(text, str) and len(text) > limit:
                object.__setattr__(self, name, _elide(text, limit))

    @property
    def line(self) -> int | None:
        """The line number when the reference is a plain CSV line."""
        return int(self.ref) if self.ref is not None and self.ref.isdigit() else None

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line if self.line is not None else self.ref, "column": self.column,
                "value": self.value, "message": self.message}


def _elide(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters in the middle, saying how much was left out."""
    gap = f"...[{len(text):,} characters]..."
    keep = max(limit - len(gap), 2)
    head = keep * 2 // 3
    return text[:head] + gap + text[len(text) - (keep - head):]


@dataclass
class Extract:
    """What a reader found in one file: canonical frames (any may be None) and reader errors."""

    source_name: str
    format: str
    organisations: pd.DataFrame | None = None
    indicators: pd.DataFrame | None = None
    values: pd.DataFrame | None = None
    errors: list[RowError] = field(default_factory=list)
    rows_read: int = 0
    #: options a reader wants the pipeline to apply (e.g. create missing organisations/indicators)
    create_missing_organisations: bool = False
    create_missing_indicators: bool = False
    notes: list[str] = field(default_factory=list)
    #: a large values file streamed in chunks: each item is (frame, reader errors of that chunk).
    #: When set, ``values`` is None and the pipeline consumes the iterator once.
    value_chunks: Iterator[tuple[pd.DataFrame, list[RowError]]] | None = None
    #: for workbooks: canonical column -> spreadsheet column letter, so that an error on a row
    #: referenced ``"Sheet:12"`` is reported at its cell (``"Sheet!C12"``)
    cell_columns: dict[str, str] | None = None
    #: an organisations load that only adds free attributes (e.g. list sizes): ``organisations``
    #: holds ``org_code``, ``attributes`` and ``_ref``; the pipeline merges the attributes into
    #: organisations already in the database and changes nothing else (name, type, parent,
    #: status). A code not in the database is a row error, never a new organisation.
    attributes_only: bool = False


@dataclass
class Source:
    """One input: a file on disk (or a folder of YAML files), or bytes from an upload."""

    name: str
    path: Path | None = None
    data: bytes | None = None

    @classmethod
    def of(cls, source: bytes | str | Path, file_name: str | None = None) -> Source:
        """Wrap a path or uploaded bytes (``file_name`` names bytes in messages)."""
        if isinstance(source, bytes | bytearray):
            return cls(name=file_name or "upload", data=bytes(source))
        path = Path(source)
        return cls(name=file_name or path.name, path=path)

    @property
    def suffix(self) -> str:
        """The lower-case extension of the file name (``.csv``, ``.xlsx``, ``.yaml``)."""
        return Path(self.name).suffix.lower()

    @property
    def is_dir(self) -> bool:
        return self.path is not None and self.path.is_dir()

    def open(self) -> BinaryIO:
        """A binary stream over the content (the caller closes it)."""
        if self.data is not None:
            return io.BytesIO(self.data)
        assert self.path is not None
        try:
            return self.path.open("rb")
        except OSError as exc:
            raise FileError(f"{self.name}: cannot open the file ({exc.strerror})") from None

    def head(self, size: int = 65536) -> bytes:
        """The first ``size`` bytes (for format and encoding detection)."""
        if self.data is not None:
            return self.data[:size]
        if self.is_dir:
            return b""
        with self.open() as fh:
            return fh.read(size)

    def size(self) -> int:
        if self.data is not None:
            return len(self.data)
        assert self.path is not None
        if self.is_dir:
            return sum(p.stat().st_size for p in self.path.iterdir() if p.is_file())
        return self.path.stat().st_size

    def sha256(self) -> str:
        """The content hash recorded with the load (a folder: its files in name order)."""
        digest = hashlib.sha256()
        if self.data is not None:
            digest.update(self.data)
        elif self.is_dir:
            assert self.path is not None
            for p in sorted(self.path.iterdir()):
                if p.is_file():
                    digest.update(p.name.encode())
                    digest.update(p.read_bytes())
        else:
            with self.open() as fh:
                while chunk := fh.read(1 << 20):
                    digest.update(chunk)
        return digest.hexdigest()


@dataclass
class ReadOptions:
    """What the user told the loader about the file (CLI flags / upload form fields)."""

    sheet: str | None = None
    #: the parsed mapping file (``--mapping``), see :mod:`etl.formats.mapping`
    mapping: dict[str, Any] | None = None
    mapping_name: str | None = None
    #: ``--period-type``: decides ambiguous period labels when indicators declare no frequency
    period_type: str | None = None
    #: rows per chunk when streaming a large CSV
    chunk_rows: int = 250_000
    #: options of a named importer (e.g. Fingertips breakdowns), passed through untouched
    format_options: dict[str, Any] = field(default_factory=dict)


class FileError(Exception):
    """The file as a whole cannot be read (not a CSV/XLSX, wrong encoding, no header row...).

    The message names the file and says what to fix; the CLI exits 2 and the API answers 422.
    """
