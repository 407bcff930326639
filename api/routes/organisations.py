"""Organisations: search, one with its hierarchy, its SPC charts and its profile."""

from __future__ import annotations

import dataclasses
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from api import schemas
from api.cache import cached
from api.deps import FormatQuery, Offset, ReaderDep, SessionDep
from api.docs import CONFIDENCE_ENUM, PERIOD_TYPE_ENUM, doc
from api.responses import csv_response, json_response, records_json
from core.services import actions as action_service
from core.services import organisations as org_service
from core.services import profile as profile_service
from core.services import spc as spc_service
from core.services.comparison import LEVELS
from core.services.disclosure import note_columns
from core.services.organisations import ORG_LIST_COLUMNS
from core.services.profile import PROFILE_COLUMNS
from core.services.spc import CHARTS, SPC_POINT_COLUMNS

router = APIRouter(tags=["organisations"])

PeriodTypeQuery = Annotated[
    str | None,
    Query(description="month, quarter, financial_year or year (default: the finest the "
          "organisation has)", examples=["month"], json_schema_extra=PERIOD_TYPE_ENUM),
]


@router.get(
    "/organisations",
    summary="Search and list organisations",
    responses=doc(schemas.OrganisationPage, csv="code,name,org_type,parent_code,parent_name,"
                  "is_active\r\nA81001,Practice A81001,practice,PCN1,Network 1,True\r\n",
                  errors=(404, 422)),
)
def list_organisations(
    session: SessionDep,
    _caller: ReaderDep,
    type: Annotated[str | None, Query(description="org_type, e.g. practice, pcn, trust",
                                      examples=["practice"])] = None,
    parent: Annotated[str | None, Query(description="code of the direct parent",
                                        examples=["PCN1"])] = None,
    q: Annotated[str | None, Query(description="case-insensitive search in names and codes",
                                   max_length=200, examples=["surgery"])] = None,
    include_inactive: Annotated[bool, Query(description="include closed organisations")
                                ] = False,
    limit: Annotated[int, Query(ge=1, le=5000)] = 100,
    offset: Offset = 0,
    format: FormatQuery = "json",
):
    """Organisations filtered by type, parent and a name/code search, ordered by code, one
    page at a time (``total`` counts every match). Closed organisations are left out unless
    ``include_inactive=true``."""
    page = org_service.list_organisations(
        session, org_type=type, parent=parent, q=q, active_only=not include_inactive,
        limit=limit, offset=offset,
    )
    if format == "csv":
        return csv_response(page.items, "organisations.csv", ORG_LIST_COLUMNS)
    return json_response({"total": page.total, "limit": page.limit, "offset": page.offset,
                          "items": records_json(page.items, ORG_LIST_COLUMNS)})


@router.get(
    "/organisations/{code}",
    summary="One organisation with its parents and children",
    responses=doc(schemas.OrganisationDetail, errors=(404,)),
)
def get_organisation(session: SessionDep, _caller: ReaderDep, code: str):
    """The organisation with its attributes (list size, deprivation...), its chain of
    parents up to the top (nearest first) and its direct children."""
    return json_response(org_service.organisation_detail(session, code).as_dict())


