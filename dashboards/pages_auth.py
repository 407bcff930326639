"""Who is using the dashboards, and the one guard on every dashboard write.

The signed-in user comes from the session cookie set by the sign-in page (``/sign-in``) or from
an ``Authorization: Bearer`` header (scripts, kiosks): :class:`qidash.security.DashboardGate`
resolves it once per request and hands it over in the ASGI scope; when the dashboards are
served on their own (tests), it is resolved here from the Flask request with the same function
(:func:`core.auth.authenticate_request`).

Every callback that writes (uploads, reverts, notes) is declared with :func:`guarded_write`: the
rule of :func:`core.auth.authorize` (writes need an analyst, whatever ``QIDASH_REQUIRE_AUTH``
says) is checked before the callback's body runs, and the callback runs as the signed-in user,
so that its writes are recorded in the audit log under that name (via ``dashboard``, with the
browser's address). The security tests list every callback and check that each one reaching a
function that writes (:data:`core.audit.WRITE_FUNCTIONS`) is guarded.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import flask

from core import audit, auth
from core.db import session_scope
from core.errors import NotAuthenticated, PermissionDenied, QidashError
from core.settings import get_settings

F = TypeVar("F", bound=Callable[..., Any])

#: the key under which qidash.security.DashboardGate leaves the principal in the ASGI scope
PRINCIPAL_KEY = "qidash.principal"

#: every guarded callback function (the security tests compare this with the callback map)
GUARDED: set[Callable[..., Any]] = set()


def _client() -> str | None:
    return flask.request.remote_addr


def current_principal() -> auth.Principal | None:
    """The signed-in user of the current dashboard request, or None."""
    if not flask.has_request_context():
        return None
    scope = flask.request.environ.get("asgi.scope")
    if scope is not None and PRINCIPAL_KEY in scope:
        return scope[PRINCIPAL_KEY]
    cached = flask.g.get("qidash_principal", False)
    if cached is not False:
        return cached
    try:
        with session_scope() as s:
            principal = auth.authenticate_request(
                s, authorization=flask.request.headers.get("Authorization"),
                session_id=flask.request.cookies.get(auth.SESSION_COOKIE),
                csrf=flask.request.headers.get(auth.CSRF_HEADER),
                method=flask.request.method, client=_client())
    except QidashError:
        principal = None
    flask.g.qidash_principal = principal
    return principal


def refusal(exc: QidashError, what: str) -> str:
    """The page's words for a refused write."""
    if isinstance(exc, NotAuthenticated):
        return (f"{what} needs an analyst sign-in. Sign in (top right) with an analyst "
                "token; an administrator can give you one.")
    if isinstance(exc, PermissionDenied):
        role = exc.details.get("role")
        if role:
            return (f"{what} needs an analyst token; you are signed in with a {role} token. "
                    "Sign out and sign in with an analyst token.")
    return exc.message


def guarded_write(what: str, refused: Callable[[str], Any]) -> Callable[[F], F]:
    """Declare a callback that writes: it runs only for an analyst (or admin), as that user;
    otherwise ``refused(message)`` gives the callback's outputs (a message on the page).

    ``what`` names the write for the message ("Uploading data", "Adding a note").
    """

    def wrap(fn: F) -> F:
        @functools.wraps(fn)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            from dash import ctx
            from dash.exceptions import PreventUpdate

            if ctx.triggered_id is None:
                raise PreventUpdate  # nothing was clicked or chosen: not a write
            principal = current_principal()
            try:
                auth.authorize(principal, "write", require_auth=get_settings().require_auth,
                               what=what)
            except QidashError as exc:
                return refused(refusal(exc, what))
            assert principal is not None
            with audit.acting(audit.Actor(principal.name, principal.role, "dashboard",
                                          _client())):
                return fn(*args, **kwargs)

        GUARDED.add(guarded)
        guarded.__qidash_guarded__ = what  # type: ignore[attr-defined]
        return guarded  # type: ignore[return-value]

    return wrap


def writer_name() -> str | None:
    """The name the current (guarded) write is recorded under."""
    principal = current_principal()
    return principal.name if principal is not None else None


def write_refusal(what: str) -> str | None:
    """None when the current user may write (an analyst or admin), else the words the page
    shows in place of a write control (the same rule and words as :func:`guarded_write`,
    which still checks every write itself)."""
    principal = current_principal()
    try:
        auth.authorize(principal, "write", require_auth=get_settings().require_auth, what=what)
    except QidashError as exc:
        return refusal(exc, what)
    return None
