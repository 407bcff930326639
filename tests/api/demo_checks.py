"""What each demo read must say, worked out from the bundled files themselves.

The files in ``etl/demo_data`` are read here with pandas (not through the loader), and the
figures recomputed with the reference formulas written out in :mod:`tests.api.hand`
(Wilson; ratio of sums; XmR mean; the qicharts2 p-chart limits), so a read is checked
against the published counts, not against the code that serves it.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pandas as pd
import pytest
import yaml
from sqlalchemy.engine import make_url

from tests.api import hand

DEMO = Path(__file__).resolve().parents[2] / "etl" / "demo_data"


@cache
def orgs() -> pd.DataFrame:
    return pd.read_csv(DEMO / "organisations.csv", dtype=str).set_index("org_code")


@cache
def values() -> pd.DataFrame:
    f = pd.concat([pd.read_csv(DEMO / n, dtype={"org_code": str, "period": str})
                   for n in ("values_immunisations.csv", "values_ae.csv")], ignore_index=True)
    f["period"] = f["period"].str.replace("/", "-", regex=False)
    return f


@cache
def indicator(ind: str) -> dict[str, Any]:
    meta: dict[str, Any] = yaml.safe_load((DEMO / "indicators" / f"{ind}.yaml").read_text())
    return meta


def raw(ind: str, period: str) -> pd.DataFrame:
    v = values()
    return v[(v.indicator_id == ind) & (v.period == period)].set_index("org_code")


def children(code: str, org_type: str | None = None) -> set[str]:
    """Every organisation below ``code`` (of ``org_type`` if given)."""
    o = orgs()
    out: set[str] = set()
    todo = [code]
    while todo:
        kids = o.index[o.parent_code == todo.pop()].tolist()
        out.update(kids)
        todo += kids
    return {c for c in out if org_type is None or o.loc[c, "org_type"] == org_type}


def close(got: Any, want: Any, rel: float = 1e-9) -> None:
    np.testing.assert_allclose(np.asarray(got, float), np.asarray(want, float), rtol=rel)


def _rows_match_files(body: dict[str, Any], ind: str, lower: str = "lower_ci",
                      upper: str = "upper_ci") -> pd.DataFrame:
    """Each row with counts carries the file's counts, value and (if asked) Wilson limits."""
    period = body["period"]["label"]
    src = raw(ind, period)
    rows = pd.DataFrame(body["rows"]).set_index("org_code")
    counted = rows[rows.numerator.notna()]
    assert len(counted) > 0
    close(counted.numerator, src.loc[counted.index, "numerator"])
    close(counted.denominator, src.loc[counted.index, "denominator"])
    close(counted.value, counted.numerator / counted.denominator * 100)
    if lower:
        lo, hi = hand.wilson(counted.numerator, counted.denominator,
                             float(body.get("confidence", 95.0)))
        close(counted[lower], lo * 100)
        close(counted[upper], hi * 100)
    return rows


def comparison(url: str, body: dict[str, Any], ind: str, q: dict[str, str]) -> None:
    rows = _rows_match_files(body, ind)
    peers = q.get("peers")
    kind = peers.split(":")[0] if peers else None
    if kind == "parent":
        assert set(rows.index) == children(peers.split(":")[1], body["peers"]["org_type"])
    elif kind == "similar":
        me = peers.split(":")[1]
        assert me in rows.index
        assert len(rows) == 11  # the organisation and its 10 most similar
    else:
        expected_type = "practice" if ind.startswith("imm") else "trust"
        assert body["peers"]["org_type"] == expected_type
        assert set(rows.index) <= set(orgs().index[orgs().org_type == expected_type])
    counted = rows[rows.numerator.notna()]
    if q.get("benchmark") == "target":
        assert body["benchmark"]["value"] == indicator(ind)["target"]
    else:
        assert body["benchmark"]["value"] == pytest.approx(
            counted.numerator.sum() / counted.denominator.sum() * 100, rel=1e-12)
    verdicts = hand.overlap(counted.lower_ci.to_numpy(), counted.upper_ci.to_numpy(),
                            body["benchmark"]["value"], "higher_is_better")
    assert counted.comparison.tolist() == verdicts


def funnel(url: str, body: dict[str, Any], ind: str, q: dict[str, str]) -> None:
    rows = _rows_match_files(body, ind, lower="")
    counted = rows[rows.numerator.notna()]
    assert body["target"] == pytest.approx(
        counted.numerator.sum() / counted.denominator.sum() * 100, rel=1e-12)
    if q.get("overdispersion") == "true":
        phi, tau2 = hand.winsorised_phi(counted.numerator.to_numpy(),
                                        counted.denominator.to_numpy())
        assert body["phi"] == pytest.approx(phi, rel=1e-9)
        assert body["tau2"] == pytest.approx(tau2, rel=1e-9, abs=1e-15)


def opportunity(url: str, body: dict[str, Any], ind: str, q: dict[str, str]) -> None:
    rows = _rows_match_files(body, ind, lower="")
    v = rows.value.dropna()
    level = (indicator(ind)["target"] if q["level"] == "target"
             else float(np.percentile(v, 75)))
    assert body["level"] == pytest.approx(level)
    extra = (level - v).clip(lower=0) * rows.loc[v.index, "denominator"] / 100
    assert body["total"] == pytest.approx(extra.sum())


