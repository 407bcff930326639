"""The HTTP floor of the comparison endpoint: the least any web service can do to answer it.

One FastAPI route, ``GET /floor/{indicator_id}``, on the same server stack as qidash
(FastAPI/Starlette, in process through TestClient or under uvicorn): the bench's indexed bare
fetch of the same rows with each organisation's code and name (``bench_bare_rows``, made by
``bench_api.raw_bare``), one psycopg connection kept open in autocommit, the rows written as
JSON objects by msgspec (the fastest encoder in qidash's stack). No statistics, no roles, no
data version, no disclosure control, no ordering: what answering with the rows of the bare
fetch costs over HTTP at the least, so ``bench_api.py`` prints the comparison endpoint as a
ratio to it beside the ratio to the bare fetch alone. (Not a strict bound on the endpoint,
which fetches its values packed in one binary value and so faster than the bare fetch.)

``QIDASH_BENCH_FLOOR_DSN`` names the database (a psycopg ``postgresql://`` DSN).
"""

from __future__ import annotations

import os

import msgspec
import psycopg
from fastapi import FastAPI
from fastapi.responses import Response

SQL = ("SELECT org_id, org_code, org_name, numerator, denominator, value, lower_ci, upper_ci, "
       "suppressed FROM bench_bare_rows WHERE indicator_id = %s AND period_id = %s")
FIELDS = ("org_id", "org_code", "org_name", "numerator", "denominator", "value", "lower_ci",
          "upper_ci", "suppressed")
Row = msgspec.defstruct("Row", [(f, object) for f in FIELDS], gc=False)
_ENCODER = msgspec.json.Encoder()


def create(dsn: str | None = None, period_id: int = 60) -> FastAPI:
    """The floor app on ``dsn`` (default ``QIDASH_BENCH_FLOOR_DSN``)."""
    conn = psycopg.connect(dsn or os.environ["QIDASH_BENCH_FLOOR_DSN"], autocommit=True)
    app = FastAPI()

    @app.get("/floor/{indicator_id}")
    def floor(indicator_id: str) -> Response:
        with conn.cursor() as cur:
            cur.execute(SQL, (indicator_id, period_id))
            rows = cur.fetchall()
        return Response(_ENCODER.encode({"rows": [Row(*r) for r in rows]}),
                        media_type="application/json")

    return app
