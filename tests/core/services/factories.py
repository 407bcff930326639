"""Small factories for service and API tests: a network of practices with known values.

The shape mirrors real primary care (nation -> ICB -> PCN -> practice); counts are generated
with a fixed seed, so every test sees the same numbers.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from core.models import Indicator, IndicatorValue, Organisation, Period, indicator_slugs
from core.periods import parse_period
from core.services.counts import rebuild_counts


def add_org(
    session: Session,
    code: str,
    name: str,
    org_type: str,
    parent: str | None = None,
    *,
    is_active: bool = True,
    **attributes: float,
) -> int:
    """Insert one organisation; returns its id."""
    parent_id = (
        session.execute(select(Organisation.id).where(Organisation.code == parent)).scalar_one()
        if parent
        else None
    )
    org = Organisation(code=code, name=name, org_type=org_type, parent_id=parent_id,
                       is_active=is_active, attributes=dict(attributes))
    session.add(org)
    session.flush()
    return org.id


def add_indicator(session: Session, indicator_id: str, **fields: object) -> None:
    """Insert one indicator (proportion x100, higher is better unless given)."""
    base: dict[str, object] = {
        "name": indicator_id.replace("_", " ").title(),
        "value_type": "proportion",
        "multiplier": 100.0,
        "polarity": "higher_is_better",
        "decimals": 1,
    }
    base.update(fields)
    session.add(Indicator(id=indicator_id, **base))
    session.flush()


def period_id(session: Session, label: str, period_type: str | None = None) -> int:
    """The id of a period, created when missing."""
    p = parse_period(label, period_type)
    found = session.execute(
        select(Period.id).where(Period.label == p.label, Period.period_type == p.period_type)
    ).scalar()
    if found is not None:
        return found
    row = Period(label=p.label, period_type=p.period_type, start_date=p.start,
                 end_date=p.end)
    session.add(row)
    session.flush()
    return row.id


def add_values(session: Session, rows: list[dict[str, object]]) -> None:
    """Insert value rows (org_id, indicator_id, period_id, numerator, denominator, value...);
    the indicator's slug is stored as its integer key. The counts loads keep
    (``value_counts``) are counted again, as ``qidash loads recount`` does."""
    if rows:
        session.execute(insert(IndicatorValue), with_ikeys(session, rows))
        rebuild_counts(session)


def with_ikeys(conn: Any, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Value rows naming their indicator by slug (``indicator_id``) -> by key (``ikey``)."""
    keys = {i: k for k, i in indicator_slugs(conn).items()}
    return [{**{c: v for c, v in r.items() if c != "indicator_id"},
             "ikey": keys[str(r["indicator_id"])]} for r in rows]


@dataclass
class Network:
    """What :func:`build_network` created."""

    practices: list[str]
    pcns: list[str]
    months: list[str]
    org_ids: dict[str, int] = field(default_factory=dict)


PRACTICES = {
    # code: (pcn, list_size, imd_score)
    "A81001": ("PCN1", 4200, 12.0),
    "A81002": ("PCN1", 9100, 25.5),
    "A81003": ("PCN1", 15000, 31.0),
    "A81004": ("PCN2", 6100, 18.2),
    "A81005": ("PCN2", 11800, 22.4),
    "A81006": ("PCN2", 7700, 40.1),
    "A81007": ("PCN2", 5200, 15.0),
    "A81008": ("PCN3", 8800, 27.7),
    "A81009": ("PCN3", 12600, 19.9),
    "A81010": ("PCN3", 3100, 35.3),
}


