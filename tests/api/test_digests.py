"""Subscriptions and email digests, sent to a real SMTP server (aiosmtpd) started here."""

from __future__ import annotations

import email
import json
import socket
from collections.abc import Iterator
from email.message import Message

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from core import auth
from core.settings import get_settings, override_settings
from qidash.cli import app
from tests.api.conftest import bearer
from tests.api.test_alerts import _alerts, _load_late, ae, api  # noqa: F401 - fixtures


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Message]] = []

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        self.messages.append((list(envelope.rcpt_tos),
                              email.message_from_bytes(envelope.original_content)))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[tuple[_Inbox, int]]:
    inbox = _Inbox()
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def _use(**changes: object) -> None:
    override_settings(get_settings().model_copy(update=changes))


@pytest.fixture
def analyst(ae) -> str:  # type: ignore[no-untyped-def]  # noqa: F811
    with Session(ae["engine"]) as s:
        _info, token = auth.create_token(s, "lead", "analyst")
        s.commit()
    return token


def _parts(msg: Message) -> dict[str, str]:
    out = {}
    for part in msg.walk():
        if part.get_content_maintype() == "text":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            out[part.get_content_type()] = payload.decode(
                part.get_content_charset() or "utf-8").replace("\r\n", "\n")
    return out


def test_a_subscribed_analyst_receives_one_digest_linking_to_the_charts(
        ae, api, analyst, smtp):  # noqa: F811
    inbox, port = smtp
    _use(smtp_url=f"smtp://127.0.0.1:{port}", public_url="https://qi.example.nhs.uk",
         mail_from="qidash@example.nhs.uk")
    h = bearer(analyst)
    r = api.post("/api/v1/subscriptions", json={"email": "lead@example.nhs.uk",
                                                "network": "NETA"}, headers=h)
    assert r.status_code == 201, r.text
    r2 = api.post("/api/v1/subscriptions", json={"email": "b@example.nhs.uk",
                                                 "network": "NETB", "kinds": ["target_met"]},
                  headers=h)
    assert r2.status_code == 201, r2.text
    assert [s["email"] for s in api.get("/api/v1/subscriptions", headers=h).json()["items"]
            ] == ["lead@example.nhs.uk", "b@example.nhs.uk"]
    second = _load_late(ae)
    to_a = [m for rcpt, m in inbox.messages if rcpt == ["lead@example.nhs.uk"]]
    assert len(to_a) == 1
    msg = to_a[0]
    assert msg["From"] == "qidash@example.nhs.uk"
    parts = _parts(msg)
    assert set(parts) == {"text/plain", "text/html"}
    expected = _alerts(api, load=second.load_id, network="NETA")["alerts"]
    assert expected
    for a in expected:
        assert a["url"].startswith("https://qi.example.nhs.uk/organisations/")
        assert a["url"] in parts["text/plain"]
        assert f'href="{a["url"]}"' in parts["text/html"]
    # grouped by organisation, concerns first within each
    body = parts["text/plain"]
    first_org = body.split("\n")[2]
    assert first_org.endswith(")")
    for code in {a["org_code"] for a in expected}:
        section = body.split(f"({code})\n", 1)[1].split("\n\n", 1)[0]
        kinds = [line.split(":")[0].strip(" -") for line in section.splitlines()
                 if line.startswith("  - ")]
        concern_pos = [i for i, k in enumerate(kinds) if "concern" in k or "worse" in k
                       or "missed" in k]
        other_pos = [i for i, k in enumerate(kinds) if i not in concern_pos]
        if concern_pos and other_pos:
            assert max(concern_pos) < min(other_pos)
    # the other subscription only wants target_met alerts in its own network
    to_b = [m for rcpt, m in inbox.messages if rcpt == ["b@example.nhs.uk"]]
    met = _alerts(api, load=second.load_id, network="NETB", kind="target_met")["total"]
    assert len(to_b) == (1 if met else 0)
    if met:
        assert "Target met" in _parts(to_b[0])["text/plain"]
        assert "Special cause" not in _parts(to_b[0])["text/plain"]
    assert len(inbox.messages) == 1 + len(to_b)
    # delete, and a bad request is a clear 4xx
    sid = r.json()["id"]
    assert api.delete(f"/api/v1/subscriptions/{sid}", headers=h).status_code == 204
    assert api.delete(f"/api/v1/subscriptions/{sid}", headers=h).status_code == 404
    bad = api.post("/api/v1/subscriptions", json={"email": "nope", "network": "NETA"},
                   headers=h)
    assert bad.status_code == 422
    assert api.post("/api/v1/subscriptions", json={"email": "a@b.org", "network": "ZZZ"},
                    headers=h).status_code == 404
    assert api.post("/api/v1/subscriptions", json={"email": "a@b.org", "network": "NETA",
                                                   "kinds": ["x"]}, headers=h).status_code == 422
    assert api.get("/api/v1/subscriptions").status_code == 401


