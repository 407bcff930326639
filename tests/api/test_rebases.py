"""Accepted rebases (issue 16): the API, the CLI, the audit log, and every SPC view applying
them (the SPC response, the profile's and the triage's icons, the slide pack's chart) on
SQLite and PostgreSQL."""

from __future__ import annotations

import orjson
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from core import audit
from core.services import profile as profile_service
from core.services import spc as spc_service
from tests.api.conftest import bearer
from tests.api.test_actions import shifted  # noqa: F401 (a fixture)

SPC = "/api/v1/organisations/A81001/indicators/shift/spc"


def _accept(c, tokens, **extra):  # type: ignore[no-untyped-def]
    body = {"org": "A81001", "indicator": "shift", "period": "2021-01", **extra}
    return c.post("/api/v1/rebases", json=body, headers=bearer(tokens["analyst"]))


def test_accept_apply_and_withdraw_through_the_api(shifted, wclient, tokens):  # noqa: F811
    c = wclient
    before = c.get(SPC).json()
    # the shift is special cause improvement until someone accepts new limits
    assert before["rebase"] == []
    assert before["accepted_rebases"] == []
    assert before["variation"] == "improvement_high"
    action = c.post("/api/v1/actions", headers=bearer(tokens["analyst"]), json={
        "org": "A81001", "indicator": "shift", "date": "2020-11-15",
        "title": "New recall system"}).json()
    body = {"org": "A81001", "indicator": "shift", "period": "2021-01"}
    assert c.post("/api/v1/rebases", json=body).status_code == 401
    assert c.post("/api/v1/rebases", json=body,
                  headers=bearer(tokens["viewer"])).status_code == 403
    r = _accept(c, tokens, action_id=action["id"])
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["accepted_by"] == "test-analyst"
    assert made["active"] is True
    assert made["reason"] == "after the action: New recall system"
    assert made["period_type"] == "month"
    assert made["withdrawn_at"] is None
    # the chart now applies it (no rebase asked for), and says who accepted it
    after = c.get(SPC).json()
    assert after["rebase"] == ["2021-01"]
    assert [(a["id"], a["accepted_by"]) for a in after["accepted_rebases"]] == [
        (made["id"], "test-analyst")]
    assert after["variation"] == "common_cause"  # the new process judged on its own
    # the action that led to it keeps its effect as judged before the rebase
    assert after["actions"][0]["effect"]["since"] == "2021-01"
    assert max(p["segment"] for p in after["points"]) == 1
    # a caller's own rebase still wins; "none" means none at all
    assert c.get(SPC, params={"rebase": "none"}).json()["variation"] == "improvement_high"
    own = c.get(SPC, params={"rebase": "2020-06"}).json()
    assert own["rebase"] == ["2020-06"]
    assert own["accepted_rebases"] == []
    # refusals: the same period twice, a period outside the series, its first period
    assert _accept(c, tokens).status_code == 409
    for period in ("2030-01", "2020-01"):
        r = _accept(c, tokens, period=period)
        assert r.status_code == 422, r.text
        assert r.json()["error"]["details"]["parameter"] == "period"
    assert _accept(c, tokens, org="NOPE").status_code == 404
    other = c.post("/api/v1/actions", headers=bearer(tokens["analyst"]), json={
        "org": "A81002", "indicator": "imm", "date": "2020-11-15", "title": "x"}).json()
    assert _accept(c, tokens, period="2021-02", action_id=other["id"]).status_code == 422
    listed = c.get("/api/v1/rebases", params={"org": "A81001", "indicator": "shift"}).json()
    assert [i["id"] for i in listed["items"]] == [made["id"]]
    # withdrawing: analysts only; the record stays, with who and when; the chart drops it
    path = f"/api/v1/rebases/{made['id']}"
    assert c.delete(path).status_code == 401
    assert c.delete(path, headers=bearer(tokens["viewer"])).status_code == 403
    r = c.delete(path, headers=bearer(tokens["analyst"]))
    assert r.status_code == 200, r.text
    assert r.json()["withdrawn_by"] == "test-analyst"
    assert r.json()["active"] is False
    assert c.delete(path, headers=bearer(tokens["analyst"])).status_code == 409
    assert c.delete("/api/v1/rebases/999", headers=bearer(tokens["analyst"])).status_code == 404
    again = c.get(SPC).json()
    assert again["rebase"] == []
    assert again["variation"] == "improvement_high"
    listed = c.get("/api/v1/rebases").json()["items"]
    assert [(i["id"], i["active"]) for i in listed] == [(made["id"], False)]
    assert c.get("/api/v1/rebases", params={"active": "true"}).json()["items"] == []
    # accepted again after the withdrawal: allowed (the old record stays withdrawn)
    assert _accept(c, tokens).status_code == 201
    with Session(shifted) as s:
        entries = audit.list_entries(s, action="rebase.")
    assert [(e["action"], e["actor"], e["via"]) for e in entries] == [  # newest first
        ("rebase.accept", "test-analyst", "api"), ("rebase.withdraw", "test-analyst", "api"),
        ("rebase.accept", "test-analyst", "api")]


