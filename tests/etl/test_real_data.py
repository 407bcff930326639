"""Real files from ../shared/data through the pipeline, checked against independent sums."""

from __future__ import annotations

import csv
from collections import defaultdict

import pytest
from sqlalchemy import text

from etl.demo import DEMO_DIR, run_demo
from etl.pipeline import run_load
from tests.etl.conftest import DATA, count


def test_demo_loads_real_data_and_is_idempotent(engine):
    first = run_demo(engine)
    assert [r.status for r in first] == ["loaded"] * 4
    assert count(engine, "indicators") == 17
    n_values = sum(1 for _ in open(DEMO_DIR / "values_immunisations.csv")) - 1 + sum(
        1 for _ in open(DEMO_DIR / "values_ae.csv")) - 1
    assert count(engine, "indicator_values") == n_values
    # oracle: Coppice Surgery's MMR1 at 24 months in 2019/20, straight from the source file
    with open(DATA / "gp_immunisations_wsx" / "GP_immunisations.csv", newline="") as fh:
        src = next(r for r in csv.DictReader(fh) if r["ODS_Code"] == "H82014"
                   and r["Item"] == "MMR1" and r["Age"] == "24 months"
                   and r["Year"] == "2019/20")
    with engine.connect() as conn:
        num, den, value, parent = conn.execute(text(
            "SELECT v.numerator, v.denominator, v.value, p.code FROM indicator_values v "
            "JOIN organisations o ON o.id = v.org_id JOIN organisations p ON p.id = o.parent_id "
            "JOIN periods pe ON pe.id = v.period_id WHERE o.code = 'H82014' "
            "AND v.ikey = (SELECT ikey FROM indicators WHERE id = 'imm_mmr1_24m') "
            "AND pe.label = '2019-20'")).one()
        chain = conn.execute(text(
            "SELECT g.code FROM organisations p JOIN organisations g ON g.id = p.parent_id "
            "WHERE p.code = :c"), {"c": parent}).scalar_one()
    assert (num, den) == (float(src["Numerator"]), float(src["Denominator"]))
    assert value == pytest.approx(float(src["Proportion"]) * 100)
    assert chain == "70F"
    again = run_demo(engine)
    assert [r.status for r in again] == ["unchanged"] * 4
    assert sum(r.rows_inserted + r.rows_updated for r in again) == 0


def test_ae_attendances_with_a_mapping_that_sums_department_types(engine, write):
    """The real A&E file, breaches per attendance over all department types (ratio of sums)."""
    src = DATA / "ae_attendances" / "ae_attendances.csv"
    sums: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0.0])
    with open(src, newline="") as fh:
        for r in csv.DictReader(fh):
            s = sums[(r["org_code"], r["period"][:7])]
            s[0] += float(r["breaches"])
            s[1] += float(r["attendances"])
    codes = sorted({k[0] for k in sums})
    run_load(engine, write("o.csv", "org_code,name,org_type,parent_code\n"
                           + "".join(f"{c},{c},trust,\n" for c in codes)), kind="organisations")
    run_load(engine, write("i.csv", "indicator_id,name,value_type,multiplier,polarity,frequency\n"
                                    "ae_breach,Breaches,proportion,100,lower_is_better,month\n"),
             kind="indicators")
    mapping = write("m.yaml", "columns: {org_code: org_code, period: period, "
                              "numerator: breaches, denominator: attendances}\n"
                              "constants: {indicator_id: ae_breach}\n"
                              "ignore: [type, admissions]\naggregate: sum\n")
    result = run_load(engine, src, kind="values", mapping=mapping, skip_invalid=True)
    # months with no attendances at all have 0 breaches over 0: loaded without a value
    assert result.status == "loaded", result.as_json()
    assert result.rows_read == 12765
    assert result.rows_inserted == len(sums)
    with engine.connect() as conn:
        got = {(o, p): (n, d) for o, p, n, d in conn.execute(text(
            "SELECT o.code, pe.label, v.numerator, v.denominator FROM indicator_values v "
            "JOIN organisations o ON o.id = v.org_id JOIN periods pe ON pe.id = v.period_id"))}
    assert got == {k: tuple(v) for k, v in sums.items()}
