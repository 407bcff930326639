"""The hand-worked answer of every read endpoint of ``tests/api/test_reads.py::READS``.

``CHECKS[url](body, db_url, network)`` asserts the figures of one JSON body against
:mod:`tests.api.hand` (plain SQL + the reference formulas written out again) and against
what the factory network is known to hold (:func:`tests.core.services.factories.build_network`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy.engine import make_url

from tests.api import hand
from tests.core.services.factories import PRACTICES, Network

Check = Callable[[dict[str, Any], str, Network], None]
REL = 1e-9


def close(got: Any, want: Any, rel: float = REL) -> None:
    np.testing.assert_allclose(np.asarray(got, dtype=float), np.asarray(want, dtype=float),
                               rtol=rel, atol=1e-12)


def by_code(rows: list[dict[str, Any]], key: str = "org_code") -> dict[str, dict[str, Any]]:
    return {r[key]: r for r in rows}


def interval(value_type: str, o: np.ndarray, n: np.ndarray, mult: float,
             conf: float) -> tuple[np.ndarray, np.ndarray]:
    if value_type == "proportion":
        lo, hi = hand.wilson(o, n, conf)
    else:
        lo, hi = hand.poisson_counts(o, conf)
        lo, hi = lo / n, hi / n
    return lo * mult, hi * mult


def check_comparison(body: dict[str, Any], peers: pd.DataFrame, *, value_type: str,
                     mult: float, polarity: str, conf: float, bench: float,
                     target: float | None) -> None:
    rows = by_code(body["rows"])
    assert set(rows) == set(peers.index)
    has = peers.numerator.notna() & peers.denominator.notna()
    f = peers[has]
    v = (f.numerator / f.denominator * mult).to_numpy()
    lo, hi = interval(value_type, f.numerator.to_numpy(), f.denominator.to_numpy(), mult, conf)
    got = pd.DataFrame([rows[c] for c in f.index], index=f.index)
    close(got.value, v)
    close(got.lower_ci, lo)
    close(got.upper_ci, hi)
    assert got.comparison.tolist() == hand.overlap(lo, hi, bench, polarity)
    better = (lambda a, b: a > b) if polarity == "higher_is_better" else (lambda a, b: a < b)
    assert got["rank"].tolist() == [1 + int(sum(better(w, x) for w in v)) for x in v]
    n = len(v)
    assert got.percentile.tolist() == pytest.approx(
        [sum(w < x for w in v) / (n - 1) * 100 for x in v])
    if target is not None:
        want = [x >= target if polarity == "higher_is_better" else x <= target for x in v]
        assert got.meets_target.tolist() == want
    for c in peers.index[~has]:
        assert rows[c]["value"] is None
        assert rows[c]["rank"] is None
        assert rows[c]["comparison"] == "not_compared"
    assert body["n"] == n
    assert body["benchmark"]["value"] == pytest.approx(bench, rel=1e-12)
    q = np.percentile(v, [25, 50, 75])
    assert sorted([body["quartiles"]["q1"], body["quartiles"]["q3"]]) == pytest.approx(
        [q[0], q[2]])
    assert body["quartiles"]["median"] == pytest.approx(q[1])
    assert sorted(body["deciles"]) == pytest.approx(np.percentile(v, range(10, 100, 10)))
    # rows come best first (rows without a rank last)
    ranks = [r["rank"] for r in body["rows"] if r["rank"] is not None]
    assert ranks == sorted(ranks)


def pooled(frame: pd.DataFrame, mult: float) -> float:
    f = frame.dropna(subset=["numerator", "denominator"])
    return float(f.numerator.sum() / f.denominator.sum() * mult)


def latest(net: Network) -> str:
    return net.months[-1]


# --------------------------------------------------------------------------- checks


def organisations_practices(body: dict[str, Any], url: str, net: Network) -> None:
    assert body["total"] == 10  # the closed practice is left out
    assert [i["code"] for i in body["items"]] == sorted(PRACTICES)
    assert [i["parent_code"] for i in body["items"]] == [PRACTICES[c][0]
                                                         for c in sorted(PRACTICES)]


def organisation_pcn1(body: dict[str, Any], url: str, net: Network) -> None:
    assert [a["code"] for a in body["ancestors"]] == ["ICB1", "ENG"]
    kids = {k["code"]: k["is_active"] for k in body["children"]}
    assert kids == {"A81001": True, "A81002": True, "A81003": True, "A89999": False}


def indicators(body: dict[str, Any], url: str, net: Network) -> None:
    items = by_code(body["items"], "id")
    assert sorted(items) == ["ae_los", "imm", "prev"]
    # imm: 24 months + one financial year; practices, the closed one and England
    assert (items["imm"]["periods"], items["imm"]["organisations"]) == (25, 12)
    assert (items["ae_los"]["periods"], items["ae_los"]["organisations"]) == (24, 10)
    assert (items["prev"]["periods"], items["prev"]["organisations"]) == (1, 10)
    assert {i["latest_period"] for i in items.values()} == {latest(net)}


def indicator_imm(body: dict[str, Any], url: str, net: Network) -> None:
    assert sorted(p["label"] for p in body["periods"]) == sorted([*net.months, "2023-24"])
    assert (body["target"], body["multiplier"], body["value_type"]) == (95.0, 100.0,
                                                                          "proportion")


def comparison_imm(body: dict[str, Any], url: str, net: Network) -> None:
    peers = hand.practices(url, "imm", latest(net))
    check_comparison(body, peers, value_type="proportion", mult=100, polarity="higher_is_better",
                     conf=95.0, bench=pooled(peers, 100), target=95.0)
    assert body["benchmark"]["kind"] == "peers"


def comparison_pcn1_england(body: dict[str, Any], url: str, net: Network) -> None:
    raw = hand.raw_values(url, "imm", latest(net))
    peers = hand.practices(url, "imm", latest(net))
    peers = peers[peers.parent == "PCN1"]
    eng = raw.loc["ENG"]
    check_comparison(body, peers, value_type="proportion", mult=100, polarity="higher_is_better",
                     conf=99.8, bench=eng.numerator / eng.denominator * 100, target=95.0)
    assert body["benchmark"]["code"] == "ENG"


def comparison_similar_target(body: dict[str, Any], url: str, net: Network) -> None:
    # standardised (population sd) distance over list size and IMD among active practices
    attrs = pd.DataFrame({c: (s, i) for c, (_p, s, i) in PRACTICES.items()},
                         index=["list_size", "imd_score"]).T
    z = (attrs - attrs.mean()) / attrs.std(ddof=0)
    dist = np.sqrt(((z - z.loc["A81001"]) ** 2).sum(axis=1)).drop("A81001")
    similar = ["A81001", *dist.sort_values(kind="stable").index[:4]]
    peers = hand.practices(url, "imm", latest(net)).loc[similar]
    check_comparison(body, peers, value_type="proportion", mult=100, polarity="higher_is_better",
                     conf=95.0, bench=95.0, target=95.0)
    assert body["benchmark"]["kind"] == "target"


def comparison_ae_los(body: dict[str, Any], url: str, net: Network) -> None:
    peers = hand.practices(url, "ae_los", latest(net))
    assert peers.loc["A81010"].suppressed
    check_comparison(body, peers, value_type="rate", mult=1000, polarity="lower_is_better",
                     conf=95.0, bench=pooled(peers, 1000), target=None)


def funnel_imm(body: dict[str, Any], url: str, net: Network) -> None:
    peers = hand.practices(url, "imm", latest(net))
    o, n = peers.numerator.to_numpy(), peers.denominator.to_numpy()
    p = o.sum() / n.sum()
    phi, tau2 = hand.winsorised_phi(o, n)
    assert body["phi"] == pytest.approx(phi, rel=1e-9)
    assert body["tau2"] == pytest.approx(tau2, rel=1e-9, abs=1e-15)
    assert body["target"] == pytest.approx(p * 100, rel=1e-12)
    assert body["overdispersion"] is (phi > 1)
    rows = by_code(body["rows"])
    theta = np.arcsin(np.sqrt(p))
    for code, oo, nn in zip(peers.index, o, n, strict=True):
        r = rows[code]
        for level, z in (("95", hand.Z[95.0]), ("998", hand.Z[99.8])):
            if phi > 1:  # FORMULAS.md 4b: sin^2(theta +- z sqrt(1/(4n) + tau2))
                w = z * np.sqrt(1 / (4 * nn) + tau2)
                lo = np.sin(np.clip(theta - w, 0, np.pi / 2)) ** 2 * 100
                hi = np.sin(np.clip(theta + w, 0, np.pi / 2)) ** 2 * 100
                close([r[f"lower_{level}"], r[f"upper_{level}"]], [lo, hi])
            else:  # inverse Wilson: an observed value at the upper limit has Wilson lower p
                u = r[f"upper_{level}"] / 100
                if u < 1:
                    wl, _ = hand.wilson(u * nn, nn, 95.0 if level == "95" else 99.8)
                    assert float(wl) == pytest.approx(p, rel=1e-6)
        v = oo / nn * 100
        want = ("above_998" if v > r["upper_998"] else "above_95" if v > r["upper_95"] else
                "below_998" if v < r["lower_998"] else "below_95" if v < r["lower_95"]
                else "within")
        assert r["flag"] == want, code
    assert len(body["limits"]) == 100


def funnel_ae_los(body: dict[str, Any], url: str, net: Network) -> None:
    from scipy import stats as sps

    peers = hand.practices(url, "ae_los", latest(net))
    rate = pooled(peers, 1)
    assert body["target"] == pytest.approx(rate * 1000, rel=1e-12)
    rows = by_code(body["rows"])
    assert rows["A81010"]["flag"] is None  # suppressed: no value, no flag
    f = peers.dropna(subset=["numerator"])
    for code, o, n in zip(f.index, f.numerator, f.denominator, strict=True):
        r, e = rows[code], n * rate
        # PHE's exact Poisson limits at E: the upper limit's count O has E as its exact
        # lower limit, the lower limit's count O has E as the exact upper limit of O - 1
        for level, tail in (("95", 0.025), ("998", 0.001)):
            o_hi = r[f"upper_{level}"] / (rate * 1000) * e
            assert sps.chi2.ppf(tail, 2 * o_hi) / 2 == pytest.approx(e, rel=1e-9)
            o_lo = r[f"lower_{level}"] / (rate * 1000) * e
            assert sps.chi2.ppf(1 - tail, 2 * (o_lo + 1)) / 2 == pytest.approx(e, rel=1e-9)
        # significance: the unit's own exact/Byar interval of O/E against 1
        lo95, hi95 = (x / e for x in hand.poisson_counts(o, 95.0))
        lo998, hi998 = (x / e for x in hand.poisson_counts(o, 99.8))
        want = ("above_998" if lo998 > 1 else "above_95" if lo95 > 1 else
                "below_998" if hi998 < 1 else "below_95" if hi95 < 1 else "within")
        assert r["flag"] == want, code


def opportunity_imm(body: dict[str, Any], url: str, net: Network) -> None:
    peers = hand.practices(url, "imm", latest(net))
    v = peers.numerator / peers.denominator * 100
    level = float(np.percentile(v, 75))  # the better quartile, higher is better
    extra = ((level - v).clip(lower=0) * peers.denominator / 100)
    assert body["level"] == pytest.approx(level)
    assert body["total"] == pytest.approx(extra.sum())
    assert body["n_below_level"] == int((v < level).sum())
    rows = by_code(body["rows"])
    for code in peers.index:
        assert rows[code]["extra"] == pytest.approx(extra[code], abs=1e-12)
    need = extra.sort_values(ascending=False).cumsum()
    assert body["orgs_for_half"] == int((need < extra.sum() / 2).sum()) + 1
    parents = {p["parent_code"]: p["extra"] for p in body["by_parent"]}
    want = extra.groupby(peers.parent).sum()
    assert parents == pytest.approx({k: x for k, x in want.items() if x > 0})


def _spc_points(body: dict[str, Any], url: str, net: Network) -> tuple[pd.DataFrame,
                                                                       pd.DataFrame]:
    pts = pd.DataFrame(body["points"])
    raw = hand.raw_series(url, "A81001", "imm")
    assert pts.period.tolist() == raw.period.tolist() == net.months
    close(pts.value, raw.numerator / raw.denominator * 100)
    return pts, raw


def _check_segment(pts: pd.DataFrame, mean: float, amr: float) -> None:
    close(pts["mean"], np.full(len(pts), mean))
    close(pts.lower_limit, mean - 2.66 * amr)
    close(pts.upper_limit, mean + 2.66 * amr)
    close(pts.near_lower, mean - 2 / 3 * 2.66 * amr)
    close(pts.near_upper, mean + 2 / 3 * 2.66 * amr)
    # outside the process limits is always special cause (rule 1)
    out = (pts.value > pts.upper_limit) | (pts.value < pts.lower_limit)
    assert (pts.special_cause[out] != "none").all()


def spc_default(body: dict[str, Any], url: str, net: Network) -> None:
    pts, _ = _spc_points(body, url, net)
    mean, amr = hand.xmr(pts.value.to_numpy(), screen=True)
    _check_segment(pts, mean, amr)
    upl, lpl = mean + 2.66 * amr, mean - 2.66 * amr
    assert body["assurance"] == ("fail" if 95 > upl else "pass" if 95 < lpl else "hit_or_miss")
    assert (body["screen_outliers"], body["fix_after"], body["rebase"]) == (True, None, [])


def spc_rebased_fixed(body: dict[str, Any], url: str, net: Network) -> None:
    pts, _ = _spc_points(body, url, net)
    cut = net.months.index("2024-01")
    assert pts.segment.tolist() == [0] * cut + [1] * (len(pts) - cut)
    for seg in (pts.iloc[:cut], pts.iloc[cut:]):
        mean, amr = hand.xmr(seg.value.to_numpy(), screen=False, base=6)
        _check_segment(seg, mean, amr)
    assert sum("fixed on 6 points" in w for w in body["warnings"]) == 2  # trial limits


def profile_a81001(body: dict[str, Any], url: str, net: Network) -> None:
    rows = by_code(body["rows"], "indicator_id")
    assert sorted(rows) == ["ae_los", "imm", "prev"]
    for ind, mult, vt in (("imm", 100, "proportion"), ("ae_los", 1000, "rate"),
                          ("prev", 100, "proportion")):
        peers = hand.practices(url, ind, latest(net))
        me, r = peers.loc["A81001"], rows[ind]
        lo, hi = interval(vt, np.array([me.numerator]), np.array([me.denominator]), mult, 95.0)
        close([r["value"], r["lower_ci"], r["upper_ci"]],
              [me.numerator / me.denominator * mult, lo[0], hi[0]])
        v = (peers.numerator / peers.denominator * mult).dropna()
        assert r["n_peers"] == len(v)
        assert r["benchmark"] == pytest.approx(pooled(peers, mult))
        close([r["peer_min"], r["peer_median"]], [v.min(), v.median()])


def triage_pcn2(body: dict[str, Any], url: str, net: Network) -> None:
    members = sorted(c for c, (p, _s, _i) in PRACTICES.items() if p == "PCN2")
    assert [m["code"] for m in body["members"]] == members
    summary = by_code(body["summary"], "indicator_id")
    for ind, mult, vt, pol, target in (("imm", 100, "proportion", "higher_is_better", 95.0),
                                       ("ae_los", 1000, "rate", "lower_is_better", None),
                                       ("prev", 100, "proportion", "no_judgement", None)):
        peers = hand.practices(url, ind, latest(net))
        mine = peers.loc[members]
        bench = pooled(peers, mult)
        s = summary[ind]
        assert s["network_value"] == pytest.approx(pooled(mine, mult))
        assert s["benchmark"] == pytest.approx(bench)
        assert s["members"] == 4
        v = (mine.numerator / mine.denominator * mult).to_numpy()
        lo, hi = interval(vt, mine.numerator.to_numpy(), mine.denominator.to_numpy(), mult,
                          95.0)
        verdicts = hand.overlap(lo, hi, bench, pol) if pol != "no_judgement" else []
        assert s["significantly_worse"] == verdicts.count("worse")
        assert s["failing_target"] == (int((v < target).sum()) if target else 0)
        rows = {r["org_code"]: r for r in body["rows"] if r["indicator_id"] == ind}
        close([rows[c]["value"] for c in members], v)
        close([rows[c]["upper_ci"] for c in members], hi)


def empty_items(body: dict[str, Any], url: str, net: Network) -> None:
    assert body == {"items": []}  # the factory saves no group, note or load


def freshness(body: dict[str, Any], url: str, net: Network) -> None:
    # imm: 24 months x (10 practices + the closed one + England) + 10 financial-year values;
    # ae_los: 24 x 10; prev: 10
    assert (body["indicators"], body["values"]) == (3, 24 * 12 + 10 + 24 * 10 + 10)
    periods = {p["period_type"]: p for p in body["periods"]}
    assert (periods["month"]["first"], periods["month"]["last"],
            periods["month"]["count"]) == (net.months[0], net.months[-1], 24)
    assert (periods["financial_year"]["first"], periods["financial_year"]["count"]) == (
        "2023-24", 1)
    assert body["last_load"] is None


def health(body: dict[str, Any], url: str, net: Network) -> None:
    assert body["status"] == "ok"
    assert body["database"] == make_url(url).get_backend_name()
    assert body["schema_version"] == body["schema_head"]


CHECKS: dict[str, Check] = {
    "/organisations?type=practice": organisations_practices,
    "/organisations/PCN1": organisation_pcn1,
    "/indicators": indicators,
    "/indicators/imm": indicator_imm,
    "/indicators/imm/comparison": comparison_imm,
    "/indicators/imm/comparison?peers=parent:PCN1&benchmark=ENG&confidence=99.8":
        comparison_pcn1_england,
    "/indicators/imm/comparison?peers=similar:A81001&similar_k=4&benchmark=target":
        comparison_similar_target,
    "/indicators/ae_los/comparison": comparison_ae_los,
    "/indicators/imm/funnel?overdispersion=true": funnel_imm,
    "/indicators/ae_los/funnel": funnel_ae_los,
    "/indicators/imm/opportunity?level=upper_quartile": opportunity_imm,
    "/organisations/A81001/indicators/imm/spc": spc_default,
    "/organisations/A81001/indicators/imm/spc?rebase=2024-01&fix_after=6&screen_outliers=false":
        spc_rebased_fixed,
    "/organisations/A81001/profile": profile_a81001,
    "/networks/PCN2/triage": triage_pcn2,
    "/groups": empty_items,
    "/annotations": empty_items,
    "/loads": empty_items,
    "/freshness": freshness,
    "/health": health,
}
