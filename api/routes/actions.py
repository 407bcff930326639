"""Improvement actions, marked on SPC charts; writes need the analyst role."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from api import schemas
from api.deps import AnalystDep, ReaderDep, SessionDep
from api.docs import doc
from api.responses import json_response
from core.services import actions as action_service

router = APIRouter(tags=["actions"])
ActionId = Annotated[int, Path(ge=1, le=2**31 - 1, description="Action id")]


@router.post("/actions", status_code=201, summary="Record an improvement action (analyst)",
             responses=doc(schemas.ActionRow, errors=(401, 403, 404, 422), status=201,
                           description="Created"))
def create_action(session: SessionDep, caller: AnalystDep, body: schemas.ActionIn):
    """An action taken on ``date`` for an organisation and indicator; shown on its SPC chart
    with its effect."""
    item = action_service.create_action(
        session, org=body.org, indicator=body.indicator, date=body.date, title=body.title,
        owner=body.owner, review_date=body.review_date, status=body.status,
        created_by=caller.name)
    session.commit()
    return json_response(item, status_code=201)


@router.get("/actions", summary="List improvement actions",
            responses=doc(schemas.ActionList))
def list_actions(
    session: SessionDep, _caller: ReaderDep,
    org: Annotated[str | None, Query(description="organisation code")] = None,
    indicator: Annotated[str | None, Query(description="indicator id")] = None,
    status: Annotated[str | None, Query(description="planned, in_progress, done, abandoned")
                      ] = None,
):
    """Actions by date."""
    return json_response({"items": action_service.list_actions(
        session, org=org, indicator=indicator, status=status)})


@router.patch("/actions/{action_id}", summary="Change an action (analyst)",
              responses=doc(schemas.ActionRow, errors=(401, 403, 404, 422)))
def update_action(session: SessionDep, _caller: AnalystDep, action_id: ActionId,
                  body: schemas.ActionPatch):
    """Change the fields given (e.g. its status)."""
    item = action_service.update_action(session, action_id, body.model_dump(exclude_unset=True))
    session.commit()
    return json_response(item)


@router.delete("/actions/{action_id}", status_code=204, summary="Delete an action (analyst)",
               responses=doc(None, errors=(401, 403, 404, 422), status=204,
                             description="Deleted"))
def delete_action(session: SessionDep, _caller: AnalystDep, action_id: ActionId):
    """Delete one action."""
    action_service.delete_action(session, action_id)
    session.commit()
    return Response(status_code=204)
