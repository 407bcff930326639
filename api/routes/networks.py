"""Network triage: where a network meeting should look first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from api import schemas
from api.cache import cached
from api.deps import FormatQuery, ReaderDep, SessionDep
from api.docs import CONFIDENCE_ENUM, PERIOD_TYPE_ENUM, doc
from api.responses import csv_response, json_response, records_json
from core.services import profile as profile_service
from core.services.disclosure import note_columns
from core.services.profile import TRIAGE_COLUMNS

router = APIRouter(tags=["networks"])


@router.get(
    "/networks/{code}/triage",
    summary="Indicators x member practices with the flags that matter",
    responses=doc(schemas.Triage, csv=",".join(TRIAGE_COLUMNS) + "\r\n"),
)
def triage(
    session: SessionDep,
    request: Request,
    _caller: ReaderDep,
    code: str,
    indicator: Annotated[list[str] | None, Query(description="only these indicator ids; "
                                                 "repeat or comma-separate")] = None,
    period_type: Annotated[str | None, Query(description="month, quarter, financial_year or "
                                             "year", json_schema_extra=PERIOD_TYPE_ENUM)] = None,
    confidence: Annotated[float, Query(description="95 or 99.8",
                                       json_schema_extra=CONFIDENCE_ENUM)] = 95.0,
    format: FormatQuery = "json",
):
    """For a network (PCN, sub-ICB, ICB...): every indicator at its latest period for each
    member organisation (the lowest level below it), compared with all organisations of
    that type, with three flags: significantly_worse (interval wholly on the wrong side of
    the pooled value), special_cause_concern (latest SPC variation is a concern) and
    failing_target. ``summary`` counts the flags per indicator, most flagged first."""
    def build() -> Response:
        ids = [i.strip() for v in (indicator or []) for i in v.split(",") if i.strip()] or None
        t = profile_service.triage(session, code, indicators=ids, period_type=period_type,
                                   confidence=confidence)
        if format == "csv":
            return csv_response(t.rows, f"triage_{t.parent.code}.csv",
                                note_columns(TRIAGE_COLUMNS))
        return json_response({
            "network": t.parent.brief(),
            "member_type": t.member_type,
            "members": records_json(t.members),
            "summary": records_json(t.summary),
            "rows": records_json(t.rows, note_columns(TRIAGE_COLUMNS)),
        })

    return cached(request, session, build)
