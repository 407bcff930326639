"""The reads that ask "has this (indicator, period) pair a value" do it by probing the primary
key, whatever the planner thinks of the tables' sizes.

As EXISTS subqueries, PostgreSQL flattened them into scans of the whole values table: the
indicator list's pairs became a sort of all 13.5M values (6.2 s), the freshness's periods a
scan filtered by period for each period (3 s, and past a statement timeout in some runs). A
scalar subquery with LIMIT 1 is never flattened: the plan keeps it as a SubPlan run per pair,
which on a real table is an index probe. Checked on the plan (PostgreSQL), and on the answers
(both databases) against a plain reading of every value.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from core.services import indicators as ind_service
from core.services.indicators import org_count_query, pairs_with_values_query
from core.services.loads import covered_periods_query
from tests.core.services.factories import build_network


def _plan(session: Session, stmt) -> str:
    sql = str(stmt.compile(dialect=session.get_bind().dialect,
                           compile_kwargs={"literal_binds": True}))
    return "\n".join(r[0] for r in session.execute(text("EXPLAIN " + sql)))


@pytest.mark.parametrize("query", [covered_periods_query, pairs_with_values_query,
                                   org_count_query])
def test_pair_probes_stay_subplans_on_postgresql(session, backend, query):
    if backend != "postgresql":
        pytest.skip("the planner in question is PostgreSQL's")
    build_network(session, months=6)
    session.commit()
    plan = _plan(session, query())
    assert "SubPlan" in plan, plan
    assert "Limit" in plan, plan
    # the values table is read only inside the probe, never joined, hashed or sorted whole
    head = plan.split("SubPlan")[0]
    assert "indicator_values" not in head, plan


def test_pair_probes_answer_as_a_reading_of_every_value(session):
    build_network(session, months=6)
    session.commit()
    pairs = {(k, label) for k, label, *_ in session.execute(pairs_with_values_query())}
    every = {tuple(r) for r in session.execute(text(
        "SELECT DISTINCT v.ikey, p.label FROM indicator_values v "
        "JOIN periods p ON p.id = v.period_id"))}
    assert pairs == every
    covered = {t: n for t, _first, _last, n in session.execute(covered_periods_query())}
    counted = dict(session.execute(text(
        "SELECT p.period_type, COUNT(DISTINCT p.id) FROM periods p "
        "JOIN indicator_values v ON v.period_id = p.id GROUP BY p.period_type")).all())
    assert covered == counted


def _distinct_orgs(session: Session) -> dict[int, int]:
    return dict(session.execute(text(
        "SELECT ikey, COUNT(DISTINCT org_id) FROM indicator_values GROUP BY ikey")).all())


def test_organisation_probes_answer_as_a_reading_of_every_value(session):
    """The probe count (one probe of the (org_id, ikey) index per indicator and
    organisation) and the key-range recount of each indicator give the distinct count."""
    build_network(session, months=6)
    session.commit()
    every = _distinct_orgs(session)
    probed = {int(k): int(n) for k, n in session.execute(org_count_query()) if n}
    assert probed == every
    assert len(every) == 3
    slugs = ["imm", "ae_los", "prev", "no_such"]
    assert {k: n for k, n in session.execute(org_count_query(slugs)) if n} == every
    # each indicator recounted either way: by its key range (a small history) ...
    assert ind_service._recount_orgs(session, slugs) == every
    # ... or by probes (many values per organisation), chosen per indicator
    many = dict.fromkeys(every, 6 * 10000)
    assert ind_service._recount_orgs(session, slugs, many) == every


def test_kept_counts_probe_only_indicators_deep_in_values(session, monkeypatch):
    """The counts loads keep (``value_counts``, here counted in full as ``qidash loads
    recount`` does) count an indicator's organisations from its key range unless it holds
    more than PROBE_ROWS values per organisation in the database; then they probe. Both give
    the indicator list the same counts."""
    from core.services.counts import rebuild_counts, value_counts

    build_network(session, months=6)
    session.commit()
    every = _distinct_orgs(session)
    used: list[str] = []
    real = ind_service.org_count_query

    def spy(*args):
        used.append("probes")
        return real(*args)

    monkeypatch.setattr(ind_service, "org_count_query", spy)
    rebuild_counts(session)
    assert {k: o for k, (_, o) in value_counts(session).items()} == every
    assert used == []  # 6 values an organisation: the key ranges
    monkeypatch.setattr(ind_service, "PROBE_ROWS", 0)  # any indicator is deep enough
    rebuild_counts(session)
    assert {k: o for k, (_, o) in value_counts(session).items()} == every
    assert used == ["probes"]
