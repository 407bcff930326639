"""Signing in to the dashboards, and the gate in front of them.

* ``GET/POST /sign-in``: a page that takes a token once and starts a session (core.auth): the
  browser keeps the session id in a cookie that is HttpOnly, SameSite=Strict and Secure when
  served over HTTPS, and the session's CSRF token in a cookie the page can read
  (``_csrf_token``: Dash's renderer sends it back as ``X-CSRFToken`` with every callback).
* ``GET/POST /sign-out``: ends the session (a form carrying the CSRF token).
* :class:`DashboardGate`: in front of every dashboard request (pages, ``/_dash-layout``,
  ``/_dash-update-component``: every callback, downloads included) it resolves who is asking
  (an ``Authorization: Bearer`` header, for scripts and kiosks, or the session cookie) and,
  when ``QIDASH_REQUIRE_AUTH`` is on, lets nothing through without at least a viewer: a page
  redirects to the sign-in page, a callback gets 401. The principal is handed to the Dash
  callbacks in the ASGI scope; dashboard writes are checked by
  :func:`dashboards.pages_auth.guarded_write` against the same rule (core.auth.authorize).

The API authenticates its own requests in :mod:`api.deps` with the same functions, so the slide
export buttons (links to the API) carry the session.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import logging
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from core import audit, auth
from core.db import session_scope
from core.errors import NotAuthenticated, PermissionDenied, QidashError, TooManyAttempts
from core.settings import get_settings

log = logging.getLogger(__name__)

#: the scope key under which the gate hands the principal (or None) to the dashboards
PRINCIPAL_KEY = "qidash.principal"

#: paths that serve no data: static files, and the sign-in pages themselves
OPEN_PREFIXES = ("/assets/", "/_dash-component-suites/", "/_favicon.ico", "/sign-in",
                 "/sign-out", "/favicon.ico")


def safe_next(target: str | None) -> str:
    """A local path to go back to after signing in (never another site)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    return target


def _client(scope: dict[str, Any]) -> str | None:
    client = scope.get("client")
    return client[0] if client else None


def _cookies(headers: dict[bytes, bytes]) -> dict[str, str]:
    from http.cookies import SimpleCookie

    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(headers.get(b"cookie", b"").decode("latin-1"))
    except Exception:  # a malformed cookie header is no cookie
        return {}
    return {k: m.value for k, m in jar.items()}


def _resolve(authorization: str | None, session_id: str | None, csrf: str | None,
             method: str, client: str | None) -> auth.Principal | None:
    with session_scope() as s:
        principal = auth.authenticate_request(s, authorization=authorization,
                                              session_id=session_id, csrf=csrf,
                                              method=method, client=client)
        if principal is not None:
            auth.touch(s, principal)
        return principal


