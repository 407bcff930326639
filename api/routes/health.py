"""Health: is the database reachable, at which schema version, and when was data last loaded."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import func, select

from api import schemas
from api.deps import ReaderDep, SessionDep
from api.docs import doc
from api.responses import json_response
from core.db import get_engine, head_revision, schema_version
from core.models import Load
from core.services import loads as load_service
from core.services.warm import warm_status

router = APIRouter(tags=["health"])


class PeerCache(BaseModel):
    """This serving process's warmer of the profile's national peer summaries
    (``QIDASH_WARM_INTERVAL``): ``state`` is off, starting, warming, warm or failed;
    ``summaries`` how many a default profile now finds built; ``seconds`` the last warm-up's
    time; ``as_of`` when it read the data's version (the summaries hold every load finished
    before then); ``error`` why the last one failed; ``hits`` and
    ``misses`` count the process's lookups of a summary in its cache since it started (a
    profile that found every summary built adds hits only)."""

    state: str
    summaries: int
    seconds: float | None
    as_of: dt.datetime | None
    error: str | None
    hits: int
    misses: int


class Health(BaseModel):
    """Service health (200 when the database answers, 503 when it does not)."""

    model_config = {"json_schema_extra": {"examples": [{
        "status": "ok", "database": "postgresql", "schema_version": "0001",
        "schema_head": "0001", "last_load_at": "2024-05-02T10:00:02Z",
        "peer_cache": {"state": "warm", "summaries": 1000, "seconds": 6.2,
                       "as_of": "2024-05-02T10:00:03Z", "error": None,
                       "hits": 4000, "misses": 1000}}]}}
    status: str
    database: str
    schema_version: str | None
    schema_head: str | None
    last_load_at: dt.datetime | None
    peer_cache: PeerCache | None = None


@router.get(
    "/health",
    response_model=Health,
    response_class=JSONResponse,
    summary="Service and database health",
    responses={503: {"model": Health, "description": "The database is unreachable"}},
)
def health() -> Health | JSONResponse:
    """Whether the database answers, its schema version, and the time of the last good load."""
    engine = get_engine()
    try:
        version = schema_version(engine)
        with engine.connect() as conn:
            last = conn.execute(
                select(func.max(Load.finished_at)).where(Load.status == "loaded")
            ).scalar()
    except Exception as exc:  # the database is down: say so, do not raise a 500
        body = Health(
            status="unavailable",
            database=f"unreachable: {type(exc).__name__}",
            schema_version=None,
            schema_head=head_revision(),
            last_load_at=None,
        )
        return JSONResponse(body.model_dump(mode="json"), status_code=503)
    if last is not None and last.tzinfo is None:
        last = last.replace(tzinfo=dt.UTC)  # SQLite returns naive datetimes; stored in UTC
    return Health(
        status="ok" if version == head_revision() else "needs_migration",
        database=engine.dialect.name,
        schema_version=version,
        schema_head=head_revision(),
        last_load_at=last,
        peer_cache=PeerCache(**warm_status(engine)),
    )


@router.get(
    "/freshness",
    summary="Data freshness: last load, periods covered, what changed",
    responses=doc(schemas.Freshness, errors=(401,)),
)
def freshness(session: SessionDep, _caller: ReaderDep):
    """The last successful load, the periods covered per period type, the number of
    indicators and values, and what the last values load inserted or updated per indicator."""
    f = load_service.freshness(session)
    return json_response({
        "last_load": f.last_load,
        "indicators": f.indicators,
        "values": f.values,
        "periods": f.periods,
        "last_values_load": f.last_values_load,
        "changes": f.changes,
    })


class Ready(BaseModel):
    """Readiness for a load balancer or orchestrator."""

    model_config = {"json_schema_extra": {"examples": [{
        "ready": True, "database": "postgresql", "schema_version": "0001",
        "schema_head": "0001", "message": "ready"}]}}
    ready: bool
    database: str
    schema_version: str | None
    schema_head: str | None
    message: str


@router.get(
    "/ready",
    response_model=Ready,
    response_class=JSONResponse,
    summary="Readiness: the database answers and its schema is at head",
    responses={503: {"model": Ready, "description": "Not ready: database down or not migrated"}},
)
def ready() -> Ready | JSONResponse:
    """200 only when the database answers and its schema is at the code's head revision;
    else 503 with the reason (for a load balancer's or orchestrator's readiness probe: an app
    process whose database is unreachable or not yet migrated should get no traffic)."""
    engine = get_engine()
    head = head_revision()
    try:
        version = schema_version(engine)
    except Exception as exc:  # any driver error: the database is not usable from here
        body = Ready(ready=False, database=f"unreachable: {type(exc).__name__}",
                     schema_version=None, schema_head=head,
                     message="the database does not answer; check QIDASH_DATABASE_URL and "
                     "that PostgreSQL is running")
        return JSONResponse(body.model_dump(mode="json"), status_code=503)
    if version != head:
        body = Ready(ready=False, database=engine.dialect.name, schema_version=version,
                     schema_head=head,
                     message=f"the schema is at {version or 'nothing (empty database)'}, the "
                     f"code needs {head}; run qidash db upgrade")
        return JSONResponse(body.model_dump(mode="json"), status_code=503)
    return Ready(ready=True, database=engine.dialect.name, schema_version=version,
                 schema_head=head, message="ready")
