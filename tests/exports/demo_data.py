"""Real NHS data for the export tests and the export benchmark, written straight into a migrated
database (the loader's own tests cover the ETL; these tests need the numbers, fast).

* GP-practice childhood immunisation uptake, West Sussex, 2019/20-2021/22: UKHSA/NHS Digital
  COVER via psychty/child_immunisations (``../shared/data/gp_immunisations_wsx``; OGL v3.0).
  81 practices in 21 PCNs; one indicator per vaccine and age.
* A&E 4-hour performance of type 1 departments, monthly April 2016 - March 2019: NHS England
  A&E attendances and emergency admissions via NHSRdatasets (``../shared/data/ae_attendances``;
  OGL v3.0). 36 months: enough points for a real SPC chart.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine, insert
from sqlalchemy.orm import Session

from core.models import Indicator, IndicatorValue, Load, Organisation, Period
from core.periods import parse_period

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
WSX = SHARED / "data" / "gp_immunisations_wsx" / "GP_immunisations.csv"
AE = SHARED / "data" / "ae_attendances" / "ae_attendances.csv"

IMM_SOURCE = ("UKHSA / NHS Digital COVER, GP-practice childhood immunisation uptake, West Sussex "
              "(psychty/child_immunisations; Open Government Licence v3.0)")
AE_SOURCE = ("NHS England A&E Attendances and Emergency Admissions (NHSRdatasets "
             "ae_attendances; Open Government Licence v3.0)")

#: The network used in the tests: Regis Healthcare PCN (9 practices in the file).
PCN_CODE = "U08235"


def _slug(age: str, item: str) -> str:
    a = {"12 months": "12m", "24 months": "24m", "5 years": "5y"}[age]
    i = "".join(ch if ch.isalnum() else "_" for ch in item.lower()).strip("_")
    while "__" in i:
        i = i.replace("__", "_")
    return f"imm_{a}_{i}"


def load_immunisations(session: Session, *, items: int | None = None) -> dict[str, object]:
    """Practices, PCNs, one indicator per vaccine/age (the first ``items``), three years."""
    raw = pd.read_csv(WSX)
    # A few practices are listed under two PCNs (same numbers): keep each practice's first PCN.
    first_pcn = raw.drop_duplicates("ODS_Code").set_index("ODS_Code")["PCN_Code"]
    raw = raw[raw["PCN_Code"].to_numpy() == first_pcn.reindex(raw["ODS_Code"]).to_numpy()]
    raw = raw.drop_duplicates(["Year", "ODS_Code", "Age", "Item"])
    raw["indicator_id"] = [_slug(a, i) for a, i in zip(raw["Age"], raw["Item"], strict=True)]
    ids = list(dict.fromkeys(raw.sort_values(["Age", "Item"])["indicator_id"]))
    if items is not None:
        ids = ids[:items]
    raw = raw[raw["indicator_id"].isin(ids)]
    now = dt.datetime.now(dt.UTC)
    load = Load(file_name=WSX.name, sha256="0" * 64, kind="values", status="loaded",
                started_at=now, finished_at=now, rows_read=len(raw), rows_inserted=len(raw))
    session.add(load)
    session.flush()
    pcns = raw[["PCN_Code", "PCN_Name"]].drop_duplicates("PCN_Code")
    session.execute(insert(Organisation), [
        {"code": c, "name": n, "org_type": "pcn", "is_active": True, "attributes": {},
         "load_id": load.id} for c, n in pcns.itertuples(index=False)
    ])
    session.flush()
    pcn_id = {o.code: o.id for o in session.query(Organisation).filter_by(org_type="pcn")}
    prac = raw[["ODS_Code", "ODS_Name", "PCN_Code"]].drop_duplicates("ODS_Code")
    session.execute(insert(Organisation), [
        {"code": c, "name": n, "org_type": "practice", "parent_id": pcn_id[p],
         "is_active": True, "attributes": {}, "load_id": load.id}
        for c, n, p in prac.itertuples(index=False)
    ])
    ind_rows = []
    for iid in ids:
        r = raw[raw["indicator_id"] == iid].iloc[0]
        ind_rows.append({
            "id": iid,
            "name": f"{r['Item']} vaccination at {r['Age']}",
            "description": str(r["Term"]),
            "value_type": "proportion", "multiplier": 100.0, "polarity": "higher_is_better",
            "target": 95.0, "target_label": "95% national standard",
            "numerator_label": "children vaccinated",
            "denominator_label": f"children reaching {r['Age']}",
            "unit": "%", "source": IMM_SOURCE, "domain": "Childhood immunisation",
            "decimals": 1, "frequency": "financial_year", "thresholds": [], "tags": [],
            "load_id": load.id,
        })
    session.execute(insert(Indicator), ind_rows)
    periods = {}
    for label in sorted(raw["Year"].unique()):
        p = parse_period(label, "financial_year")
        obj = Period(label=p.label, period_type=p.period_type, start_date=p.start,
                     end_date=p.end)
        session.add(obj)
        session.flush()
        periods[label] = obj.id
    org_id = {o.code: o.id for o in session.query(Organisation).filter_by(org_type="practice")}
    session.execute(insert(IndicatorValue), [
        {"indicator_id": r.indicator_id, "period_id": periods[r.Year],
         "org_id": org_id[r.ODS_Code], "numerator": float(r.Numerator),
         "denominator": float(r.Denominator),
         "value": float(r.Numerator) / float(r.Denominator) * 100 if r.Denominator else None,
         "suppressed": False, "load_id": load.id}
        for r in raw.itertuples(index=False)
    ])
    session.flush()
    return {"indicators": ids, "periods": sorted(periods), "load_id": load.id}


def load_ae(session: Session, *, trusts: int | None = 60) -> dict[str, object]:
    """Type-1 A&E 4-hour performance for trusts with all 36 months (the first ``trusts``)."""
    raw = pd.read_csv(AE, dtype={"type": str})
    raw = raw[(raw["type"] == "1") & (raw["attendances"] > 0)]
    full = raw.groupby("org_code")["period"].nunique()
    codes = sorted(full[full == 36].index)
    if trusts is not None:
        codes = codes[:trusts]
    raw = raw[raw["org_code"].isin(codes)]
    now = dt.datetime.now(dt.UTC)
    load = Load(file_name=AE.name, sha256="1" * 64, kind="values", status="loaded",
                started_at=now, finished_at=now, rows_read=len(raw), rows_inserted=len(raw))
    session.add(load)
    session.flush()
    session.execute(insert(Organisation), [
        {"code": c, "name": f"Trust {c}", "org_type": "trust", "is_active": True,
         "attributes": {}, "load_id": load.id} for c in codes
    ])
    session.add(Indicator(
        id="ae_4hr_type1", name="A&E 4-hour performance (type 1)",
        value_type="proportion", multiplier=100.0, polarity="higher_is_better",
        target=95.0, target_label="95% constitutional standard",
        numerator_label="patients seen within 4 hours",
        denominator_label="type 1 A&E attendances", unit="%", source=AE_SOURCE,
        domain="Urgent care", decimals=1, frequency="month", thresholds=[], tags=[],
        load_id=load.id,
    ))
    periods = {}
    for label in sorted(raw["period"].unique()):
        p = parse_period(label, "month")
        obj = Period(label=p.label, period_type="month", start_date=p.start, end_date=p.end)
        session.add(obj)
        session.flush()
        periods[label] = obj.id
    org_id = {o.code: o.id for o in session.query(Organisation).filter_by(org_type="trust")}
    within = raw["attendances"] - raw["breaches"]
    session.execute(insert(IndicatorValue), [
        {"indicator_id": "ae_4hr_type1", "period_id": periods[p], "org_id": org_id[c],
         "numerator": float(w), "denominator": float(a), "value": float(w) / float(a) * 100,
         "suppressed": False, "load_id": load.id}
        for p, c, w, a in zip(raw["period"], raw["org_code"], within, raw["attendances"],
                              strict=True)
    ])
    session.flush()
    return {"trusts": codes, "load_id": load.id}


def load_all(engine: Engine, *, items: int | None = None, trusts: int | None = 60) -> dict:
    """Both data sets in one transaction; returns what was loaded."""
    with Session(engine) as s:
        imm = load_immunisations(s, items=items)
        ae = load_ae(s, trusts=trusts)
        s.commit()
    return {"imm": imm, "ae": ae}
