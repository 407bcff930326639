"""The variation icon, the triage flag, the profile and the pack's flags and sentence follow the
SPC classes: a rising trend below the mean is improvement (no concern flag) when higher is
better, a falling one above the mean is concern, and a series under 12 values has no icon."""

from __future__ import annotations

import pandas as pd
from sqlalchemy.orm import Session

from core import stats
from core.services import profile as prof
from core.services import spc as spcs
from exports import narrative as nv
from tests.core.services.factories import add_indicator, add_org, add_values, period_id

MONTHS = [f"{2022 + (k // 12)}-{k % 12 + 1:02d}" for k in range(24)]
SERIES = {
    # 17 points around 86, then 7 rising points that stay below the mean
    "P00001": [84.0, 88.0] * 8 + [84.0] + [76.0, 77, 78, 79, 80, 81, 82],
    # 17 points around 78, then 7 falling points that stay above the mean
    "P00002": [76.0, 80.0] * 8 + [76.0] + [88.0, 87, 86, 85, 84, 83, 82],
    # 5 values only: a run chart, no icon
    "P00003": [90.0, 60.0, 91.0, 92.0, 30.0],
}


def _build(engine) -> None:
    with Session(engine) as s:
        add_org(s, "ENG", "England", "nation")
        add_org(s, "NET1", "Network 1", "pcn", "ENG")
        add_indicator(s, "pct", name="Uptake", frequency="month")
        for code, values in SERIES.items():
            oid = add_org(s, code, f"Practice {code}", "practice", "NET1")
            labels = MONTHS[-len(values):]
            add_values(s, [{"org_id": oid, "indicator_id": "pct",
                            "period_id": period_id(s, lab, "month"), "numerator": v * 10,
                            "denominator": 1000.0, "value": v}
                           for lab, v in zip(labels, values, strict=True)])
        s.commit()


def test_icons_and_flags_follow_the_trend_direction(engine):
    _build(engine)
    with Session(engine) as s:
        rising = spcs.spc(s, "P00001", "pct")
        falling = spcs.spc(s, "P00002", "pct")
        short = spcs.spc(s, "P00003", "pct")
        mean = rising.points["mean"].iloc[0]
        assert (rising.points["value"].iloc[-7:] < mean).all()
        assert rising.points["rule"].iloc[-7:].tolist() == ["trend"] * 7
        assert rising.points["special_cause"].iloc[-7:].tolist() == ["improvement"] * 7
        assert rising.variation == "improvement_high"
        assert (falling.points["value"].iloc[-7:] > falling.points["mean"].iloc[0]).all()
        assert falling.points["special_cause"].iloc[-7:].tolist() == ["concern"] * 7
        assert falling.variation == "concern_low"
        assert short.variation is None
        assert short.limits_note == "5 points: too few for limits; at least 12 needed"

        triage = prof.triage(s, "NET1").rows.set_index("org_code")
        assert triage.loc["P00001", "spc_variation"] == "improvement_high"
        assert not triage.loc["P00001", "special_cause_concern"]
        assert triage.loc["P00002", "spc_variation"] == "concern_low"
        assert triage.loc["P00002", "special_cause_concern"]
        assert "special_cause_concern" in triage.loc["P00002", "flags"]
        assert pd.isna(triage.loc["P00003", "spc_variation"])
        assert not triage.loc["P00003", "special_cause_concern"]
        for code in SERIES:
            row = prof.profile(s, code).rows.iloc[0]
            assert row["spc_variation"] == spcs.spc(s, code, "pct").variation

    def flags(view):
        return [f.code for f in nv.discussion_flags(
            category="similar", variation=view.variation, assurance=view.assurance,
            n_points=view.n_points, below_target=None)]

    assert flags(rising) == []
    assert flags(falling) == ["spc_concern"]
    assert flags(short) == []
    assert "special-cause improvement" in nv.spc_sentence(rising.variation, None,
                                                          rising.n_points)
    assert "special-cause concern" in nv.spc_sentence(falling.variation, None,
                                                      falling.n_points)
    assert nv.spc_sentence(short.variation, None, short.n_points, run_chart=short.run_chart) \
        .startswith("5 points: too few for limits; at least 12 needed. Run chart")


def test_run_chart_sentence_says_what_the_anhoej_tests_found():
    steady = spcs.run_chart_sentence(stats.run_chart_signals([1.0, 3.0] * 10))
    assert steady == ("Run chart (median, Anhoej rules): longest run 1 (more than 7 would "
                      "signal), 19 crossings of the median (fewer than 6 would signal): no "
                      "signal of change.")
    step = spcs.run_chart_sentence(stats.run_chart_signals([1.0] * 10 + [3.0] * 10))
    assert step.endswith("a signal of change: an unusually long run on one side of the median "
                         "and too few crossings of the median.")
    # 3 points: neither test can fire, so neither is quoted
    assert spcs.run_chart_sentence(stats.run_chart_signals([1.0, 2.0, 3.0])) == (
        "Run chart (median): 2 points off the median, too few for the Anhoej run-chart tests: "
        "no signal can show yet.")
