"""Alerts raised by values loads, on the real A&E file (SQLite and PostgreSQL).

The file is loaded in two parts: every month before 2019-01, then 2019-01 to 2019-03. The
second load's special-cause alerts must be exactly the points that the SPC API shows as special
cause in those months (above the minimum denominator, charts without trial limits); the target
alerts are checked against sums of the source file.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_api
from core.services import alerts as alert_service
from etl.pipeline import run_load
from etl.revert import revert_load
from tests.conftest import DATA

SRC = DATA / "ae_attendances" / "ae_attendances.csv"
SPLIT = "2019-01-01"
LAST = ("2019-01", "2019-02", "2019-03")
TARGET = 5.0  # breaches per 100 attendances (the 95% four-hour standard)
MIN_DEN = 30.0
MAPPING = ("columns: {org_code: org_code, period: period, numerator: breaches, "
           "denominator: attendances}\nconstants: {indicator_id: ae_breach}\n"
           "ignore: [type, admissions]\naggregate: sum\n")


def _sums() -> dict[tuple[str, str], list[float]]:
    sums: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0.0])
    with open(SRC, newline="") as fh:
        for r in csv.DictReader(fh):
            s = sums[(r["org_code"], r["period"][:7])]
            s[0] += float(r["breaches"])
            s[1] += float(r["attendances"])
    return sums


def _split(tmp: Path) -> tuple[Path, Path]:
    with open(SRC, newline="") as fh:
        lines = fh.read().splitlines(keepends=True)
    header, rows = lines[0], lines[1:]
    early = tmp / "ae_early.csv"
    late = tmp / "ae_late.csv"
    early.write_text(header + "".join(r for r in rows if r[:10] < SPLIT))
    late.write_text(header + "".join(r for r in rows if r[:10] >= SPLIT))
    return early, late


@pytest.fixture
def ae(engine, tmp_path: Path) -> dict:  # type: ignore[no-untyped-def,type-arg]
    """The A&E organisations (two networks) and indicator, and the first part loaded."""
    codes = sorted({k[0] for k in _sums()})
    half = len(codes) // 2
    net = {c: ("NETA" if i < half else "NETB") for i, c in enumerate(codes)}
    orgs = tmp_path / "o.csv"
    orgs.write_text("org_code,name,org_type,parent_code\nNETA,Network A,network,\n"
                    "NETB,Network B,network,\n"
                    + "".join(f"{c},Trust {c},trust,{net[c]}\n" for c in codes))
    run_load(engine, orgs, kind="organisations")
    inds = tmp_path / "i.csv"
    inds.write_text("indicator_id,name,value_type,multiplier,polarity,target,frequency\n"
                    f"ae_breach,A&E 4-hour breaches,proportion,100,lower_is_better,{TARGET},"
                    "month\n")
    run_load(engine, inds, kind="indicators")
    mapping = tmp_path / "m.yaml"
    mapping.write_text(MAPPING)
    early, late = _split(tmp_path)
    first = run_load(engine, early, kind="values", mapping=mapping, skip_invalid=True)
    assert first.status == "loaded"
    return {"engine": engine, "late": late, "mapping": mapping, "first": first, "net": net}


@pytest.fixture
def api(ae) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(create_api(), raise_server_exceptions=False) as c:
        yield c


def _load_late(ae: dict):  # type: ignore[no-untyped-def,type-arg]
    result = run_load(ae["engine"], ae["late"], kind="values", mapping=ae["mapping"],
                      skip_invalid=True)
    assert result.status == "loaded", result.as_json()
    return result


def _alerts(api: TestClient, **params: object) -> dict:  # type: ignore[type-arg]
    r = api.get("/api/v1/alerts", params={"limit": 10000, **params})
    assert r.status_code == 200, r.text
    return r.json()


def test_latest_months_raise_exactly_the_special_causes_the_spc_charts_show(ae, api):
    second = _load_late(ae)
    got = _alerts(api, load=second.load_id)
    assert got["total"] == len(got["alerts"]) == second.alerts
    special = {(a["org_code"], a["period"], a["kind"], a["rule"]) for a in got["alerts"]
               if a["kind"].startswith("special_cause")}
    expected = set()
    for code in sorted(ae["net"]):
        r = api.get(f"/api/v1/organisations/{code}/indicators/ae_breach/spc")
        if r.status_code == 404:  # no values at all (every month 0 attendances)
            continue
        assert r.status_code == 200, r.text
        chart = r.json()
        if any("trial limits" in w for w in chart["warnings"]):
            continue
        for p in chart["points"]:
            if (p["period"] in LAST and p["special_cause"] in ("improvement", "concern")
                    and (p["denominator"] is None or p["denominator"] >= MIN_DEN)):
                expected.add((code, p["period"], f"special_cause_{p['special_cause']}",
                              p["rule"]))
    assert expected, "the real data has special causes in its last months"
    assert special == expected
    # every alert links to its chart, and the periods are the load's
    for a in got["alerts"]:
        assert a["period"] in LAST
        assert a["url"].endswith(
            f"/organisations/{a['org_code']}/indicators/ae_breach?period_type=month")
        assert a["message"].startswith("A&E 4-hour breaches, " + a["period"])


def test_alerts_follow_the_rebases_people_accepted(ae, api):
    """Rebases accepted before a load: its special-cause alerts are still exactly the points
    the SPC API (which applies accepted rebases) shows, and they differ from the default
    charts' for those trusts (else the test would not tell)."""
    from core.errors import QidashError
    from core.services.rebases import accept_rebase

    codes = sorted(ae["net"])
    # every trust with that month gets new limits from 2017-10: 18 points on each side
    with ae["engine"].begin() as conn:
        rebased = []
        for code in codes:
            try:
                accept_rebase(conn, org=code, indicator="ae_breach", period="2017-10",
                              accepted_by="test")
            except QidashError:  # a trust without that month has no such rebase
                continue
            rebased.append(code)
    assert len(rebased) > 50
    second = _load_late(ae)
    got = _alerts(api, load=second.load_id)
    special = {(a["org_code"], a["period"], a["kind"], a["rule"]) for a in got["alerts"]
               if a["kind"].startswith("special_cause")}
    expected, default = set(), set()
    for code in codes:
        for params, into in (({}, expected), ({"rebase": "none"}, default)):
            r = api.get(f"/api/v1/organisations/{code}/indicators/ae_breach/spc", params=params)
            if r.status_code == 404:
                continue
            assert r.status_code == 200, r.text
            chart = r.json()
            # a point is judged on its own segment's limits: none from a segment that has
            # trial limits ("trial limits from <its first period>: ...")
            starts: dict[int, str] = {}
            for p in chart["points"]:
                starts.setdefault(p["segment"], p["period"])
            trial = {w.split("trial limits from ", 1)[1].split(":", 1)[0]
                     for w in chart["warnings"] if "trial limits from " in w}
            for p in chart["points"]:
                if (p["period"] in LAST and p["special_cause"] in ("improvement", "concern")
                        and starts[p["segment"]] not in trial
                        and (p["denominator"] is None or p["denominator"] >= MIN_DEN)):
                    into.add((code, p["period"], f"special_cause_{p['special_cause']}",
                              p["rule"]))
    assert expected, "the rebased charts have special causes in the last months"
    assert expected != default, "the accepted rebases change some charts' special causes"
    assert special == expected


