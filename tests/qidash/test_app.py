"""The mounted app: API before Dash, request ids, security headers, CORS closed by default."""

from __future__ import annotations

import json
import logging

import pytest
from fastapi.testclient import TestClient

from core.settings import Settings, get_settings, override_settings
from qidash.app import create_app
from qidash.middleware import JsonFormatter, request_id_var


@pytest.fixture
def client(database_url):
    with TestClient(create_app()) as c:
        yield c


def test_health_and_dashboard_share_one_process(client):
    r = client.get("/api/v1/health")
    assert r.status_code == 200
    assert r.json()["status"] == "ok"
    page = client.get("/")
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]


def test_request_id_and_security_headers(client):
    r = client.get("/api/v1/health", headers={"X-Request-ID": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    # a hostile request id is replaced, not echoed
    r = client.get("/api/v1/health", headers={"X-Request-ID": "<script>"})
    assert r.headers["x-request-id"] != "<script>"
    assert len(r.headers["x-request-id"]) == 32


def test_cors_closed_by_default(client):
    r = client.get("/api/v1/health", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in r.headers


def test_cors_opens_for_listed_origins(database_url):
    override_settings(Settings(database_url=get_settings().database_url,
                               cors_origins=["https://dash.nhs.example"]))
    with TestClient(create_app()) as c:
        r = c.get("/api/v1/health", headers={"Origin": "https://dash.nhs.example"})
        assert r.headers["access-control-allow-origin"] == "https://dash.nhs.example"
        r = c.get("/api/v1/health", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in r.headers


def test_json_log_line_carries_request_id():
    token = request_id_var.set("rid-1")
    try:
        record = logging.makeLogRecord({"name": "qidash.access", "msg": "request",
                                        "levelname": "INFO", "status": 200})
        line = json.loads(JsonFormatter().format(record))
    finally:
        request_id_var.reset(token)
    assert line["request_id"] == "rid-1"
    assert line["status"] == 200
    assert line["message"] == "request"
