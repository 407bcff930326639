"""A load whose process died before committing shows as failed (interrupted) in the API."""

from __future__ import annotations

import subprocess

from sqlalchemy.orm import Session

from core.models import Load
from etl.load_runs import INTERRUPTED_MESSAGE, loader_identity


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_killed_load_is_listed_as_failed(engine, wclient):
    loader = loader_identity() | {"pid": _dead_pid()}
    with Session(engine) as s:
        load = Load(file_name="big.csv", sha256="0" * 64, kind="values", status="running",
                    options={"loader": loader})
        s.add(load)
        s.commit()
        load_id = load.id
    items = wclient.get("/api/v1/loads").json()["items"]
    row = next(i for i in items if i["id"] == load_id)
    assert row["status"] == "failed"
    assert row["message"] == INTERRUPTED_MESSAGE
    detail = wclient.get(f"/api/v1/loads/{load_id}").json()
    assert detail["status"] == "failed"
    assert "nothing from this file was written" in detail["message"]
