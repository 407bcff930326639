"""Upload safety: decide what a file is from its bytes, and open workbooks without surprises.

Analysts upload files that are sometimes broken and occasionally hostile, and a client's file
name is only a hint. This module therefore:

- **sniffs the content** (:func:`sniff_format`): ``xlsx`` for an OOXML zip (it must hold
  ``[Content_Types].xml`` and ``xl/workbook.xml``), ``csv`` or ``yaml`` for text that decodes as
  UTF-8 or Windows-1252 without control bytes; everything else (legacy ``.xls``, password
  protected workbooks, which are OLE2 containers, PDFs, images, UTF-16 text, binary junk) is a
  :class:`~etl.extract.FileError` that says what to save the file as;
- **reads a text file whole before any reader does** (:func:`check_text`): a control byte
  anywhere, or UTF-8 mixed with Windows-1252, is a :class:`~etl.extract.FileError` naming the
  line (about 0.15 s for a 38 MB file);
- **inspects a workbook's zip central directory before any XML is parsed**
  (:func:`check_xlsx`): too many entries, encrypted entries, unknown compression methods, a total
  uncompressed size above a bound (20x the upload limit by default) or a compression ratio only
  a zip bomb has are refused. The bound holds while reading too: Python's ``zipfile`` stops each
  member at its declared size and checks its CRC, so a member cannot inflate past what the
  directory declares. XML parts that declare a DOCTYPE (entity expansion) are refused as well;
- **opens workbooks read-only** (:func:`open_workbook`): ``openpyxl`` in ``read_only`` and
  ``data_only`` mode, so formulas are never evaluated (their cached values are read) and rows
  stream instead of building the whole workbook in memory;
- **never lets a client name reach the filesystem** (:func:`safe_file_name`): the base name
  only, stripped to a safe alphabet, with the extension the content decided.

OWASP "File Upload Cheat Sheet" (validate content, not extension or Content-Type; limit size;
rename) is the checklist followed here.
"""

from __future__ import annotations

import codecs
import io
import re
import zipfile
from dataclasses import dataclass
from pathlib import PurePosixPath, PureWindowsPath
from typing import IO, Any, Literal

import numpy as np

from etl.extract import FileError, Source

Kind = Literal["csv", "xlsx", "yaml"]

#: zip local-file header (also the first bytes of every XLSX)
ZIP_MAGIC = b"PK\x03\x04"
_ZIP_EMPTY = b"PK\x05\x06"
#: OLE2 compound document: legacy .xls, and also password-protected (encrypted) .xlsx files
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_BINARY_MAGIC = {
    b"%PDF": "a PDF document",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"\x1f\x8b": "a gzip archive",
    b"BZh": "a bzip2 archive",
    b"7z\xbc\xaf\x27\x1c": "a 7-Zip archive",
    b"Rar!": "a RAR archive",
    b"\x7fELF": "a program (ELF executable)",
    b"MZ": "a Windows program",
    b"SQLite format 3\x00": "an SQLite database",
    b"PAR1": "a Parquet file",
}
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_UTF8_BOM = b"\xef\xbb\xbf"

#: the most entries a workbook may have (a real one has tens; each costs a directory read)
MAX_ENTRIES = 2_000
#: total uncompressed size allowed, as a multiple of the upload limit
UNCOMPRESSED_FACTOR = 20
#: compression ratio above which a large member is taken for a zip bomb. Measured here: the
#: real QOF 2019-20 workbook at most 13x, a sheet of 100,000 identical generated rows 14x;
#: a member of zeros (the classic bomb) about 1,000x.
MAX_RATIO = 200
#: members smaller than this are not ratio-checked (tiny XML parts compress absurdly well)
RATIO_FLOOR = 1 << 20
#: bytes of each XML part scanned for a DOCTYPE declaration
_XML_SCAN = 4096
_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0e-\x1f]")
_YAML_START = re.compile(r"^(---|%YAML|(- +)?[A-Za-z_][\w .-]*:( |$))")
_SAFE_CHARS = re.compile(r"[^A-Za-z0-9._ -]+")