async def _send_json(send: Any, status: int, code: str, message: str,
                     headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps({"error": {"status": status, "code": code, "message": message,
                                 "details": {}}}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"cache-control", b"no-store"), *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


async def _redirect(send: Any, location: str) -> None:
    await send({"type": "http.response.start", "status": 303,
                "headers": [(b"location", location.encode("latin-1", "replace")),
                            (b"content-length", b"0"), (b"cache-control", b"no-store")]})
    await send({"type": "http.response.body", "body": b""})


class DashboardGate:
    """Authenticate every dashboard request and, with ``QIDASH_REQUIRE_AUTH`` on, refuse
    those without a viewer (pages redirect to ``/sign-in``; callbacks get 401). API paths pass
    untouched (:mod:`api.deps` does the same there), except a browser opening an export link
    without a session while reads need one, which is sent to the sign-in page instead of a
    raw JSON 401."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        if path.startswith("/api/"):
            if path.startswith("/api/v1/exports/") and get_settings().require_auth:
                headers = dict(scope.get("headers") or [])
                if (b"authorization" not in headers
                        and auth.SESSION_COOKIE not in _cookies(headers)
                        and b"text/html" in headers.get(b"accept", b"")):
                    await _redirect(send, "/sign-in?next=" + quote(_target(scope), safe=""))
                    return
            await self.app(scope, receive, send)
            return
        if path.startswith(OPEN_PREFIXES):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        authorization = headers.get(b"authorization", b"").decode("latin-1") or None
        session_id = _cookies(headers).get(auth.SESSION_COOKIE)
        principal = None
        if authorization or session_id:
            try:
                principal = await run_in_threadpool(
                    _resolve, authorization, session_id,
                    headers.get(auth.CSRF_HEADER.encode(), b"").decode("latin-1") or None,
                    scope.get("method", "GET"), _client(scope))
            except TooManyAttempts as exc:
                await _send_json(send, 429, exc.code, exc.message,
                                 [(b"retry-after", str(exc.retry_after).encode())])
                return
            except NotAuthenticated as exc:
                await _send_json(send, 401, exc.code, exc.message,
                                 [(b"www-authenticate", b"Bearer")])
                return
            except PermissionDenied as exc:
                await _send_json(send, 403, exc.code, exc.message)
                return
        if principal is None and get_settings().require_auth:
            if path.startswith("/_dash-") or scope.get("method") != "GET":
                await _send_json(send, 401, "not_authenticated",
                                 "sign in to see this server's data (/sign-in)",
                                 [(b"www-authenticate", b"Bearer")])
            else:
                await _redirect(send, "/sign-in?next=" + quote(_target(scope), safe=""))
            return
        scope[PRINCIPAL_KEY] = principal
        await self.app(scope, receive, send)


def _target(scope: dict[str, Any]) -> str:
    query = scope.get("query_string", b"").decode("latin-1")
    return scope.get("path", "/") + (f"?{query}" if query else "")


# the sign-in and sign-out pages ------------------------------------------------------------
_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - qidash</title>
<link rel="stylesheet" href="/assets/00-bootstrap.min.css">
</head>
<body>
<header class="navbar navbar-dark bg-dark px-3"><a class="navbar-brand" href="/">qidash</a>
</header>
<main class="container py-4" style="max-width: 36rem">
<h1 class="h3 mb-3">{title}</h1>
{body}
</main>
</body>
</html>
"""


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(_PAGE.format(title=html.escape(title), body=body), status_code=status,
                        headers={"Cache-Control": "no-store"})


def _sign_in_form(next_url: str, error: str | None = None, note: str | None = None) -> str:
    parts = []
    if note:
        parts.append(f'<div class="alert alert-success" role="status">{html.escape(note)}</div>')
    if error:
        parts.append(f'<div class="alert alert-danger" role="alert" id="sign-in-error">'
                     f'{html.escape(error)}</div>')
    described = ' aria-describedby="sign-in-error token-help"' if error else \
        ' aria-describedby="token-help"'
    parts.append(f"""<form method="post" action="/sign-in">
<input type="hidden" name="next" value="{html.escape(next_url)}">
<div class="mb-3">
<label for="token" class="form-label">Access token</label>
<input type="password" class="form-control" id="token" name="token" required
 autocomplete="current-password" spellcheck="false"{described}>
<div id="token-help" class="form-text">The token an administrator gave you (it starts with
qd_). A viewer token shows the data; uploading data and adding notes need an analyst token.
You stay signed in on this browser for up to 12 hours, or until you sign out.</div>
</div>
<button type="submit" class="btn btn-primary">Sign in</button>
</form>""")
    return "\n".join(parts)


def _same_origin(request: Request) -> bool:
    """Whether a form post came from this site (a login CSRF defence): the Origin header, or
    the Referer when a browser sends no Origin."""
    source = request.headers.get("origin") or request.headers.get("referer")
    if not source:
        return True  # not a browser (or one that sends neither): nothing to compare
    here = urlsplit(str(request.base_url))
    there = urlsplit(source)
    return (there.scheme, there.netloc) == (here.scheme, here.netloc)


def _set_cookie(response: Response, request: Request, name: str, value: str,
                expires: dt.datetime | None, http_only: bool) -> None:
    max_age = max(0, int((expires - dt.datetime.now(dt.UTC)).total_seconds())) \
        if expires is not None else 0
    response.set_cookie(name, value, max_age=max_age, path="/", httponly=http_only,
                        secure=request.url.scheme == "https", samesite="strict")


def install_sign_in(app: FastAPI) -> None:
    """Register ``/sign-in`` and ``/sign-out`` (before the dashboards are mounted at ``/``)."""

    def principal_of(request: Request) -> auth.Principal | None:
        sid = request.cookies.get(auth.SESSION_COOKIE)
        if not sid:
            return None
        with session_scope() as s:
            return auth.authenticate(s, bearer=None, session_id=sid, csrf=None, unsafe=False)

    @app.get("/sign-in", include_in_schema=False)
    def sign_in_page(request: Request, next: str = "/", signed_out: str = "") -> Response:
        target = safe_next(next)
        who = principal_of(request)
        note = "You are signed out." if signed_out else None
        if who is not None:
            note = (f"You are signed in as {who.name} ({who.role}). Sign in again to use "
                    "another token.")
        return _page("Sign in", _sign_in_form(target, note=note))

    @app.post("/sign-in", include_in_schema=False)
    async def sign_in(request: Request) -> Response:
        form = await request.form(max_files=0, max_fields=5)
        target = safe_next(str(form.get("next") or "/"))
        if not _same_origin(request):
            return _page("Sign in", _sign_in_form(
                target, "This sign-in came from another site and was refused."), 403)
        token = str(form.get("token") or "").strip()
        client = request.client.host if request.client else None
        if not token:
            return _page("Sign in", _sign_in_form(target, "Enter your access token."), 422)

        def start() -> tuple[auth.TokenInfo, str, str, dt.datetime]:
            auth.limiter.check(client or "unknown")
            with session_scope() as s:
                info = auth.verify_token(s, token)
                if info is None:
                    problem = auth.token_problem(s, token)
                    auth.limiter.failed(client or "unknown")
                    raise NotAuthenticated(problem[0].upper() + problem[1:] + ".")
                with audit.acting(audit.Actor(info.name, info.role, "dashboard", client)):
                    sid, csrf, expires = auth.create_session(s, info, client)
                auth.touch_token(s, info)
            return info, sid, csrf, expires

        try:
            _info, sid, csrf, expires = await run_in_threadpool(start)
        except TooManyAttempts as exc:
            response: Response = _page("Sign in", _sign_in_form(target, exc.message), 429)
            response.headers["Retry-After"] = str(exc.retry_after)
            return response
        except QidashError as exc:
            return _page("Sign in", _sign_in_form(target, exc.message), 401)
        response = RedirectResponse(target, status_code=303)
        _set_cookie(response, request, auth.SESSION_COOKIE, sid, expires, http_only=True)
        _set_cookie(response, request, auth.CSRF_COOKIE, csrf, expires, http_only=False)
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.get("/sign-out", include_in_schema=False)
    def sign_out_page(request: Request) -> Response:
        who = principal_of(request)
        if who is None:
            return _page("Sign out", '<p>You are not signed in. <a href="/sign-in">Sign in'
                         "</a></p>")
        csrf = html.escape(request.cookies.get(auth.CSRF_COOKIE, ""))
        return _page("Sign out", f"""<p>You are signed in as {html.escape(who.name)}
({html.escape(who.role)}).</p>
<form method="post" action="/sign-out">
<input type="hidden" name="csrf" value="{csrf}">
<button type="submit" class="btn btn-primary">Sign out</button>
</form>""")

    @app.post("/sign-out", include_in_schema=False)
    async def sign_out(request: Request) -> Response:
        form = await request.form(max_files=0, max_fields=5)
        sid = request.cookies.get(auth.SESSION_COOKIE)
        client = request.client.host if request.client else None

        def end() -> None:
            with session_scope() as s:
                # a sign-out needs the session's CSRF token (no forced sign-outs)
                auth.authenticate(s, bearer=None, session_id=sid or "",
                                  csrf=str(form.get("csrf") or ""), unsafe=True)
                with audit.acting(audit.Actor(None, None, "dashboard", client)):
                    auth.end_session(s, sid or "")

        if sid:
            try:
                await run_in_threadpool(end)
            except PermissionDenied:
                return _page("Sign out", "<p role='alert'>The sign-out form was out of date; "
                             "<a href='/sign-out'>try again</a>.</p>", 403)
        response = RedirectResponse("/sign-in?signed_out=1", status_code=303)
        for name in (auth.SESSION_COOKIE, auth.CSRF_COOKIE):
            response.delete_cookie(name, path="/", secure=request.url.scheme == "https",
                                   samesite="strict", httponly=name == auth.SESSION_COOKIE)
        return response
