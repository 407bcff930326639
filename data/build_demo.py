# ruff: noqa: T201 - a one-off build script reports what it derived
"""Derive the bundled demo files in etl/demo_data/ from the real data in ../shared/data (run once).

    python data/build_demo.py [--shared ../shared/data]

Every number comes from the published files; this script only reshapes them into qidash's
canonical layouts (see data/README.md for sources and licences):

- organisations.csv: England -> NHS regions -> trusts; and England -> South East region (Y59)
  -> Sussex (QNX) -> NHS West Sussex CCG (70F) -> PCNs -> practices. A practice's PCN comes from
  the immunisation file (its latest year); its CCG, STP and region codes from the ODS practice
  file epraccur (columns 14, 3 and 2); trusts' names and regions from the ODS trust file etr
  (data/sources/ods_etr_trusts_subset.csv). Practice attributes: registered list size
  (January 2021) and IMD 2019 deprivation score.
- values_immunisations.csv: numerator and denominator per practice, vaccine, age and financial
  year (rows the source publishes without counts are left out; the script prints how many).
- values_ae.csv: per trust and month, "% seen within 4 hours" = (attendances - breaches) /
  attendances for type 1 departments, and for all department types summed.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pandas as pd
import yaml

HERE = Path(__file__).resolve().parent
OUT = HERE.parent / "etl" / "demo_data"  # shipped with the etl package

REGIONS = {
    "Y56": "London", "Y58": "South West", "Y59": "South East", "Y60": "Midlands",
    "Y61": "East of England", "Y62": "North West", "Y63": "North East and Yorkshire",
}

AGES = {"12 months": "12m", "24 months": "24m", "5 years": "5y"}


def nice(name: str) -> str:
    """ODS upper-case names in title case, keeping NHS and initialisms."""
    words = []
    for w in name.title().split(" "):
        up = w.upper()
        if up in ("NHS", "PCN", "ACF", "CCG", "ICB", "UK", "II"):
            words.append(up)
        elif w.lower() in ("and", "of", "the", "upon", "on") and words:
            words.append(w.lower())
        else:
            words.append(re.sub(r"'S\b", "'s", w))
    return " ".join(words)


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=HERE.parent.parent / "shared" / "data")
    args = parser.parse_args()
    shared: Path = args.shared
    OUT.mkdir(exist_ok=True)
    (OUT / "indicators").mkdir(exist_ok=True)

    # --- West Sussex practices ------------------------------------------------------------
    gp = pd.read_csv(shared / "gp_immunisations_wsx" / "GP_immunisations.csv")
    latest = gp.sort_values("Year").groupby("ODS_Code").tail(1)
    practices = latest[["ODS_Code", "ODS_Name", "PCN_Code", "PCN_Name", "Postcode"]]
    epr = pd.read_csv(shared / "gp_practice_national" / "epraccur.csv", header=None, dtype=str)
    epr = epr.set_index(0)
    geo = epr.loc[practices["ODS_Code"], [2, 3, 14]]
    if set(geo[14]) != {"70F"} or set(geo[3]) != {"QNX"} or set(geo[2]) != {"Y59"}:
        raise SystemExit(f"unexpected geography for the practices: {geo.drop_duplicates()}")
    sizes = pd.read_csv(shared / "gp_practice_national" / "gp-reg-pat-prac-all_jan2021.csv")
    size = sizes.set_index("CODE")["NUMBER_OF_PATIENTS"]
    imd = pd.read_csv(shared / "gp_practice_national"
                      / "fingertips_93553_imd_score_by_practice.csv")
    imd = imd[imd["Area Type"] == "GP"].set_index("Area Code")["Value"]

    rows = [
        {"org_code": "E92000001", "name": "England", "org_type": "nation", "parent_code": ""},
    ]
    for code, name in REGIONS.items():
        rows.append({"org_code": code, "name": f"{name} region", "org_type": "region",
                     "parent_code": "E92000001"})
    rows.append({"org_code": "QNX", "name": "Sussex (QNX)", "org_type": "icb",
                 "parent_code": "Y59"})
    rows.append({"org_code": "70F", "name": "NHS West Sussex CCG (70F)", "org_type": "sub_icb",
                 "parent_code": "QNX"})
    for code, name in practices[["PCN_Code", "PCN_Name"]].drop_duplicates().itertuples(
            index=False):
        rows.append({"org_code": code, "name": name, "org_type": "pcn", "parent_code": "70F"})
    for p in practices.itertuples(index=False):
        rows.append({
            "org_code": p.ODS_Code, "name": p.ODS_Name, "org_type": "practice",
            "parent_code": p.PCN_Code, "postcode": p.Postcode,
            "list_size": size.get(p.ODS_Code, ""),
            "imd_score": round(float(imd[p.ODS_Code]), 2) if p.ODS_Code in imd.index else "",
        })

    # --- trusts -----------------------------------------------------------------------------
    etr = pd.read_csv(HERE / "sources" / "ods_etr_trusts_subset.csv")
    ae = pd.read_csv(shared / "ae_attendances" / "ae_attendances.csv")
    named = ae["org_code"].isin(etr["code"])
    dropped = sorted(set(ae.loc[~named, "org_code"]))
    ae = ae[named]
    for t in etr[etr["code"].isin(ae["org_code"])].itertuples(index=False):
        rows.append({"org_code": t.code, "name": nice(t.name), "org_type": "trust",
                     "parent_code": t.region_code})
    orgs = pd.DataFrame(rows)
    orgs["list_size"] = orgs["list_size"].map(
        lambda v: "" if v == "" or pd.isna(v) else str(int(v)))
    orgs.to_csv(OUT / "organisations.csv", index=False)

    # --- immunisation values and indicators ----------------------------------------------------
    counted = gp[gp["Numerator"].notna() & gp["Denominator"].notna()]
    print(f"immunisations: {len(gp) - len(counted)} of {len(gp)} rows have no counts "
          "published and are left out")
    # a few practices are listed under two PCNs (moved between networks) with the same counts:
    # keep one row per practice, vaccine, age and year (the loader rejects duplicates)
    key = ["Year", "ODS_Code", "Age", "Item"]
    twice = counted[counted.duplicated(key, keep=False)]
    if len(twice.drop_duplicates([*key, "Numerator", "Denominator"])) != len(
            twice.drop_duplicates(key)):
        raise SystemExit("a practice has two different counts for one vaccine, age and year")
    counted = counted.drop_duplicates(key, keep="last")
    print(f"immunisations: {len(twice) - len(twice.drop_duplicates(key))} rows repeat a practice "
          "under a second PCN with identical counts and are left out")
    items = counted[["Item", "Age", "Term"]].drop_duplicates(["Item", "Age"])
    for old in (OUT / "indicators").glob("*.yaml"):
        old.unlink()
    ids = {}
    for item, age, term in items.itertuples(index=False):
        ind_id = f"imm_{slug(item)}_{AGES[age]}"
        ids[(item, age)] = ind_id
        definition = {
            "indicator_id": ind_id,
            "name": f"{item} by {age}",
            "description": f"Children reaching {age} of age in the year who had received "
                           f"{term}.",
            "why_it_matters": "Uptake of 95% protects the whole community (herd immunity); "
                              "below 90% outbreaks become likely.",
            "value_type": "proportion", "multiplier": 100, "polarity": "higher_is_better",
            "target": 95, "target_label": "95% national standard",
            "thresholds": [90, 95],
            "numerator_label": f"children vaccinated ({item}) by {age}",
            "denominator_label": f"children reaching {age} registered at the practice",
            "unit": "%", "decimals": 1, "frequency": "financial_year",
            "domain": "Childhood immunisation", "tags": ["immunisation", "children", AGES[age]],
            "source": "UKHSA / NHS Digital COVER, practice level, via psychty/"
                      "child_immunisations (OGL v3.0)",
            "source_url": "https://github.com/psychty/child_immunisations",
        }
        with (OUT / "indicators" / f"{ind_id}.yaml").open("w") as fh:
            yaml.safe_dump(definition, fh, sort_keys=False, allow_unicode=True)
    imm = pd.DataFrame({
        "org_code": counted["ODS_Code"],
        "indicator_id": [ids[(i, a)] for i, a in zip(counted["Item"], counted["Age"],
                                                      strict=True)],
        "period": counted["Year"],
        "numerator": counted["Numerator"].astype(int),
        "denominator": counted["Denominator"].astype(int),
    })
    imm.to_csv(OUT / "values_immunisations.csv", index=False)

    # --- A&E ------------------------------------------------------------------------------------
    print(f"A&E: {len(dropped)} providers without an NHS trust name in the ODS trust file are "
          f"left out ({', '.join(dropped[:8])}...)")
    ae["period"] = ae["period"].str[:7]
    type1 = ae[ae["type"] == "1"]
    every = ae.groupby(["org_code", "period"], as_index=False)[["attendances", "breaches"]].sum()
    frames = []
    for ind_id, frame in (("ae_4hr_type1", type1), ("ae_4hr_all", every)):
        frame = frame[frame["attendances"] > 0]
        frames.append(pd.DataFrame({
            "org_code": frame["org_code"], "indicator_id": ind_id, "period": frame["period"],
            "numerator": (frame["attendances"] - frame["breaches"]).astype(int),
            "denominator": frame["attendances"].astype(int),
        }))
    pd.concat(frames).sort_values(["indicator_id", "org_code", "period"]).to_csv(
        OUT / "values_ae.csv", index=False)
    for ind_id, label in (("ae_4hr_type1", "type 1 (major) A&E departments"),
                          ("ae_4hr_all", "all A&E department types")):
        definition = {
            "indicator_id": ind_id,
            "name": f"% seen within 4 hours, {label}",
            "description": f"Attendances at {label} admitted, transferred or discharged within "
                           "4 hours of arrival, as a share of all attendances.",
            "why_it_matters": "Long waits in A&E are associated with worse outcomes; the NHS "
                              "constitution standard is 95% within 4 hours.",
            "value_type": "proportion", "multiplier": 100, "polarity": "higher_is_better",
            "target": 95, "target_label": "95% four-hour standard", "thresholds": [95],
            "numerator_label": "attendances seen within 4 hours (attendances - breaches)",
            "denominator_label": "attendances", "unit": "%", "decimals": 1,
            "frequency": "month", "domain": "Urgent and emergency care",
            "tags": ["a&e", "acute", "girft"],
            "source": "NHS England A&E Attendances and Emergency Admissions, via the "
                      "NHSRdatasets R package (ae_attendances; OGL v3.0)",
            "source_url": "https://github.com/nhs-r-community/NHSRdatasets",
        }
        with (OUT / "indicators" / f"{ind_id}.yaml").open("w") as fh:
            yaml.safe_dump(definition, fh, sort_keys=False, allow_unicode=True)
    print(f"wrote {OUT}: {len(orgs)} organisations, {len(ids) + 2} indicators, "
          f"{len(imm)} immunisation and {sum(len(f) for f in frames)} A&E values")


if __name__ == "__main__":
    main()
