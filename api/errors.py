"""One error body across the API: ``{"error": {"status", "code", "message", "details"}}``.

Core exceptions map to HTTP statuses here (NotFound 404, InvalidParameter 422, Conflict 409,
NotAuthenticated 401, PermissionDenied 403); FastAPI's own validation errors become 422 with
the parameter named; unknown routes 404; anything unexpected a clean 500 (logged with its
traceback, which the client never sees).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.responses import json_response
from core.errors import (
    Conflict,
    InvalidParameter,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    QidashError,
    TooManyAttempts,
)

log = logging.getLogger("qidash.api")

STATUS = {
    NotFound: 404,
    InvalidParameter: 422,
    Conflict: 409,
    NotAuthenticated: 401,
    PermissionDenied: 403,
    TooManyAttempts: 429,
}
_HTTP_CODES = {
    400: "bad_request", 401: "not_authenticated", 403: "permission_denied", 404: "not_found",
    405: "method_not_allowed", 406: "not_acceptable", 409: "conflict",
    413: "payload_too_large", 415: "unsupported_media_type", 422: "invalid_parameter",
    429: "too_many_requests", 500: "internal_error", 503: "unavailable",
}


class APIError(Exception):
    """An error raised by the API layer itself (e.g. 413 for an upload that is too big)."""

    def __init__(self, status: int, message: str, *, code: str | None = None,
                 details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code or _HTTP_CODES.get(status, "error")
        self.details = details or {}


def error_body(status: int, code: str, message: str, details: Any = None) -> dict[str, Any]:
    """The one error shape."""
    return {"error": {"status": status, "code": code, "message": message,
                      "details": details or {}}}


def error_response(status: int, code: str, message: str, details: Any = None,
                   headers: dict[str, str] | None = None):
    """A JSON error response in the one shape."""
    resp = json_response(error_body(status, code, message, details), status_code=status)
    if headers:
        resp.headers.update(headers)
    return resp


def status_of(exc: QidashError) -> int:
    """The HTTP status of a core exception."""
    for cls, status in STATUS.items():
        if isinstance(exc, cls):
            return status
    return 400


def _param_name(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("query", "path", "body", "header", "form")]
    return ".".join(parts) or "request"


def _echo(value: Any) -> Any:
    """What a validation error may echo of the input: a number or (at most 200 characters of)
    text that JSON can carry; a lone surrogate or an integer beyond 64 bits (which orjson
    refuses) is echoed as text, anything else (objects, lists) not at all."""
    if isinstance(value, bool | float):
        return value
    if isinstance(value, int):
        return value if -(2**63) <= value < 2**64 else str(value)[:200]
    if isinstance(value, str):
        return value[:200].encode("utf-8", "replace").decode("utf-8")
    return None


def _unavailable():
    return error_response(
        503, "unavailable",
        "the database is unavailable at the moment; try again shortly (the service reconnects "
        "by itself when the database is back)",
        headers={"Retry-After": "5"},
    )


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that give every error the one shape."""

    @app.exception_handler(QidashError)
    async def _core(_request: Request, exc: QidashError):
        status = status_of(exc)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        if isinstance(exc, TooManyAttempts):
            headers = {"Retry-After": str(exc.retry_after)}
        return error_response(status, exc.code, exc.message, exc.details, headers)

    @app.exception_handler(APIError)
    async def _api(_request: Request, exc: APIError):
        return error_response(exc.status, exc.code, exc.message, exc.details)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError):
        problems = []
        for err in exc.errors():
            loc = err.get("loc", ())
            problems.append({
                "parameter": _param_name(loc),
                "location": str(loc[0]) if loc else None,
                "message": err.get("msg", "invalid"),
                "input": _echo(err.get("input")),
            })
        first = problems[0] if problems else {"parameter": "request", "message": "invalid"}
        message = f"invalid {first['parameter']}: {first['message']}"
        if len(problems) > 1:
            message += f" (and {len(problems) - 1} more problem(s))"
        return error_response(422, "invalid_parameter", message,
                              {"parameter": first["parameter"], "problems": problems})

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException):
        status = exc.status_code
        message = exc.detail if isinstance(exc.detail, str) else "error"
        if status == 404 and message == "Not Found":
            message = "no such endpoint; see /api/docs for the endpoints"
        return error_response(status, _HTTP_CODES.get(status, "error"), message, None,
                              getattr(exc, "headers", None))

    @app.exception_handler(sa_exc.DBAPIError)
    async def _database(request: Request, exc: sa_exc.DBAPIError):
        # A dropped or refused database connection is an outage, not a bug: 503 with a
        # message, and the pool (pool_pre_ping) reconnects by itself when the database returns.
        if exc.connection_invalidated or isinstance(
                exc, sa_exc.OperationalError | sa_exc.InterfaceError):
            log.warning("database unavailable on %s %s: %s", request.method, request.url.path,
                        type(exc.orig).__name__ if exc.orig is not None else type(exc).__name__)
            return _unavailable()
        return await _unexpected(request, exc)

    @app.exception_handler(sa_exc.TimeoutError)
    async def _pool_timeout(request: Request, exc: sa_exc.TimeoutError):
        log.warning("database pool exhausted on %s %s", request.method, request.url.path)
        return _unavailable()

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(
            500, "internal_error",
            "an unexpected error occurred; it has been logged (quote the X-Request-ID "
            "header when reporting it)",
        )
