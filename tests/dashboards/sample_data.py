"""Load a small real sample into a migrated database for the dashboard tests and screenshots.

Real data (Open Government Licence v3.0), from ``../shared/data``:

* ``gp_immunisations_wsx/GP_immunisations.csv``: childhood immunisation uptake (COVER) for the 81
  West Sussex practices and their PCNs, 2019/20 to 2021/22 (psychty/child_immunisations @
  ab1ba69, data UKHSA/NHS Digital);
* ``ae_attendances/ae_attendances.csv``: monthly A&E 4-hour performance of type-1 departments,
  Apr 2016 - Mar 2019 (NHSRdatasets 0.3.3, data NHS England).

The hierarchy is practice -> PCN -> England and trust -> England (the files name no sub-ICB or
region). This writes rows directly so that the dashboard tests do not depend on the loader
being finished; the demo itself is loaded by ``qidash demo``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine, insert, select

from core.models import Indicator, IndicatorValue, Load, Organisation, Period
from core.periods import parse_period
from core.services.counts import rebuild_counts

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
DATA = SHARED / "data"
GP_FILE = DATA / "gp_immunisations_wsx" / "GP_immunisations.csv"
AE_FILE = DATA / "ae_attendances" / "ae_attendances.csv"

IMMUNISATIONS = {
    # id: (age, item, name)
    "imm_6in1_12m": ("12 months", "DTaPIPVHibHepB",
                     "6-in-1 vaccine (DTaP/IPV/Hib/HepB) by 12 months"),
    "imm_mmr1_24m": ("24 months", "MMR1", "MMR first dose by 24 months"),
    "imm_mmr2_5y": ("5 years", "MMR2", "MMR second dose by 5 years"),
}


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_sample(engine: Engine) -> dict[str, int]:
    """Load the sample; returns the counts written."""
    # the published file repeats a few practice rows verbatim: keep one of each
    gp = pd.read_csv(GP_FILE).drop_duplicates(["Year", "ODS_Code", "Age", "Item"])
    ae = pd.read_csv(AE_FILE)
    ae = ae[ae["type"].astype(str) == "1"].drop_duplicates(["period", "org_code"])
    now = dt.datetime.now(dt.UTC)
    with engine.begin() as conn:
        load_ids = {}
        for path, n in ((GP_FILE, len(gp)), (AE_FILE, len(ae))):
            res = conn.execute(insert(Load).values(
                file_name=path.name, sha256=_sha(path), kind="values", format="sample",
                user="tests", started_at=now - dt.timedelta(minutes=5), finished_at=now,
                status="loaded", rows_read=n, rows_inserted=n, options={}))
            load_ids[path.name] = res.inserted_primary_key[0]
        gp_load, ae_load = load_ids[GP_FILE.name], load_ids[AE_FILE.name]
        conn.execute(insert(Organisation), [{"code": "E92000001", "name": "England",
                                             "org_type": "nation", "is_active": True,
                                             "attributes": {}}])
        eng = conn.execute(select(Organisation.id).where(Organisation.code == "E92000001")
                           ).scalar_one()
        pcns = gp[["PCN_Code", "PCN_Name"]].drop_duplicates("PCN_Code")
        conn.execute(insert(Organisation), [
            {"code": c, "name": n, "org_type": "pcn", "parent_id": eng, "is_active": True,
             "attributes": {}, "load_id": gp_load}
            for c, n in pcns.itertuples(index=False)])
        ids = dict(conn.execute(select(Organisation.code, Organisation.id)).all())
        practices = gp[["ODS_Code", "ODS_Name", "PCN_Code", "Postcode"]].drop_duplicates(
            "ODS_Code")
        conn.execute(insert(Organisation), [
            {"code": c, "name": n, "org_type": "practice", "parent_id": ids[p],
             "is_active": True, "attributes": {"postcode": pc}, "load_id": gp_load}
            for c, n, p, pc in practices.itertuples(index=False)])
        trusts = sorted(ae["org_code"].unique())
        conn.execute(insert(Organisation), [
            {"code": c, "name": f"Trust {c}", "org_type": "trust", "parent_id": eng,
             "is_active": True, "attributes": {}, "load_id": ae_load} for c in trusts])
        ids = dict(conn.execute(select(Organisation.code, Organisation.id)).all())

        conn.execute(insert(Indicator), [
            {"id": iid, "name": name, "value_type": "proportion", "multiplier": 100.0,
             "polarity": "higher_is_better", "target": 95.0, "target_label": "95% standard",
             "unit": "%", "decimals": 1, "frequency": "financial_year", "domain": "Immunisation",
             "numerator_label": "Children vaccinated", "denominator_label": "Children eligible",
             "description": f"Children reaching {age} who had {item}.",
             "why_it_matters": "Uptake of 95% protects the population (herd immunity).",
             "source": "UKHSA/NHS Digital COVER via psychty/child_immunisations (OGL v3.0)",
             "thresholds": [], "tags": [], "load_id": gp_load}
            for iid, (age, item, name) in IMMUNISATIONS.items()])
        conn.execute(insert(Indicator), [{
            "id": "ae_4hr", "name": "A&E patients seen within 4 hours (type 1)",
            "value_type": "proportion", "multiplier": 100.0, "polarity": "higher_is_better",
            "target": 95.0, "target_label": "4-hour standard", "unit": "%", "decimals": 1,
            "frequency": "month", "domain": "Urgent care",
            "numerator_label": "Attendances within 4 hours",
            "denominator_label": "Attendances", "thresholds": [], "tags": [],
            "source": "NHS England A&E Attendances via NHSRdatasets (OGL v3.0)",
            "load_id": ae_load}])

        labels = [("financial_year", y.replace("/", "-")) for y in gp["Year"].unique()]
        labels += [("month", m[:7]) for m in sorted(ae["period"].unique())]
        rows = []
        for ptype, label in labels:
            p = parse_period(label, ptype)
            rows.append({"label": p.label, "period_type": ptype, "start_date": p.start,
                         "end_date": p.end})
        conn.execute(insert(Period), rows)
        pid = {(t, lbl): i for i, t, lbl in
               conn.execute(select(Period.id, Period.period_type, Period.label)).all()}

        values = []
        for iid, (age, item, _name) in IMMUNISATIONS.items():
            part = gp[(gp["Age"] == age) & (gp["Item"] == item)]
            for r in part.itertuples(index=False):
                values.append({
                    "indicator_id": iid,
                    "period_id": pid[("financial_year", r.Year.replace("/", "-"))],
                    "org_id": ids[r.ODS_Code], "numerator": float(r.Numerator),
                    "denominator": float(r.Denominator),
                    "value": float(r.Numerator) / float(r.Denominator) * 100
                    if r.Denominator else None, "suppressed": False, "load_id": gp_load})
        for r in ae.itertuples(index=False):
            if not r.attendances or r.attendances <= 0:
                continue
            seen = float(r.attendances) - float(r.breaches)
            values.append({
                "indicator_id": "ae_4hr", "period_id": pid[("month", r.period[:7])],
                "org_id": ids[r.org_code], "numerator": seen,
                "denominator": float(r.attendances),
                "value": seen / float(r.attendances) * 100, "suppressed": False,
                "load_id": ae_load})
        from tests.core.services.factories import with_ikeys

        conn.execute(insert(IndicatorValue), with_ikeys(conn, values))
        rebuild_counts(conn)  # (what a load keeps: counts of values)
    return {"organisations": len(ids), "values": len(values)}
