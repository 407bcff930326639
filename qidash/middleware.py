"""Process-wide HTTP behaviour: request ids, structured access logs, security headers.

Pure ASGI middleware (no ``BaseHTTPMiddleware``), so that streaming responses and the mounted
Dash WSGI app pass through untouched and the cost per request stays in microseconds.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from contextvars import ContextVar
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

request_id_var: ContextVar[str | None] = ContextVar("qidash_request_id", default=None)
access_log = logging.getLogger("qidash.access")

_SAFE_ID = re.compile(r"^[A-Za-z0-9._\-]{1,100}$")

def content_security_policy(script_hashes: Iterable[str] = ()) -> str:
    """The Content-Security-Policy of every response: everything from this origin; scripts
    only from files of this origin and the inline scripts whose hashes are given (Dash's
    renderer start-up, Swagger UI's set-up: see :func:`qidash.app.create_app`): no
    ``'unsafe-inline'`` and no ``'unsafe-eval'`` for scripts (the dashboards need neither:
    plotly.js's basic bundle compiles nothing at run time and the clientside callbacks are
    functions in ``assets/qidash.js``). Styles keep ``'unsafe-inline'``: Dash and plotly set
    element styles, which a style hash cannot cover."""
    scripts = " ".join(["'self'", *script_hashes])
    return (f"default-src 'self'; script-src {scripts}; "
            "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
            "font-src 'self' data:; connect-src 'self'; object-src 'none'; "
            "frame-ancestors 'none'; base-uri 'self'; form-action 'self'")


CONTENT_SECURITY_POLICY = content_security_policy()


def security_headers(csp: str = CONTENT_SECURITY_POLICY) -> list[tuple[bytes, bytes]]:
    """The headers added to every response that does not set them itself."""
    return [
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"strict-origin-when-cross-origin"),
        (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
        (b"content-security-policy", csp.encode()),
    ]


SECURITY_HEADERS = security_headers()


class RequestContextMiddleware:
    """Give every request an id (``X-Request-ID``, kept if the client sent a sane one), add
    security headers to every response, and log one structured line per request."""

    def __init__(self, app: ASGIApp,
                 csp: str | Callable[[], str] = CONTENT_SECURITY_POLICY) -> None:
        self.app = app
        self._csp = csp
        self._headers: tuple[str, list[tuple[bytes, bytes]]] = ("", [])

    def headers(self) -> list[tuple[bytes, bytes]]:
        """The security headers, with the policy in force (a callable policy is asked each
        time: the dashboards learn their inline scripts when they first build a page)."""
        csp = self._csp() if callable(self._csp) else self._csp
        if csp != self._headers[0]:
            self._headers = (csp, security_headers(csp))
        return self._headers[1]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        rid = incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex
        token = request_id_var.set(rid)
        start = time.perf_counter()
        status_holder = {"status": 500}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                headers = list(message.get("headers") or [])
                present = {k.lower() for k, _ in headers}
                headers.append((b"x-request-id", rid.encode()))
                for key, value in self.headers():
                    if key not in present:
                        headers.append((key, value))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            access_log.info(
                "request",
                extra={
                    "method": scope.get("method"),
                    "path": scope.get("path"),
                    "status": status_holder["status"],
                    "duration_ms": round((time.perf_counter() - start) * 1000, 2),
                },
            )
            request_id_var.reset(token)


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the request id; never the Authorization header."""

    _STD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = request_id_var.get()
        if rid:
            body["request_id"] = rid
        for key, value in record.__dict__.items():
            if key not in self._STD and not key.startswith("_"):
                body[key] = value
        if record.exc_info:
            body["exception"] = self.formatException(record.exc_info)
        return json.dumps(body, default=str)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        rid = request_id_var.get()
        base = super().format(record)
        extra = ""
        if record.name == "qidash.access":
            d = record.__dict__
            extra = f" {d.get('method')} {d.get('path')} {d.get('status')} {d.get('duration_ms')}ms"
        return f"{base}{extra}" + (f" [{rid}]" if rid else "")


def configure_logging(json_logs: bool, level: str = "INFO") -> None:
    """Route qidash's, uvicorn's and SQLAlchemy's loggers through one handler."""
    handler = logging.StreamHandler(sys.stderr)
    text_format = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    handler.setFormatter(JsonFormatter() if json_logs else TextFormatter(text_format))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):
        lg = logging.getLogger(name)
        lg.handlers[:] = []
        lg.propagate = True
    # our access log replaces uvicorn's (it carries the request id and duration)
    logging.getLogger("uvicorn.access").disabled = True
    logging.getLogger("alembic").setLevel(logging.WARNING)
