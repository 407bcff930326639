"""The schema is built by the migrations, on both databases."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError

from core.db import ensure_schema, head_revision, schema_version
from core.models import Indicator, IndicatorValue, Organisation, Period


def test_migrated_to_head(engine):
    assert schema_version(engine) == head_revision()
    tables = set(inspect(engine).get_table_names())
    assert {"organisations", "indicators", "periods", "indicator_values", "loads",
            "load_errors", "value_history", "peer_groups", "annotations",
            "api_tokens"} <= tables
    ensure_schema(engine)  # idempotent at head
    assert schema_version(engine) == head_revision()


def test_value_unique_per_org_indicator_period(session):
    org = Organisation(code="A81001", name="The Densham Surgery", org_type="practice")
    ind = Indicator(id="flu", name="Flu uptake", value_type="proportion")
    per = Period(label="2024-03", period_type="month", start_date=dt.date(2024, 3, 1),
                 end_date=dt.date(2024, 3, 31))
    session.add_all([org, ind, per])
    session.flush()
    session.add(IndicatorValue(org_id=org.id, ikey=ind.ikey, period_id=per.id,
                               numerator=5, denominator=10, value=50))
    session.flush()
    session.add(IndicatorValue(org_id=org.id, ikey=ind.ikey, period_id=per.id,
                               numerator=6, denominator=10, value=60))
    with pytest.raises(IntegrityError):
        session.flush()
    session.rollback()


def test_same_label_month_and_financial_year(session):
    session.add_all([
        Period(label="2011-12", period_type="month", start_date=dt.date(2011, 12, 1),
               end_date=dt.date(2011, 12, 31)),
        Period(label="2011-12", period_type="financial_year", start_date=dt.date(2011, 4, 1),
               end_date=dt.date(2012, 3, 31)),
    ])
    session.commit()
    assert len(session.scalars(select(Period).where(Period.label == "2011-12")).all()) == 2


def test_json_attributes_round_trip(session):
    session.add(Organisation(code="X1", name="X", org_type="practice",
                             attributes={"list_size": 5903, "imd": 21.7}))
    session.commit()
    org = session.scalars(select(Organisation)).one()
    assert org.attributes == {"list_size": 5903, "imd": 21.7}
