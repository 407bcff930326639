"""The one loading pipeline: read -> validate -> load, for the CLI, the API and the upload page.

``run_load`` never prints and never commits half a file:

1. the file is read by its format's reader (``etl.formats``) into canonical frames;
2. every row is validated (``etl.transform``) against the organisations and indicators in the
   database, chunk by chunk for large files, and clean rows go to a staging table (written by
   a worker thread while the next chunk is read); in a first load, rows of indicator/period
   pairs with no value yet go straight into ``indicator_values`` instead (see
   ``etl.load_values.ValueStage``; a key repeated across chunks then makes the file be read
   again through the staging table, and ``progress`` counts from 0 again);
3. in the same transaction the staged rows are diffed and written set-based
   (``etl.load_values``; organisations and indicators by ``etl.load_reference``).

The ids it validates against are looked up by ``etl.lookups``; the load's own record in
``loads`` (one loader at a time, interrupted loads, listing) is ``etl.load_runs``; reverting a
load is ``etl.revert``.

By default any invalid row rejects the whole file: the data transaction is rolled back and the
load is recorded as ``rejected`` with its errors in a separate short transaction.
``skip_invalid`` loads the valid rows and records the rest. A load whose rows all match the
database is ``unchanged`` and writes nothing. ``dry_run`` does all of it and rolls back.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from sqlalchemy import Connection, Engine, select, text, update

from core import audit
from core.db import ensure_schema
from core.models import LOAD_KINDS, Load, LoadError
from core.periods import PERIOD_TYPES
from core.services import alerts as alert_service
from core.services import counts as count_service
from core.services import digests as digest_service
from etl import load_reference, load_runs, load_values, lookups, safety
from etl.extract import Extract, FileError, ReadOptions, RowError, Source
from etl.formats import FormatError, detect_format, get_reader
from etl.transform import validate_indicators, validate_organisations, validate_values

#: errors kept per load in full detail (the count of rejected rows is always exact)
MAX_ERRORS = 10_000

__all__ = [
    "FileError",
    "FormatError",
    "LoadResult",
    "UsageError",
    "parse_format_options",
    "run_load",
]

log = logging.getLogger("qidash.etl")


class UsageError(ValueError):
    """Bad options (unknown kind, period type, mapping file): CLI exit 2, API 422."""


@dataclass
class LoadResult:
    """What happened to one file: the JSON summary fields, plus a preview for the upload page."""

    load_id: int | None
    status: str  # loaded | unchanged | rejected (| failed)
    rows_read: int = 0
    rows_inserted: int = 0
    rows_updated: int = 0
    rows_unchanged: int = 0
    rows_rejected: int = 0
    errors: list[RowError] = field(default_factory=list)
    errors_total: int = 0
    kind: str = "values"
    file_name: str = ""
    format: str = "canonical"
    dry_run: bool = False
    message: str | None = None
    #: organisations / indicators / periods seen among the valid rows, and row counts
    preview: dict[str, Any] = field(default_factory=dict)
    #: alerts the load raised (core.services.alerts)
    alerts: int = 0

    def as_json(self) -> dict[str, Any]:
        """The CLI's ``--json`` object (and the API's answer)."""
        return {
            "load_id": self.load_id,
            "status": self.status,
            "rows_read": self.rows_read,
            "rows_inserted": self.rows_inserted,
            "rows_updated": self.rows_updated,
            "rows_unchanged": self.rows_unchanged,
            "rows_rejected": self.rows_rejected,
            "errors": [e.as_dict() for e in self.errors],
        }


def load_mapping(mapping: str | Path | dict[str, Any] | bytes | None) -> tuple[
        dict[str, Any] | None, str | None]:
    """Parse a ``--mapping`` file (path, bytes or an already parsed dict)."""
    if mapping is None or isinstance(mapping, dict):
        return mapping, None if mapping is None else "mapping"
    if isinstance(mapping, bytes):
        name, data = "mapping", mapping
    else:
        path = Path(mapping)
        name = path.name
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise FileError(f"{name}: cannot read the mapping file ({exc.strerror})") from None
    try:
        parsed = yaml.safe_load(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise UsageError(f"{name}: not a valid YAML mapping file: {exc}") from None
    if not isinstance(parsed, dict):
        raise UsageError(f"{name}: a mapping file is a YAML mapping (columns: ..., etc.)")
    return parsed, name


_OPTION_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_OPTION_WORDS = {"true": True, "yes": True, "false": False, "no": False}


def parse_format_options(pairs: list[str] | tuple[str, ...] | None) -> dict[str, Any]:
    """``["sexes=all", "include_all_settings=true"]`` -> ``{"sexes": "all", ...}``.

    The CLI's repeatable ``--option key=value`` and the API's ``option`` form fields. Keys may
    use ``-`` for ``_``; ``true/false/yes/no`` become booleans; anything else stays text (the
    reader splits lists such as ``sexes=Male,Female``). Raises :class:`UsageError`.
    """
    out: dict[str, Any] = {}
    for pair in pairs or ():
        key, sep, value = str(pair).partition("=")
        key = key.strip()
        if not sep or not _OPTION_KEY.match(key):
            raise UsageError(f"option {pair!r} is not key=value (e.g. --option sexes=all)")
        value = value.strip()
        out[key.replace("-", "_")] = _OPTION_WORDS.get(value.lower(), value)
    return out


def _read(source: Source, kind: str, fmt: str, options: ReadOptions) -> tuple[Extract, str]:
    if fmt == "auto":
        fmt = "mapping" if options.mapping is not None else detect_format(source, kind)
    if options.mapping is not None and fmt not in ("mapping",):
        raise UsageError("--mapping goes with --format mapping (or auto)")
    reader = get_reader(fmt)
    kinds = getattr(reader, "KINDS", None)
    if kinds is not None and kind not in kinds:
        raise UsageError(f"format {fmt!r} reads {', '.join(kinds)}, not {kind}")
    extract = reader.read(source, kind, options)
    return extract, fmt


# the pipeline --------------------------------------------------------------------------------
@audit.writes("load")
def run_load(
    engine: Engine,
    source: bytes | str | Path,
    *,
    kind: str,
    file_name: str | None = None,
    format: str = "auto",
    mapping: str | Path | dict[str, Any] | bytes | None = None,
    sheet: str | None = None,
    period_type: str | None = None,
    skip_invalid: bool = False,
    dry_run: bool = False,
    user: str | None = None,
    chunk_rows: int = 250_000,
    progress: Callable[[int], None] | None = None,
    migrate: bool = True,
    format_options: dict[str, Any] | None = None,
) -> LoadResult:
    """Load one file of organisations, indicators or values; see the module docstring.

    ``source`` is a path (a folder for YAML indicators) or the uploaded bytes (then give
    ``file_name``). Raises :class:`FileError` for a file that cannot be read at all,
    :class:`UsageError`/:class:`FormatError` for bad options; every problem with the content is
    reported in the result (``status="rejected"``) instead. ``progress`` is called with the
    number of rows read so far. ``format_options`` are a named importer's own options (e.g.
    ``{"sexes": "all"}`` for Fingertips), passed to its reader untouched (see
    :func:`parse_format_options` for the CLI's and the API's ``key=value`` form).
    """
    if kind not in LOAD_KINDS:
        raise UsageError(f"unknown kind {kind!r}; use {', '.join(LOAD_KINDS)}")
    if period_type is not None and period_type not in PERIOD_TYPES:
        raise UsageError(f"unknown period type {period_type!r}; use {', '.join(PERIOD_TYPES)}")
    src = Source.of(source, file_name)
    if src.path is not None and not src.path.exists():
        raise FileError(f"{src.name}: no such file")
    src = safety.checked_source(src)  # content decides CSV/XLSX; workbooks checked for bombs
    parsed_mapping, mapping_name = load_mapping(mapping)
    options = ReadOptions(sheet=sheet, mapping=parsed_mapping, mapping_name=mapping_name,
                          period_type=period_type, chunk_rows=chunk_rows,
                          format_options=dict(format_options or {}))
    if migrate:
        ensure_schema(engine)
    extract, fmt = _read(src, kind, format, options)
    result = LoadResult(load_id=None, status="running", kind=kind, file_name=src.name,
                        format=fmt, dry_run=dry_run)
    load_id = None
    # one connection for the load row and the data: on PostgreSQL it holds the load's advisory
    # lock (load_runs.claim_load) for as long as the load can still commit, so that a loader killed
    # mid-way (its lock freed by the server) is told apart from one still running
    conn = engine.connect()
    try:
        if not dry_run:
            load_runs.mark_interrupted_loads(engine)  # loads whose loader died show as failed
            load_id = _start_load(conn, src, kind, fmt, user, {
                "sheet": sheet, "period_type": period_type, "skip_invalid": skip_invalid,
                "mapping": mapping_name, "format_options": dict(format_options or {}),
                "loader": load_runs.loader_identity()})
            result.load_id = load_id
        _run_in_transaction(conn, engine, extract, result, options, kind, skip_invalid,
                            dry_run, load_id, progress,
                            reread=lambda: _read(src, kind, fmt, options)[0])
    finally:
        if load_id is not None:
            load_runs.release_load(conn, load_id)
        conn.close()
    if load_id is not None:
        with engine.begin() as c:
            audit.record(c, "load", str(load_id), {
                "file": src.name, "kind": kind, "format": fmt, "status": result.status,
                "rows_read": result.rows_read, "rows_rejected": result.rows_rejected,
                "skip_invalid": skip_invalid})
    if result.alerts and load_id is not None:
        _send_digests(engine, load_id)
    return result


def _send_digests(engine: Engine, load_id: int) -> None:
    """Email the digests the load queued. Never fails the load (it has committed): a failed
    send is logged and the digest stays pending for ``qidash alerts send --pending``."""
    try:
        report = digest_service.send_pending(engine, load_id=load_id)
    except Exception:
        log.exception("load %s: digests not sent (kept for qidash alerts send --pending)",
                      load_id)
        return
    if report.sent or report.failed:
        log.info("load %s: %s digests sent, %s kept pending", load_id, report.sent,
                 report.failed)


def _run_in_transaction(conn: Connection, engine: Engine, extract: Extract, result: LoadResult,
                        options: ReadOptions, kind: str, skip_invalid: bool, dry_run: bool,
                        load_id: int | None, progress: Callable[[int], None] | None,
                        reread: Callable[[], Extract]) -> None:
    """The data transaction of :func:`run_load`; a rejected or failed load is recorded in a
    short transaction of its own (while the load's lock is still held)."""
    keys_relaxed = False
    wrote: _Written | None = None
    try:
        trans = conn.begin()
        try:
            if kind == "values" and not dry_run:
                # SQLite, before the transaction
                keys_relaxed = load_values.relax_foreign_keys(conn)
            load_runs.lock_for_load(conn)
            if kind == "values":
                load_runs.relax_commit_durability(conn)
                wrote = _load_values(conn, extract, result, options, skip_invalid, dry_run,
                                     load_id, progress, reread)
            elif kind == "organisations":
                _load_organisations(conn, extract, result, skip_invalid, load_id)
            else:
                _load_indicators(conn, extract, result, skip_invalid, load_id)
            rejected = result.status == "rejected"
            if not rejected and not dry_run:
                _finish_load(conn, result, load_id)
                if wrote is not None and load_id is not None:
                    _record_changes(conn, load_id, wrote.stage.changes())
                if kind == "values" and result.status == "loaded" and load_id is not None:
                    # stored with the load, in its transaction (a revert withdraws them)
                    result.alerts = _raise_alerts(conn, load_id, wrote)
                    if result.alerts:
                        digest_service.queue_digests(conn, load_id)
                if wrote is not None:
                    wrote.stage.finish()  # (the bulk path's keys: already back after alerts)
                    # the counts the start page and the indicator list read, in this
                    # transaction (their organisations probe the keys: after the rebuild)
                    started = time.perf_counter()
                    count_service.apply_value_changes(conn, wrote.stage.inserted_by_key(),
                                                      orgs=wrote.stage.known_orgs)
                    log.debug("counts of values and organisations kept: %.2f s",
                              time.perf_counter() - started)
                wrote = None
                if keys_relaxed:
                    load_values.check_foreign_keys(conn)
            if rejected or dry_run:
                trans.rollback()
            else:
                trans.commit()
        except BaseException:
            trans.rollback()
            raise
        finally:
            if keys_relaxed:
                load_values.restore_foreign_keys(conn)
    except (FileError, FormatError, UsageError) as exc:
        if load_id is not None:
            _record_failure(engine, load_id, "failed", str(exc), result)
        raise
    except Exception as exc:
        if load_id is not None:
            _record_failure(engine, load_id, "failed", f"{type(exc).__name__}: {exc}", result)
        raise
    if result.status == "rejected" and load_id is not None:
        _record_failure(engine, load_id, "rejected", result.message, result)


def _start_load(conn: Connection, src: Source, kind: str, fmt: str, user: str | None,
                options: dict[str, Any]) -> int:
    """Commit the load's ``running`` row (with the loader's identity in its options) and, on
    PostgreSQL, take its advisory lock in the same transaction (see
    :func:`etl.load_runs.claim_load`)."""
    with conn.begin():
        load_id = int(conn.execute(
            Load.__table__.insert().values(
                file_name=src.name[:500], sha256=src.sha256(), kind=kind, format=fmt,
                user=user, started_at=dt.datetime.now(dt.UTC), status="running",
                rows_read=0, rows_inserted=0, rows_updated=0, rows_unchanged=0,
                rows_rejected=0, options={k: v for k, v in options.items() if v},
            ).returning(Load.__table__.c.id)
        ).scalar_one())
        load_runs.claim_load(conn, load_id)
    return load_id


def _error_rows(load_id: int, errors: list[RowError]) -> list[dict[str, Any]]:
    out = []
    for e in errors:
        sheet = None
        line = e.line
        if line is None and e.ref is not None and ("!" in e.ref or ":" in e.ref):
            sheet, _, cell = e.ref.replace("!", ":", 1).partition(":")
            digits = "".join(ch for ch in cell if ch.isdigit())
            line = int(digits) if digits else None
        out.append({"load_id": load_id, "line": line, "sheet": sheet or (
            e.ref if line is None else None), "column": e.column,
            "value": None if e.value is None else str(e.value)[:2000], "message": e.message})
    return out


def _finish_load(conn: Connection, result: LoadResult, load_id: int | None, *,
                 with_errors: bool = True) -> None:
    if load_id is None:
        return
    conn.execute(update(Load.__table__).where(Load.__table__.c.id == load_id).values(
        status=result.status, finished_at=dt.datetime.now(dt.UTC),
        rows_read=result.rows_read, rows_inserted=result.rows_inserted,
        rows_updated=result.rows_updated, rows_unchanged=result.rows_unchanged,
        rows_rejected=result.rows_rejected,
        message=None if result.message is None else result.message.replace("\x00", "\\x00")))
    if result.errors and with_errors:
        conn.execute(LoadError.__table__.insert(), _error_rows(load_id, result.errors))


def _record_changes(conn: Connection, load_id: int, changes: dict[str, list[int]]) -> None:
    """Keep what a values load inserted and updated per indicator with the load, in its
    transaction (``options["changes"]``: slug -> [inserted, updated]): the start page shows
    it for the last load (``core.services.loads.freshness``) without scanning the values for
    the load's id, which has no index (0.4 s at 7.8M values, a minute at 770M)."""
    t = Load.__table__
    options = conn.execute(select(t.c.options).where(t.c.id == load_id)).scalar_one()
    conn.execute(update(t).where(t.c.id == load_id).values(
        options={**(options or {}), "changes": changes}))


def _record_failure(engine: Engine, load_id: int, status: str, message: str | None,
                    result: LoadResult) -> None:
    """The short separate transaction that records a rejected or failed load."""
    result.status = status
    result.message = message
    if status == "failed":
        result.rows_inserted = result.rows_updated = result.rows_unchanged = 0
    try:
        with engine.begin() as conn:
            _finish_load(conn, result, load_id)
    except Exception as exc:
        # the errors could not be written (whatever the reason): the load must still not stay
        # 'running', so its status and message are recorded without them
        log.warning("load %s: could not record its %d errors (%s); recording the status only",
                    load_id, len(result.errors), type(exc).__name__)
        with engine.begin() as conn:
            _finish_load(conn, result, load_id, with_errors=False)


def _cap(result: LoadResult, errors: list[RowError]) -> None:
    result.errors_total = len(errors)
    result.errors = errors[:MAX_ERRORS]
    if len(errors) > MAX_ERRORS:
        result.errors.append(RowError(None, None, None,
                                      f"... and {len(errors) - MAX_ERRORS} more errors not "
                                      "listed; correct these and load again"))


def _with_cells(errors: list[RowError], extract: Extract) -> list[RowError]:
    """Turn ``Sheet:12`` + column into ``Sheet!C12`` for workbooks."""
    letters = extract.cell_columns
    if not letters:
        return errors
    out = []
    for e in errors:
        if e.ref and ":" in e.ref and "!" not in e.ref and e.column in letters:
            sheet, _, row = e.ref.rpartition(":")
            e = RowError(f"{sheet}!{letters[e.column]}{row}", e.column, e.value, e.message)
        out.append(e)
    return out


def _reject_whole(result: LoadResult, errors: list[RowError], message: str) -> None:
    result.status = "rejected"
    result.message = message
    result.rows_rejected = result.rows_read
    result.rows_inserted = result.rows_updated = result.rows_unchanged = 0
    _cap(result, errors)


def _reject_no_rows(result: LoadResult) -> None:
    _reject_whole(result, [RowError(None, None, None, "the file has a header but no data rows")],
                  "the file has no data rows")


@dataclass
class _Written:
    """What a values load wrote, for its alerts: the indicators in the file, and its stage:
    the rows of those new to the database (``load_values.ValueStage.written``) and, if the
    load took the bulk path, the table's keys still to put back
    (``load_values.ValueStage.rebuilding``)."""

    indicators: set[str]
    orgs: set[int]
    stage: load_values.ValueStage


def _raise_alerts(conn: Connection, load_id: int, wrote: _Written | None) -> int:
    """The alert step of a values load (``core.services.alerts``): from the rows the load
    kept where it can (indicators new to the database), else read back once per indicator.

    A first national load took the bulk path: the table's primary key, index and foreign
    keys are still to be built (about 1.3 s of the database's time for a million rows).
    When every indicator's rows were kept, the alerts' reads are done first and their
    computation (about 0.5-0.8 s of Python) runs while the database builds them
    (``ValueStage.rebuilding``); otherwise the keys come first (reading values without
    them would scan the table).
    """
    if wrote is None:
        return alert_service.raise_load_alerts(conn, load_id)
    stage = wrote.stage
    if stage.rebuild_pending and wrote.indicators <= (kept := stage.written_indicators()):
        plan = alert_service.plan_load_alerts(conn, load_id, wrote.indicators, kept,
                                              np.fromiter(wrote.orgs, np.int64))
        with stage.rebuilding():
            found = alert_service.alerts_of_plan(plan, stage.written())
        return alert_service.store_load_alerts(conn, load_id, found)
    stage.finish()
    return alert_service.raise_load_alerts(conn, load_id, wrote.indicators, stage.written())


def _load_values(conn: Connection, extract: Extract, result: LoadResult, options: ReadOptions,
                 skip_invalid: bool, dry_run: bool, load_id: int | None,
                 progress: Callable[[int], None] | None,
                 reread: Callable[[], Extract]) -> _Written | None:
    file_errors = [e for e in extract.errors if e.ref is None or e.line == 1 or (
        e.ref is not None and e.ref.endswith(":1"))]
    if file_errors or (extract.values is None and extract.value_chunks is None):
        result.rows_read = extract.rows_read
        _reject_whole(result, _with_cells(extract.errors or [RowError(
            None, None, None, "the reader found no values in the file")], extract),
            "the file's columns are not a values layout")
        return None
    errors: list[RowError] = []
    created = _create_missing(conn, extract, load_id, errors)
    org_ids = lookups.organisation_ids(conn)
    info = lookups.indicator_info(conn)
    direct = not dry_run and load_id is not None
    if direct:
        # a first load writes its rows straight into indicator_values (load_values.ValueStage); if a
        # key turns out to repeat across chunks, the file is read again through the staging
        # table (which has the line numbers the errors need) from this savepoint
        conn.execute(text("SAVEPOINT qidash_values"))
    try:
        state = _stage_values(conn, extract, options, skip_invalid, load_id, progress, org_ids,
                              info, errors, direct=direct)
    except _Restart:
        conn.execute(text("ROLLBACK TO SAVEPOINT qidash_values"))
        log.info("a key repeats across chunks: reading the file again through the staging table")
        state = _stage_values(conn, reread(), options, skip_invalid, load_id, progress, org_ids,
                              info, errors, direct=False)
    if direct:
        conn.execute(text("RELEASE SAVEPOINT qidash_values"))
    stage, seen, collecting, rejected, rows_read = (state.stage, state.seen, state.collecting,
                                                     state.rejected, state.rows_read)
    orgs, inds, periods, errors = state.orgs, state.inds, state.periods, state.errors
    result.rows_read = max(rows_read, extract.rows_read)
    if collecting and seen.found:
        dups = stage.duplicates()
        if dups:
            for ref, first, *_ in dups:
                errors.append(RowError(str(ref), "period", None,
                                       "duplicate: this organisation, indicator and period "
                                       f"appear more than once in the file (first at line "
                                       f"{first}); keep one row per key"))
            rejected += len(dups)
            if skip_invalid:
                stage.delete_keys({(o, i, p) for _, _, o, i, p in dups})
            else:
                collecting = False
    errors = _with_cells(errors, extract)
    if not collecting:
        _reject_whole(result, errors, f"{rejected} of {result.rows_read} rows are invalid; "
                      "nothing was loaded (correct them, or load with --skip-invalid)")
        result.rows_rejected = rejected
        return None
    # the bulk path's keys are put back after this (_run_in_transaction, _raise_alerts)
    counts = stage.apply(load_id, write=not dry_run, rebuild=False)
    wrote = _Written(set(inds), orgs, stage) if not dry_run else None
    stage.close()
    result.rows_inserted, result.rows_updated = counts.inserted, counts.updated
    result.rows_unchanged, result.rows_rejected = counts.unchanged, rejected
    _cap(result, errors)
    result.status = "loaded" if counts.inserted or counts.updated else "unchanged"
    if result.rows_read == 0:
        _reject_no_rows(result)
        return None
    result.preview = _values_preview(conn, orgs, inds, periods, stage.rows)
    result.preview.update(created)
    return wrote


class _Restart(Exception):
    """A key repeats across chunks of a load writing directly (see :func:`_stage_values`)."""


@dataclass
class _Staged:
    stage: load_values.ValueStage
    seen: load_values.ChunkKeys
    errors: list[RowError]
    collecting: bool
    rejected: int = 0
    rows_read: int = 0
    orgs: set[int] = field(default_factory=set)
    inds: set[str] = field(default_factory=set)
    periods: set[tuple[str, str]] = field(default_factory=set)


def _stage_values(conn: Connection, extract: Extract, options: ReadOptions, skip_invalid: bool,
                  load_id: int | None, progress: Callable[[int], None] | None,
                  org_ids: dict[str, int], info: Any, errors: list[RowError], *,
                  direct: bool) -> _Staged:
    """Validate every chunk and hand its clean rows to a :class:`load_values.ValueStage`.

    With ``direct``, rows of (indicator, period) pairs new to the database may be written
    straight into ``indicator_values``; those rows keep no line number, so a key repeated
    across chunks (:class:`load_values.ChunkKeys`, checked before a chunk is written) raises
    :class:`_Restart` and the caller reads the file again without ``direct``.
    """
    chunks: Any
    if extract.value_chunks is not None:
        chunks = extract.value_chunks
    elif extract.values is not None:
        # file-level errors never get here: _load_values rejected the file before staging
        chunks = iter([(extract.values, list(extract.errors))])
    else:
        chunks = iter([])
    stage = load_values.ValueStage(conn, direct=direct, load_id=load_id)
    st = _Staged(stage=stage, seen=load_values.ChunkKeys(), errors=list(errors),
                 # once rejected: keep validating, stop staging
                 collecting=skip_invalid or not errors)
    period_cache: dict[tuple[str, str], int] = {}
    try:
        for frame, reader_errors in chunks:
            _stage_chunk(conn, st, frame, reader_errors, options, skip_invalid, org_ids, info,
                         period_cache)
            if progress is not None:
                progress(st.rows_read)
    except BaseException:
        stage.end_writes(quiet=True)  # the connection is free again for the rollback
        raise
    stage.end_writes()
    return st


def _stage_chunk(conn: Connection, st: _Staged, frame: Any, reader_errors: list[RowError],
                 options: ReadOptions, skip_invalid: bool, org_ids: dict[str, int], info: Any,
                 period_cache: dict[tuple[str, str], int]) -> None:
    """Validate one chunk and hand its clean rows to the stage (written in the background
    while the next chunk is read: the connection is used here only after ``stage.wait()``)."""
    stage = st.stage
    st.rows_read += len(frame)
    checked = validate_values(frame, org_ids=org_ids, indicators=info,
                              period_type=options.period_type, reader_errors=reader_errors)
    st.errors += checked.errors
    st.rejected += checked.rejected
    if checked.errors and not skip_invalid:
        st.collecting = False
    if not st.collecting or checked.clean.empty:
        return
    used = checked.periods
    keys = list(zip(used["period_type"], used["period_label"], strict=True))
    new = [k not in period_cache for k in keys]
    if any(new):
        stage.wait()
        period_cache.update(lookups.period_ids(conn, used[new]))
    id_by_pos = np.zeros(int(used["period_pos"].max()) + 1, dtype=np.int64)
    id_by_pos[used["period_pos"].to_numpy()] = [period_cache[k] for k in keys]
    clean = checked.clean
    clean = clean.assign(period_id=id_by_pos[clean["period_pos"].to_numpy()])
    st.seen.add(clean["org_id"].to_numpy(), clean["indicator_id"],
                clean["period_id"].to_numpy())
    if st.seen.found and stage.direct:
        raise _Restart
    stage.add(clean)
    st.orgs.update(clean["org_id"].unique().tolist())
    st.inds.update(clean["indicator_id"].unique().tolist())
    st.periods.update(keys)


def _create_missing(conn: Connection, extract: Extract, load_id: int | None,
                    errors: list[RowError]) -> dict[str, Any]:
    """Named importers may ask for the organisations and indicators they describe to be created
    when missing (existing definitions are never overwritten by a values file)."""
    created: dict[str, Any] = {"created_indicators": [], "created_organisations": 0,
                               "renamed_organisations": 0}
    if extract.create_missing_indicators and extract.indicators is not None:
        known = set(lookups.indicator_info(conn).frame.index)
        frame = extract.indicators
        frame = frame[~frame["indicator_id"].astype(str).isin(known)]
        if len(frame):
            checked = validate_indicators(frame.reset_index(drop=True))
            errors += checked.errors
            load_reference.upsert_indicators(conn, checked.clean, load_id)
            created["created_indicators"] = sorted(c["id"] for c in checked.clean)
    if extract.create_missing_organisations and extract.organisations is not None:
        parents = lookups.organisation_parents(conn)
        frame = extract.organisations
        # organisations already in the database keep everything, except a placeholder name
        # (their code, e.g. a commissioner created from the ODS practice file)
        names = dict(zip(frame["org_code"], frame["name"], strict=True)) if "name" in frame \
            else {}
        if "parent_name" in frame:
            for p, n in zip(frame["parent_code"], frame["parent_name"], strict=True):
                names.setdefault(p, n)
        created["renamed_organisations"] = load_reference.name_placeholders(
            conn, {c: n for c, n in names.items() if isinstance(c, str) and c in parents},
            load_id)
        frame = frame[~frame["org_code"].astype(str).isin(parents.keys())]
        if len(frame):
            frame = frame.reset_index(drop=True)
            for col in ("parent_name", "parent_type", "is_active", "attributes"):
                if col not in frame:
                    frame[col] = None if col != "attributes" else [{}] * len(frame)
            checked_orgs = validate_organisations(frame, parents)
            errors += checked_orgs.errors
            ins, _, _ = load_reference.upsert_organisations(conn, checked_orgs.clean, load_id)
            created["created_organisations"] = ins
    return created


def _values_preview(conn: Connection, orgs: set[int], inds: set[str],
                    periods: set[tuple[str, str]], rows: int) -> dict[str, Any]:
    from core.models import Organisation

    types: dict[str, int] = {}
    if orgs:
        # every organisation's type, counted here: a national file names thousands, and an
        # IN list of 6,400 ids cost 0.2-0.4 s to build, send and parse (the directory of
        # every organisation is a few thousand short rows)
        for oid, t in conn.execute(select(Organisation.id, Organisation.org_type)):
            if oid in orgs:
                types[t] = types.get(t, 0) + 1
    return {
        "rows": int(rows),
        "organisations": len(orgs),
        "organisation_types": dict(sorted(types.items())),
        "indicators": sorted(inds),
        "periods": [lab for _, lab in sorted(periods, key=lambda p: (p[0], p[1]))],
    }


def _load_organisations(conn: Connection, extract: Extract, result: LoadResult,
                        skip_invalid: bool, load_id: int | None) -> None:
    result.rows_read = extract.rows_read
    if extract.organisations is None:
        _reject_whole(result, _with_cells(extract.errors, extract),
                      "the file's columns are not an organisations layout")
        return
    if extract.attributes_only:
        _merge_attributes(conn, extract, result, skip_invalid, load_id)
        return
    frame = extract.organisations
    result.rows_read = len(frame)
    if not len(frame) and not extract.errors:
        _reject_no_rows(result)
        return
    bad_refs = {e.ref for e in extract.errors}
    checked = validate_organisations(frame, lookups.organisation_parents(conn))
    errors = _with_cells(sorted([*extract.errors, *checked.errors],
                                key=lambda e: (e.line or 0, e.ref or "")), extract)
    rejected = len(bad_refs | {e.ref for e in checked.errors})
    if errors and not skip_invalid:
        _reject_whole(result, errors, f"{rejected} of {len(frame)} rows are invalid; nothing was "
                      "loaded")
        result.rows_rejected = rejected
        return
    clean = checked.clean[~checked.clean["_ref"].astype(str).isin(bad_refs)]
    if skip_invalid:
        # a row whose parent was rejected cannot be placed under it
        placed = set(clean["org_code"]) | set(lookups.organisation_parents(conn))
        orphan = clean["parent_code"].notna() & ~clean["parent_code"].isin(placed) & ~(
            clean["parent_name"].notna() & clean["parent_type"].notna())
        for r in clean[orphan].itertuples():
            errors.append(RowError(str(r._ref), "parent_code", r.parent_code,
                                   f"parent {r.parent_code!r} was rejected; load it first"))
        clean = clean[~orphan]
        rejected += int(orphan.sum())
    ins, upd, unch = load_reference.upsert_organisations(conn, clean, load_id)
    # parents named in the file but not rows of it: a placeholder name (the code) gets the name
    in_file = set(clean["org_code"])
    renamed = load_reference.name_placeholders(conn, {
        p: n for p, n in zip(clean["parent_code"], clean["parent_name"], strict=True)
        if isinstance(p, str) and p not in in_file}, load_id) if "parent_name" in clean else 0
    result.rows_inserted, result.rows_updated, result.rows_unchanged = ins, upd, unch
    result.rows_rejected = rejected
    _cap(result, errors)
    result.status = "loaded" if ins or upd or renamed else "unchanged"
    result.preview = {
        "rows": len(clean), "organisations": len(clean),
        "organisation_types": clean["org_type"].value_counts().to_dict(),
        "indicators": [], "periods": [], "renamed_organisations": renamed,
    }


def _merge_attributes(conn: Connection, extract: Extract, result: LoadResult,
                      skip_invalid: bool, load_id: int | None) -> None:
    """An attributes-only organisations load (``Extract.attributes_only``, e.g. list sizes):
    merge each row's attributes into the organisation already in the database. Nothing else
    changes; a code that is not in the database is a row error (the file cannot create it)."""
    assert extract.organisations is not None
    frame = extract.organisations
    n = len(frame)
    result.rows_read = max(n, extract.rows_read)
    codes = frame["org_code"].to_numpy(dtype=object)
    refs = frame["_ref"].astype(str).to_numpy(dtype=object)
    known = lookups.organisation_ids(conn)
    errors = list(extract.errors)
    bad_refs = {e.ref for e in errors if e.ref is not None}
    seen: dict[str, str] = {}
    merged: dict[str, dict[str, Any]] = {}
    for code, ref, attrs in zip(codes, refs, frame["attributes"], strict=True):
        if code is None or (isinstance(code, float) and np.isnan(code)) or not str(code).strip():
            errors.append(RowError(ref, "org_code", None, "org_code is empty; give the "
                                   "organisation's code"))
        elif code not in known:
            errors.append(RowError(ref, "org_code", str(code),
                                   f"unknown organisation {code!r}: this file only adds "
                                   "attributes to organisations already loaded; load the "
                                   "organisation first (e.g. the ODS practice file with --format "
                                   "ods-practices) or correct the code"))
        elif code in seen:
            errors.append(RowError(ref, "org_code", str(code),
                                   f"organisation {code} appears more than once in the file "
                                   f"(first at {seen[code]}); keep one row per organisation"))
        else:
            seen[code] = ref
            if ref not in bad_refs:
                merged[code] = dict(attrs or {})
            continue
        bad_refs.add(ref)
    errors = _with_cells(sorted(errors, key=lambda e: (e.line or 0, e.ref or "")), extract)
    rejected = len(bad_refs)
    if errors and not skip_invalid:
        _reject_whole(result, errors, f"{rejected} of {result.rows_read} rows are invalid; "
                      "nothing was loaded")
        result.rows_rejected = rejected
        return
    updated, unchanged = load_reference.merge_organisation_attributes(conn, merged, load_id)
    result.rows_updated, result.rows_unchanged, result.rows_rejected = updated, unchanged, rejected
    _cap(result, errors)
    result.status = "loaded" if updated else "unchanged"
    result.preview = {"rows": len(merged), "organisations": len(merged),
                      "organisation_types": {}, "indicators": [], "periods": [],
                      "attributes": sorted({k for a in merged.values() for k in a})}


def _load_indicators(conn: Connection, extract: Extract, result: LoadResult,
                     skip_invalid: bool, load_id: int | None) -> None:
    result.rows_read = extract.rows_read
    if extract.indicators is None:
        _reject_whole(result, extract.errors, "the file's columns are not an indicators layout")
        return
    frame = extract.indicators
    result.rows_read = len(frame)
    if not len(frame) and not extract.errors:
        _reject_no_rows(result)
        return
    checked = validate_indicators(frame)
    errors = [*extract.errors, *checked.errors]
    bad_refs = {e.ref for e in errors}
    if errors and not skip_invalid:
        _reject_whole(result, _with_cells(errors, extract),
                      f"{len(bad_refs)} of {len(frame)} indicators are invalid; nothing was "
                      "loaded")
        result.rows_rejected = len(bad_refs)
        return
    ok_ids = {str(r["indicator_id"]) for r in frame.to_dict("records")
              if str(r["_ref"]) not in bad_refs}
    clean = [c for c in checked.clean if c["id"] in ok_ids]
    ins, upd, unch = load_reference.upsert_indicators(conn, clean, load_id)
    result.rows_inserted, result.rows_updated, result.rows_unchanged = ins, upd, unch
    result.rows_rejected = len(bad_refs)
    _cap(result, _with_cells(errors, extract))
    result.status = "loaded" if ins or upd else "unchanged"
    result.preview = {"rows": len(clean), "organisations": 0, "organisation_types": {},
                      "indicators": sorted(c["id"] for c in clean), "periods": []}
