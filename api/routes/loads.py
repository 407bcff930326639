"""Loads: upload a file through the ETL pipeline, the load history, rejected rows, revert.

This is the one place the API imports :mod:`etl`: an upload runs the same pipeline as
``qidash load`` (:func:`etl.pipeline.run_load`) with the same rules and JSON summary.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from api import schemas
from api.deps import AnalystDep, FormatQuery, LoadId, Offset, ReaderDep, SessionDep
from api.docs import doc
from api.errors import APIError, error_response
from api.responses import csv_response, json_response, records_json
from core import auth
from core.db import get_engine
from core.errors import InvalidParameter
from core.models import LOAD_KINDS, LOAD_STATUSES
from core.periods import PERIOD_TYPES
from core.services import loads as load_service
from core.services.disclosure import active_rule
from core.services.loads import ERROR_COLUMNS, LOAD_COLUMNS
from core.settings import get_settings
from etl.load_runs import INTERRUPTED_MESSAGE, mark_interrupted_loads

router = APIRouter(tags=["loads"])

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}

_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file", "kind"],
                    "properties": {
                        "file": {"type": "string", "format": "binary",
                                 "description": "CSV, XLSX or YAML file"},
                        "kind": {"type": "string", "enum": list(LOAD_KINDS)},
                        "format": {"type": "string", "default": "auto",
                                   "description": "canonical, mapping, fingertips, qof, ... "
                                   "(auto detects)"},
                        "mapping": {"type": "string", "format": "binary",
                                    "description": "YAML mapping file for other layouts"},
                        "sheet": {"type": "string", "description": "XLSX sheet name"},
                        "period_type": {"type": "string", "enum": list(PERIOD_TYPES)},
                        "skip_invalid": {"type": "boolean", "default": False,
                                         "description": "load valid rows, record the rest"},
                        "dry_run": {"type": "boolean", "default": False,
                                    "description": "validate and preview without writing"},
                        "option": {"type": "array", "items": {"type": "string"},
                                   "description": "key=value options of the format's reader, "
                                   "one field each (e.g. sexes=all for fingertips)"},
                    },
                },
                "example": {"kind": "values", "dry_run": "true"},
            }
        },
    }
}


def _flag(form: Any, name: str) -> bool:
    raw = form.get(name)
    if raw is None:
        return False
    text = str(raw).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise InvalidParameter(name, f"{name} must be true or false, got {raw!r}")


async def _read_limited(request: Request, limit: int) -> bytes:
    """The request body, refusing (413) as soon as it exceeds ``limit`` bytes, whether or not
    the client sent a Content-Length."""
    too_big = APIError(413, f"upload larger than the {limit // (1024 * 1024)} MiB limit "
                       "(QIDASH_MAX_UPLOAD_MB); split the file or ask an admin to raise it",
                       details={"limit_bytes": limit})
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise too_big
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_big
        chunks.append(chunk)
    return b"".join(chunks)


@router.post(
    "/loads",
    summary="Upload a file through the loading pipeline (analyst)",
    openapi_extra=_UPLOAD_BODY,
    responses=doc(schemas.LoadResult, errors=(400, 401, 403, 413, 422)),
)
async def upload(request: Request, caller: AnalystDep):
    """Validate and load one file of organisations, indicators or values, with the same
    rules and JSON summary as ``qidash load``. A file with any invalid row is rejected whole
    (422, every rejected row with its line, column, value and what to fix) unless
    ``skip_invalid=true``; ``dry_run=true`` validates and previews without writing."""
    limit = get_settings().max_upload_mb * 1024 * 1024
    body = await _read_limited(request, limit)
    request._body = body  # Starlette's form parser reads the cached body
    ctype = request.headers.get("content-type", "")
    if not ctype.startswith("multipart/form-data"):
        raise InvalidParameter("file", "send the file as multipart/form-data (curl -F "
                               "file=@values.csv -F kind=values)")
    form = await request.form(max_files=2, max_fields=20)
    upload_file = form.get("file")
    if not isinstance(upload_file, UploadFile):
        raise InvalidParameter("file", "no file in the upload; send it as the 'file' field")
    kind = str(form.get("kind") or "").strip()
    if kind not in LOAD_KINDS:
        raise InvalidParameter("kind", f"kind must be one of {', '.join(LOAD_KINDS)}")
    period_type = (str(form.get("period_type") or "").strip() or None)
    if period_type is not None and period_type not in PERIOD_TYPES:
        raise InvalidParameter("period_type",
                               f"period_type must be one of {', '.join(PERIOD_TYPES)}")
    mapping_file = form.get("mapping")
    mapping = await mapping_file.read() if isinstance(mapping_file, UploadFile) else None
    data = await upload_file.read()
    dry_run = _flag(form, "dry_run")
    skip_invalid = _flag(form, "skip_invalid")

    from etl.extract import FileError
    from etl.pipeline import FormatError, UsageError, parse_format_options, run_load

    try:
        format_options = parse_format_options([str(v) for v in form.getlist("option")])
    except UsageError as exc:
        raise InvalidParameter("option", str(exc)) from None
    try:
        result = await run_in_threadpool(
            run_load, get_engine(), data, kind=kind,
            file_name=upload_file.filename or "upload",
            format=str(form.get("format") or "auto").strip() or "auto",
            mapping=mapping, sheet=(str(form.get("sheet") or "").strip() or None),
            period_type=period_type, skip_invalid=skip_invalid, dry_run=dry_run,
            user=caller.name, format_options=format_options,
        )
    except (FileError, FormatError, UsageError) as exc:
        param = "format" if isinstance(exc, FormatError) else "file"
        raise InvalidParameter(param, str(exc)) from None
    report = result.as_json()
    report.update({"dry_run": result.dry_run, "preview": result.preview,
                   "message": result.message, "errors_total": result.errors_total})
    if result.status == "rejected":
        n = result.rows_rejected
        return error_response(
            422, "rejected",
            result.message or f"{n} invalid row(s): nothing was loaded; fix them (see "
            "details.errors) or upload with skip_invalid=true",
            report,
        )
    return json_response(report)


@router.get("/loads", summary="Load history",
            responses=doc(schemas.LoadList, csv=",".join(LOAD_COLUMNS) + "\r\n"))
def list_loads(
    session: SessionDep,
    _caller: ReaderDep,
    kind: Annotated[str | None, Query(description="organisations, indicators or values",
                                      json_schema_extra={"enum": list(LOAD_KINDS)})] = None,
    status: Annotated[str | None, Query(description="loaded, unchanged, rejected, failed, "
                                        "reverted", json_schema_extra={"enum": list(
                                            LOAD_STATUSES)})] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Offset = 0,
    format: FormatQuery = "json",
):
    """Loads, newest first: file, kind, who, when, status and row counts. A load whose
    process died before committing is shown as ``failed`` (interrupted), never ``running``."""
    interrupted = mark_interrupted_loads(get_engine())  # before this session reads anything
    frame = load_service.list_loads(session, kind=kind, status=status, limit=limit,
                                    offset=offset)
    _show_interrupted(frame, interrupted)
    if format == "csv":
        return csv_response(frame, "loads.csv", LOAD_COLUMNS)
    return json_response({"items": records_json(frame, LOAD_COLUMNS)})


#: what a non-analyst sees of a rejected cell under disclosure control
WITHHELD = "withheld under disclosure control: an analyst's token shows the rejected text"


@router.get("/loads/{load_id}", summary="One load with its rejected rows",
            responses=doc(schemas.LoadDetail, csv=",".join(ERROR_COLUMNS) + "\r\n"))
def get_load(session: SessionDep, caller: ReaderDep, load_id: LoadId,
             format: FormatQuery = "json"):
    """The load and every row it rejected (line as an editor shows it, column, value and
    what to fix); ``format=csv`` downloads the rejected rows. Under disclosure control the
    rejected cells' text (a value, and the message that quotes it, can be a small count) is
    shown to analysts only: others see the line and column with the text withheld."""
    interrupted = mark_interrupted_loads(get_engine())
    detail = load_service.load_detail(session, load_id)
    if active_rule() is not None and not (
            caller.role is not None and auth.role_at_least(caller.role, "analyst")):
        detail = replace(detail, errors=detail.errors.assign(value=None, message=WITHHELD))
    if load_id in interrupted and detail.load.get("status") == "running":
        detail.load.update(status="failed", message=INTERRUPTED_MESSAGE)
    if format == "csv":
        return csv_response(detail.errors, f"load_{load_id}_errors.csv", ERROR_COLUMNS)
    body = dict(detail.load)
    body["errors_total"] = detail.errors_total
    body["errors"] = records_json(detail.errors, ERROR_COLUMNS)
    return json_response(body)


@router.post("/loads/{load_id}/revert", summary="Revert a values load (analyst)",
             responses=doc(schemas.LoadRow, errors=(401, 403, 404, 409, 422)))
def revert(session: SessionDep, caller: AnalystDep, load_id: LoadId):
    """Put every value the load wrote back as it was before it. Refused (409) when the load
    was already reverted, wrote nothing, or its values were overwritten by a later load."""
    load_service.load_detail(session, load_id, error_limit=0)  # 404 for an unknown load
    session.rollback()
    from etl.revert import RevertError, revert_load

    try:
        revert_load(get_engine(), load_id, user=caller.name)
    except RevertError as exc:
        raise APIError(409, str(exc), code="conflict") from None
    detail = load_service.load_detail(session, load_id, error_limit=0)
    return json_response(detail.load)


def _show_interrupted(frame: Any, interrupted: list[int]) -> None:
    """On SQLite a listing does not wait for a load holding the write lock to record the
    interruption: show the ids found interrupted as failed all the same."""
    if not interrupted or frame.empty:
        return
    hit = frame["id"].isin(interrupted) & (frame["status"] == "running")
    frame.loc[hit, "status"] = "failed"
    frame.loc[hit, "message"] = INTERRUPTED_MESSAGE