def test_a_failed_send_keeps_the_digest_pending_and_never_fails_the_load(ae, smtp):  # noqa: F811
    inbox, port = smtp
    closed = _free_port()
    _use(smtp_url=f"smtp://127.0.0.1:{closed}")
    runner = CliRunner()
    out = runner.invoke(app, ["subscriptions", "add", "--email", "lead@example.nhs.uk",
                              "--network", "NETA"])
    assert out.exit_code == 0, out.output
    second = _load_late(ae)  # asserts the load is 'loaded'
    assert second.alerts > 0
    with ae["engine"].connect() as conn:
        status, attempts, error = conn.execute(text(
            "SELECT status, attempts, last_error FROM digests WHERE load_id = :l"),
            {"l": second.load_id}).one()
    assert (status, attempts) == ("pending", 1)
    assert "Connection refused" in error or "Errno" in error
    assert inbox.messages == []
    failed = runner.invoke(app, ["alerts", "send", "--pending"])
    assert failed.exit_code == 1
    _use(smtp_url=f"smtp://127.0.0.1:{port}")
    sent = runner.invoke(app, ["alerts", "send", "--pending"])
    assert sent.exit_code == 0, sent.output
    assert json.loads(sent.output)["sent"] == 1
    assert len(inbox.messages) == 1
    again = runner.invoke(app, ["alerts", "send", "--pending"])
    assert json.loads(again.output)["sent"] == 0
    assert len(inbox.messages) == 1
    listed = runner.invoke(app, ["subscriptions", "list", "--json"])
    sid = json.loads(listed.output)[0]["id"]
    assert runner.invoke(app, ["subscriptions", "remove", str(sid)]).exit_code == 0
    assert runner.invoke(app, ["subscriptions", "remove", str(sid)]).exit_code == 2


def test_disclosure_control_withholds_small_counts_from_alerts_and_digests(
        ae, api, analyst, smtp):  # noqa: F811
    """QIDASH_DISCLOSURE_CONTROL on: an alert whose breaches or attendances are 1..7 shows no
    value in the API (JSON and CSV) nor in the digest; the others keep theirs."""
    from tests.api.test_alerts import _sums

    inbox, port = smtp
    _use(smtp_url=f"smtp://127.0.0.1:{port}", disclosure_control=True)
    h = bearer(analyst)
    for net in ("NETA", "NETB"):
        r = api.post("/api/v1/subscriptions", json={"email": f"{net}@example.nhs.uk",
                                                    "network": net}, headers=h)
        assert r.status_code == 201, r.text
    second = _load_late(ae)
    sums = _sums()

    def small(a: dict) -> bool:  # type: ignore[type-arg]
        return any(1 <= c <= 7 for c in sums[(a["org_code"], a["period"])])

    alerts = _alerts(api, load=second.load_id)["alerts"]
    hidden = [a for a in alerts if small(a)]
    shown = [a for a in alerts if not small(a)]
    assert hidden, "the real data has alerts on small counts"
    assert shown
    assert all(a["value"] is None for a in hidden)
    assert all(a["value"] is not None for a in shown)
    r = api.get("/api/v1/alerts", params={"load": second.load_id, "limit": 10000,
                                          "format": "csv"})
    assert r.status_code == 200
    import csv
    import io
    rows = {r["id"]: r for r in csv.DictReader(io.StringIO(r.text))}
    assert all(rows[str(a["id"])]["value"] == "" for a in hidden)
    assert all(rows[str(a["id"])]["value"] != "" for a in shown)
    # the CLI lists them as the API does
    out = CliRunner().invoke(app, ["alerts", "list", "--load", str(second.load_id),
                                   "--limit", "10000", "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["alerts"] == alerts
    # the digests: a withheld alert's line carries no value
    texts = "\n".join(_parts(m)["text/plain"] for _, m in inbox.messages)
    assert len(inbox.messages) == 2
    for a in alerts:
        section = texts.split(f"({a['org_code']})\n", 1)[1].split("\n\n", 1)[0]
        line = next(x for x in section.splitlines() if a["message"] in x)
        assert ("(value " in line) is (a["value"] is not None), line
