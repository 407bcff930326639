"""Typed dependencies shared by every route: the session, the caller, path validators."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import Depends, Path, Query, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from core import auth
from core.db import get_engine
from core.errors import NotAuthenticated
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


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthenticated(
            "the Authorization header must be 'Bearer TOKEN' (create a token with "
            "qidash tokens create)"
        )
    return token.strip()


def _caller(request: Request, session: Session) -> Caller:
    token = _bearer(request)
    if token is None:
        return ANONYMOUS
    info = auth.verify_token(session, token)
    if info is None:
        raise NotAuthenticated("the bearer token is unknown or revoked")
    if auth.touch_token(session, info):
        session.commit()
    return Caller(info.name, info.role)


def require(minimum: Literal["viewer", "analyst", "admin"]):  # type: ignore[no-untyped-def]
    """A dependency that returns the :class:`Caller` if its role is ``minimum`` or above.

    Reads (``viewer``) are open unless ``QIDASH_REQUIRE_AUTH`` is true; a token that is sent
    is always checked. No token where one is needed: 401; a role too low: 403.
    """

    async def dependency(request: Request, session: SessionDep) -> Caller:
        # async so that an anonymous read costs no thread switch; a presented token is
        # verified against the database in the threadpool (never on the event loop)
        if _bearer(request) is None:
            caller = ANONYMOUS
        else:
            caller = await run_in_threadpool(_caller, request, session)
        if minimum == "viewer" and not get_settings().require_auth:
            return caller
        if not caller.authenticated:
            raise NotAuthenticated(
                f"this needs a bearer token with the {minimum} role or above "
                "(Authorization: Bearer TOKEN)"
            )
        auth.require_role(caller.role or "", minimum, "this request")
        return caller

    return dependency


ReaderDep = Annotated[Caller, Depends(require("viewer"))]
AnalystDep = Annotated[Caller, Depends(require("analyst"))]


#: ids and offsets are bounded so that a huge number is a 422, not a database overflow
MAX_ID = 2**31 - 1
LoadId = Annotated[int, Path(ge=1, le=MAX_ID, description="Load id (see /loads)")]
AnnotationId = Annotated[int, Path(ge=1, le=MAX_ID, description="Annotation id")]
Offset = Annotated[int, Query(ge=0, le=10**9, description="rows to skip")]

Format = Literal["json", "csv"]
FormatQuery = Annotated[
    Format, Query(description="json (default) or csv (a download of the table)")
]
