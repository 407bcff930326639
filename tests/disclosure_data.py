"""The real sample with its small counts, for the disclosure control tests of every output.

The West Sussex immunisation sample (``tests/dashboards/sample_data.py``, real COVER data)
holds three practice values whose counts fall in 1-7 in 2021-22: H82010 and H82621 (5 of 5,
6-in-1 by 12 months) and H82029 (4 of 6, MMR2 by 5 years). A small PCN of two practices
(``TINY1``, ``TINY2``: 3 of 4 and 2 of 3) is added so that a network's own aggregate is small
(5 of 7) too.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import Engine, insert, select

from core.models import Indicator, IndicatorValue, Organisation, Period
from core.services.counts import rebuild_counts
from core.settings import Settings, get_settings, override_settings
from tests.dashboards.sample_data import load_sample

#: (indicator, org code) -> (numerator, denominator) of the small counts in 2021-22
SMALL = {
    ("imm_6in1_12m", "H82010"): (5, 5),
    ("imm_6in1_12m", "H82621"): (5, 5),
    ("imm_mmr2_5y", "H82029"): (4, 6),
    ("imm_6in1_12m", "TINY1"): (3, 4),
    ("imm_6in1_12m", "TINY2"): (2, 3),
}
SMALL_CODES = sorted({c for _, c in SMALL})
TINY_PCN = "UTINY0"
PERIOD = "2021-22"
#: fields that hold counts of people in any output
COUNT_KEYS = ("numerator", "denominator", "extra", "opportunity")


def load_disclosure_sample(engine: Engine) -> None:
    """The real sample plus the small PCN."""
    load_sample(engine)
    with engine.begin() as conn:
        eng = conn.execute(select(Organisation.id).where(Organisation.code == "E92000001")
                           ).scalar_one()
        conn.execute(insert(Organisation), [{"code": TINY_PCN, "name": "Tiny PCN",
                                             "org_type": "pcn", "parent_id": eng,
                                             "is_active": True, "attributes": {}}])
        pcn = conn.execute(select(Organisation.id).where(Organisation.code == TINY_PCN)
                           ).scalar_one()
        conn.execute(insert(Organisation), [
            {"code": c, "name": f"Tiny practice {c[-1]}", "org_type": "practice",
             "parent_id": pcn, "is_active": True, "attributes": {}} for c in ("TINY1", "TINY2")])
        ids = dict(conn.execute(select(Organisation.code, Organisation.id)).all())
        pid = conn.execute(select(Period.id).where(Period.label == PERIOD,
                                                   Period.period_type == "financial_year")
                           ).scalar_one()
        ikey = conn.execute(select(Indicator.ikey).where(Indicator.id == "imm_6in1_12m")
                            ).scalar_one()
        conn.execute(insert(IndicatorValue), [
            {"ikey": ikey, "period_id": pid, "org_id": ids[c],
             "numerator": float(n), "denominator": float(d), "value": n / d * 100,
             "suppressed": False}
            for (i, c), (n, d) in SMALL.items() if c.startswith("TINY")])
        rebuild_counts(conn)  # (what a load keeps: counts of values)


def disclosure_on(url: str, **rule: Any) -> Iterator[None]:
    """Settings pointing at ``url`` with disclosure control on (restored afterwards)."""
    before = get_settings()
    override_settings(Settings(database_url=url, disclosure_control=True, **rule))
    try:
        yield
    finally:
        override_settings(before)


def small_counts(obj: Any, keys: tuple[str, ...] = COUNT_KEYS, path: str = "") -> list[str]:
    """Every ``key: value`` in a JSON-like object where a count key holds 1 to 7 (a funnel's
    ``limits`` curve excepted)."""
    out: list[str] = []
    if path.endswith("/limits"):
        return out  # a funnel's limit curve: a grid of denominators to draw, not anyone's
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k in keys and isinstance(v, int | float) and not isinstance(v, bool) \
                    and 1 <= v <= 7:
                out.append(f"{path}/{k}={v}")
            out += small_counts(v, keys, f"{path}/{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += small_counts(v, keys, f"{path}[{i}]")
    return out
