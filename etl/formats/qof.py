"""Reader for NHS Digital's QOF prevalence, achievement and PCA workbooks.

The Quality and Outcomes Framework publication (https://digital.nhs.uk/pubs/qof1920 for 2019-20)
ships workbooks at practice, PCN, sub-ICB (CCG) and region level, one sheet per clinical area.
Each sheet has a title, stacked header rows (a group row "Prevalence / Achievement /
Personalised Care Adjustment", a row of years and indicator codes, one or two rows of column
names), filler cells ("_"), notes and a copyright footnote. Layouts change between years, so
this reader finds everything by header *text* (:data:`ORG_LEVELS`, :data:`LEAVES`), never by
position, and says which sheet or header it did not understand.

What is loaded, per organisation, for the publication's year
------------------------------------------------------------
* ``qof-<area>-prev``: prevalence = register / list size (the list size the publication uses
  for that register, e.g. "List size ages 30-74"), ``no_judgement``.
* ``qof-<code>`` (e.g. ``qof-af006``): achievement *net of PCAs*, numerator / denominator, as
  published ("Underlying achievement net of PCAs"), ``higher_is_better``. This is the main
  indicator: it is the figure QOF pays on and NHS Digital headlines.
* ``qof-<code>-pca``: personalised care adjustments (called exceptions before 2019-20) as a
  separate indicator, PCAs / (denominator + PCAs), ``no_judgement``. A separate indicator, not a
  note, because exception rates are themselves compared between practices (high rates are
  queried), and it needs a numerator and denominator of its own to be compared honestly. The
  "intervention rate" (numerator / (denominator + PCAs)) follows from the two.

Register indicators (``AF001``: points only) and quality-improvement indicators (``QI001``:
points only) have no numerator and denominator and are not loaded (the notes say so). The
previous year's prevalence columns are not loaded: load that year's own workbook, whose figures
are the ones published for it.

Organisations are those of the finest level the workbook has (practice, PCN, CCG/sub-ICB, STP/ICB,
region) with their parents from the coarser level columns when present. The year comes from the
workbook's title ("Quality and Outcomes Framework 2019-20"), else the sheet's table title, else
the ``period`` option.

Speed: workbooks are read with python-calamine (:func:`etl.formats._importer_util.open_xlsx`;
openpyxl only when calamine cannot read a file) and each column is parsed at once, so a national
practice-level workbook (~6,750 practices, ~750,000 values) reads in seconds rather than the
40-100 s openpyxl needed (``bench/bench_importers.py``).
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

import numpy as np

from core.periods import PeriodError, parse_period
from etl.extract import Extract, FileError, RowError
from etl.formats._importer_util import (
    XlsxBook,
    cell_value,
    indicators_frame,
    kind_and_options,
    norm,
    open_xlsx,
    opt,
    orgs_frame,
    parse_cells,
    source_bytes,
    values_frame,
)

FORMAT = "qof"
KINDS = ("values",)

#: Organisation levels, finest first: (org_type, code header patterns, name header patterns).
ORG_LEVELS: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("practice", (r"^practice (ods )?code",), (r"^practice name",)),
    ("pcn", (r"^pcn (ods )?code",), (r"^pcn name",)),
    ("sub_icb", (r"^(ccg|sub-icb( location)?) ods code", r"^(ccg|sub-icb( location)?) code"),
     (r"^(ccg|sub-icb( location)?) name",)),
    ("icb", (r"^(stp|icb) ods code", r"^(stp|icb) code"), (r"^(stp|icb) name",)),
    ("region", (r"^(nhs )?region ods code", r"^(nhs )?region code"), (r"^(nhs )?region name",)),
)
ONS_CODE = r"ons code"
#: Column headers inside a block (the stacked header cells joined, lower case).
LEAVES: dict[str, str] = {
    "register": r"^register$",
    "list_size": r"^list size",
    "prevalence": r"^prevalence \(%\)",
    "numerator": r"^numerator$",
    "denominator": r"^denominator$",
    "pcas": r"^(pcas|exceptions)$",
    "denominator_plus_pcas": r"^denominator plus (pcas|exceptions)",
    "achievement": r"^underlying achievement net of (pca|exception)",
    "pca_rate": r"^(pca|exception) rate",
}
#: The group row's text that marks the prevalence block.
PREVALENCE_GROUP = r"^prevalence"
INDICATOR_CODE = re.compile(r"^[A-Z][A-Z-]{0,7}\d{3}$")
YEAR_LABEL = re.compile(r"^(\d{4})-(\d{2})$")
ORG_CODE = re.compile(r"^[A-Z0-9]{3,10}$")
_TITLE_YEAR = re.compile(r"Quality and Outcomes Framework,?\s*(\d{4}-\d{2})", re.I)
_TABLE_TITLE = re.compile(r"^Table \d+:\s*(.*?),\s*(\d{4}-\d{2}),\s*(.*?) level", re.I)
_HEADER_SEARCH_ROWS = 40
#: Sheets may claim 16,384 columns (a formatted title sheet); no QOF table is wider than this.
_MAX_COLUMNS = 1000
_ANY_ORG_HEADER = re.compile("|".join(p for _, pats, _ in ORG_LEVELS for p in pats))


def sniff(head: Any) -> bool:
    """True for a QOF workbook: an XLSX whose sheets include QOF clinical areas.

    Needs the whole workbook's bytes (or a path): the sheet names live in xl/workbook.xml.
    """
    if not isinstance(head, bytes | bytearray | memoryview) or bytes(head[:4]) != b"PK\x03\x04":
        return False
    try:
        with zipfile.ZipFile(io.BytesIO(bytes(head))) as zf:
            book = zf.read("xl/workbook.xml").decode("utf-8", errors="replace")
    except (zipfile.BadZipFile, KeyError, OSError):
        return False
    return _qof_sheets(book)


def detect(source: Any) -> bool:
    """Does the pipeline's ``Source`` look like a QOF workbook (its sheet names)?"""
    if source.head(4) != b"PK\x03\x04":
        return False
    path = getattr(source, "path", None)
    try:
        with zipfile.ZipFile(path if path is not None else io.BytesIO(source.data)) as zf:
            book = zf.read("xl/workbook.xml").decode("utf-8", errors="replace")
    except (zipfile.BadZipFile, KeyError, OSError):
        return False
    return _qof_sheets(book)


