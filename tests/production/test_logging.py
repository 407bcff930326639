"""Logs under ``qidash serve --workers N``: uvicorn applies serve's dictConfig in every worker."""

from __future__ import annotations

import json
import logging
import logging.config

import pytest

from qidash.commands.serve import log_config
from qidash.middleware import request_id_var


@pytest.fixture
def restore_logging():  # type: ignore[no-untyped-def]
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    yield
    root.handlers[:], root.level = saved


def test_worker_log_config_writes_json_access_lines(restore_logging, capsys) -> None:  # type: ignore[no-untyped-def]
    """The dictConfig gives one JSON object per line with the request id; uvicorn's own access
    log stays off (qidash.access replaces it)."""
    logging.config.dictConfig(log_config(True))
    token = request_id_var.set("rid-123")
    try:
        logging.getLogger("qidash.access").info(
            "request", extra={"method": "GET", "path": "/x", "status": 200})
        logging.getLogger("uvicorn.access").info("uvicorn access line")
    finally:
        request_id_var.reset(token)
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(lines) == 1
    body = json.loads(lines[0])
    assert body["logger"] == "qidash.access"
    assert body["request_id"] == "rid-123"
    assert body["status"] == 200