def build_network(session: Session, *, months: int = 24, seed: int = 7) -> Network:
    """England -> one ICB -> three PCNs -> ten practices (+ one closed practice), with:

    * ``imm`` (proportion x100, higher is better, target 95) monthly for every practice, a
      financial-year total for 2023-24, and England's value each month;
    * ``ae_los`` (rate per 1,000, lower is better) monthly for practices;
    * ``prev`` (proportion, no judgement) for the latest month only;
    * a suppressed value for A81010 in the latest month of ``ae_los``.
    """
    rng = np.random.default_rng(seed)
    net = Network(practices=list(PRACTICES), pcns=["PCN1", "PCN2", "PCN3"], months=[])
    ids = net.org_ids
    ids["ENG"] = add_org(session, "ENG", "England", "nation")
    ids["ICB1"] = add_org(session, "ICB1", "Sussex ICB", "icb", "ENG")
    for p in net.pcns:
        ids[p] = add_org(session, p, f"Network {p[-1]}", "pcn", "ICB1")
    for code, (pcn, size, imd) in PRACTICES.items():
        ids[code] = add_org(session, code, f"Practice {code}", "practice", pcn,
                            list_size=size, imd_score=imd)
    ids["A89999"] = add_org(session, "A89999", "Closed Practice", "practice", "PCN1",
                            is_active=False, list_size=5000, imd_score=20.0)
    add_indicator(session, "imm", name="Childhood immunisation", target=95.0,
                  target_label="95% standard", frequency="month", domain="Children",
                  numerator_label="Vaccinated", denominator_label="Eligible children")
    add_indicator(session, "ae_los", name="Emergency admissions", value_type="rate",
                  multiplier=1000.0, polarity="lower_is_better", domain="Acute")
    add_indicator(session, "prev", name="Recorded prevalence", polarity="no_judgement",
                  domain="Prevalence")
    start = dt.date(2023, 1, 1)
    labels = []
    for k in range(months):
        y, m = start.year + (start.month - 1 + k) // 12, (start.month - 1 + k) % 12 + 1
        labels.append(f"{y:04d}-{m:02d}")
    net.months = labels
    pids = {lab: period_id(session, lab) for lab in labels}
    rows: list[dict[str, object]] = []
    rate = {c: 0.80 + 0.15 * rng.random() for c in PRACTICES}
    for lab in labels:
        eng_num, eng_den = 0.0, 0.0
        for code, (_pcn, size, _imd) in PRACTICES.items():
            den = float(max(20, int(size / 100)))
            num = float(rng.binomial(int(den), rate[code]))
            eng_num += num
            eng_den += den
            rows.append({"org_id": ids[code], "indicator_id": "imm", "period_id": pids[lab],
                         "numerator": num, "denominator": den, "value": num / den * 100})
            lden = float(size)
            lnum = float(rng.poisson(size * 0.012))
            sup = code == "A81010" and lab == labels[-1]
            rows.append({"org_id": ids[code], "indicator_id": "ae_los", "period_id": pids[lab],
                         "numerator": None if sup else lnum,
                         "denominator": None if sup else lden,
                         "value": None if sup else lnum / lden * 1000, "suppressed": sup})
        # the closed practice still has old values (it must drop out of active-only views)
        rows.append({"org_id": ids["A89999"], "indicator_id": "imm", "period_id": pids[lab],
                     "numerator": 10.0, "denominator": 50.0, "value": 20.0})
        eng_num, eng_den = eng_num * 600, eng_den * 600
        rows.append({"org_id": ids["ENG"], "indicator_id": "imm", "period_id": pids[lab],
                     "numerator": eng_num, "denominator": eng_den,
                     "value": eng_num / eng_den * 100})
    fy = period_id(session, "2023-24", "financial_year")
    for code in PRACTICES:
        rows.append({"org_id": ids[code], "indicator_id": "imm", "period_id": fy,
                     "numerator": 90.0, "denominator": 100.0, "value": 90.0})
    last = pids[labels[-1]]
    for code, (_pcn, size, _imd) in PRACTICES.items():
        n = float(rng.binomial(size, 0.07))
        rows.append({"org_id": ids[code], "indicator_id": "prev", "period_id": last,
                     "numerator": n, "denominator": float(size), "value": n / size * 100})
    add_values(session, rows)
    session.flush()
    return net


def seeded_url(module_database, database_factory, backend: str):  # type: ignore[no-untyped-def]
    """A module-scoped database of ``backend`` holding :func:`build_network`; yields
    ``(url, network)`` and drops the database afterwards (for read-only tests)."""
    from core.db import make_engine

    url = module_database(backend)
    engine = make_engine(url)
    try:
        with Session(engine) as s:
            net = build_network(s)
            s.commit()
        yield url, net
    finally:
        engine.dispose()
        database_factory.drop(url)
