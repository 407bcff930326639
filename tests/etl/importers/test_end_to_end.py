"""Each named format loaded through the pipeline (``etl.pipeline.run_load``) on SQLite and
PostgreSQL, from the real files, with auto-detection."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.models import Indicator, IndicatorValue, Organisation, ikey_of
from etl.pipeline import run_load

from .conftest import AE, EPRACCUR, FINGERTIPS, LIST_SIZES, QOF


def test_practice_files_load(engine):
    ods = run_load(engine, EPRACCUR, kind="organisations")
    assert (ods.format, ods.status, ods.rows_inserted) == ("ods-practices", "loaded", 8641 + 244)
    ft = run_load(engine, FINGERTIPS, kind="values")
    assert (ft.format, ft.status, ft.rows_inserted) == ("fingertips", "loaded", 6546)
    sizes = run_load(engine, LIST_SIZES, kind="values", skip_invalid=True)
    assert sizes.format == "list-sizes"
    # 17 practices in the list-size file are not GP practices (setting 4) in epraccur
    assert (sizes.rows_inserted, sizes.rows_rejected) == (6658 - 17, 17)
    with Session(engine) as s:
        a = s.scalars(select(Organisation).where(Organisation.code == "A81003")).one()
        assert not a.is_active  # closed practice
        assert a.attributes["close_date"] == "2017-10-31"
        imd = s.scalars(select(Indicator).where(Indicator.id == "93553")).one()
        assert (imd.value_type, imd.frequency) == ("mean", "year")
        n = s.scalar(select(func.count()).select_from(IndicatorValue).where(
            IndicatorValue.ikey == ikey_of("registered_patients")))
        assert n == 6641


def test_qof_and_ae_load_and_reload_unchanged(engine):
    q = run_load(engine, QOF, kind="values")
    assert (q.format, q.status, q.rows_inserted) == ("qof", "loaded", 14985)
    again = run_load(engine, QOF, kind="values")
    assert (again.status, again.rows_unchanged) == ("unchanged", 14985)
    ae = run_load(engine, AE, kind="values")
    assert (ae.format, ae.status, ae.rows_inserted) == ("nhse-ae", "loaded", 21063)
    with Session(engine) as s:
        ccg = s.scalars(select(Organisation).where(Organisation.code == "07L")).one()
        assert (ccg.name, ccg.org_type) == ("NHS Barking and Dagenham CCG", "sub_icb")
        v = s.scalars(select(IndicatorValue).where(
            IndicatorValue.ikey == ikey_of("qof-af006"), IndicatorValue.org_id == ccg.id)).one()
        assert (v.numerator, v.denominator) == (744, 761)
        target = s.scalar(select(Indicator.target).where(Indicator.id == "ae-4hr-all"))
        assert target == 95.0
