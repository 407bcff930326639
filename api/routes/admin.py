"""Tokens and the audit log: admin only."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from api.deps import AdminDep, Offset, SessionDep
from api.docs import doc
from api.guard import CleanStr
from api.responses import json_response
from core import audit, auth

router = APIRouter(tags=["admin"])


class TokenIn(BaseModel):
    """A new token."""

    name: CleanStr = Field(description="A unique name, e.g. the person or script",
                           examples=["ci-bot"], max_length=200)
    role: CleanStr = Field("viewer", description="viewer, analyst or admin")
    expires_in: CleanStr | None = Field(None, description="Valid for this long: 90m, 12h, "
                                        "30d or 8w (default: until revoked)", examples=["30d"])


@router.get("/tokens", summary="List tokens (admin)", responses=doc(None, errors=(401, 403)))
def list_tokens(session: SessionDep, _caller: AdminDep):
    """Every token (never the token itself): name, role, status (active, expired, revoked),
    created, last used, expiry and revocation times."""
    return json_response({"items": [t.as_dict() for t in auth.list_tokens(session)]})


@router.post("/tokens", status_code=201, summary="Create a token (admin)",
             responses=doc(None, errors=(401, 403, 409, 422), status=201,
                           description="Created; the token is in the body, shown this once"))
def create_token(session: SessionDep, _caller: AdminDep, body: TokenIn):
    """Create a token; the response carries it this once (only its SHA-256 is stored)."""
    span = auth.parse_duration(body.expires_in) if body.expires_in else None
    info, token = auth.create_token(session, body.name, body.role, expires_in=span)
    session.commit()
    return json_response({**info.as_dict(), "token": token}, status_code=201)


@router.delete("/tokens/{name}", status_code=204, summary="Revoke a token (admin)",
               responses=doc(None, errors=(401, 403, 404), status=204, description="Revoked"))
def revoke_token(session: SessionDep, _caller: AdminDep, name: str):
    """Revoke a token: requests with it get 401 from now on, and its dashboard sessions end."""
    auth.revoke_token(session, name)
    session.commit()
    return Response(status_code=204)


@router.get("/audit", summary="The audit log (admin)", responses=doc(None, errors=(401, 403)))
def audit_log(
    session: SessionDep,
    _caller: AdminDep,
    action: Annotated[str | None, Query(description="one action (load, load.revert, "
                                        "annotation.create, ...) or a prefix ending in '.'",
                                        max_length=64)] = None,
    actor: Annotated[str | None, Query(description="a token's name", max_length=200)] = None,
    since: Annotated[dt.datetime | None, Query(description="entries from this time on")
                     ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
):
    """Every write, newest first: when, who (token name and role), through what (api,
    dashboard, cli), from where (client address, or the CLI's user@host), the action, what it
    touched and its details."""
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=dt.UTC)
    items = audit.list_entries(session, limit=limit, offset=offset, action=action,
                               actor=actor, since=since)
    return json_response({"items": items})