def test_target_alerts_match_the_source_file(ae, api):
    second = _load_late(ae)
    sums = _sums()
    prev = {"2019-01": "2018-12", "2019-02": "2019-01", "2019-03": "2019-02"}
    expected = set()
    for (code, period), (num, den) in sums.items():
        if period not in LAST or den <= 0 or den < MIN_DEN:
            continue
        pn, pd_ = sums.get((code, prev[period]), (0.0, 0.0))
        if pd_ <= 0:
            continue
        now, before = 100 * num / den, 100 * pn / pd_
        if now > TARGET >= before:
            expected.add((code, period, "target_missed"))
        elif now <= TARGET < before:
            expected.add((code, period, "target_met"))
    got = {(a["org_code"], a["period"], a["kind"]) for a in _alerts(
        api, load=second.load_id)["alerts"] if a["kind"].startswith("target")}
    assert expected
    assert got == expected


def test_revert_withdraws_and_standing_alerts_are_not_raised_twice(ae, api):
    engine = ae["engine"]
    second = _load_late(ae)
    n = _alerts(api, load=second.load_id)["total"]
    assert n > 0
    revert_load(engine, second.load_id)
    assert _alerts(api, load=second.load_id)["total"] == 0
    with engine.connect() as conn:
        withdrawn = conn.execute(text(
            "SELECT COUNT(*) FROM alerts WHERE load_id = :l AND withdrawn_at IS NOT NULL"),
            {"l": second.load_id}).scalar_one()
    assert withdrawn == n
    third = _load_late(ae)
    assert _alerts(api, load=third.load_id)["total"] == n
    # the same months again with one value changed: only that organisation's points are
    # written, and their alerts already stand, so none is raised twice
    text_ = ae["late"].read_text().splitlines(keepends=True)
    row = next(i for i, r in enumerate(text_) if r.startswith("2019-03-01,") and ",1," in r)
    cells = text_[row].split(",")
    cells[4] = str(float(cells[4]) + 1)
    text_[row] = ",".join(cells)
    changed = ae["late"].with_name("ae_late2.csv")
    changed.write_text("".join(text_))
    fourth = run_load(engine, changed, kind="values", mapping=ae["mapping"], skip_invalid=True)
    assert fourth.status == "loaded"
    assert fourth.rows_updated == 1
    keys = [(a["org_code"], a["period"], a["kind"]) for a in _alerts(api)["alerts"]]
    assert len(keys) == len(set(keys))


