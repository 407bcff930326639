"""Annotations shown on SPC charts; writes need the analyst role."""

from __future__ import annotations

from typing import Annotated

import pandas as pd
from fastapi import APIRouter, Query, Response

from api import schemas
from api.deps import AnalystDep, AnnotationId, FormatQuery, ReaderDep, SessionDep
from api.docs import doc
from api.responses import csv_response, json_response
from core.services import annotations as ann_service

router = APIRouter(tags=["annotations"])
COLUMNS = ["id", "date", "text", "author", "created_at", "org_code", "indicator_id"]


@router.get("/annotations", summary="List annotations",
            responses=doc(schemas.AnnotationList, csv=",".join(COLUMNS) + "\r\n"))
def list_annotations(
    session: SessionDep,
    _caller: ReaderDep,
    org: Annotated[str | None, Query(description="organisation code", examples=["A81001"])
                   ] = None,
    indicator: Annotated[str | None, Query(description="indicator id", examples=["imm"])
                         ] = None,
    format: FormatQuery = "json",
):
    """Annotations by date; ``org`` and ``indicator`` keep that organisation's / indicator's
    notes and the general ones."""
    items = ann_service.list_annotations(session, org=org, indicator=indicator)
    if format == "csv":
        return csv_response(pd.DataFrame(items, columns=COLUMNS), "annotations.csv")
    return json_response({"items": items})


@router.post("/annotations", status_code=201, summary="Add an annotation (analyst)",
             responses=doc(schemas.Annotation, errors=(400, 401, 403, 404, 422), status=201,
                           description="Created"))
def create_annotation(session: SessionDep, caller: AnalystDep, body: schemas.AnnotationIn):
    """A note on a date ("new recall system") for an organisation and/or indicator, shown on
    their SPC charts."""
    item = ann_service.create_annotation(session, date=body.date, text=body.text, org=body.org,
                                         indicator=body.indicator, author=caller.name)
    session.commit()
    return json_response(item, status_code=201)


@router.delete("/annotations/{annotation_id}", status_code=204,
               summary="Delete an annotation (analyst)",
               responses=doc(None, errors=(401, 403, 404, 422), status=204,
                             description="Deleted"))
def delete_annotation(session: SessionDep, _caller: AnalystDep, annotation_id: AnnotationId):
    """Delete one annotation."""
    ann_service.delete_annotation(session, annotation_id)
    session.commit()
    return Response(status_code=204)
