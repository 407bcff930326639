"""The SPC service on the real A&E file, loaded through qidash's own pipeline, against the
NHSRplotthedots 0.2.2 oracle (:mod:`tests.core.stats.ptd_oracle`) fed straight from the raw CSV:
every organisation, screened and unscreened, every point's class."""

from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.models import IndicatorValue, Organisation, ikey_of
from core.services import spc as spcs
from etl.pipeline import run_load
from tests.conftest import DATA
from tests.core.stats import ptd_oracle as oracle

AE = DATA / "ae_attendances" / "ae_attendances.csv"


def _raw_series(indicator: str) -> dict[str, dict[str, float]]:
    """% seen within 4 hours per organisation and month, from the CSV alone."""
    ae = pd.read_csv(AE, dtype={"type": str})
    if indicator == "ae-4hr-type1":
        ae = ae[ae["type"] == "1"]
    sums = ae.groupby(["org_code", "period"])[["attendances", "breaches"]].sum()
    sums = sums[sums["attendances"] > 0]
    pct = (sums["attendances"] - sums["breaches"]) / sums["attendances"] * 100
    out: dict[str, dict[str, float]] = {}
    for (code, period), v in pct.items():
        out.setdefault(code, {})[str(period)[:7]] = float(v)
    return out


@pytest.mark.parametrize("indicator", ["ae-4hr-type1", "ae-4hr-all"])
def test_service_classes_equal_nhsrplotthedots_on_every_trust(engine, indicator):
    assert run_load(engine, AE, kind="values").status == "loaded"
    raw = _raw_series(indicator)
    compared = special = short = 0
    with Session(engine) as s:
        codes = sorted(s.scalars(
            select(Organisation.code).join(IndicatorValue, IndicatorValue.org_id
                                           == Organisation.id)
            .where(IndicatorValue.ikey == ikey_of(indicator)).distinct()))
        assert set(codes) == set(raw)
        for code in codes:
            for screen in (True, False):
                view = spcs.spc(s, code, indicator, screen_outliers=screen)
                got = dict(zip(view.points["period"], view.points["special_cause"].astype(str),
                               strict=True))
                # the oracle sees the months with a value, in order (R wants no gaps)
                months = sorted(raw[code])
                ref = oracle.point_types([raw[code][m] for m in months],
                                         improvement_direction="increase",
                                         screen_outliers=screen)
                if len(months) < spcs.MIN_POINTS:
                    # a run chart: no classes, whatever R's trial limits would say
                    assert set(got.values()) == {"none"}
                    assert view.limits_note == spcs.too_few_for_limits(len(months))
                    short += 1
                    continue
                for m, r in zip(months, ref, strict=True):
                    want = r["point_type"].removeprefix("special_cause_")
                    assert got[m] == ("none" if want == "common_cause" else want), (code, m)
                    compared += 1
                    special += want != "common_cause"
                last = ref[-1]["point_type"]
                assert (view.variation or "").startswith(
                    {"special_cause_improvement": "improvement", "special_cause_concern":
                     "concern", "common_cause": "common_cause"}[last])
    print(f"{indicator}: {compared} points compared ({special} special cause), "
          f"{short} short series")
    assert compared > 9000
    assert special > 1000
