"""A first load's rows end up on disk in the key's order, whatever the file's order
(PostgreSQL's heap; SQLite's values table is clustered by its key anyway).

Each chunk is sorted before it is written, so a file in period or indicator order keeps each
(indicator, period) pair together; a file in organisation order with a long history per
organisation spreads every pair over many chunks, and the bulk path then rewrites the table
in key order (``CLUSTER``) so that a comparison reads a few pages, not one per row."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text

from etl.pipeline import run_load

N_ORGS = 400
YEARS = [f"{2010 + k}/{(11 + k) % 100:02d}" for k in range(12)]  # 2010/11 .. 2021/22


def _orgs() -> str:
    return ("org_code,name,org_type,parent_code\nENG,England,nation,\n"
            + "".join(f"P{k:03d},Practice {k},practice,ENG\n" for k in range(N_ORGS)))


def _values(org_major: bool) -> str:
    keys = ([(k, y) for k in range(N_ORGS) for y in YEARS] if org_major
            else [(k, y) for y in YEARS for k in range(N_ORGS)])
    return "org_code,indicator_id,period,numerator,denominator\n" + "".join(
        f"P{k:03d},mmr1,{y},{k % 50},{60 + k % 7}\n" for k, y in keys)


def _pages_of_one_pair(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(
            "SELECT count(DISTINCT (v.ctid::text::point)[0]) FROM indicator_values v "
            "JOIN indicators i ON i.ikey = v.ikey JOIN periods p ON p.id = v.period_id "
            "WHERE i.id = 'mmr1' AND p.label = '2015-16'")).scalar_one())


def _clustered(engine: Engine) -> bool:
    with engine.connect() as conn:
        return bool(conn.execute(text(
            "SELECT bool_or(indisclustered) FROM pg_index "
            "WHERE indrelid = CAST('indicator_values' AS regclass)")).scalar_one())


@pytest.mark.parametrize("org_major", [True, False], ids=["organisation order", "period order"])
def test_first_load_lays_each_pair_out_together(engine, write, monkeypatch, org_major):
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite's values table is clustered by its primary key (WITHOUT ROWID)")
    import etl.load_values

    monkeypatch.setattr(etl.load_values, "BULK_FK_ROWS", 1)  # the first national load's path
    for kind, name, content in (
            ("organisations", "o.csv", _orgs()),
            ("indicators", "i.csv", "indicator_id,name,value_type,multiplier,polarity\n"
                                    "mmr1,MMR1,proportion,100,higher_is_better\n")):
        assert run_load(engine, write(name, content), kind=kind).status == "loaded"
    # 100-row chunks: in organisation order each pair (400 rows) is in 50 chunks' pieces
    res = run_load(engine, write("v.csv", _values(org_major)), kind="values", chunk_rows=100)
    assert (res.status, res.rows_inserted) == ("loaded", N_ORGS * len(YEARS))
    pages = _pages_of_one_pair(engine)
    # 400 rows fill about 4-5 pages; scattered, they touched about 50
    assert pages <= 8, pages
    # only the scattered file paid for the rewrite
    assert _clustered(engine) is org_major
    again = run_load(engine, write("v.csv", _values(org_major)), kind="values", chunk_rows=100)
    assert (again.status, again.rows_unchanged) == ("unchanged", N_ORGS * len(YEARS))