def _qof_sheets(workbook_xml: str) -> bool:
    names = set(re.findall(r'<sheet [^>]*name="([^"]+)"', workbook_xml))
    return len(names & {"AF", "CHD", "HYP", "DM", "AST", "COPD", "CKD", "DEM", "MH"}) >= 3


@dataclass
class _Block:
    """The columns of one indicator (or the prevalence) in one sheet."""

    key: str  # indicator code or "prevalence"
    columns: dict[str, int] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    description: str | None = None


@dataclass
class _Sheet:
    name: str
    header_row: int  # 1-based row of the column names
    levels: list[tuple[str, int, int | None]]  # (org_type, code col, name col), finest first
    ons_col: int | None
    blocks: list[_Block]
    area: str | None  # the clinical area from the table title
    year: str | None


def _letters(i: int) -> str:
    s, i = "", i + 1
    while i:
        i, r = divmod(i - 1, 26)
        s = chr(65 + r) + s
    return s


def _ffill(row: tuple[Any, ...], width: int) -> list[str]:
    out, last = [], ""
    for j in range(width):
        v = row[j] if j < len(row) else None
        text = norm(v)
        if text and text != "_":
            last = str(v).strip()
        out.append(last)
    return out


def _layout(name: str, head_rows: list[tuple[Any, ...]], year: str | None,
            notes: list[str]) -> _Sheet | None:
    """Understand a sheet's header zone, or None (with a note) when it is not a data sheet."""
    header_idx = None
    for i, row in enumerate(head_rows):
        if any(isinstance(c, str) and _ANY_ORG_HEADER.search(norm(c)) for c in row):
            header_idx = i
            break
    if header_idx is None:
        return None
    width = max(len(r) for r in head_rows[: header_idx + 1])
    leaf_row = head_rows[header_idx]
    levels: list[tuple[str, int, int | None]] = []
    ons_col = None
    cells = [norm(c) for c in leaf_row]
    for org_type, code_pats, name_pats in ORG_LEVELS:
        code_col = next((j for j, c in enumerate(cells)
                         if any(re.search(p, c) for p in code_pats)), None)
        if code_col is None:
            continue
        name_col = next((j for j, c in enumerate(cells)
                         if any(re.search(p, c) for p in name_pats)), None)
        levels.append((org_type, code_col, name_col))
    if levels:
        prefix = norm(leaf_row[levels[0][1]]).split(" ")[0]
        ons_col = next((j for j, c in enumerate(cells)
                        if c.startswith(prefix) and ONS_CODE in c), None)

    # The row of years and indicator codes, and the group row above it.
    code_idx = None
    for i in range(header_idx - 1, max(-1, header_idx - 6), -1):
        row = head_rows[i]
        if any(isinstance(c, str) and (INDICATOR_CODE.match(c.strip())
                                       or YEAR_LABEL.match(c.strip())) for c in row):
            code_idx = i
            break
    if code_idx is None:
        notes.append(f"sheet {name!r}: no row of years or indicator codes above the header row "
                     f"{header_idx + 1}; sheet not understood")
        return None
    group_idx = next((i for i in range(code_idx - 1, max(-1, code_idx - 4), -1)
                      if any(re.search(PREVALENCE_GROUP + "|^achievement|^list size", norm(c))
                             for c in head_rows[i])), None)
    groups = _ffill(head_rows[group_idx], width) if group_idx is not None else [""] * width
    codes = _ffill(head_rows[code_idx], width)
    leaves = []
    for j in range(width):
        parts = [head_rows[i][j] if j < len(head_rows[i]) else None
                 for i in range(code_idx + 1, header_idx + 1)]
        leaves.append(norm(" ".join(str(p) for p in parts if p is not None and norm(p) != "_")))

    area, table_year = None, None
    for row in head_rows[:header_idx]:
        for c in row:
            if isinstance(c, str) and (m := _TABLE_TITLE.match(c.strip())):
                area = m.group(1).split(",")[-1].strip()
                table_year = m.group(2)
    year = year or table_year
    if year is None:
        labels = sorted({c for c in codes if YEAR_LABEL.match(c)})
        year = labels[-1] if labels else None

    blocks: dict[str, _Block] = {}
    for j in range(width):
        leaf, code, group = leaves[j], codes[j], norm(groups[j])
        if INDICATOR_CODE.match(code):
            key = code
        elif re.search(PREVALENCE_GROUP, group) and code == year:
            key = "prevalence"
        else:
            continue
        block = blocks.setdefault(key, _Block(key))
        for leaf_key, pattern in LEAVES.items():
            if re.search(pattern, leaf) and leaf_key not in block.columns:
                block.columns[leaf_key] = j
                block.labels[leaf_key] = leaf
    # Each indicator's description is the long text above its code (row 2 in NHS Digital's
    # layout), searched upwards so that a moved row is still found.
    for key, block in blocks.items():
        if key == "prevalence":
            continue
        j = codes.index(key)
        for row in head_rows[:code_idx]:
            v = row[j] if j < len(row) else None
            if isinstance(v, str) and len(v.strip()) > 20 and not v.startswith("Table"):
                block.description = v.strip()
                break
    return _Sheet(name, header_idx + 1, levels, ons_col, list(blocks.values()), area, year)