def test_filters_network_kind_csv_and_bad_input(ae, api):
    second = _load_late(ae)
    every = _alerts(api, load=second.load_id)["alerts"]
    in_a = _alerts(api, load=second.load_id, network="NETA")
    assert in_a["total"] == sum(1 for a in every if ae["net"][a["org_code"]] == "NETA")
    assert {ae["net"][a["org_code"]] for a in in_a["alerts"]} == {"NETA"}
    concern = _alerts(api, kind="special_cause_concern")
    assert concern["total"] > 0
    assert {a["kind"] for a in concern["alerts"]} == {"special_cause_concern"}
    page = _alerts(api, load=second.load_id, limit=2, offset=1)
    assert [a["id"] for a in page["alerts"]] == [a["id"] for a in every[1:3]]
    r = api.get("/api/v1/alerts", params={"load": second.load_id, "format": "csv",
                                           "limit": 10000})
    assert r.status_code == 200
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [int(x["id"]) for x in rows] == [a["id"] for a in every]
    assert list(rows[0]) == list(alert_service.ALERT_COLUMNS)
    for params, status in (({"kind": "nope"}, 422), ({"network": "NOPE"}, 404),
                           ({"since": "yesterday"}, 422), ({"limit": 0}, 422),
                           ({"indicator": "nope"}, 404)):
        r = api.get("/api/v1/alerts", params=params)
        assert r.status_code == status, (params, r.text)
        assert "error" in r.json()


def test_noise_rules_per_indicator(ae, api):
    engine = ae["engine"]
    with engine.begin() as conn:
        alert_service.set_noise_rules(conn, "ae_breach", min_denominator=10_000,
                                      kinds=["special_cause_concern"])
    second = _load_late(ae)
    got = _alerts(api, load=second.load_id)["alerts"]
    assert got
    assert {a["kind"] for a in got} == {"special_cause_concern"}
    with engine.connect() as conn:
        dens = conn.execute(text("SELECT MIN(denominator) FROM alerts WHERE load_id = :l"),
                            {"l": second.load_id}).scalar_one()
    assert dens >= 10_000


