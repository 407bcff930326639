"""Typed dependencies shared by every route: the session, the caller, path validators."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import Depends, Path, Query, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from core import audit, auth
from core.db import get_engine
from core.settings import get_settings


def _release(session: Session) -> None:
    session.rollback()
    session.close()


async def get_session() -> AsyncIterator[Session]:
    """One session per request. Read routes never commit; write routes commit once, at the
    end (the edge owns the transaction); anything left open is rolled back.

    An ``async`` dependency on purpose: FastAPI runs a sync generator dependency in the
    threadpool twice (enter and exit), each a thread switch costing a measurable share of a
    fast request. Creating a session does no I/O, so it happens on the event loop; at the end
    the rollback (a round trip) goes to the threadpool only if a transaction is still open
    (a route that released it in its own thread, see :func:`release`, costs no extra switch).
    """
    session = Session(get_engine(), expire_on_commit=False)
    try:
        yield session
    finally:
        if session.in_transaction():
            await run_in_threadpool(_release, session)
        else:
            session.close()  # no transaction, no connection held: no I/O


def release(session: Session) -> None:
    """End a read route's transaction in the route's own thread (returns the connection to
    the pool), so that :func:`get_session` needs no further thread switch."""
    session.rollback()


def autocommit_reads(session: Session) -> None:
    """Run a read-only route's queries outside a transaction block on PostgreSQL.

    A read transaction costs two round trips (``BEGIN``, sent by psycopg before the first
    query, and the ``ROLLBACK`` of :func:`release`) and, under READ COMMITTED, gives the
    route's statements nothing they do not have alone: each statement takes its own snapshot
    either way. For routes that only read, and set nothing transaction-local (a profile turns
    JIT off with ``set_config(..., true)``, so it does not use this), the session's connection
    is taken in autocommit; the pool restores the isolation level when it is returned (a
    client-side setting: no round trip). Nothing happens when the session already holds a
    connection (an authenticated caller's token was read) or on SQLite.
    """
    if session.in_transaction():
        return
    bind = session.get_bind()
    if bind.dialect.name != "postgresql":
        return
    session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})


SessionDep = Annotated[Session, Depends(get_session)]


@dataclass(frozen=True)
class Caller:
    """Who is calling: a token's name and role, or anonymous (role None)."""

    name: str | None
    role: str | None

    @property
    def authenticated(self) -> bool:
        """Whether a valid token was presented."""
        return self.role is not None


ANONYMOUS = Caller(None, None)

#: what each route's minimum role means in the one rule (core.auth.required_role)
_ACTION: dict[str, auth.Action] = {"viewer": "read", "analyst": "write", "admin": "admin"}


def _client(request: Request) -> str | None:
    return request.client.host if request.client else None


def _caller(request: Request, session: Session) -> Caller:
    """Authenticate the request's bearer token or dashboard session (the cookie the export
    buttons carry); record the token's use."""
    principal = auth.authenticate_request(
        session, authorization=request.headers.get("authorization"),
        session_id=request.cookies.get(auth.SESSION_COOKIE),
        csrf=request.headers.get(auth.CSRF_HEADER), method=request.method,
        client=_client(request))
    if principal is None:
        return ANONYMOUS
    if auth.touch(session, principal):
        session.commit()
    return Caller(principal.name, principal.role)


def require(minimum: Literal["viewer", "analyst", "admin"]):
    """A dependency that returns the :class:`Caller` if the one rule
    (:func:`core.auth.authorize`) lets it do what needs ``minimum``: reads are open unless
    ``QIDASH_REQUIRE_AUTH`` is true, writes need analyst, tokens and the audit log admin.
    Credentials that are sent are always checked. None where needed: 401; a role too low: 403.
    The caller is recorded as the actor of the request's writes (the audit log).
    """
    action = _ACTION[minimum]

    async def dependency(request: Request, session: SessionDep) -> Caller:
        # async so that an anonymous read costs no thread switch; presented credentials are
        # verified against the database in the threadpool (never on the event loop)
        if ("authorization" not in request.headers
                and auth.SESSION_COOKIE not in request.cookies):
            caller = ANONYMOUS
        else:
            caller = await run_in_threadpool(_caller, request, session)
        principal = (auth.Principal(caller.name or "", caller.role, 0, "")
                     if caller.role is not None else None)
        auth.authorize(principal, action, require_auth=get_settings().require_auth,
                       what="this request")
        if caller.authenticated:
            audit.actor_var.set(audit.Actor(caller.name, caller.role, "api", _client(request)))
        return caller

    return dependency


ReaderDep = Annotated[Caller, Depends(require("viewer"))]
AnalystDep = Annotated[Caller, Depends(require("analyst"))]
AdminDep = Annotated[Caller, Depends(require("admin"))]


#: ids and offsets are bounded so that a huge number is a 422, not a database overflow
MAX_ID = 2**31 - 1
LoadId = Annotated[int, Path(ge=1, le=MAX_ID, description="Load id (see /loads)")]
AnnotationId = Annotated[int, Path(ge=1, le=MAX_ID, description="Annotation id")]
Offset = Annotated[int, Query(ge=0, le=10**9, description="rows to skip")]

Format = Literal["json", "csv"]
FormatQuery = Annotated[
    Format, Query(description="json (default) or csv (a download of the table)")
]