@dataclass(frozen=True)
class XlsxLimits:
    """Bounds applied to a workbook's zip directory (see the module docstring)."""

    max_uncompressed: int
    max_entries: int = MAX_ENTRIES
    max_ratio: float = MAX_RATIO
    ratio_floor: int = RATIO_FLOOR

    @classmethod
    def for_upload_limit(cls, max_upload_bytes: int | None = None) -> XlsxLimits:
        """Limits derived from ``QIDASH_MAX_UPLOAD_MB`` (or the byte count given)."""
        if max_upload_bytes is None:
            from core.settings import get_settings

            max_upload_bytes = get_settings().max_upload_mb * 1024 * 1024
        return cls(max_uncompressed=max_upload_bytes * UNCOMPRESSED_FACTOR)


@dataclass(frozen=True)
class CheckedUpload:
    """An upload that passed the checks: what it is and the safe name to record it under."""

    kind: Kind
    file_name: str
    size: int


def _mib(n: float) -> str:
    return f"{n / (1024 * 1024):,.1f} MiB"


# sniffing ------------------------------------------------------------------------------------
def sniff_format(head: bytes, name: str = "upload") -> Kind:
    """``xlsx``, ``csv`` or ``yaml`` from the first bytes of a file (never from its name).

    ``head`` should be the first 64 KiB or so. Raises :class:`FileError` naming what the file
    looks like and what to save it as.
    """
    if not head:
        raise FileError(f"{name}: the file is empty; it needs a header row and data rows")
    if head.startswith(ZIP_MAGIC) or head.startswith(_ZIP_EMPTY):
        return "xlsx"  # confirmed (or refused) by check_xlsx, which reads the directory
    if head.startswith(OLE2_MAGIC):
        raise FileError(
            f"{name}: this is a password-protected workbook or an old Excel 97-2003 (.xls) "
            "file; remove the password and save it as an Excel Workbook (.xlsx) or as CSV UTF-8"
        )
    for magic, what in _BINARY_MAGIC.items():
        if head.startswith(magic):
            raise FileError(
                f"{name}: this is {what}, not a CSV, XLSX or YAML file; export the data as CSV "
                "UTF-8 or as an Excel Workbook (.xlsx)"
            )
    if head.startswith(_UTF16_BOMS) or (len(head) >= 4 and head[1:4:2] == b"\x00\x00"):
        raise FileError(
            f"{name}: the file is UTF-16 text (Excel's 'Unicode Text'); save it as CSV UTF-8 "
            "and load it again"
        )
    bad = _CONTROL.search(head)
    if bad is not None:
        raise FileError(
            f"{name}: the file holds binary data (byte {head[bad.start()]:#04x} at offset "
            f"{bad.start()}), not text; export the data as CSV UTF-8 or as an Excel Workbook"
        )
    text = _decode_head(head, name)
    return "yaml" if _looks_like_yaml(text) else "csv"


def _decode_head(head: bytes, name: str) -> str:
    body = head[len(_UTF8_BOM):] if head.startswith(_UTF8_BOM) else head
    try:
        # final=False: a multi-byte character cut at the end of the head is not an error
        return codecs.getincrementaldecoder("utf-8")().decode(body, final=False)
    except UnicodeDecodeError:
        pass
    try:
        return body.decode("cp1252")
    except UnicodeDecodeError as exc:
        raise FileError(
            f"{name}: the file is neither UTF-8 nor Windows-1252 text (byte "
            f"{body[exc.start]:#04x} at offset {exc.start}); save it as CSV UTF-8"
        ) from None


#: a well-formed UTF-8 sequence of two to four bytes (RFC 3629): in a file that is not valid
#: UTF-8 as a whole, one of these means part of it was saved as UTF-8 and part as something else
_UTF8_MULTIBYTE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|\xe0[\xa0-\xbf][\x80-\xbf]|[\xe1-\xec\xee\xef][\x80-\xbf]{2}"
    rb"|\xed[\x80-\x9f][\x80-\xbf]|\xf0[\x90-\xbf][\x80-\xbf]{2}|[\xf1-\xf3][\x80-\xbf]{3}"
    rb"|\xf4[\x80-\x8f][\x80-\xbf]{2}")
_BLOCK = 1 << 22
_CONTROL_BYTES = bytes([*range(0x00, 0x09), 0x0B, *range(0x0E, 0x20)])


