"""Indicators: the list, one with its periods, and the peer views of one period
(comparison, funnel, opportunity)."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from api import schemas
from api.cache import cached
from api.deps import FormatQuery, ReaderDep, SessionDep
from api.docs import CONFIDENCE_ENUM, PERIOD_TYPE_ENUM, doc
from api.responses import (
    JSONBytes,
    column_records_json,
    csv_response,
    dumps,
    json_response,
    records_json,
)
from core.errors import InvalidParameter
from core.services import comparison as cmp
from core.services import indicators as ind_service
from core.services.comparison import (
    COMPARISON_COLUMNS,
    FUNNEL_COLUMNS,
    LEVELS,
    OPPORTUNITY_COLUMNS,
)
from core.services.disclosure import note_columns
from core.services.indicators import INDICATOR_LIST_COLUMNS

router = APIRouter(tags=["indicators"])

PeriodQuery = Annotated[
    str | None,
    Query(description="period label, e.g. 2024-03, 2024-Q1, 2023-24 (default: the latest "
          "with data)", examples=["2024-12"]),
]
PeriodTypeQuery = Annotated[
    str | None,
    Query(description="month, quarter, financial_year or year: which kind of period when a "
          "label is ambiguous or for the default latest period",
          json_schema_extra=PERIOD_TYPE_ENUM),
]
OrgTypeQuery = Annotated[
    str | None,
    Query(description="org_type to compare (default: the lowest level with data)",
          examples=["practice"]),
]
#: what ``peers`` may be (blank: not given)
PEERS_PATTERN = r"^((parent|similar|group):\S[\s\S]*)?$"
PeersQuery = Annotated[
    str | None,
    Query(description="parent:CODE (e.g. the practices of one PCN), similar:CODE (the "
          "organisation and its most similar peers by list size and deprivation), "
          "group:NAME (a saved group); default every organisation of org_type",
          examples=["parent:PCN1"], json_schema_extra={"pattern": PEERS_PATTERN}),
]
#: attribute names (list_size, imd_score), comma-separated
ATTRIBUTE_LIST = r"^\s*[A-Za-z_][A-Za-z0-9_]*\s*(,\s*[A-Za-z_][A-Za-z0-9_]*\s*)*$"
SimilarAttrsQuery = Annotated[
    list[str] | None,
    Query(description="attributes for similar:CODE (default list_size and imd_score); "
          "repeat or comma-separate", json_schema_extra={"anyOf": [
              {"type": "array", "items": {"type": "string", "pattern": ATTRIBUTE_LIST}},
              {"type": "null"}]}),
]
SimilarKQuery = Annotated[
    int | None, Query(ge=1, le=500, description="how many similar peers (default 10)")
]


def _attrs(values: list[str] | None) -> tuple[str, ...] | None:
    if not values:
        return None
    for v in values:
        if not re.match(ATTRIBUTE_LIST, v):
            raise InvalidParameter("similar_attributes", f"similar_attributes {v[:100]!r} is not "
                                   "a list of attribute names (e.g. list_size,imd_score)")
    return tuple(a.strip() for v in values for a in v.split(",") if a.strip())


class PeerViewParams:
    """Which period and which peers: the query parameters every peer view (comparison,
    funnel, opportunity) shares, as the keyword arguments of its service
    (:func:`peer_view_params` reads them from the request)."""

    def __init__(self, kwargs: dict[str, Any]) -> None:
        self.kwargs = kwargs


async def peer_view_params(
    period: PeriodQuery = None,
    period_type: PeriodTypeQuery = None,
    org_type: OrgTypeQuery = None,
    peers: PeersQuery = None,
    similar_attributes: SimilarAttrsQuery = None,
    similar_k: SimilarKQuery = None,
) -> PeerViewParams:
    """The :class:`PeerViewParams` of a request. ``async`` on purpose: FastAPI runs a sync
    dependency (a class too) in the threadpool, a thread switch each way per request; this
    one only checks a few strings."""
    return PeerViewParams({
        "period": period, "period_type": period_type, "org_type": org_type,
        "peers": peers, "similar_attributes": _attrs(similar_attributes),
        "similar_k": similar_k,
    })


PeerViewDep = Annotated[PeerViewParams, Depends(peer_view_params)]


@router.get(
    "/indicators",
    summary="List indicators",
    responses=doc(schemas.IndicatorList, csv=",".join(INDICATOR_LIST_COLUMNS) + "\r\n",
                  errors=(422,)),
)
def list_indicators(
    session: SessionDep,
    _caller: ReaderDep,
    domain: Annotated[str | None, Query(description="only this domain")] = None,
    format: FormatQuery = "json",
):
    """Every indicator with its key metadata, its latest period with data, and how many
    periods and organisations have values."""
    frame = ind_service.list_indicators(session, domain=domain)
    if format == "csv":
        return csv_response(frame, "indicators.csv", INDICATOR_LIST_COLUMNS)
    return json_response({"items": records_json(frame, INDICATOR_LIST_COLUMNS)})


@router.get(
    "/indicators/{indicator_id}",
    summary="One indicator: metadata and periods with data",
    responses=doc(schemas.IndicatorDetail, errors=(404,)),
)
def get_indicator(session: SessionDep, _caller: ReaderDep, indicator_id: str):
    """All the indicator's metadata (definition, polarity, target, source, review) and the
    periods that have data, oldest first."""
    return json_response(ind_service.indicator_detail(session, indicator_id).as_dict())


@router.get(
    "/indicators/{indicator_id}/comparison",
    summary="Peer comparison for one period",
    responses=doc(schemas.Comparison, csv=",".join(COMPARISON_COLUMNS) + "\r\n"),
)
def comparison(
    session: SessionDep,
    request: Request,
    _caller: ReaderDep,
    indicator_id: str,
    peer_view: PeerViewDep,
    benchmark: Annotated[str | None, Query(
        description="peers (pooled value of the peers, default), an organisation code "
        "(its value, e.g. England's) or target", examples=["peers"])] = None,
    confidence: Annotated[float, Query(description="95 (default) or 99.8",
                                       json_schema_extra=CONFIDENCE_ENUM)] = 95.0,
    format: FormatQuery = "json",
):
    """Each peer's value with its confidence interval, rank (1 = best by polarity),
    percentile, quartile and decile, and its comparison with the benchmark by the Fingertips
    rule (better / similar / worse / not_compared); with the quartiles and deciles of the
    peer values. Values in display units (x multiplier)."""
    def build() -> Response:
        res = cmp.comparison(session, indicator_id, benchmark=benchmark, confidence=confidence,
                             **peer_view.kwargs)
        if format == "csv":
            return csv_response(res.rows, f"{res.indicator.id}_{res.period.label}_comparison.csv",
                                note_columns(COMPARISON_COLUMNS))
        return JSONBytes(comparison_json(res))

    return cached(request, session, build, autocommit=True)


def comparison_json(res: cmp.ComparisonResult) -> bytes:
    """The JSON body of a comparison (also what bench/bench_api.py times as serialisation)."""
    return dumps({
        "indicator": res.indicator.as_dict(),
        "period": res.period.as_dict(),
        "peers": res.peers.as_dict(),
        "confidence": res.confidence,
        "benchmark": res.benchmark.as_dict(),
        "n": res.n,
        "quartiles": res.quartiles,
        "deciles": res.deciles,
        "rows": column_records_json(res.columns, note_columns(COMPARISON_COLUMNS)),
    })


@router.get(
    "/indicators/{indicator_id}/funnel",
    summary="Funnel plot for one period",
    responses=doc(schemas.Funnel, csv=",".join(FUNNEL_COLUMNS) + "\r\n"),
)
def funnel(
    session: SessionDep,
    request: Request,
    _caller: ReaderDep,
    indicator_id: str,
    peer_view: PeerViewDep,
    overdispersion: Annotated[bool, Query(description="Spiegelhalter/FunnelPlotR "
                                          "random-effects adjustment")] = False,
    format: FormatQuery = "json",
):
    """Control limits at 95% and 99.8% about the pooled value (OHID inverse-Wilson for
    proportions, exact Poisson for rates and ratios), a smooth ``limits`` curve to draw, and
    each organisation's limits at its denominator and its flag (above_998, above_95, within,
    below_95, below_998). With ``overdispersion=true``: phi, tau2 and the widened limits
    (kept unadjusted when phi <= 1)."""
    def build() -> Response:
        view = cmp.funnel(session, indicator_id, overdispersion=overdispersion,
                          **peer_view.kwargs)
        if format == "csv":
            return csv_response(view.rows, f"{view.indicator.id}_{view.period.label}_funnel.csv",
                                note_columns(FUNNEL_COLUMNS))
        return json_response({
            "indicator": view.indicator.as_dict(),
            "period": view.period.as_dict(),
            "peers": view.peers.as_dict(),
            "target": view.target,
            "overdispersion": view.overdispersion,
            "overdispersion_requested": view.overdispersion_requested,
            "phi": view.phi,
            "tau2": view.tau2,
            "method": view.method,
            "limits": records_json(view.limits),
            "rows": records_json(view.rows, note_columns(FUNNEL_COLUMNS)),
        })

    return cached(request, session, build, autocommit=True)


@router.get(
    "/indicators/{indicator_id}/opportunity",
    summary="Opportunity: extra patients if every organisation reached a level",
    responses=doc(schemas.Opportunity, csv=",".join(OPPORTUNITY_COLUMNS) + "\r\n"),
)
def opportunity(
    session: SessionDep,
    request: Request,
    _caller: ReaderDep,
    indicator_id: str,
    peer_view: PeerViewDep,
    level: Annotated[str, Query(description="median (default), upper_quartile, best_decile "
                                "or target", json_schema_extra={"enum": list(LEVELS)})
                     ] = "median",
    format: FormatQuery = "json",
):
    """GIRFT-style opportunity: for each organisation worse than ``level`` the extra
    patients = |level - value| x denominator / multiplier; the total, how many organisations
    hold half of it, and totals per parent (e.g. per PCN). Largest first."""
    def build() -> Response:
        view = cmp.opportunity(session, indicator_id, level=level, **peer_view.kwargs)
        if format == "csv":
            return csv_response(view.rows,
                                f"{view.indicator.id}_{view.period.label}_opportunity.csv",
                                note_columns(OPPORTUNITY_COLUMNS))
        return json_response({
            "indicator": view.indicator.as_dict(),
            "period": view.period.as_dict(),
            "peers": view.peers.as_dict(),
            "level_name": view.level_name,
            "level": view.level,
            "total": view.total,
            "orgs_for_half": view.orgs_for_half,
            "n_below_level": view.n_below_level,
            "by_parent": records_json(view.by_parent),
            "rows": records_json(view.rows, note_columns(OPPORTUNITY_COLUMNS)),
        })

    return cached(request, session, build, autocommit=True)