@router.get(
    "/organisations/{code}/indicators/{indicator_id}/spc",
    summary="SPC chart of one organisation's series",
    responses=doc(schemas.SPC, csv=",".join(SPC_POINT_COLUMNS) + "\r\n"),
)
def spc(
    session: SessionDep,
    request: Request,
    _caller: ReaderDep,
    code: str,
    indicator_id: str,
    period_type: PeriodTypeQuery = None,
    screen_outliers: Annotated[bool, Query(description="drop moving ranges >= 3.267 x the "
                                           "mean moving range (Making Data Count default)")
                               ] = True,
    fix_after: Annotated[int | None, Query(ge=2, le=10000, description="base the limits on "
                                           "the first N points")] = None,
    rebase: Annotated[list[str] | None, Query(description="period(s) where new limits start; "
                                              "repeat or comma-separate. Without it the "
                                              "rebases people accepted (/rebases) apply; "
                                              "`none` for no rebase at all",
                                              examples=["2024-01"])] = None,
    chart: Annotated[str, Query(description="xmr (default) or p (p-chart, proportions)",
                                json_schema_extra={"enum": list(CHARTS)})] = "xmr",
    format: FormatQuery = "json",
):
    """An XmR chart (Making Data Count): each point's value, mean, process limits and
    special-cause class (improvement / concern / neutral / none) with the rule that fired,
    the latest point's variation icon, the assurance icon against the target, warnings
    (e.g. trial limits for a rebase segment under 12 points) and the annotations for the chart.
    A series of fewer than 12 values has no limits, classes or icons: ``limits_note`` says so
    ("3 points: too few for limits; at least 12 needed") and ``run_chart`` carries the Anhoej
    run-chart analysis about the median, as the trend page and the slide show it.
    Without ``rebase`` the rebases people accepted for this series (``/rebases``) apply, and
    ``accepted_rebases`` lists them with who accepted them and when."""
    def build() -> Response:
        # no rebase asked for: the accepted rebases apply (None); "none": none at all
        labels = None if rebase is None else [
            p.strip() for r in rebase for p in r.split(",")
            if p.strip() and p.strip().lower() != "none"]
        view = spc_service.spc(
            session, code, indicator_id, period_type=period_type, screen_outliers=screen_outliers,
            fix_after=fix_after, rebase=labels, chart=chart,
        )
        if format == "csv":
            return csv_response(view.points, f"spc_{view.organisation.code}_{indicator_id}.csv",
                                note_columns(SPC_POINT_COLUMNS))
        return json_response({
            "organisation": view.organisation.brief(),
            "indicator": view.indicator.as_dict(),
            "period_type": view.period_type,
            "period_types": view.period_types,
            "chart": view.chart,
            "improvement_direction": view.improvement_direction,
            "screen_outliers": view.screen_outliers,
            "fix_after": view.fix_after,
            "rebase": view.rebase,
            "target": view.target,
            "variation": view.variation,
            "assurance": view.assurance,
            "warnings": view.warnings,
            "n_points": view.n_points,
            "limits_note": view.limits_note,
            "run_chart": None if view.run_chart is None else {
                **dataclasses.asdict(view.run_chart),
                "sentence": spc_service.run_chart_sentence(view.run_chart)},
            "annotations": view.annotations,
            "accepted_rebases": view.accepted_rebases,
            "actions": action_service.actions_for_view(session, view),
            "points": records_json(view.points, note_columns(SPC_POINT_COLUMNS)),
        })

    return cached(request, session, build)


@router.get(
    "/organisations/{code}/profile",
    summary="Every indicator for one organisation (spine chart)",
    responses=doc(schemas.Profile, csv=",".join(PROFILE_COLUMNS) + "\r\n"),
)
def profile(
    session: SessionDep,
    request: Request,
    _caller: ReaderDep,
    code: str,
    period: Annotated[str | None, Query(description="period label (default: each "
                                        "indicator's latest)", examples=["2024-12"])] = None,
    period_type: PeriodTypeQuery = None,
    level: Annotated[str, Query(description="opportunity level: median, upper_quartile, "
                                "best_decile or target", json_schema_extra={"enum": list(LEVELS)})
                     ] = "median",
    confidence: Annotated[float, Query(description="95 or 99.8",
                                       json_schema_extra=CONFIDENCE_ENUM)] = 95.0,
    format: FormatQuery = "json",
):
    """For each indicator: the organisation's value and interval, the pooled benchmark of
    all organisations of its type, the comparison, rank and percentile, the peer range for a
    spine chart (min, q1, median, q3, max), the latest SPC variation and assurance, and the
    opportunity (extra patients) at ``level``."""
    def build() -> Response:
        prof = profile_service.profile(session, code, period=period, period_type=period_type,
                                       level=level, confidence=confidence)
        if format == "csv":
            return csv_response(prof.rows, f"profile_{prof.organisation.code}.csv",
                                note_columns(PROFILE_COLUMNS))
        return json_response({
            "organisation": prof.organisation.brief(),
            "peers": prof.peers_label,
            "confidence": prof.confidence,
            "level": prof.level,
            "rows": records_json(prof.rows, note_columns(PROFILE_COLUMNS)),
        })

    return cached(request, session, build)