def spc(url: str, body: dict[str, Any], org: str, ind: str, q: dict[str, str]) -> None:
    v = values()
    series = v[(v.org_code == org) & (v.indicator_id == ind)].sort_values("period")
    pts = pd.DataFrame(body["points"])
    assert pts.period.tolist() == series.period.tolist()
    close(pts.value, series.numerator.to_numpy() / series.denominator.to_numpy() * 100)
    if pts["mean"].isna().all():  # a run chart: no limits from fewer than 12 values
        assert len(pts) < 12
        assert body["variation"] is None
    elif q.get("chart") == "p":  # qicharts2 p chart: pooled centre, 3 sigma at each n
        cl = series.numerator.sum() / series.denominator.sum()
        half = 3 * np.sqrt(cl * (1 - cl) / series.denominator.to_numpy())
        close(pts["mean"], np.full(len(pts), cl * 100))
        close(pts.upper_limit, np.clip(cl + half, 0, 1) * 100)
        close(pts.lower_limit, np.clip(cl - half, 0, 1) * 100)
    else:
        mean, amr = hand.xmr(pts.value.to_numpy(), screen=True)
        close(pts["mean"], np.full(len(pts), mean))
        close(pts.upper_limit, np.full(len(pts), mean + 2.66 * amr))


def profile(url: str, body: dict[str, Any], org: str) -> None:
    v = values()
    mine = v[v.org_code == org]
    assert {r["indicator_id"] for r in body["rows"]} == set(mine.indicator_id)
    for r in body["rows"]:
        src = mine[(mine.indicator_id == r["indicator_id"]) & (mine.period == r["period"])]
        assert r["period"] == max(mine.period[mine.indicator_id == r["indicator_id"]],
                                  key=lambda p: (p[:4], p))
        close(r["value"], src.numerator.iloc[0] / src.denominator.iloc[0] * 100)


def triage(url: str, body: dict[str, Any], code: str) -> None:
    members = {m["code"] for m in body["members"]}
    assert members == children(code, body["member_type"])
    for s in body["summary"]:
        src = raw(s["indicator_id"], s["period"])
        mine = src.loc[src.index.intersection(list(members))]
        assert s["network_value"] == pytest.approx(
            mine.numerator.sum() / mine.denominator.sum() * 100, rel=1e-12)


def check(url: str, body: dict[str, Any], db_url: str) -> None:
    """Assert ``body`` (the JSON of ``/api/v1`` + ``url``) against the bundled files."""
    parts = urlsplit(url)
    path = parts.path.strip("/").split("/")
    q = {k: v[0] for k, v in parse_qs(parts.query).items()}
    o = orgs()
    if path == ["health"]:
        assert body["status"] == "ok"
        assert body["database"] == make_url(db_url).get_backend_name()
    elif path == ["freshness"]:
        assert body["values"] == len(values())
        assert body["indicators"] == len(list((DEMO / "indicators").glob("*.yaml")))
    elif path == ["organisations"] and "type" in q:
        assert body["total"] == int((o.org_type == q["type"]).sum())
        assert {i["code"] for i in body["items"]} == set(o.index[o.org_type == q["type"]])
    elif path == ["organisations"]:
        hits = o[o.name.str.lower().str.contains(q["q"]) | o.index.str.lower().str.contains(
            q["q"])]
        assert body["total"] == len(hits)
        assert {i["code"] for i in body["items"]} == set(hits.index[:100])
    elif path[0] == "organisations" and len(path) == 2:
        code = path[1]
        assert body["code"] == code
        assert body["name"] == o.loc[code, "name"]
        parent = o.loc[code, "parent_code"]
        assert (body["parent"] or {}).get("code") == (parent if isinstance(parent, str)
                                                      else None)
        assert {c["code"] for c in body["children"]} == set(o.index[o.parent_code == code])
    elif path == ["indicators"]:
        assert {i["id"] for i in body["items"]} == {
            p.stem for p in (DEMO / "indicators").glob("*.yaml")}
    elif path[0] == "indicators" and len(path) == 2:
        v = values()
        assert {p["label"] for p in body["periods"]} == set(v.period[v.indicator_id == path[1]])
        assert body["target"] == indicator(path[1])["target"]
    elif path[0] == "indicators":
        {"comparison": comparison, "funnel": funnel, "opportunity": opportunity}[path[2]](
            url, body, path[1], q)
    elif path[0] == "organisations" and path[2] == "indicators":
        spc(url, body, path[1], path[3], q)
    elif path[0] == "organisations" and path[2] == "profile":
        profile(url, body, path[1])
    elif path[0] == "networks":
        triage(url, body, path[1])
    elif path == ["loads"]:
        files = {i["file_name"] for i in body["items"]}
        assert {"organisations.csv", "values_immunisations.csv", "values_ae.csv"} <= files
    elif path in (["groups"], ["annotations"]):
        assert body == {"items": []}
    else:  # pragma: no cover - a new URL needs its check
        raise AssertionError(f"no check for {url}")
