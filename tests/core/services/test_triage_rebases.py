"""Triage reads every indicator's accepted rebases in one query (issue 16), with the same
rows as the query per indicator it replaced."""

from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy import event, text
from sqlalchemy.orm import Session

from core.services import profile as prof
from core.services.rebases import accept_rebase, active_rebase_periods
from tests.core.services.factories import build_network


def _per_indicator(conn, org_ids, indicator_ids):  # type: ignore[no-untyped-def]
    """The old way: one query per indicator and period type, org ids in an IN list."""
    out = {}
    for ind in indicator_ids:
        for ptype in ("month", "financial_year"):
            found = active_rebase_periods(conn, list(org_ids), ind, ptype)
            if found:
                out[(ind, ptype)] = found
    return out


@pytest.fixture
def rebased(engine):  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        net = build_network(s)
        m = net.months
        # members of PCN1, two indicators; one rebase of a PCN2 practice (not a member)
        for org, ind, period in [("A81001", "imm", m[12]), ("A81002", "imm", m[14]),
                                 ("A81003", "ae_los", m[10]), ("A81004", "imm", m[12]),
                                 ("A81001", "ae_los", m[6])]:
            accept_rebase(s, org=org, indicator=ind, period=period, accepted_by="x")
        s.commit()
    return engine


def _rebase_selects(engine, run):  # type: ignore[no-untyped-def]
    seen: list[str] = []

    def count(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        if "FROM rebases" in statement:
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        result = run()
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return result, seen


def test_triage_reads_rebases_once_with_the_same_rows(rebased, monkeypatch):  # type: ignore[no-untyped-def]
    def triage() -> pd.DataFrame:
        with Session(rebased) as s:
            return prof.triage(s, "PCN1").rows

    new, queries = _rebase_selects(rebased, triage)
    assert len(queries) == 1  # was one per indicator
    monkeypatch.setattr(prof, "network_rebase_periods", _per_indicator)
    old = triage()
    pd.testing.assert_frame_equal(new, old)
    # the rebases matter: A81002 is improvement_high on imm until its rebase at month 15
    monkeypatch.setattr(prof, "network_rebase_periods", lambda *a: {})
    bare = triage()
    assert not new["spc_variation"].equals(bare["spc_variation"])


def test_network_rebase_periods_keeps_members_only(rebased):  # type: ignore[no-untyped-def]
    from core.services.rebases import network_rebase_periods

    with Session(rebased) as s:
        ids = dict(s.execute(text("SELECT code, id FROM organisations")).all())
        members = [ids[c] for c in ("A81001", "A81002", "A81003")]
        got = network_rebase_periods(s, members, ["imm", "ae_los", "prev"])
        assert got == _per_indicator(s, members, ["imm", "ae_los", "prev"])
        assert ids["A81004"] not in got[("imm", "month")]
        assert network_rebase_periods(s, [], ["imm"]) == {}