def test_every_view_applies_an_accepted_rebase(shifted, wclient, tokens):  # noqa: F811
    """The profile's icon, the triage's, the batch icons and the slide pack's chart follow
    the accepted rebase exactly as the SPC chart does."""
    from exports import data as pack_data

    def views() -> tuple[str | None, ...]:
        with Session(shifted) as s:
            view = spc_service.spc(s, "A81001", "shift")
            prof = profile_service.profile(s, "A81001").rows.set_index("indicator_id")
            tri = profile_service.triage(s, "PCN1").rows
            tri_row = tri[(tri["indicator_id"] == "shift") & (tri["org_code"] == "A81001")]
            frame, variation, _ass, _n = pack_data._spc_one(
                s, view.indicator, _period_ref(s, view), view.organisation)
            from exports.pack import _rebase_marks

            marks = _rebase_marks(frame)
            assert [m["text"].startswith("Rebase: test-analyst, ") for m in marks] \
                == ([True] if view.accepted_rebases else [])
            return (view.variation, prof.loc["shift", "spc_variation"],
                    tri_row["spc_variation"].iloc[0], variation,
                    str(int(frame["segment"].max())))

    assert views() == ("improvement_high",) * 4 + ("0",)
    assert _accept(wclient, tokens).status_code == 201
    assert views() == ("common_cause",) * 4 + ("1",)


def _period_ref(s, view):  # type: ignore[no-untyped-def]
    from core.services.data_periods import resolve_period

    return resolve_period(s, view.indicator, None, period_type=view.period_type)


def test_the_cli_accepts_lists_and_withdraws(shifted, database_url):  # noqa: F811
    from qidash.cli import app

    runner = CliRunner()
    r = runner.invoke(app, ["rebases", "add", "--org", "A81001", "--indicator", "shift",
                            "--period", "2021-01", "--reason", "new recall system"])
    assert r.exit_code == 0, r.output
    assert "A81001 shift (month) from 2021-01, accepted by " in r.output
    r = runner.invoke(app, ["rebases", "list", "--json"])
    items = orjson.loads(r.output)
    assert [(i["period"], i["active"], i["reason"]) for i in items] == [
        ("2021-01", True, "new recall system")]
    assert "@" in items[0]["accepted_by"]  # the host's user, as the audit log has it
    r = runner.invoke(app, ["rebases", "add", "--org", "A81001", "--indicator", "shift",
                            "--period", "2021-01"])
    assert r.exit_code == 2
    assert "already has an accepted rebase" in r.output
    r = runner.invoke(app, ["rebases", "withdraw", str(items[0]["id"])])
    assert r.exit_code == 0
    assert "withdrawn by" in r.output
    r = runner.invoke(app, ["rebases", "list", "--active"])
    assert r.output.strip() == "no rebases"
    with Session(shifted) as s:
        entries = audit.list_entries(s, action="rebase.")
    assert [(e["action"], e["via"]) for e in entries] == [("rebase.withdraw", "cli"),
                                                          ("rebase.accept", "cli")]


def test_batch_icons_match_the_chart_with_a_rebase(shifted):  # noqa: F811
    """latest_icons with the accepted rebase gives the chart's variation and assurance."""
    from core.services.rebases import accept_rebase, active_rebase_periods

    with Session(shifted) as s:
        accept_rebase(s, org="A81001", indicator="shift", period="2020-07", accepted_by="x")
        view = spc_service.spc(s, "A81001", "shift")
        frame = view.points.assign(org_id=view.organisation.id)[["org_id", "period", "value"]]
        icons = spc_service.latest_icons(
            frame, view.indicator, "month",
            rebases=active_rebase_periods(s, None, "shift", "month"))
        s.rollback()
    assert (icons.loc[view.organisation.id, "variation"], view.rebase) == (
        view.variation, ["2020-07"])


def test_the_trend_page_offers_and_marks_an_accepted_rebase(shifted, wclient, tokens):  # noqa: F811
    """Signed out (no request: no principal), the suggestion's button is disabled and says
    why, and there is no action form; once accepted, the page and the chart say who and when."""
    import sys

    import dash

    from dashboards.app import create_dash

    create_dash()
    trend = next(sys.modules[p["module"]] for p in dash.page_registry.values()
                 if p["module"].endswith("trend"))
    action = wclient.post("/api/v1/actions", headers=bearer(tokens["analyst"]), json={
        "org": "A81001", "indicator": "shift", "date": "2020-11-15", "title": "Recall"}).json()
    text = str(trend.layout(code="A81001", indicator_id="shift").to_plotly_json())
    assert "Accept rebase at 2021-01" in text
    assert "disabled=True" in text
    assert "Accepting a rebase needs an analyst sign-in" in text
    assert "Recording an action needs an analyst sign-in" in text
    assert "trend-act-title" not in text  # no form for a reader
    assert _accept(wclient, tokens, action_id=action["id"]).status_code == 201
    page = trend.layout(code="A81001", indicator_id="shift")
    text = str(page.to_plotly_json())
    assert "Accept rebase at" not in text
    assert "rebase accepted by test-analyst on" in text
    assert "New limits from 2021-01, accepted by test-analyst on" in text
    view = trend.adapters.read(trend.compute, "A81001", "shift", trend.parse({}))
    fig = trend.figure_for(view)
    assert any(a.text.startswith("Rebase: test-analyst, ")
               for a in fig.layout.annotations)
    # the URL's own rebase (even none) is the caller's choice: no accepted mark
    none = trend.adapters.read(trend.compute, "A81001", "shift", trend.parse({"rebase": ""}))
    assert none.rebase == []
    assert none.accepted_rebases == []
    assert "New limits from" not in str(trend.layout(code="A81001", indicator_id="shift",
                                                     rebase="none").to_plotly_json())
