"""Read services on SQLite and PostgreSQL: lookups, peers, and figures equal to the engine's."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select

from core import stats
from core.errors import InvalidParameter, NotFound
from core.models import IndicatorValue, Organisation, Period
from core.services import comparison as cmp
from core.services import indicators as ind
from core.services import organisations as orgs
from core.services import profile as prof
from core.services import spc as spcs
from core.services.organisations import get_org
from core.services.peers import similar_orgs
from tests.core.services.factories import PRACTICES


def _raw(rs, indicator_id: str, label: str, codes: list[str]) -> pd.DataFrame:
    """The stored counts, read independently of the services."""
    rows = rs.execute(
        select(Organisation.code, IndicatorValue.numerator, IndicatorValue.denominator)
        .join(IndicatorValue, IndicatorValue.org_id == Organisation.id)
        .join(Period, Period.id == IndicatorValue.period_id)
        .where(IndicatorValue.indicator_id == indicator_id, Period.label == label,
               Period.period_type == "month", Organisation.code.in_(codes))
        .order_by(Organisation.code)
    ).all()
    return pd.DataFrame(rows, columns=["code", "numerator", "denominator"]).astype(
        {"numerator": float, "denominator": float}
    )


# organisations & indicators -----------------------------------------------------------------


def test_list_organisations_filters_and_pages(rs):
    page = orgs.list_organisations(rs, org_type="practice", limit=3)
    assert page.total == 10  # the closed practice is left out
    assert page.items["code"].tolist() == ["A81001", "A81002", "A81003"]
    page2 = orgs.list_organisations(rs, org_type="practice", limit=3, offset=9)
    assert page2.items["code"].tolist() == ["A81010"]
    assert orgs.list_organisations(rs, parent="PCN3").items["code"].tolist() == [
        "A81008", "A81009", "A81010"]
    assert orgs.list_organisations(rs, q="closed").total == 0
    assert orgs.list_organisations(rs, q="closed", active_only=False).total == 1
    assert orgs.list_organisations(rs, q="sussex").items["code"].tolist() == ["ICB1"]
    with pytest.raises(InvalidParameter) as e:
        orgs.list_organisations(rs, limit=0)
    assert e.value.parameter == "limit"


def test_organisation_detail_has_chain_and_children(rs):
    d = orgs.organisation_detail(rs, "A81005")
    assert [a.code for a in d.ancestors] == ["PCN2", "ICB1", "ENG"]
    assert d.parent is not None
    assert d.parent.code == "PCN2"
    assert d.organisation.attributes["list_size"] == 11800
    pcn = orgs.organisation_detail(rs, "pcn1")  # codes are matched case-insensitively
    assert pcn.children["code"].tolist() == ["A81001", "A81002", "A81003", "A89999"]
    with pytest.raises(NotFound) as e:
        orgs.organisation_detail(rs, "A8100X")
    assert "A81001" in e.value.details["valid"]


def test_indicators_list_and_detail(rs, seeded):
    _, net = seeded
    frame = ind.list_indicators(rs)
    assert set(frame["id"]) == {"imm", "ae_los", "prev"}
    imm = frame.set_index("id").loc["imm"]
    assert imm["latest_period"] == net.months[-1]
    assert imm["periods"] == len(net.months) + 1  # months and one financial year
    d = ind.indicator_detail(rs, "imm")
    assert [p.label for p in d.periods][-1] == net.months[-1]
    assert "2023-24" in [p.label for p in d.periods]
    assert d.org_types == {"practice": 11, "nation": 1}
    with pytest.raises(NotFound) as e:
        ind.indicator_detail(rs, "nope")
    assert "imm" in e.value.message


# comparison ---------------------------------------------------------------------------------


def test_comparison_equals_engine(rs, seeded):
    _, net = seeded
    res = cmp.comparison(rs, "imm")
    assert res.period.label == net.months[-1]  # the latest period by default
    assert res.peers.org_type == "practice"  # the lowest level, not England
    assert len(res.rows) == 10  # active practices only
    raw = _raw(rs, "imm", net.months[-1], list(PRACTICES))
    engine = stats.peer_comparison(raw, polarity="higher_is_better", value_type="proportion",
                                   multiplier=100.0, confidence=0.95, target=95.0)
    got = res.rows.set_index("org_code").loc[raw["code"]]
    np.testing.assert_allclose(got["value"], engine.rows["value"], rtol=1e-12)
    np.testing.assert_allclose(got["lower_ci"], engine.rows["lower"], rtol=1e-12)
    np.testing.assert_allclose(got["upper_ci"], engine.rows["upper"], rtol=1e-12)
    assert got["rank"].tolist() == engine.rows["rank"].tolist()
    np.testing.assert_allclose(got["percentile"], engine.rows["percentile"])
    assert got["comparison"].tolist() == engine.rows["comparison"].tolist()
    assert res.benchmark.kind == "peers"
    assert res.benchmark.value == pytest.approx(raw.numerator.sum() / raw.denominator.sum() * 100)
    assert res.quartiles["median"] == pytest.approx(engine.quartiles[1])
    assert res.rows["rank"].tolist() == sorted(res.rows["rank"].tolist())  # best first


def test_wilson_interval_matches_the_formula(rs, seeded):
    # an oracle independent of the engine: FORMULAS.md section 1
    _, net = seeded
    row = cmp.comparison(rs, "imm").rows.iloc[0]
    o, n, z = row["numerator"], row["denominator"], 1.959964
    q = 1 - o / n
    lower = (2 * o + z * z - z * np.sqrt(z * z + 4 * o * q)) / (2 * (n + z * z)) * 100
    assert row["lower_ci"] == pytest.approx(lower, abs=1e-4)


def test_comparison_peers_benchmark_confidence(rs, seeded):
    _, net = seeded
    parent = cmp.comparison(rs, "imm", peers="parent:PCN1", benchmark="ENG", confidence=99.8)
    assert sorted(parent.rows["org_code"]) == ["A81001", "A81002", "A81003"]
    assert parent.benchmark.code == "ENG"
    assert parent.benchmark.label == "England"
    eng = _raw_eng(rs, net.months[-1])
    assert parent.benchmark.value == pytest.approx(eng)
    wide = cmp.comparison(rs, "imm", peers="parent:PCN1", confidence=99.8)
    narrow = cmp.comparison(rs, "imm", peers="parent:PCN1", confidence=95)
    assert (wide.rows["upper_ci"] - wide.rows["lower_ci"]).min() > 0
    assert ((wide.rows.set_index("org_code")["upper_ci"]
             - narrow.rows.set_index("org_code")["upper_ci"]) > 0).all()
    icb = cmp.comparison(rs, "imm", peers="parent:ICB1")  # descendants at any depth
    assert len(icb.rows) == 10
    target = cmp.comparison(rs, "imm", benchmark="target")
    assert target.benchmark.value == 95.0
    # a closed practice can be included on request
    assert len(cmp.comparison(rs, "imm", active_only=False).rows) == 11


def _raw_eng(rs, label):
    r = rs.execute(
        select(IndicatorValue.numerator, IndicatorValue.denominator)
        .join(Period, Period.id == IndicatorValue.period_id)
        .join(Organisation, Organisation.id == IndicatorValue.org_id)
        .where(Organisation.code == "ENG", Period.label == label,
               IndicatorValue.indicator_id == "imm")
    ).one()
    return r[0] / r[1] * 100


def test_similar_peers_are_nearest_by_standardised_distance(rs):
    focus = get_org(rs, "A81001")
    ids = similar_orgs(rs, focus, k=3)
    codes = [c for (c,) in rs.execute(select(Organisation.code).where(Organisation.id.in_(ids)))]
    assert focus.id == ids[0]
    assert len(ids) == 4
    # recompute the distances by hand from the factory's attributes
    attrs = pd.DataFrame(
        [(c, s, d) for c, (_p, s, d) in PRACTICES.items()], columns=["code", "size", "imd"]
    ).set_index("code")
    z = (attrs - attrs.mean()) / attrs.std(ddof=0)
    dist = np.sqrt(((z - z.loc["A81001"]) ** 2).sum(axis=1)).drop("A81001").sort_values()
    assert sorted(codes) == sorted(["A81001", *dist.index[:3]])
    res = cmp.comparison(rs, "imm", peers="similar:A81001", similar_k=3)
    assert sorted(res.rows["org_code"]) == sorted(codes)
    assert res.peers.focus is not None
    assert res.peers.focus.code == "A81001"
    with pytest.raises(InvalidParameter) as e:
        cmp.comparison(rs, "imm", peers="similar:PCN1")
    assert e.value.parameter == "peers"  # a PCN has no list size


@pytest.mark.parametrize(
    ("kwargs", "exc", "param"),
    [
        ({"period": "1999-01"}, NotFound, None),
        ({"peers": "cousin:PCN1"}, InvalidParameter, "peers"),
        ({"peers": "parent:NOPE"}, NotFound, None),
        ({"peers": "group:none"}, NotFound, None),
        ({"org_type": "trust"}, InvalidParameter, "org_type"),
        ({"benchmark": "target", "indicator_id": "ae_los"}, InvalidParameter, "benchmark"),
        ({"benchmark": "ZZZ"}, NotFound, None),
        ({"confidence": 90}, InvalidParameter, "confidence"),
        ({"period_type": "week"}, InvalidParameter, "period_type"),
    ],
)
def test_comparison_errors(rs, kwargs, exc, param):
    kwargs = dict(kwargs)
    indicator_id = kwargs.pop("indicator_id", "imm")
    with pytest.raises(exc) as e:
        cmp.comparison(rs, indicator_id, **kwargs)
    if param:
        assert e.value.parameter == param
    if "period" in kwargs:
        assert "2024-12" in e.value.message  # lists the periods that exist


def test_period_spellings_and_types(rs):
    assert cmp.comparison(rs, "imm", period="2023/24").period.label == "2023-24"
    assert cmp.comparison(rs, "imm", period="Dec 2024").period.label == "2024-12"
    fy = cmp.comparison(rs, "imm", period_type="financial_year")
    assert fy.period.period_type == "financial_year"
    assert fy.rows["value"].tolist() == [90.0] * 10


def test_suppressed_value_is_not_compared(rs, seeded):
    _, net = seeded
    res = cmp.comparison(rs, "ae_los")
    row = res.rows.set_index("org_code").loc["A81010"]
    assert np.isnan(row["value"])
    assert pd.isna(row["rank"])
    assert row["comparison"] == "not_compared"
    assert res.n == 9
    # lower is better: rank 1 has the lowest rate
    ranked = res.rows.dropna(subset=["value"])
    assert ranked.iloc[0]["value"] == ranked["value"].min()


# funnel, opportunity ------------------------------------------------------------------------


def test_funnel_equals_engine(rs, seeded):
    _, net = seeded
    view = cmp.funnel(rs, "imm", overdispersion=True)
    raw = _raw(rs, "imm", net.months[-1], list(PRACTICES))
    ref = stats.funnel(raw["numerator"], raw["denominator"], value_type="proportion",
                       multiplier=100.0, overdispersion=True)
    got = view.rows.set_index("org_code").loc[raw["code"]]
    for c in ("value", "lower_95", "upper_95", "lower_998", "upper_998"):
        np.testing.assert_allclose(got[c], ref.rows[c].to_numpy(), rtol=1e-12)
    assert got["flag"].tolist() == ref.rows["flag"].tolist()
    assert view.phi == pytest.approx(ref.phi)
    assert view.tau2 == pytest.approx(ref.tau2)
    assert len(view.limits) == 100
    plain = cmp.funnel(rs, "imm")
    assert plain.phi is None
    assert plain.tau2 is None
    assert not plain.overdispersion
    with pytest.raises(InvalidParameter):
        cmp.funnel(rs, "imm", org_type="nope")


def test_opportunity_equals_engine(rs, seeded):
    _, net = seeded
    view = cmp.opportunity(rs, "imm", level="target")
    raw = _raw(rs, "imm", net.months[-1], list(PRACTICES))
    ref = stats.opportunity(raw, polarity="higher_is_better", value_type="proportion",
                            multiplier=100.0, level="target", target=95.0)
    assert view.total == pytest.approx(ref.total)
    assert view.orgs_for_half == ref.orgs_for_half
    got = view.rows.set_index("org_code").loc[raw["code"], "extra"].to_numpy()
    np.testing.assert_allclose(got, ref.rows["extra"].to_numpy())
    assert view.by_parent["extra"].sum() == pytest.approx(view.total)
    assert set(view.by_parent["parent_code"]) <= {"PCN1", "PCN2", "PCN3"}
    with pytest.raises(InvalidParameter) as e:
        cmp.opportunity(rs, "imm", level="best")
    assert e.value.parameter == "level"
    with pytest.raises(InvalidParameter):
        cmp.opportunity(rs, "prev")  # no judgement: no opportunity
    with pytest.raises(InvalidParameter):
        cmp.opportunity(rs, "ae_los", level="target")  # no target


# SPC, profile, triage -----------------------------------------------------------------------


def test_spc_equals_engine_and_options(rs, seeded):
    _, net = seeded
    view = spcs.spc(rs, "A81002", "imm")
    assert view.period_type == "month"  # the finest the practice has
    assert view.period_types == ["month", "financial_year"]
    assert view.points["period"].tolist() == net.months
    ref = stats.xmr(view.points["value"].to_numpy(), improvement_direction="increase",
                    target=95.0)
    np.testing.assert_allclose(view.points["mean"], ref.points["mean"])
    # a proportion's limits are clipped to 0-100 and the chart says so
    np.testing.assert_allclose(view.points["upper_limit"],
                               ref.points["upper_limit"].clip(0, 100))
    assert (ref.points["upper_limit"] > 100).any()
    assert spcs.clipped_note(100.0) in view.warnings
    assert view.points["special_cause"].tolist() == ref.points["special_cause"].tolist()
    assert view.variation == ref.variation
    assert view.assurance == ref.assurance
    rebased = spcs.spc(rs, "A81002", "imm", rebase=["2024-01"], fix_after=6,
                       screen_outliers=False)
    assert rebased.points["segment"].tolist() == [0] * 12 + [1] * 12
    ref2 = stats.xmr(view.points["value"].to_numpy(), rebase_at=[12], fix_after=6,
                     screen_outliers=False, target=95.0)
    np.testing.assert_allclose(rebased.points["lower_limit"],
                               ref2.points["lower_limit"].clip(0, 100))
    # segments of 12 values fixed on 6: trial limits, named by their first period
    assert rebased.warnings[:2] == [spcs.trial_limits_note(6, net.months[0], fixed=True),
                                    spcs.trial_limits_note(6, "2024-01", fixed=True)]
    fy = spcs.spc(rs, "A81002", "imm", period_type="financial_year")
    assert len(fy.points) == 1
    # one value: a run chart, no limits, no classes, no icons, the shared words
    assert fy.warnings == ["1 point: too few for limits; at least 12 needed"]
    assert fy.limits_note == fy.warnings[0]
    assert fy.points[["mean", "lower_limit", "upper_limit"]].isna().all().all()
    assert (fy.variation, fy.assurance) == (None, None)
    for kwargs, param in (({"rebase": ["2019-01"]}, "rebase"), ({"fix_after": 1}, "fix_after"),
                          ({"period_type": "quarter"}, "period_type"), ({"chart": "u"}, "chart")):
        with pytest.raises(InvalidParameter) as e:
            spcs.spc(rs, "A81002", "imm", **kwargs)
        assert e.value.parameter == param
    with pytest.raises(NotFound):
        spcs.spc(rs, "PCN1", "imm")  # no series for a PCN


def test_spc_gap_stays_in_place(rs):
    # A81010's suppressed last month of ae_los is a missing point, not a dropped one
    view = spcs.spc(rs, "A81010", "ae_los")
    assert np.isnan(view.points["value"].iloc[-1])
    assert len(view.points) == 24


def test_profile_rows_match_comparison(rs, seeded):
    _, net = seeded
    p = prof.profile(rs, "A81002")
    assert set(p.rows["indicator_id"]) == {"imm", "ae_los", "prev"}
    row = p.rows.set_index("indicator_id").loc["imm"]
    c = cmp.comparison(rs, "imm").rows.set_index("org_code").loc["A81002"]
    assert row["value"] == pytest.approx(c["value"])
    assert row["rank"] == c["rank"]
    assert row["comparison"] == c["comparison"]
    assert row["peer_min"] <= row["peer_q1"] <= row["peer_median"] <= row["peer_q3"]
    assert row["peer_q3"] <= row["peer_max"]
    spc_view = spcs.spc(rs, "A81002", "imm")
    assert row["spc_variation"] == spc_view.variation
    assert row["spc_assurance"] == spc_view.assurance
    opp = cmp.opportunity(rs, "imm").rows.set_index("org_code").loc["A81002", "extra"]
    assert row["opportunity"] == pytest.approx(opp)
    assert pd.isna(p.rows.set_index("indicator_id").loc["prev", "opportunity"])
    fy = prof.profile(rs, "A81002", period="2023-24")
    assert fy.rows["indicator_id"].tolist() == ["imm"]
    with pytest.raises(NotFound):
        prof.profile(rs, "A81002", period="2001-01")
    with pytest.raises(NotFound):
        prof.profile(rs, "ICB1")  # no values of its own


def test_triage_flags(rs):
    t = prof.triage(rs, "PCN2")
    assert t.member_type == "practice"
    assert t.members["code"].tolist() == ["A81004", "A81005", "A81006", "A81007"]
    imm = t.rows[t.rows["indicator_id"] == "imm"].set_index("org_code")
    c = cmp.comparison(rs, "imm").rows.set_index("org_code")
    for code, r in imm.iterrows():
        assert r["significantly_worse"] == (c.loc[code, "comparison"] == "worse")
        assert r["failing_target"] == (c.loc[code, "meets_target"] is False
                                       or c.loc[code, "meets_target"] == False)  # noqa: E712
        assert ("failing_target" in r["flags"]) == r["failing_target"]
    s = t.summary.set_index("indicator_id")
    assert s.loc["imm", "significantly_worse"] == int(imm["significantly_worse"].sum())
    assert s.loc["imm", "members"] == 4
    assert len(prof.triage(rs, "ICB1").members) == 10
    with pytest.raises(InvalidParameter):
        prof.triage(rs, "A81001")  # a practice has no members
    with pytest.raises(NotFound):
        prof.triage(rs, "PCN2", indicators=["nope"])
