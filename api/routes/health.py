"""Health: is the database reachable, at which schema version, and when was data last loaded."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import func, select

from core.db import get_engine, head_revision, schema_version
from core.models import Load

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str
    database: str
    schema_version: str | None
    schema_head: str | None
    last_load_at: dt.datetime | None


@router.get("/health", response_model=Health, summary="Service and database health")
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
    return Health(
        status="ok" if version == head_revision() else "needs_migration",
        database=engine.dialect.name,
        schema_version=version,
        schema_head=head_revision(),
        last_load_at=last,
    )
