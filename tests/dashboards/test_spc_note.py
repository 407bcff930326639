"""The SPC chart's ``note`` badge survives chart annotations (the annotation loop used to
rebind ``note`` to the last annotation, so the badge showed that dict, not the note)."""

from __future__ import annotations

import pandas as pd

from dashboards import figures
from tests.dashboards.test_figures import META


def test_note_badge_kept_when_the_chart_has_annotations():
    x = pd.date_range("2020-01-01", periods=12, freq="MS")
    f = pd.DataFrame({"x": x, "value": [80.0 + i % 3 for i in range(12)], "segment": 0,
                      "mean": 81.0, "upl": 85.0, "lpl": 77.0, "point_type": "common_cause"})
    note = "3 points: too few for limits"
    fig = figures.spc_figure(f, indicator=META, note=note,
                             annotations=[{"date": "2020-06-01", "text": "New recall system"}])
    texts = [a.text for a in fig.layout.annotations]
    assert "New recall system" in texts
    assert any(note in t for t in texts)
    assert not any("{" in t for t in texts)
