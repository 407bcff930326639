"""The CLI: --json output, exit codes 0/1/2, loads list/show/revert, demo (both databases)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from qidash.cli import app
from tests.etl.conftest import INDICATORS, ORGS

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args))


def test_load_json_and_exit_codes(database_url, write):
    assert invoke("load", "organisations", str(write("o.csv", ORGS))).exit_code == 0
    assert invoke("load", "indicators", str(write("i.csv", INDICATORS))).exit_code == 0
    good = write("v.csv", "org_code,indicator_id,period,numerator,denominator\n"
                          "P1,mmr1,2019/20,9,10\n")
    res = invoke("load", "values", str(good), "--json", "--user", "ana")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert list(out) == ["load_id", "status", "rows_read", "rows_inserted", "rows_updated",
                         "rows_unchanged", "rows_rejected", "errors"]
    assert (out["status"], out["rows_inserted"]) == ("loaded", 1)
    res = invoke("load", "values", str(good), "--json")
    assert (res.exit_code, json.loads(res.stdout)["status"]) == (0, "unchanged")
    bad = write("b.csv", "org_code,indicator_id,period,numerator,denominator\n"
                         "P1,mmr1,2019/20,11,10\n")
    res = invoke("load", "values", str(bad), "--json")
    assert res.exit_code == 1
    out = json.loads(res.stdout)
    assert out["status"] == "rejected"
    assert out["errors"][0]["line"] == 2
    assert out["errors"][0]["column"] == "numerator"
    assert out["errors"][0]["value"] == "11"
    res = invoke("load", "values", str(bad))  # readable summary
    assert res.exit_code == 1
    assert "rejected" in res.stdout
    assert "above the denominator" in res.stdout
    res = invoke("load", "values", str(bad.parent / "missing.csv"), "--json")
    assert res.exit_code == 2
    assert "no such file" in json.loads(res.stdout)["message"]
    assert invoke("load", "values", str(good), "--format", "nope").exit_code == 2
    assert invoke("load", "values", str(good), "--period-type", "week").exit_code == 2
    assert invoke("load", "values").exit_code == 2  # usage


def test_loads_list_show_revert(database_url, write):
    invoke("load", "organisations", str(write("o.csv", ORGS)))
    invoke("load", "indicators", str(write("i.csv", INDICATORS)))
    v = write("v.csv", "org_code,indicator_id,period,numerator,denominator\nP1,mmr1,2019/20,9,10\n")
    load_id = json.loads(invoke("load", "values", str(v), "--json").stdout)["load_id"]
    res = invoke("loads", "list", "--json")
    assert [x["kind"] for x in json.loads(res.stdout)] == ["values", "indicators",
                                                            "organisations"]
    res = invoke("loads", "show", str(load_id))
    assert res.exit_code == 0
    assert "loaded values from v.csv" in res.stdout
    res = invoke("loads", "revert", str(load_id))
    assert res.exit_code == 0, res.output
    assert "reverted (1 values put back)" in res.stdout
    res = invoke("loads", "revert", str(load_id))
    assert res.exit_code == 1
    assert "already reverted" in res.output
    assert invoke("loads", "show", "999").exit_code == 1


def test_loads_recount_counts_again_what_sql_wrote(database_url, write):
    """Values written by other means (SQL) are not in the counts the loads keep until
    ``qidash loads recount``; the start page's figure then matches the table."""
    from sqlalchemy import create_engine, text

    invoke("load", "organisations", str(write("o.csv", ORGS)))
    invoke("load", "indicators", str(write("i.csv", INDICATORS)))
    v = write("v.csv", "org_code,indicator_id,period,numerator,denominator\n"
                       "P1,mmr1,2019/20,9,10\nP2,mmr1,2019/20,8,10\n")
    assert invoke("load", "values", str(v)).exit_code == 0
    engine = create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO indicator_values (ikey, period_id, org_id, numerator, denominator, "
            "value, suppressed) SELECT i.ikey, p.id, o.id, 1, 2, 50, false FROM indicators i, "
            "periods p, organisations o WHERE i.id = 'rate' AND o.code = 'P1'"))
        kept = conn.execute(text("SELECT SUM(n_values) FROM value_counts")).scalar()
    assert kept == 2
    res = invoke("loads", "recount", "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout) == {"values": 3, "indicators": 2}
    with engine.connect() as conn:
        assert sorted(tuple(r) for r in conn.execute(text(
            "SELECT i.id, c.n_values, c.n_orgs FROM value_counts c JOIN indicators i "
            "ON i.ikey = c.ikey"))) == [("mmr1", 2, 2), ("rate", 1, 1)]
    engine.dispose()
    res = invoke("loads", "recount")
    assert res.exit_code == 0
    assert "3 values of 2 indicators counted" in res.stdout
