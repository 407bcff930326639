"""``qidash tokens create|list|revoke`` against the test database, then the API with it."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_api
from qidash.cli import app

runner = CliRunner()


def test_tokens_cli_round_trip(database_url, wdb):
    out = runner.invoke(app, ["tokens", "create", "--role", "analyst", "--name", "ci-bot",
                              "--json"])
    assert out.exit_code == 0, out.output
    made = json.loads(out.output)
    assert made["name"] == "ci-bot"
    assert made["role"] == "analyst"
    token = made["token"]
    listed = runner.invoke(app, ["tokens", "list"])
    assert "ci-bot" in listed.output
    assert token not in listed.output  # the token is shown once, never listed
    dup = runner.invoke(app, ["tokens", "create", "--role", "viewer", "--name", "ci-bot"])
    assert dup.exit_code == 2
    assert "exists" in dup.output
    bad = runner.invoke(app, ["tokens", "create", "--role", "boss", "--name", "x"])
    assert bad.exit_code == 2
    with TestClient(create_api()) as c:
        h = {"Authorization": f"Bearer {token}"}
        r = c.post("/api/v1/groups", json={"name": "g", "members": ["A81001"]}, headers=h)
        assert r.status_code == 201
        assert runner.invoke(app, ["tokens", "revoke", "ci-bot"]).exit_code == 0
        r = c.post("/api/v1/groups", json={"name": "g2", "members": ["A81001"]}, headers=h)
        assert r.status_code == 401
    gone = runner.invoke(app, ["tokens", "revoke", "nobody"])
    assert gone.exit_code == 2
    assert "ci-bot" in gone.output
    as_json = json.loads(runner.invoke(app, ["tokens", "list", "--json"]).output)
    assert as_json[0]["revoked_at"] is not None
