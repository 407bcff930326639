"""Accepted rebases of SPC charts; accepting and withdrawing need the analyst role."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from api import schemas
from api.deps import AnalystDep, ReaderDep, SessionDep
from api.docs import doc
from api.responses import json_response
from core.services import rebases as rebase_service

router = APIRouter(tags=["rebases"])
RebaseId = Annotated[int, Path(ge=1, le=2**31 - 1, description="Rebase id")]


@router.post("/rebases", status_code=201, summary="Accept a rebase of an SPC chart (analyst)",
             responses=doc(schemas.RebaseRow, errors=(401, 403, 404, 409, 422), status=201,
                           description="Created"))
def accept_rebase(session: SessionDep, caller: AnalystDep, body: schemas.RebaseIn):
    """New limits for the organisation's series of the indicator from ``period``, accepted by
    the caller now (recorded with who and when). Every view and slide pack applies it unless
    a caller asks for its own rebase. The trend page suggests where (a sustained shift after
    an improvement action); nothing is rebased until someone accepts it."""
    item = rebase_service.accept_rebase(
        session, org=body.org, indicator=body.indicator, period=body.period,
        period_type=body.period_type, reason=body.reason, action_id=body.action_id,
        accepted_by=caller.name)
    session.commit()
    return json_response(item, status_code=201)


@router.get("/rebases", summary="List accepted rebases", responses=doc(schemas.RebaseList))
def list_rebases(
    session: SessionDep, _caller: ReaderDep,
    org: Annotated[str | None, Query(description="organisation code")] = None,
    indicator: Annotated[str | None, Query(description="indicator id")] = None,
    active: Annotated[bool | None, Query(description="true: only those applied now "
                                         "(not withdrawn)")] = None,
):
    """Accepted rebases, withdrawn ones included (with who withdrew them and when) unless
    ``active=true``."""
    return json_response({"items": rebase_service.list_rebases(
        session, org=org, indicator=indicator, include_withdrawn=not active)})


@router.delete("/rebases/{rebase_id}", summary="Withdraw an accepted rebase (analyst)",
               responses=doc(schemas.RebaseRow, errors=(401, 403, 404, 409, 422)))
def withdraw_rebase(session: SessionDep, caller: AnalystDep, rebase_id: RebaseId):
    """Stop applying a rebase. The record stays, with who withdrew it and when."""
    item = rebase_service.withdraw_rebase(session, rebase_id, withdrawn_by=caller.name)
    session.commit()
    return json_response(item)