def _workbook_year(book: XlsxBook) -> tuple[str | None, str | None]:
    """(year, publication link) from the title sheet, when there is one."""
    for sheet in book.worksheet_names[:2]:
        year = link = None
        for row in book.rows(sheet, nrows=30):
            for c in row[:6]:
                if isinstance(c, str):
                    if year is None and (m := _TITLE_YEAR.search(c)):
                        year = m.group(1)
                    if link is None and c.strip().startswith("https://"):
                        link = c.strip()
        if year:
            return year, link
    return None, None


def read(source: Any, kind: Any = None, options: Any = None) -> Extract:
    """Read a QOF prevalence/achievement/PCA workbook.

    Options: ``sheet`` (one sheet name, or several separated by commas; default all),
    ``period`` (the financial year, when the workbook does not say), ``id_prefix`` (default
    ``qof-``).
    """
    _, options = kind_and_options(kind, options)
    data, name = source_bytes(source, options)
    if data[:4] != b"PK\x03\x04":
        raise FileError(f"{name}: is not an XLSX workbook; QOF files are the .xlsx workbooks "
                        "NHS Digital publishes")
    book = open_xlsx(data, name)  # python-calamine; openpyxl when calamine cannot read it
    extract = Extract(source_name=name, format=FORMAT, create_missing_organisations=True,
                      create_missing_indicators=True)
    try:
        _read_workbook(book, name, options, extract)
    finally:
        book.close()
    return extract


