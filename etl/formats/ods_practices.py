"""Reader for the ODS GP practice file ``epraccur`` (NHS Digital / NHS England ODS).

The file has no header row; its columns are fixed by the ODS data dictionary (documented in
``shared/data/gp_practice_national/README.txt``): :data:`COLUMNS` declares the ones used.

Each practice becomes an organisation of type ``practice`` whose parent is its commissioner
(column 15, a sub-ICB location / former CCG code). A commissioner missing from the database is
created with type ``sub_icb`` and, since epraccur does not carry commissioners' names, its code
as name (the notes say so; an organisations file or a QOF/Fingertips load names it).
Status and dates are kept as attributes (``status``, ``open_date``, ``close_date``,
``prescribing_setting``, ``postcode``). ``is_active`` is False for closed (C), dormant (D) and
proposed (P) practices, so that peer sets, which read ``is_active``, leave them out by default.

By default only prescribing setting 4 (GP practice) is read: epraccur also lists out-of-hours
services, walk-in centres, prisons and others under other settings. Option
``include_all_settings`` reads every row.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import numpy as np

from etl.extract import Extract, FileError, RowError
from etl.formats._importer_util import (
    NONE,
    csv_refs,
    head_text,
    opt,
    orgs_frame,
    read_csv_strings,
    source_bytes,
)
from etl.formats._importer_util import kind_and_options as _kind_and_options

FORMAT = "ods-practices"
KINDS = ("organisations",)

#: The declared mapping: canonical name -> 0-based column of epraccur (no header row).
COLUMNS = {
    "org_code": 0, "name": 1, "postcode": 9, "open_date": 10, "close_date": 11, "status": 12,
    "commissioner": 14, "prescribing_setting": 25,
}
STATUS = {"A": "active", "C": "closed", "D": "dormant", "P": "proposed"}
GP_PRACTICE_SETTING = "4"
_CODE = re.compile(r"^[A-Z0-9]{3,10}$")


def sniff(head: Any) -> bool:
    """True for an epraccur head: no header, ~27 quoted cells, a practice code and yyyymmdd."""
    text = head_text(head)
    if not text:
        return False
    lines = [ln for ln in text.splitlines()[:5] if ln.strip()]
    if not lines:
        return False
    import csv

    rows = list(csv.reader(lines))
    return all(len(r) >= 26 and re.match(r"^[A-Z]\d{5}$|^[A-Z0-9]{3,10}$", r[0])
               and re.match(r"^\d{8}$", r[10]) and r[12] in STATUS for r in rows)


def detect(source: Any) -> bool:
    """Does the pipeline's ``Source`` look like epraccur?"""
    return sniff(source.head())


def _iso(yyyymmdd: str) -> str | None:
    if not yyyymmdd:
        return None
    return dt.datetime.strptime(yyyymmdd, "%Y%m%d").date().isoformat()


def read(source: Any, kind: Any = None, options: Any = None) -> Extract:
    """Read epraccur into organisations (practices, with their commissioners as parents).

    Option ``include_all_settings`` (default False) keeps every prescribing setting.
    """
    _, options = _kind_and_options(kind, options)
    data, name = source_bytes(source, options)
    raw = read_csv_strings(data, name, header=False)
    if raw.shape[1] < max(COLUMNS.values()) + 1:
        raise FileError(f"{name}: not an epraccur file: it has {raw.shape[1]} columns, epraccur "
                        f"has 27 (no header row); check that this is the ODS practice file")
    refs = csv_refs(len(raw), first_line=1)  # no header: the first practice is line 1
    extract = Extract(source_name=name, format=FORMAT, rows_read=len(raw))
    c = {k: raw[j] for k, j in COLUMNS.items()}
    errors = extract.errors

    bad_code = ~c["org_code"].str.match(_CODE)
    if bool(bad_code.iloc[0]) and not _CODE.match(str(c["org_code"].iloc[0])):
        # A header row where none should be: say so instead of reporting it as a bad code.
        first = ", ".join(raw.iloc[0, :4].tolist())
        if not re.match(r"^\d{8}$", str(c["open_date"].iloc[0])):
            raise FileError(f"{name}: line 1 ({first}...) looks like a header row; epraccur has "
                            "none: delete the line or use --mapping for a file with headers")
    status = c["status"].str.upper()
    bad_status = ~status.isin(list(STATUS))
    keep = ~bad_code & ~bad_status
    for ref, v in zip(refs[bad_code.to_numpy()], c["org_code"][bad_code], strict=True):
        errors.append(RowError(ref, "column 1 (organisation code)", v,
                               f"{v!r} is not an ODS code (3-10 capital letters and digits)"))
    for ref, v in zip(refs[(bad_status & ~bad_code).to_numpy()],
                      c["status"][bad_status & ~bad_code], strict=True):
        errors.append(RowError(ref, "column 13 (status code)", v,
                               f"status {v!r} is not A, C, D or P"))
    dates: dict[str, list[str | None]] = {"open_date": [], "close_date": []}
    for key, label in (("open_date", "column 11 (open date)"),
                       ("close_date", "column 12 (close date)")):
        for i, (ref, v) in enumerate(zip(refs, c[key], strict=True)):
            try:
                dates[key].append(_iso(v))
            except ValueError:
                dates[key].append(None)
                if keep.iloc[i]:
                    errors.append(RowError(ref, label, v, f"{v!r} is not a date (yyyymmdd)"))
                    keep.iloc[i] = False

    if not opt(options, "include_all_settings", False):
        other = keep & (c["prescribing_setting"] != GP_PRACTICE_SETTING)
        if other.any():
            extract.notes.append(
                f"{int(other.sum())} row(s) with a prescribing setting other than 4 (GP "
                "practice) were skipped (out-of-hours, walk-in, prison...); option "
                "include_all_settings reads them")
        keep &= ~other
    k = keep.to_numpy()
    commissioner = c["commissioner"].to_numpy(object)[k]
    has_parent = np.array([bool(p) for p in commissioner])
    settings = c["prescribing_setting"].to_numpy(object)[k]
    status_k = status.to_numpy(object)[k]
    attributes = [
        {"status": STATUS[s], "open_date": o, "close_date": cl,
         "prescribing_setting": int(ps) if ps.isdigit() else None, "postcode": pc or None}
        for s, o, cl, ps, pc in zip(
            status_k, np.array(dates["open_date"], dtype=object)[k],
            np.array(dates["close_date"], dtype=object)[k], settings,
            c["postcode"].to_numpy(object)[k], strict=True)
    ]
    extract.organisations = orgs_frame({
        "org_code": c["org_code"].to_numpy(object)[k],
        "name": c["name"].to_numpy(object)[k],
        "org_type": "practice",
        "parent_code": np.where(has_parent, commissioner, NONE),
        "parent_name": np.where(has_parent, commissioner, NONE),
        "parent_type": np.where(has_parent, np.array("sub_icb", dtype=object), NONE),
        "is_active": status_k == "A",
        "attributes": attributes,
        "_ref": refs[k],
    })
    extract.notes.append("commissioners missing from the database are created as sub_icb with "
                         "their code as name (epraccur has no commissioner names)")
    closed = int((status_k != "A").sum())
    if closed:
        extract.notes.append(f"{closed} closed, dormant or proposed practice(s) loaded as "
                             "inactive (left out of peer sets)")
    return extract

