"""The pure part of the alerts: which points raise which alerts (no database)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.models import ALERT_KINDS
from core.services.alerts import NoiseRules, alerts_from_points


def _points(**cols: list) -> pd.DataFrame:  # type: ignore[type-arg]
    n = len(next(iter(cols.values())))
    base = {"org_id": list(range(1, n + 1)), "period_id": [7] * n, "value": [10.0] * n,
            "denominator": [100.0] * n, "prev_value": [np.nan] * n,
            "special_cause": ["none"] * n, "rule": [None] * n, "trial": [False] * n,
            "flag": [None] * n, "prev_flag": [None] * n}
    base.update(cols)
    return pd.DataFrame(base)


def _kinds(frame: pd.DataFrame) -> list[tuple[int, str, object]]:
    return sorted((int(o), k, r) for o, k, r in zip(frame["org_id"], frame["kind"],
                                                    frame["rule"], strict=True))


def test_special_cause_with_its_rule_and_noise_rules():
    pts = _points(special_cause=["concern", "improvement", "concern", "concern", "neutral"],
                  rule=["outside_limits", "shift", "trend", "shift", "shift"],
                  trial=[False, False, True, False, False],
                  denominator=[100.0, 100.0, 100.0, 5.0, 100.0])
    got = _kinds(alerts_from_points(pts, polarity="higher_is_better", target=None,
                                    rules=NoiseRules(min_denominator=30)))
    # org 3: trial limits; org 4: denominator below the minimum; org 5: neutral
    assert got == [(1, "special_cause_concern", "outside_limits"),
                   (2, "special_cause_improvement", "shift")]
    only = NoiseRules(kinds=frozenset({"special_cause_improvement"}))
    assert _kinds(alerts_from_points(pts, polarity="higher_is_better", target=None,
                                     rules=only)) == [(2, "special_cause_improvement", "shift")]


def test_funnel_crossings_by_polarity():
    pts = _points(flag=["above_998", "within", "below_998", "within", "above_95", None],
                  prev_flag=["within", "above_998", "within", "below_998", "above_998",
                             "within"])
    lower = _kinds(alerts_from_points(pts, polarity="lower_is_better", target=None,
                                      rules=NoiseRules()))
    assert lower == [(1, "crossed_limit_worse", "above_998"),
                     (2, "crossed_limit_better", "back_from_above_998"),
                     (3, "crossed_limit_better", "below_998"),
                     (4, "crossed_limit_worse", "back_from_below_998"),
                     (5, "crossed_limit_better", "back_from_above_998")]
    higher = _kinds(alerts_from_points(pts, polarity="higher_is_better", target=None,
                                       rules=NoiseRules()))
    assert higher == [(1, "crossed_limit_better", "above_998"),
                      (2, "crossed_limit_worse", "back_from_above_998"),
                      (3, "crossed_limit_worse", "below_998"),
                      (4, "crossed_limit_better", "back_from_below_998"),
                      (5, "crossed_limit_worse", "back_from_above_998")]
    assert alerts_from_points(pts, polarity="no_judgement", target=None,
                              rules=NoiseRules()).empty


def test_target_changes_against_the_previous_period():
    pts = _points(value=[96.0, 94.0, 96.0, 94.0, 95.0, 96.0],
                  prev_value=[94.0, 96.0, 97.0, 93.0, 94.9, np.nan])
    got = _kinds(alerts_from_points(pts, polarity="higher_is_better", target=95.0,
                                    rules=NoiseRules()))
    assert got == [(1, "target_met", None), (2, "target_missed", None),
                   (5, "target_met", None)]
    got = _kinds(alerts_from_points(pts, polarity="lower_is_better", target=95.0,
                                    rules=NoiseRules()))
    # org 5: 95.0 meets a "no more than 95" target as 94.9 did: no change, no alert
    assert got == [(1, "target_missed", None), (2, "target_met", None)]
    assert set(ALERT_KINDS) == {
        "special_cause_concern", "special_cause_improvement", "crossed_limit_worse",
        "crossed_limit_better", "target_missed", "target_met"}


def test_alerts_leave_core_through_disclosure_control():
    from core import settings as settings_module
    from core.services.alerts import published
    from core.settings import Settings, override_settings

    frame = pd.DataFrame({"id": [1, 2], "value": [50.0, 10.0], "numerator": [3.0, 40.0],
                          "denominator": [6.0, 400.0]})
    before = settings_module._override
    try:
        override_settings(Settings(database_url="sqlite://", disclosure_control=False))
        assert published(frame)["value"].tolist() == [50.0, 10.0]
        override_settings(Settings(database_url="sqlite://", disclosure_control=True))
        out = published(frame)
        assert np.isnan(out["value"].iloc[0])  # 3 of 6: a small count, withheld
        assert out["value"].iloc[1] == 10.0
        # the rule of core.services.disclosure: a small denominator alone withholds the
        # value (0 of 6), counts are rounded, the row says why; the settings' range applies
        frame2 = pd.DataFrame({"id": [1, 2, 3], "value": [0.0, 25.0, 50.0],
                               "numerator": [0.0, 9.0, 23.0], "denominator": [6.0, 36.0, 46.0]})
        out = published(frame2)
        assert np.isnan(out["value"].iloc[0])
        assert np.isnan(out["denominator"].iloc[0])
        assert out["disclosure"].tolist() == ["suppressed: small numbers", None, None]
        assert out["value"].iloc[1:].tolist() == [25.0, 50.0]
        assert out["numerator"].iloc[1:].tolist() == [10.0, 25.0]  # rounded to 5
        assert out["denominator"].iloc[1:].tolist() == [35.0, 45.0]
        override_settings(Settings(database_url="sqlite://", disclosure_control=True,
                                   disclosure_suppress_max=10))
        out = published(frame2)
        assert np.isnan(out["value"].iloc[1])  # 9 is in 1..10
        assert out["value"].iloc[2] == 50.0
    finally:
        override_settings(before)