def test_cli_lists_the_same_alerts_as_the_api(ae, api):
    import json

    from typer.testing import CliRunner

    from qidash.cli import app

    runner = CliRunner()
    second = _load_late(ae)
    out = runner.invoke(app, ["alerts", "list", "--load", str(second.load_id), "--network",
                              "NETB", "--limit", "10000", "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output) == _alerts(api, load=second.load_id, network="NETB")
    bad = runner.invoke(app, ["alerts", "list", "--kind", "nope"])
    assert bad.exit_code == 2
    assert "unknown alert kind" in bad.output
    out = runner.invoke(app, ["alerts", "settings", "ae_breach", "--min-denominator", "100"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["min_denominator"] == 100


def test_funnel_crossings_match_the_funnel_api(ae, api):
    second = _load_late(ae)
    prev = {"2019-01": "2018-12", "2019-02": "2019-01", "2019-03": "2019-02"}
    sums = _sums()

    def flags(period: str) -> dict[str, str]:
        r = api.get("/api/v1/indicators/ae_breach/funnel",
                    params={"period": period, "org_type": "trust"})
        assert r.status_code == 200, r.text
        return {row["org_code"]: row["flag"] for row in r.json()["rows"] if row["flag"]}

    expected = set()
    for period in LAST:
        now, before = flags(period), flags(prev[period])
        for code, f in now.items():
            g = before.get(code)
            if g is None or sums[(code, period)][1] < MIN_DEN:
                continue
            outside = ("above_998", "below_998")
            if (f == "above_998" != g) or (g == "below_998" and f not in outside):
                expected.add((code, period, "crossed_limit_worse"))
            if (f == "below_998" != g) or (g == "above_998" and f not in outside):
                expected.add((code, period, "crossed_limit_better"))
    got = {(a["org_code"], a["period"], a["kind"]) for a in _alerts(
        api, load=second.load_id)["alerts"] if a["kind"].startswith("crossed_limit")}
    assert expected
    assert got == expected


def _spc_special(api: TestClient, codes: list[str], periods: tuple[str, ...]
                 ) -> set[tuple[str, str, str, str]]:
    """The special-cause points the SPC API shows in ``periods`` (charts without trial
    limits, denominators at the minimum or above), as alert keys."""
    expected = set()
    for code in codes:
        r = api.get(f"/api/v1/organisations/{code}/indicators/ae_breach/spc")
        if r.status_code == 404:
            continue
        assert r.status_code == 200, r.text
        chart = r.json()
        if any("trial limits" in w for w in chart["warnings"]):
            continue
        for p in chart["points"]:
            if (p["period"] in periods and p["special_cause"] in ("improvement", "concern")
                    and (p["denominator"] is None or p["denominator"] >= MIN_DEN)):
                expected.add((code, p["period"], f"special_cause_{p['special_cause']}",
                              p["rule"]))
    return expected


def test_history_is_not_news_backfill_raises_nothing(ae, api):
    """The late months loaded first were news; loading the history before them afterwards
    (a back-fill) raises nothing, although its periods have special causes on the charts."""
    engine = ae["engine"]
    # start again: the late months alone, then the history
    revert_load(engine, ae["first"].load_id)
    late = _load_late(ae)
    got = _alerts(api, load=late.load_id)["alerts"]
    # a first load (after the revert the indicator had no values) raises for its latest month
    assert got
    assert {a["period"] for a in got} == {"2019-03"}
    early = ae["late"].with_name("ae_early.csv")
    back = run_load(engine, early, kind="values", mapping=ae["mapping"], skip_invalid=True)
    assert back.status == "loaded"
    assert back.rows_inserted > 0
    assert back.alerts == 0
    assert _alerts(api, load=back.load_id)["total"] == 0
    # ... and those history months do have special causes on the charts
    early_months = tuple(sorted({line[:7] for line in early.read_text().splitlines()[1:]}))
    assert _spc_special(api, sorted(ae["net"]), early_months[-6:])


@pytest.mark.parametrize("bulk", [False, True], ids=["plain", "bulk"])
def test_first_load_raises_only_its_latest_month_as_the_spc_charts_show(engine, tmp_path,
                                                                         monkeypatch, bulk):
    """A first load of the whole real file (2016-2019) raises alerts for 2019-03 only, and
    its special-cause alerts are exactly the chart's special causes in that month. The load
    computes them from the rows it wrote (the indicator was new: nothing is read back), and
    they equal the alerts computed afterwards from the database. On the bulk path (a first
    national load) they are computed while the database rebuilds the table's keys."""
    import threading

    import etl.load_values

    rebuilding: list[bool] = []
    if bulk:
        monkeypatch.setattr(etl.load_values, "BULK_FK_ROWS", 1)
        compute = alert_service.alerts_of_plan

        def watched(*a, **k):  # type: ignore[no-untyped-def]
            rebuilding.append(any(t.name.startswith("qidash-rebuild")
                                  for t in threading.enumerate()))
            return compute(*a, **k)

        monkeypatch.setattr(alert_service, "alerts_of_plan", watched)
    reads: list[str] = []
    read_back = alert_service.fetch_indicator_series

    def counted(conn, indicator_id):  # type: ignore[no-untyped-def]
        reads.append(indicator_id)
        return read_back(conn, indicator_id)

    monkeypatch.setattr(alert_service, "fetch_indicator_series", counted)
    codes = sorted({k[0] for k in _sums()})
    orgs = tmp_path / "o.csv"
    orgs.write_text("org_code,name,org_type,parent_code\n"
                    + "".join(f"{c},Trust {c},trust,\n" for c in codes))
    run_load(engine, orgs, kind="organisations")
    inds = tmp_path / "i.csv"
    inds.write_text("indicator_id,name,value_type,multiplier,polarity,target,frequency\n"
                    f"ae_breach,A&E 4-hour breaches,proportion,100,lower_is_better,{TARGET},"
                    "month\n")
    run_load(engine, inds, kind="indicators")
    mapping = tmp_path / "m.yaml"
    mapping.write_text(MAPPING)
    first = run_load(engine, SRC, kind="values", mapping=mapping, skip_invalid=True)
    assert first.status == "loaded"
    assert reads == []  # computed from the rows the load kept
    assert rebuilding == ([True] if bulk else [])
    with engine.connect() as conn:
        again = alert_service.compute_load_alerts(conn, first.load_id)
    assert reads == ["ae_breach"]
    with TestClient(create_api(), raise_server_exceptions=False) as api:
        got = _alerts(api, load=first.load_id)
        assert got["total"] == first.alerts > 0
        assert {a["period"] for a in got["alerts"]} == {"2019-03"}
        special = {(a["org_code"], a["period"], a["kind"], a["rule"]) for a in got["alerts"]
                   if a["kind"].startswith("special_cause")}
        expected = _spc_special(api, codes, ("2019-03",))
        stored = {(a["org_code"], a["period"], a["kind"], a["rule"], a["value"])
                  for a in got["alerts"]}
    assert expected
    assert special == expected
    from core.services.organisations import org_directory

    with engine.connect() as conn:
        directory = org_directory(conn)
    code_of = dict(zip(directory.ids.tolist(), directory.code.tolist(), strict=True))
    assert stored == {(code_of[int(r.org_id)], "2019-03", r.kind,
                       r.rule if isinstance(r.rule, str) else None, r.value)
                      for r in again.itertuples()}


def test_vectorised_funnel_flags_equal_one_funnel_per_period(ae):
    """The flags the alerts use (every period and organisation type at once) are those of
    the funnel service, one call per period, on the real file: every period, every trust."""
    import numpy as np

    from core.services.comparison import funnel
    from core.services.organisations import org_directory
    from core.stats.funnel import FLAG_NAMES

    engine = ae["engine"]
    _load_late(ae)
    with engine.connect() as conn:
        s = alert_service.fetch_indicator_series(conn, "ae_breach")
        directory = org_directory(conn)
        pos, codes = alert_service.funnel_flag_codes(
            directory, s["org_id"], s["period_id"], s["numerator"], s["denominator"],
            s["suppressed"], "proportion")
        periods = alert_service._periods(conn)
        got: dict[tuple[str, str], object] = {}
        for p, o, c in zip(s["period_id"], pos, codes, strict=True):
            if o >= 0:
                got[(str(periods.label_of[p]), str(directory.code[o]))] = FLAG_NAMES[c]
        labels = sorted({str(periods.label_of[p]) for p in np.unique(s["period_id"])})
        assert len(labels) > 30
        expected: dict[tuple[str, str], object] = {}
        for label in labels:
            view = funnel(conn, "ae_breach", period=label, period_type="month",
                          org_type="trust")
            for code, flag in zip(view.rows["org_code"], view.rows["flag"].astype(object),
                                  strict=True):
                expected[(label, str(code))] = flag if isinstance(flag, str) else None
    assert got == expected
    assert sum(f in ("above_998", "below_998") for f in got.values()) > 100