def check_text(source: Source) -> None:
    """Refuse a text file that is not text all the way through, naming the line.

    :func:`sniff_format` sees only the first 64 KiB; this reads the whole file in blocks
    (bounded memory) and refuses:

    - a control byte (NUL and the like) anywhere: binary data, which PostgreSQL cannot even
      store in a message;
    - a file that is not valid UTF-8 but holds well-formed UTF-8 characters as well: two
      encodings mixed (a UTF-8 export with one line pasted from a Windows-1252 file). Reading it
      as either would garble the other part (``Trust Ré`` -> ``Trust RÃ©``) without a word.

    A file that is Windows-1252 throughout passes (readers decode it as such).
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    fed = lines = 0  # bytes read before this block, line breaks before it
    bad_at: int | None = None  # offset of the first byte that is not UTF-8
    bom = False
    with source.open() as fh:
        while block := fh.read(_BLOCK):
            if not fed:
                bom = block.startswith(_UTF8_BOM)
            # deleting the control bytes is a fast C loop; the regex only finds the first one
            if len(block.translate(None, _CONTROL_BYTES)) != len(block):
                ctrl = _CONTROL.search(block)
                assert ctrl is not None
                line = lines + block.count(b"\n", 0, ctrl.start()) + 1
                raise FileError(
                    f"{source.name}: line {line} holds binary data (byte "
                    f"{block[ctrl.start()]:#04x}), not text; remove it or export the data "
                    "again as CSV UTF-8"
                )
            if bad_at is None:
                try:
                    decoder.decode(block)
                except UnicodeDecodeError as exc:
                    held = len(exc.object) - len(block)  # bytes the decoder kept from before
                    bad_at = fed - held + exc.start
            fed += len(block)
            lines += block.count(b"\n")
    if bad_at is None:
        try:
            decoder.decode(b"", final=True)
            return  # UTF-8 throughout
        except UnicodeDecodeError as exc:  # a character cut short at the very end
            bad_at = fed - len(exc.object) + exc.start
    # not UTF-8 as a whole: Windows-1252 throughout is fine, UTF-8 characters elsewhere are not
    utf8_at = 0 if bom else _first_utf8_character(source)
    if utf8_at is not None:
        _mixed(source, bad_at, utf8_at)


def _first_utf8_character(source: Source) -> int | None:
    """The offset of the first well-formed multi-byte UTF-8 character (ASCII blocks skipped)."""
    fed = 0
    tail = b""  # the last bytes of the previous block (a character split across blocks)
    with source.open() as fh:
        while block := fh.read(_BLOCK):
            if not block.isascii():
                data = tail + block
                a = np.frombuffer(data, dtype=np.uint8)
                # a lead byte followed by a continuation byte (vectorised), then the exact check
                lead = (a[:-1] >= 0xC2) & (a[:-1] <= 0xF4)
                cont = (a[1:] >= 0x80) & (a[1:] <= 0xBF)
                for pos in np.flatnonzero(lead & cont):
                    if _UTF8_MULTIBYTE.match(data, int(pos)):
                        return fed - len(tail) + int(pos)
            fed += len(block)
            tail = block[-3:]
    return None


def _mixed(source: Source, bad_at: int, utf8_at: int) -> None:
    raise FileError(
        f"{source.name}: line {_line_of(source, bad_at)} is not UTF-8 (byte "
        f"{_byte_at(source, bad_at):#04x}) although line {_line_of(source, utf8_at)} is: the "
        "file mixes two encodings, and reading it as either would garble the accented letters "
        "of the other; save the whole file as CSV UTF-8 and load it again"
    )


def _line_of(source: Source, offset: int) -> int:
    """The line (1-based) of the byte at ``offset``."""
    lines = 0
    with source.open() as fh:
        while offset > 0 and (block := fh.read(min(_BLOCK, offset))):
            lines += block.count(b"\n")
            offset -= len(block)
    return lines + 1


def _byte_at(source: Source, offset: int) -> int:
    with source.open() as fh:
        fh.seek(offset)
        return fh.read(1)[0]


def _looks_like_yaml(text: str) -> bool:
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        # a CSV header line names columns separated by commas; YAML opens with "key: ..." or a
        # list item "- key: ...". A header cell holding ": " is rare enough to be an edge case
        # that the mapping format handles.
        return bool(_YAML_START.match(line)) and "," not in line.split(":", 1)[0]
    return False


# workbooks -----------------------------------------------------------------------------------
def check_xlsx(fh: IO[bytes], name: str = "upload", limits: XlsxLimits | None = None) -> None:
    """Refuse a workbook whose zip directory or XML parts are unsafe (see the module docstring).

    ``fh`` is a seekable binary stream positioned anywhere; only the central directory and the
    first few KiB of each XML part are read.
    """
    limits = limits or XlsxLimits.for_upload_limit()
    try:
        zf = zipfile.ZipFile(fh)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError,
            NotImplementedError) as exc:  # NotImplementedError: a 'version needed' above 6.3
        raise FileError(
            f"{name}: not a readable XLSX workbook (damaged or truncated zip: {exc}); save it "
            "again from Excel as an Excel Workbook (.xlsx)"
        ) from None
    with zf:
        infos = zf.infolist()
        if len(infos) > limits.max_entries:
            raise FileError(
                f"{name}: the workbook holds {len(infos):,} parts (more than "
                f"{limits.max_entries:,}); this is not a normal spreadsheet, save the sheet as "
                "CSV UTF-8 instead"
            )
        names = {i.filename for i in infos}
        if "xl/workbook.bin" in names:
            raise FileError(
                f"{name}: this is a binary workbook (.xlsb); save it as an Excel Workbook "
                "(.xlsx) or as CSV UTF-8"
            )
        if "[Content_Types].xml" not in names or "xl/workbook.xml" not in names:
            raise FileError(
                f"{name}: a zip file but not an Excel workbook (no xl/workbook.xml); upload the "
                "CSV or XLSX file itself, not an archive"
            )
        total = 0
        for info in infos:
            if info.flag_bits & 0x1:
                raise FileError(
                    f"{name}: the workbook is encrypted; remove the password and save it again"
                )
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise FileError(
                    f"{name}: part {info.filename!r} uses an unsupported compression method "
                    f"({info.compress_type}); save the workbook again from Excel"
                )
            total += info.file_size
            ratio = info.file_size / max(info.compress_size, 1)
            if info.file_size > limits.ratio_floor and ratio > limits.max_ratio:
                raise FileError(
                    f"{name}: part {info.filename!r} expands {ratio:,.0f} times (to "
                    f"{_mib(info.file_size)}); that is a zip bomb, not a spreadsheet"
                )
        if total > limits.max_uncompressed:
            raise FileError(
                f"{name}: the workbook expands to {_mib(total)} (the limit is "
                f"{_mib(limits.max_uncompressed)}); split it, or save the sheet as CSV UTF-8"
            )
        for info in infos:
            if info.filename.endswith((".xml", ".rels", ".vml")):
                _check_xml_part(zf, info, name)


def _check_xml_part(zf: zipfile.ZipFile, info: zipfile.ZipInfo, name: str) -> None:
    try:
        with zf.open(info) as part:
            start = part.read(_XML_SCAN)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError,
            RuntimeError) as exc:  # zlib.error is a subclass of Exception only
        raise FileError(
            f"{name}: part {info.filename!r} of the workbook is damaged ({exc}); save it again "
            "from Excel"
        ) from None
    except Exception as exc:  # zlib.error for a corrupt deflate stream
        raise FileError(
            f"{name}: part {info.filename!r} of the workbook is damaged ({type(exc).__name__}); "
            "save it again from Excel"
        ) from None
    if b"<!DOCTYPE" in start or b"<!ENTITY" in start:
        raise FileError(
            f"{name}: part {info.filename!r} declares XML entities, which spreadsheets never "
            "do; the file is refused"
        )


def open_workbook(source: Source | bytes, name: str | None = None,
                  limits: XlsxLimits | None = None) -> Any:
    """Check a workbook (:func:`check_xlsx`) and open it with openpyxl, read-only.

    Returns an ``openpyxl`` read-only workbook; the caller closes it (``wb.close()``).
    """
    import openpyxl

    src = source if isinstance(source, Source) else Source.of(source, name or "upload")
    label = name or src.name
    head = src.head(8)
    if not head.startswith(ZIP_MAGIC):
        sniff_format(src.head(), label)  # raises with what the file is instead
        raise FileError(f"{label}: not an XLSX workbook; save it as an Excel Workbook (.xlsx)")
    with src.open() as fh:
        check_xlsx(fh, label, limits)
    data = src.data if src.data is not None else None
    try:
        if data is not None:
            return openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        assert src.path is not None
        return openpyxl.load_workbook(src.path, read_only=True, data_only=True)
    except FileError:
        raise
    except Exception as exc:  # openpyxl raises many kinds of errors for a damaged part
        raise FileError(
            f"{label}: not a readable XLSX workbook ({type(exc).__name__}: {exc}); save it "
            "again from Excel as an Excel Workbook (.xlsx)"
        ) from None


# uploads -------------------------------------------------------------------------------------
def safe_file_name(client_name: str | None, kind: Kind) -> str:
    """A name to record an upload under: the client's base name (no folders, no odd
    characters), with the extension the content decided. Never used as a filesystem path."""
    raw = (client_name or "").replace("\x00", "")
    # both separators: a Windows browser may send C:\\Users\\...\\file.csv
    base = PureWindowsPath(PurePosixPath(raw).name).name
    stem = _SAFE_CHARS.sub("_", base.rsplit(".", 1)[0] if "." in base else base)
    stem = stem.strip(" ._")[:150] or "upload"
    ext = {"csv": ".csv", "xlsx": ".xlsx", "yaml": ".yaml"}[kind]
    return stem + ext


def check_upload(data: bytes, client_name: str | None = None, *,
                 max_bytes: int | None = None) -> CheckedUpload:
    """Check uploaded bytes: size, content type (sniffed), workbook safety.

    Returns the kind and a safe file name whose extension matches the content (so the readers,
    which choose CSV or XLSX parsing by extension, follow the bytes, not the client). Raises
    :class:`FileError` with a message for the user; the API maps an oversize upload to 413
    before calling this (the size check here protects other callers).
    """
    if max_bytes is None:
        from core.settings import get_settings

        max_bytes = get_settings().max_upload_mb * 1024 * 1024
    shown = safe_file_name(client_name, "csv").rsplit(".", 1)[0] if client_name else "upload"
    if len(data) > max_bytes:
        raise FileError(
            f"{shown}: the file is {_mib(len(data))}, above the upload limit of "
            f"{_mib(max_bytes)} (QIDASH_MAX_UPLOAD_MB)"
        )
    kind = sniff_format(data[:65536], shown)
    if kind == "xlsx":
        check_xlsx(io.BytesIO(data), shown, XlsxLimits(max_uncompressed=max_bytes
                                                       * UNCOMPRESSED_FACTOR))
    else:
        check_text(Source(name=shown, data=data))
    return CheckedUpload(kind=kind, file_name=safe_file_name(client_name, kind), size=len(data))


def check_source(source: Source, limits: XlsxLimits | None = None) -> Kind | None:
    """Sniff and check a source before a reader opens it (folders of YAML pass through).

    Used by the pipeline for files from disk and uploads alike.
    """
    if source.is_dir:
        return None
    kind = sniff_format(source.head(), source.name)
    if kind == "xlsx":
        with source.open() as fh:
            check_xlsx(fh, source.name, limits)
    else:
        check_text(source)
    return kind


_WORKBOOK_SUFFIXES = (".xlsx", ".xlsm")


def checked_source(source: Source, limits: XlsxLimits | None = None) -> Source:
    """The pipeline's gate: check ``source`` (:func:`check_source`) and make its name agree
    with its content, so that readers (which pick CSV or workbook parsing by extension) follow
    the bytes. Uploaded bytes get a safe name (:func:`safe_file_name`: ``values.csv`` holding a
    workbook becomes ``values.xlsx``, ``../x.csv`` becomes ``x.csv``); a file on disk whose
    extension lies about a workbook is refused with what to rename it to.
    """
    kind = check_source(source, limits)
    if kind is None:
        return source
    if source.data is not None:  # an upload: a safe base name, the extension from the bytes
        return Source(name=safe_file_name(source.name, kind), data=source.data)
    if (kind == "xlsx") == (source.suffix in _WORKBOOK_SUFFIXES):
        return source
    what = "an Excel workbook" if kind == "xlsx" else "text (CSV or YAML), not a workbook"
    fix = "name it .xlsx" if kind == "xlsx" else "name it .csv (or save it from Excel as .xlsx)"
    raise FileError(f"{source.name}: the file is {what}; {fix} and load it again")


__all__ = [
    "CheckedUpload",
    "checked_source",
    "XlsxLimits",
    "check_source",
    "check_text",
    "check_upload",
    "check_xlsx",
    "open_workbook",
    "safe_file_name",
    "sniff_format",
]