def _read_workbook(book: XlsxBook, name: str, options: Any, extract: Extract) -> None:
    prefix = str(opt(options, "id_prefix", "qof-"))
    wanted = opt(options, "sheet")
    sheets = book.sheet_names
    if wanted:
        chosen = [s.strip() for s in str(wanted).split(",")]
        unknown = [s for s in chosen if s not in sheets]
        if unknown:
            raise FileError(f"{name}: no sheet named {', '.join(map(repr, unknown))}; the sheets "
                            f"are {', '.join(map(repr, sheets))}")
    else:
        chosen = sheets
    year, link = _workbook_year(book)
    if opt(options, "period"):
        year = str(opt(options, "period"))

    values: dict[str, list[np.ndarray]] = {k: [] for k in (
        "org_code", "indicator_id", "period", "numerator", "denominator", "value", "_ref")}
    orgs: dict[str, dict[str, Any]] = {}
    seen: set[tuple[Any, ...]] = set()  # organisation cells already recorded
    indicators: dict[str, dict[str, Any]] = {}
    understood = []
    for sheet_name in chosen:
        rows = book.rows(sheet_name)
        # Header cells as openpyxl gives them (None when empty, whole numbers as int): they are
        # matched and printed as text.
        head_rows = [_trim(tuple(cell_value(v) for v in row[:_MAX_COLUMNS]))
                     for row in rows[:_HEADER_SEARCH_ROWS]]
        layout = _layout(sheet_name, head_rows, year, extract.notes)
        if layout is None:
            extract.notes.append(f"sheet {sheet_name!r} skipped: no organisation code header "
                                 "(e.g. 'CCG ODS code') in its first rows (a title or notes "
                                 "sheet)")
            continue
        if not layout.levels:
            extract.errors.append(RowError(f"{sheet_name}!A{layout.header_row}", None, None,
                                           f"sheet {sheet_name!r}: no organisation code column "
                                           "understood"))
            continue
        try:
            period = parse_period(layout.year, "financial_year").label if layout.year else None
        except PeriodError as exc:
            raise FileError(f"{name}: sheet {sheet_name!r}: year {layout.year!r}: {exc}") \
                from None
        if period is None:
            raise FileError(f"{name}: the QOF year is not in the title sheet nor in sheet "
                            f"{sheet_name!r}; pass it as the period option (e.g. 2019-20)")
        loadable = [b for b in layout.blocks if _loadable(b, sheet_name, extract)]
        if not loadable:
            extract.notes.append(f"sheet {sheet_name!r}: no prevalence and no indicator with a "
                                 "numerator and denominator; nothing loaded from it")
            continue
        understood.append(sheet_name)
        _read_rows(layout, loadable, rows[layout.header_row:], layout.header_row + 1, period,
                   prefix, values, orgs, seen, extract)
        for block in loadable:
            _define(block, layout, prefix, name, link, period, indicators)
        del rows
    if not understood:
        raise FileError(
            f"{name}: no sheet was understood as a QOF table (looked for a header row with an "
            f"organisation code column such as 'CCG ODS code' or 'Practice code', above it a "
            f"row of years and indicator codes). Sheets: {', '.join(map(repr, chosen))}")
    extract.values = values_frame({
        k: np.concatenate(v) if v else np.array([], dtype=float if k in (
            "numerator", "denominator", "value") else object) for k, v in values.items()})
    extract.values["suppressed"] = False
    extract.rows_read = len(extract.values)
    extract.indicators = indicators_frame(list(indicators.values()))
    extract.organisations = orgs_frame(list(orgs.values()))


