"""Improvement actions: the API, the SPC response's ``actions`` with their effect, and the
trend page (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from core.services.actions import action_effect
from etl.pipeline import run_load
from tests.api.conftest import bearer

# 12 months around 50, then 12 months around 70 (higher is better): a sustained shift that
# begins in 2021-01
LEVELS = [50, 52, 49, 51, 50, 48, 53, 50, 49, 51, 52, 50,
          70, 71, 69, 72, 70, 68, 71, 70, 69, 72, 70, 71]
MONTHS = [f"{2020 + i // 12}-{i % 12 + 1:02d}" for i in range(24)]


@pytest.fixture
def shifted(engine, tmp_path: Path, tokens):  # type: ignore[no-untyped-def]
    vals = tmp_path / "v.csv"
    vals.write_text("org_code,indicator_id,period,numerator,denominator\n" + "".join(
        f"A81001,shift,{m},{v},100\n" for m, v in zip(MONTHS, LEVELS, strict=True)))
    ind = tmp_path / "i.csv"
    ind.write_text("indicator_id,name,value_type,multiplier,polarity,frequency\n"
                   "shift,Shifted,proportion,100,higher_is_better,month\n")
    assert run_load(engine, ind, kind="indicators").status == "loaded"
    assert run_load(engine, vals, kind="values").status == "loaded"
    return engine


def _points(specials: list[str], rules: list[str | None]) -> pd.DataFrame:
    n = len(specials)
    return pd.DataFrame({
        "period": MONTHS[:n], "start_date": [dt.date(2020 + i // 12, i % 12 + 1, 1)
                                             for i in range(n)],
        "value": [1.0] * n, "special_cause": specials, "rule": rules})


def test_effect_needs_an_improvement_that_began_after_the_action():
    sp = ["none"] * 4 + ["improvement"] * 3 + ["none"]
    rules: list[str | None] = [None] * 4 + ["shift"] * 3 + [None]
    # the run began in month 5 (2020-05): an action in 2020-03 is followed by it
    eff = action_effect(_points(sp, rules), dt.date(2020, 3, 1))
    assert eff == {"improved": True, "since": "2020-05", "rule": "shift",
                   "suggest_rebase": "2020-05"}
    # an action in the middle of a run that had already begun: no effect
    eff = action_effect(_points(sp, rules), dt.date(2020, 6, 1))
    assert eff["improved"] is False
    assert eff["suggest_rebase"] is None
    # an improvement that is not a sustained shift: no rebase is suggested
    eff = action_effect(_points(sp, [None] * 4 + ["outside_limits"] * 3 + [None]),
                        dt.date(2020, 1, 1))
    assert eff["improved"] is True
    assert eff["suggest_rebase"] is None
    # concerns are not an effect
    assert action_effect(_points(["concern"] * 3, ["shift"] * 3),
                         dt.date(2019, 1, 1))["improved"] is False


def test_actions_api_and_the_spc_response(shifted, wclient, tokens):
    c = wclient
    h = bearer(tokens["analyst"])
    body = {"org": "A81001", "indicator": "shift", "date": "2020-11-15",
            "title": "New recall system", "owner": "Practice manager",
            "review_date": "2021-06-01", "status": "in_progress"}
    assert c.post("/api/v1/actions", json=body).status_code == 401
    assert c.post("/api/v1/actions", json=body,
                  headers=bearer(tokens["viewer"])).status_code == 403
    r = c.post("/api/v1/actions", json=body, headers=h)
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["created_by"] == "test-analyst"
    assert {k: made[k] for k in body} == body
    spc = c.get("/api/v1/organisations/A81001/indicators/shift/spc").json()
    assert [a["title"] for a in spc["actions"]] == ["New recall system"]
    eff = spc["actions"][0]["effect"]
    assert eff["improved"] is True
    assert eff["since"] == "2021-01"
    assert eff["suggest_rebase"] == "2021-01"
    assert spc["rebase"] == []  # suggested, never applied by itself
    assert spc["annotations"] == []  # actions are not notes
    # PATCH changes the chart's response (the cache follows the action's writes)
    r = c.patch(f"/api/v1/actions/{made['id']}", json={"status": "done"}, headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "done"
    spc = c.get("/api/v1/organisations/A81001/indicators/shift/spc").json()
    assert spc["actions"][0]["status"] == "done"
    listed = c.get("/api/v1/actions", params={"org": "A81001", "status": "done"}).json()
    assert [a["id"] for a in listed["items"]] == [made["id"]]
    assert c.get("/api/v1/actions", params={"status": "planned"}).json()["items"] == []
    for bad, status in (({**body, "status": "maybe"}, 422), ({**body, "org": "NOPE"}, 404),
                        ({**body, "review_date": "2020-01-01"}, 422),
                        ({**body, "title": ""}, 422), ({**body, "extra": 1}, 422)):
        r = c.post("/api/v1/actions", json=bad, headers=h)
        assert r.status_code == status, (bad, r.text)
        assert "error" in r.json()
    assert c.patch(f"/api/v1/actions/{made['id']}", json={"title": None},
                   headers=h).status_code == 422
    assert c.get("/api/v1/actions", params={"status": "maybe"}).status_code == 422
    assert c.delete(f"/api/v1/actions/{made['id']}", headers=h).status_code == 204
    assert c.delete(f"/api/v1/actions/{made['id']}", headers=h).status_code == 404
    assert c.get("/api/v1/organisations/A81001/indicators/shift/spc").json()["actions"] == []


def test_the_trend_page_marks_actions_and_suggests_a_rebase(shifted, wclient, tokens):
    import sys

    import dash
    import plotly.io as pio

    from dashboards.app import create_dash

    create_dash()
    trend = next(sys.modules[p["module"]] for p in dash.page_registry.values()
                 if p["module"].endswith("trend"))
    r = wclient.post("/api/v1/actions", headers=bearer(tokens["analyst"]), json={
        "org": "A81001", "indicator": "shift", "date": "2020-11-15", "title": "Recall"})
    assert r.status_code == 201
    page = trend.layout(code="A81001", indicator_id="shift")
    html_text = str(page.to_plotly_json())
    assert "Actions and their effect" in html_text
    assert "rebase=2021-01" in html_text
    assert "special cause of improvement from 2021-01" in html_text
    fig = trend.figure_for(trend.adapters.read(trend.compute, "A81001", "shift",
                                               trend.parse({})),
                           actions=[{"date": dt.date(2020, 11, 15), "title": "Recall"}])
    texts = [a.text for a in fig.layout.annotations]
    assert any(t.startswith("\u25b2 Action: Recall") for t in texts)
    assert pio.to_json(fig)
