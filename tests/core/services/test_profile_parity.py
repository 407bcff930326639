"""The set-based profile equals, row by row, the per-indicator services it summarises:
comparison (value, interval, rank, percentile, comparison, pooled benchmark, quartiles),
SPC (latest variation and assurance) and opportunity, for every organisation."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from core.services import comparison as cmp
from core.services import profile as prof
from core.services import spc as spcs


def _missing(x) -> bool:
    return x is None or x is pd.NA or (isinstance(x, float) and math.isnan(x))


def _same(a, b) -> bool:
    if _missing(a) or _missing(b):
        return _missing(a) and _missing(b)
    return a == pytest.approx(b, rel=1e-12, abs=1e-12) if isinstance(a, float) else a == b


@pytest.mark.parametrize("code", ["A81001", "A81006", "A81010", "A89999"])
def test_profile_equals_the_services(rs, code):
    p = prof.profile(rs, code).rows
    assert len(p) >= (1 if code == "A89999" else 3)
    for row in p.to_dict("records"):
        ind, period = row["indicator_id"], row["period"]
        c = cmp.comparison(rs, ind, period=period, period_type=row["period_type"])
        if code == "A89999":
            # a closed practice is compared with the active ones plus itself
            assert code not in set(c.rows["org_code"])
            assert row["value"] == pytest.approx(20.0)
            assert row["n_peers"] == c.n + 1
            continue
        me = c.rows.set_index("org_code").loc[code]
        for col in ("value", "lower_ci", "upper_ci", "percentile", "numerator", "denominator"):
            assert _same(row[col], me[col]), col
        assert _same(row["rank"], None if _missing(me["rank"]) else int(me["rank"]))
        assert row["comparison"] == me["comparison"]
        assert row["benchmark"] == pytest.approx(c.pooled)
        assert row["n_peers"] == c.n
        assert row["peer_q1"] == pytest.approx(c.quartiles["q1"])
        assert row["peer_median"] == pytest.approx(c.quartiles["median"])
        assert row["peer_q3"] == pytest.approx(c.quartiles["q3"])
        finite = c.rows["value"].dropna()
        assert row["peer_min"] == pytest.approx(finite.min())
        assert row["peer_max"] == pytest.approx(finite.max())
        view = spcs.spc(rs, code, ind, period_type=row["period_type"])
        # a text column holding None and labels is pandas' string dtype: None reads as NaN
        assert _same(row["spc_variation"], view.variation)
        assert _same(row["spc_assurance"], view.assurance)
        if not _missing(row["opportunity"]):
            o = cmp.opportunity(rs, ind, period=period, period_type=row["period_type"])
            assert row["opportunity"] == pytest.approx(
                o.rows.set_index("org_code").loc[code, "extra"])