def _trim(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """The row without its trailing empty cells."""
    end = len(row)
    while end and row[end - 1] is None:
        end -= 1
    return row[:end]


def _loadable(block: _Block, sheet: str, extract: Extract) -> bool:
    cols = block.columns
    if block.key == "prevalence":
        if "register" in cols and "list_size" in cols:
            return True
        extract.errors.append(RowError(
            f"{sheet}!{_letters(min(cols.values(), default=0))}1", None, None,
            f"sheet {sheet!r}: the prevalence block has no 'Register' and 'List size' columns; "
            "prevalence not loaded from this sheet"))
        return False
    if "numerator" in cols and "denominator" in cols:
        return True
    extract.notes.append(f"sheet {sheet!r}: {block.key} has no numerator and denominator "
                         "(points only); not loaded")
    return False


class _Refs(Sequence):
    """Cell references ``Sheet!C12`` of one column, built only when read (for bad cells)."""

    def __init__(self, sheet: str, letter: str, row_numbers: list[int]) -> None:
        self._prefix, self._rows = f"{sheet}!{letter}", row_numbers

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, i):
        return f"{self._prefix}{self._rows[i]}"


def _read_rows(layout: _Sheet, blocks: list[_Block], rows: list[list[Any]], first_row: int,
               period: str, prefix: str, values: dict[str, list[np.ndarray]],
               orgs: dict[str, dict[str, Any]], seen: set[tuple[Any, ...]],
               extract: Extract) -> None:
    finest_type, code_col, name_col = layout.levels[0]
    needed = [(b, k, j) for b in blocks for k, j in b.columns.items()]
    sheet = layout.name
    # Which rows are organisations (filler, notes and footnotes are not), then each needed
    # column at once: transposed in C and parsed vectorised, every bad cell reported with its
    # cell reference.
    kept, codes, row_numbers = [], [], []
    level_cols = tuple(j for _, c, n in layout.levels for j in (c, n) if j is not None) \
        + ((layout.ons_col,) if layout.ons_col is not None else ())
    level_cells, last_level_col = itemgetter(*level_cols), max(level_cols)
    for offset, row in enumerate(rows):
        code = cell_value(row[code_col]) if code_col < len(row) else None
        code = str(code).strip() if code is not None else ""
        if not ORG_CODE.match(code):
            continue
        r = first_row + offset
        kept.append(row)
        codes.append(code)
        row_numbers.append(r)
        # A row naming the same organisations as an earlier one (in this sheet or another with
        # the same organisation columns) adds nothing.
        key = (level_cols, level_cells(row) if len(row) > last_level_col else
               tuple(row[j] if j < len(row) else None for j in level_cols))
        if key not in seen:
            seen.add(key)
            _organisation(layout, row, code, r, orgs)
    if not codes:
        extract.errors.append(RowError(f"{sheet}!{_letters(code_col)}{first_row}", None, None,
                                       f"sheet {sheet!r}: no organisation rows under the header"))
        return
    width = max(len(r) for r in kept)
    if any(len(r) != width for r in kept):
        kept = [list(r) + [None] * (width - len(r)) for r in kept]
    columns = list(zip(*kept, strict=True))
    parsed: dict[tuple[str, str], np.ndarray] = {}
    for block, leaf, j in needed:
        label = f"{sheet} {block.key} {block.labels[leaf]}"
        parsed[(block.key, leaf)] = parse_cells(
            columns[j], _Refs(sheet, _letters(j), row_numbers), label, extract.errors)
    codes_arr = np.array(codes, dtype=object)
    numbers = np.array(row_numbers)
    for block in blocks:
        cols = block.columns
        num_leaf = "register" if block.key == "prevalence" else "numerator"
        den_leaf = "list_size" if block.key == "prevalence" else "denominator"
        val_leaf = "prevalence" if block.key == "prevalence" else "achievement"
        num, den = parsed[(block.key, num_leaf)], parsed[(block.key, den_leaf)]
        val = parsed.get((block.key, val_leaf), np.full(len(codes), np.nan))
        ref_prefix = f"{sheet}!{_letters(cols[num_leaf])}"
        series = [(_indicator_id(block, layout, prefix), num, den, val)]
        if block.key != "prevalence" and "pcas" in cols:
            pcas = parsed[(block.key, "pcas")]
            plus = parsed.get((block.key, "denominator_plus_pcas"), den + pcas)
            rate = parsed.get((block.key, "pca_rate"), np.full(len(codes), np.nan))
            series.append((_indicator_id(block, layout, prefix) + "-pca", pcas, plus, rate))
        for indicator_id, n, d, v in series:
            keep = ~(np.isnan(n) & np.isnan(d))
            k = int(keep.sum())
            values["org_code"].append(codes_arr[keep])
            values["indicator_id"].append(np.full(k, indicator_id, dtype=object))
            values["period"].append(np.full(k, period, dtype=object))
            values["numerator"].append(n[keep])
            values["denominator"].append(d[keep])
            values["value"].append(v[keep])
            values["_ref"].append(np.array([f"{ref_prefix}{r}" for r in numbers[keep]],
                                           dtype=object))


