"""Saved peer groups (``peers=group:NAME``); writes need the analyst role."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api import schemas
from api.deps import AnalystDep, FormatQuery, ReaderDep, SessionDep
from api.docs import doc
from api.responses import csv_response, json_response
from core.services import groups as group_service

router = APIRouter(tags=["groups"])


@router.get("/groups", summary="List saved peer groups",
            responses=doc(schemas.GroupList, csv="group,code,name,org_type\r\n", errors=(422,)))
def list_groups(session: SessionDep, _caller: ReaderDep, format: FormatQuery = "json"):
    """Every saved peer group with its members."""
    groups = group_service.list_groups(session)
    if format == "csv":
        import pandas as pd

        rows = [{"group": g.name, **m} for g in groups for m in g.members]
        return csv_response(pd.DataFrame(rows, columns=["group", "code", "name", "org_type"]),
                            "groups.csv")
    return json_response({"items": [g.as_dict() for g in groups]})


@router.get("/groups/{name}", summary="One peer group",
            responses=doc(schemas.Group, errors=(404,)))
def get_group(session: SessionDep, _caller: ReaderDep, name: str):
    """The group and its members."""
    return json_response(group_service.get_group(session, name).as_dict())


@router.post("/groups", status_code=201, summary="Save a peer group (analyst)",
             responses=doc(schemas.Group, errors=(400, 401, 403, 409, 422), status=201,
                           description="Created"))
def create_group(session: SessionDep, caller: AnalystDep, body: schemas.GroupIn):
    """Save a named group of organisation codes (e.g. a locality) to use as
    ``peers=group:NAME``. Every code must exist; the name must be free."""
    group = group_service.create_group(session, body.name, body.members,
                                       description=body.description, created_by=caller.name)
    session.commit()
    return json_response(group.as_dict(), status_code=201)


@router.delete("/groups/{name}", status_code=204, summary="Delete a peer group (analyst)",
               responses=doc(None, errors=(401, 403, 404), status=204, description="Deleted"))
def delete_group(session: SessionDep, _caller: AnalystDep, name: str):
    """Delete the group (its organisations are untouched)."""
    group_service.delete_group(session, name)
    session.commit()
    return Response(status_code=204)
