"""The indicator list's value summary is cached per data version: a new load shows at once."""

from __future__ import annotations

from sqlalchemy.orm import Session

from core.services.indicators import list_indicators
from etl.pipeline import run_load

ORGS = (b"org_code,name,org_type,parent_code\nPCN1,Network,pcn,\n"
        b"P1,One,practice,PCN1\nP2,Two,practice,PCN1\n")
INDS = (b"indicator_id,name,value_type,multiplier,polarity,frequency\n"
        b"flu,Flu uptake,proportion,100,higher_is_better,financial_year\n")


def _row(engine):
    with Session(engine) as s:
        frame = list_indicators(s)
    return frame.set_index("id").loc["flu"]


def test_new_period_appears_after_a_load(engine):
    assert run_load(engine, ORGS, kind="organisations", file_name="o.csv").status == "loaded"
    assert run_load(engine, INDS, kind="indicators", file_name="i.csv").status == "loaded"
    first = (b"org_code,indicator_id,period,numerator,denominator\n"
             b"P1,flu,2022-23,5,10\nP2,flu,2022-23,6,10\n")
    assert run_load(engine, first, kind="values", file_name="v1.csv").status == "loaded"
    row = _row(engine)
    assert (row["latest_period"], row["periods"], row["organisations"]) == ("2022-23", 1, 2)
    assert _row(engine)["periods"] == 1  # served from the cache, same answer
    second = b"org_code,indicator_id,period,numerator,denominator\nP1,flu,2023-24,7,10\n"
    assert run_load(engine, second, kind="values", file_name="v2.csv").status == "loaded"
    row = _row(engine)
    assert (row["latest_period"], row["periods"], row["organisations"]) == ("2023-24", 2, 2)


def test_organisation_types_of_an_indicator_follow_loads_and_reverts(engine):
    """The indicator detail's organisation types are kept per data version too."""
    from core.services.indicators import indicator_detail
    from etl.revert import revert_load

    def types() -> dict[str, int]:
        with Session(engine) as s:
            return indicator_detail(s, "flu").org_types

    assert run_load(engine, ORGS, kind="organisations", file_name="o.csv").status == "loaded"
    assert run_load(engine, INDS, kind="indicators", file_name="i.csv").status == "loaded"
    assert types() == {}
    first = b"org_code,indicator_id,period,numerator,denominator\nP1,flu,2022-23,5,10\n"
    assert run_load(engine, first, kind="values", file_name="v1.csv").status == "loaded"
    assert types() == {"practice": 1}
    second = (b"org_code,indicator_id,period,numerator,denominator\n"
              b"P2,flu,2022-23,6,10\nPCN1,flu,2022-23,11,20\n")
    res = run_load(engine, second, kind="values", file_name="v2.csv")
    assert res.status == "loaded"
    assert types() == {"practice": 2, "pcn": 1}
    revert_load(engine, res.load_id)
    assert types() == {"practice": 1}
