"""The network page's 'Since the last load' (SQLite and PostgreSQL), with alerts computed by the
alerts service from the sample's loads."""

from __future__ import annotations

from sqlalchemy import text

from core.services import alerts as alert_service


def test_network_page_shows_what_the_last_load_changed(sample, pages):
    page = pages["network"]
    assert "No load has raised alerts" in str(page.layout(code="U33593").to_plotly_json())
    with sample.begin() as conn:
        loads = [r[0] for r in conn.execute(text("SELECT id FROM loads ORDER BY id")).all()]
        for load_id in loads:
            alert_service.raise_load_alerts(conn, load_id)
        # a network whose members have alerts, and the newest load that raised them
        code, load_id, n = conn.execute(text(
            "SELECT p.code, MAX(a.load_id), COUNT(*) FROM alerts a "
            "JOIN organisations o ON o.id = a.org_id JOIN organisations p ON p.id = o.parent_id "
            "WHERE p.org_type = 'pcn' GROUP BY p.code ORDER BY COUNT(*) DESC, p.code")).first()
    with sample.connect() as conn:
        _, frame, total = alert_service.latest_network_alerts(conn, code)
    assert total > 0
    body = str(page.layout(code=code).to_plotly_json())
    assert f"Load {load_id} (" in body
    assert f"raised {total} alert" in body
    assert f"/alerts?network={code}&load={load_id}&since=" in body
    for a in alert_service.alert_records(frame):
        assert a["message"] in body
        assert f"/organisations/{a['org_code']}/indicators/{a['indicator_id']}" in body