def _organisation(layout: _Sheet, row: list[Any], code: str, r: int,
                  orgs: dict[str, dict[str, Any]]) -> None:
    """Record the row's organisation and the coarser levels it names, once each."""
    def cell(j: int | None) -> Any:
        return cell_value(row[j]) if j is not None and j < len(row) else None

    levels = layout.levels
    for i, (org_type, code_col, name_col) in enumerate(levels):
        c = str(cell(code_col)).strip() if cell(code_col) else ""
        if not ORG_CODE.match(c) or c in orgs:
            continue
        name = str(cell(name_col)).strip() if cell(name_col) else c
        parent_code = parent_name = parent_type = None
        for p_type, p_code_col, p_name_col in levels[i + 1:]:
            pc = cell(p_code_col)
            if pc and ORG_CODE.match(str(pc).strip()):
                parent_code, parent_type = str(pc).strip(), p_type
                parent_name = str(cell(p_name_col)).strip() if cell(p_name_col) \
                    else parent_code
                break
        attributes = None
        if i == 0 and cell(layout.ons_col):
            attributes = {"ons_code": str(cell(layout.ons_col)).strip()}
        orgs[c] = {"org_code": c, "name": name, "org_type": org_type,
                   "parent_code": parent_code, "parent_name": parent_name,
                   "parent_type": parent_type, "attributes": attributes,
                   "_ref": f"{layout.name}!{_letters(code_col)}{r}"}


def _area_key(layout: _Sheet) -> str:
    return re.sub(r"[^a-z0-9]+", "", layout.name.lower())


def _indicator_id(block: _Block, layout: _Sheet, prefix: str) -> str:
    if block.key == "prevalence":
        return f"{prefix}{_area_key(layout)}-prev"
    return f"{prefix}{block.key.lower()}"


def _define(block: _Block, layout: _Sheet, prefix: str, file_name: str, link: str | None,
            period: str, indicators: dict[str, dict[str, Any]]) -> None:
    """Indicator definitions for a block (created when missing from the database)."""
    area = layout.area or layout.name
    source = f"NHS Digital, Quality and Outcomes Framework {period} ({file_name})"
    common = {"value_type": "proportion", "multiplier": 100.0, "frequency": "financial_year",
              "source": source, "source_url": link, "domain": area, "unit": "%",
              "_ref": f"{layout.name}!{_letters(min(block.columns.values()))}{layout.header_row}"}
    indicator_id = _indicator_id(block, layout, prefix)
    if block.key == "prevalence":
        indicators.setdefault(indicator_id, {
            **common, "indicator_id": indicator_id,
            "name": f"{area[:1].upper()}{area[1:]} prevalence (QOF register)",
            "polarity": "no_judgement", "numerator_label": "Register",
            "denominator_label": block.labels["list_size"].capitalize(),
            "description": f"Patients on the QOF {area} register as a percentage of the "
                           f"registered list ({block.labels['list_size']}).",
        })
        return
    description = block.description or f"QOF indicator {block.key}"
    indicators.setdefault(indicator_id, {
        **common, "indicator_id": indicator_id,
        "name": f"{block.key}: {description}"[:300] if len(description) + len(block.key) < 298
        else f"{block.key}: {description[:280]}...",
        "description": description, "polarity": "higher_is_better",
        "numerator_label": "Numerator", "denominator_label": "Denominator (net of PCAs)",
    })
    if "pcas" in block.columns:
        indicators.setdefault(indicator_id + "-pca", {
            **common, "indicator_id": indicator_id + "-pca",
            "name": f"{block.key} personalised care adjustments (PCA rate)",
            "description": f"Patients with a personalised care adjustment (an exception before "
                           f"2019-20) for {block.key}, as a percentage of the denominator plus "
                           f"PCAs. {block.key}: {description}",
            "polarity": "no_judgement", "numerator_label": "PCAs",
            "denominator_label": "Denominator plus PCAs",
        })
