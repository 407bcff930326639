"""A pack made with ``since``: 'What changed' lists the alerts the demo's loads raised (through
the real pipeline) for the region's trusts, concerns first; 'Actions and their effect' lists an
action recorded on a member's chart with its effect (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import json

from pptx import Presentation
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from core.services import actions as action_service
from core.services import spc as spc_service
from core.services.alerts import list_alerts
from etl.demo import run_demo
from exports.changes import CONCERNS, KIND_WORDS
from qidash.cli import app

REGION = "Y60"
IND = "ae_4hr_type1"


def _tables(path) -> list[tuple[str, list[list[str]]]]:  # type: ignore[no-untyped-def]
    out = []
    for slide in Presentation(str(path)).slides:
        title = slide.shapes.title.text if slide.shapes.title is not None else ""
        for shape in slide.shapes:
            if shape.has_table:
                rows = [[c.text for c in r.cells] for r in shape.table.rows]
                out.append((title, rows))
    return out


def test_pack_since_has_what_changed_and_actions(engine, tmp_path, chromium):
    run_demo(engine)
    with Session(engine) as s:
        frame, total = list_alerts(s, network=REGION, limit=None)
        trust = frame.loc[frame["indicator_id"] == IND, "org_code"].iloc[0]
        action = action_service.create_action(s, org=trust, indicator=IND,
                                              date=dt.date(2017, 6, 1), title="Front door triage")
        s.commit()
        effect = action_service.action_effect(spc_service.spc(s, trust, IND).points,
                                              action["date"])
    assert total > 0
    out = tmp_path / "pack.pptx"
    result = CliRunner().invoke(app, ["export", "pack", "--org", REGION, "--indicators", IND,
                                      "--since", "2000-01-01", "-o", str(out)])
    assert result.exit_code == 0, result.output
    tables = _tables(out)
    changed = [(t, rows) for t, rows in tables if t.startswith("What changed")]
    n_concern = int(frame["kind"].isin(CONCERNS).sum())
    assert changed[0][0] == (f"What changed since 2000-01-01: {total} alerts, "
                             f"{n_concern} of concern")
    listed = [r for _, rows in changed for r in rows[1:]]
    assert len(listed) == min(total, 30)
    kinds = [r[3] for r in listed]
    concern_words = {KIND_WORDS[k] for k in CONCERNS}
    # concerns first
    first_other = next((i for i, k in enumerate(kinds) if k not in concern_words), len(kinds))
    assert all(k not in concern_words for k in kinds[first_other:])
    expected = {(f"{a.org_name} ({a.org_code})", a.period, KIND_WORDS[a.kind])
                for a in frame.itertuples()}
    assert {(r[0], r[2], r[3]) for r in listed} <= expected
    acts = [rows for t, rows in tables if t == "Actions and their effect"]
    assert acts
    row = next(r for r in acts[0] if r[0] == "Front door triage")
    assert row[1:4] == [trust, IND, "2017-06-01"]
    if effect["improved"]:
        assert row[5].startswith(f"Special cause of improvement from {effect['since']}")
    else:
        assert row[5].startswith("No special cause of improvement since")
    bad = CliRunner().invoke(app, ["export", "pack", "--org", REGION, "--indicators", IND,
                                   "--since", "last week", "-o", str(tmp_path / "x.pptx")])
    assert bad.exit_code == 2
    assert "since must be a date" in bad.output
    assert json.dumps(effect)  # JSON-ready as the API returns it


def test_api_pack_since_matches_the_cli(engine, tmp_path, chromium):
    """``GET /api/v1/exports/pack.pptx?since=`` has the same 'What changed' and 'Actions and
    their effect' tables as ``qidash export pack --since``; an action that led to an accepted
    rebase says who accepted it and when; a bad date is a 422."""
    import io

    from fastapi.testclient import TestClient

    from api.app import create_api
    from core.services.rebases import accept_rebase

    run_demo(engine)
    with Session(engine) as s:
        frame, _total = list_alerts(s, network=REGION, limit=None)
        trust = frame.loc[frame["indicator_id"] == IND, "org_code"].iloc[0]
        action = action_service.create_action(s, org=trust, indicator=IND,
                                              date=dt.date(2017, 6, 1), title="Front door triage")
        periods = spc_service.spc(s, trust, IND).points["period"].tolist()
        accept_rebase(s, org=trust, indicator=IND, period=periods[14],
                      action_id=action["id"], accepted_by="lead analyst")
        s.commit()
    out = tmp_path / "cli.pptx"
    result = CliRunner().invoke(app, ["export", "pack", "--org", REGION, "--indicators", IND,
                                      "--since", "2000-01-01", "-o", str(out)])
    assert result.exit_code == 0, result.output
    with TestClient(create_api(), raise_server_exceptions=False) as c:
        r = c.get("/api/v1/exports/pack.pptx", params={"org": REGION, "indicators": IND,
                                                        "since": "2000-01-01"})
        assert r.status_code == 200, r.text
        api_path = tmp_path / "api.pptx"
        api_path.write_bytes(io.BytesIO(r.content).getvalue())
        bad = c.get("/api/v1/exports/pack.pptx", params={"org": REGION, "indicators": IND,
                                                          "since": "last week"})
        assert bad.status_code == 422
        assert bad.json()["error"]["code"] == "invalid_parameter"
        plain = c.get("/api/v1/exports/pack.pptx", params={"org": REGION, "indicators": IND})
        assert plain.status_code == 200

    def loop_tables(path):  # type: ignore[no-untyped-def]
        return [(t, rows) for t, rows in _tables(path)
                if t.startswith(("What changed", "Actions"))]

    api_tables = loop_tables(api_path)
    assert api_tables == loop_tables(out)
    assert any(t.startswith("What changed since 2000-01-01") for t, _ in api_tables)
    row = next(r for t, rows in api_tables if t == "Actions and their effect" for r in rows
               if r[0] == "Front door triage")
    assert f"new limits from {periods[14]}, accepted by lead analyst on " in row[5]
    plain_path = tmp_path / "plain.pptx"
    plain_path.write_bytes(plain.content)
    assert loop_tables(plain_path) == []  # without since: no loop slides
