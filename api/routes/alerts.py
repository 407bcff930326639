"""Alerts raised by values loads (special cause, funnel limits crossed, targets)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api import schemas
from api.deps import FormatQuery, Offset, ReaderDep, SessionDep
from api.docs import doc
from api.responses import csv_response, json_response, records_json
from core.models import ALERT_KINDS
from core.services import alerts as alert_service
from core.services.alerts import ALERT_COLUMNS

router = APIRouter(tags=["alerts"])


@router.get("/alerts", summary="Alerts raised by values loads",
            responses=doc(schemas.AlertList, csv=",".join(ALERT_COLUMNS) + "\r\n"))
def list_alerts(
    session: SessionDep,
    _caller: ReaderDep,
    load: Annotated[int | None, Query(ge=1, le=2**31 - 1, description="load id")] = None,
    since: Annotated[str | None, Query(description="raised on or after (YYYY-MM-DD)",
                                       examples=["2024-05-01"])] = None,
    network: Annotated[str | None, Query(description="the organisations below this code")
                       ] = None,
    org: Annotated[str | None, Query(description="organisation code")] = None,
    indicator: Annotated[str | None, Query(description="indicator id")] = None,
    kind: Annotated[str | None, Query(description=", ".join(ALERT_KINDS))] = None,
    limit: Annotated[int, Query(ge=1, le=10000)] = 100,
    offset: Offset = 0,
    format: FormatQuery = "json",
):
    """Standing alerts (a reverted load's are withdrawn), newest load first and concerns
    first; each links to its chart (``url``)."""
    frame, total = alert_service.list_alerts(
        session, load=load, since=since, network=network, org=org, indicator=indicator,
        kind=kind, limit=limit, offset=offset)
    if format == "csv":
        return csv_response(frame, "alerts.csv", ALERT_COLUMNS)
    return json_response({"alerts": records_json(frame, ALERT_COLUMNS), "total": total})
