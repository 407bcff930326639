"""The warmer of the profile's national peer summaries (core.services.warm): it builds what a
default profile reads, so that the profile builds none; after a load it reads again only
what the load changed; before the summaries' hour ends it reads them all again; a failure is
reported, never raised into the server."""

from __future__ import annotations

import time

import pandas as pd
from sqlalchemy.orm import Session

from core.services import profile as prof
from core.services import warm
from core.services.version import engine_cache
from tests.core.services.factories import build_network

ALL = ["ae_los", "imm", "prev"]


def _profile(engine, code: str) -> pd.DataFrame:
    with Session(engine) as s:
        return prof.profile(s, code).rows


def test_warmed_summaries_are_those_a_default_profile_reads(engine, built):
    """After a warm-up, the profiles of practices (their latest periods: ``imm``'s
    financial year, ``ae_los``' and ``prev``'s latest month) build no summary, and their
    rows equal profiles computed from an empty cache."""
    with Session(engine) as s:
        net = build_network(s, months=3)
        s.commit()
    with engine.connect() as conn:
        pairs = warm.default_pairs(conn)
        assert warm.warm_peer_summaries(conn) == sum(len(p) for p in pairs.values())
    assert sorted(built) == ALL  # one summary per indicator's latest period and type
    assert {ind for ind, _ in pairs["practice"]} == set(ALL)
    # England has imm monthly only: its latest period is not imm's latest (the financial
    # year), so no nation summary is warmed for it
    assert "nation" not in pairs
    built.clear()
    warm_rows = {code: _profile(engine, code) for code in ("A81001", net.practices[-1])}
    assert built == []
    with Session(engine) as s:
        engine_cache(s, "peer_summary").clear()
    for code, rows in warm_rows.items():
        pd.testing.assert_frame_equal(rows, _profile(engine, code))
    assert built  # the empty cache did build them


def test_warmer_reads_again_what_a_load_changed_and_nothing_else(engine, built, tmp_path):
    """A check with nothing new does nothing; after a values load changing one practice's
    ``ae_los`` the next check builds that summary alone (the other pairs' fingerprints held),
    and the next profile builds none, with the new value in its benchmark."""
    from etl.pipeline import run_load

    with Session(engine) as s:
        net = build_network(s, months=3)
        s.commit()
    warmer = warm.PeerWarmer(engine, interval=30)
    assert warmer.tick() is True
    assert sorted(built) == ALL
    assert warmer.status.state == "warm"
    assert warmer.status.summaries == 3
    before = _profile(engine, "A81001").set_index("indicator_id")
    built.clear()
    assert warmer.tick() is False
    assert built == []
    values = tmp_path / "ae_los.csv"
    values.write_text("org_code,indicator_id,period,numerator,denominator\n"
                      f"A81006,ae_los,{net.months[-1]},999,5000\n")
    assert run_load(engine, values, kind="values", migrate=False).status == "loaded"
    assert warmer.tick() is True
    assert built == ["ae_los"]
    built.clear()
    after = _profile(engine, "A81001").set_index("indicator_id")
    assert built == []
    assert after.loc["ae_los", "benchmark"] > before.loc["ae_los", "benchmark"]


def test_warmer_reads_everything_again_before_the_hour_ends(engine, built):
    """The summaries live an hour (PEER_TTL, which bounds what a write by hand-written SQL
    can leave stale); the warmer builds them again before that, so that no profile finds
    them expired."""
    with Session(engine) as s:
        build_network(s, months=3)
        s.commit()
    warmer = warm.PeerWarmer(engine, interval=30)
    assert warmer.refresh_after < 3600.0
    warmer.tick()
    built.clear()
    warmer.refresh_after = 0.05
    time.sleep(0.1)
    assert warmer.tick() is True
    assert sorted(built) == ALL
    built.clear()
    _profile(engine, "A81001")
    assert built == []


def test_warmer_thread_reports_its_state_and_failures(engine, monkeypatch):
    """The thread warms on its own at start and shows it (``warm_status``, which
    ``/api/v1/health`` shows); an error is reported as ``failed`` with its reason and the
    thread goes on; stopped, the state is ``off``."""
    with Session(engine) as s:
        build_network(s, months=3)
        s.commit()
    assert warm.warm_status(engine)["state"] == "off"
    assert warm.start_warmer(engine, 0) is None
    warmer = warm.start_warmer(engine, 0.05)
    try:
        deadline = time.monotonic() + 30
        while warm.warm_status(engine)["state"] != "warm" and time.monotonic() < deadline:
            time.sleep(0.05)
        status = warm.warm_status(engine)
        assert status["state"] == "warm"
        assert status["summaries"] == 3
        assert status["seconds"] is not None
        assert status["as_of"] is not None

        def broken(conn, **kw):
            raise RuntimeError("the database went away")

        monkeypatch.setattr(warm, "warm_peer_summaries", broken)
        warmer.refresh_after = 0.0  # due at the next check
        while warm.warm_status(engine)["state"] != "failed" and time.monotonic() < deadline:
            time.sleep(0.05)
        status = warm.warm_status(engine)
        assert status["state"] == "failed"
        assert "the database went away" in status["error"]
        assert warmer._thread is not None
        assert warmer._thread.is_alive()
    finally:
        warm.stop_warmer(warmer)
    assert warmer._thread is not None
    assert not warmer._thread.is_alive()
    assert warm.warm_status(engine)["state"] == "off"


def test_warmer_looks_again_only_at_the_indicators_a_load_changed(engine, built, tmp_path,
                                                                  monkeypatch):
    """Finding each indicator's latest period and types costs milliseconds an indicator: a
    check after a load looks again only at the indicators whose kept counts moved. A new
    month of ``ae_los`` for every practice: only ``ae_los`` is looked at, its pair moves to
    the new month, and the next profile builds nothing."""
    from etl.pipeline import run_load

    with Session(engine) as s:
        net = build_network(s, months=3)
        s.commit()
    looked: list[str] = []
    periods = warm.periods_with_data

    def counting(conn, indicator_id, **kw):
        looked.append(indicator_id)
        return periods(conn, indicator_id, **kw)

    monkeypatch.setattr(warm, "periods_with_data", counting)
    warmer = warm.PeerWarmer(engine, interval=30)
    warmer.tick()
    assert sorted(looked) == ALL
    looked.clear()
    built.clear()
    lines = ["org_code,indicator_id,period,numerator,denominator"]
    lines += [f"{code},ae_los,2023-04,{10 + k},5000" for k, code in enumerate(net.practices)]
    values = tmp_path / "april.csv"
    values.write_text("\n".join(lines) + "\n")
    assert run_load(engine, values, kind="values", migrate=False).status == "loaded"
    assert warmer.tick() is True
    assert looked == ["ae_los"]
    assert built == ["ae_los"]
    with engine.connect() as conn:
        pairs = dict(warm.default_pairs(conn)["practice"])
        april = conn.exec_driver_sql(
            "SELECT id FROM periods WHERE label = '2023-04'").scalar()
    assert pairs["ae_los"] == april
    built.clear()
    rows = _profile(engine, "A81001").set_index("indicator_id")
    assert rows.loc["ae_los", "period"] == "2023-04"
    assert built == []
