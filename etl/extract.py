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

from dataclasses import dataclass, field
from typing import Any

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

    @property
    def line(self) -> int | None:
        """The line number when the reference is a plain CSV line."""
        return int(self.ref) if self.ref is not None and self.ref.isdigit() else None

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line if self.line is not None else self.ref, "column": self.column,
                "value": self.value, "message": self.message}


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


class FileError(Exception):
    """The file as a whole cannot be read (not a CSV/XLSX, wrong encoding, no header row...).

    The message names the file and says what to fix; the CLI exits 2 and the API answers 422.
    """
