"""The profile computed for every indicator at once (peer summaries, one SPC batch per kind of
series, disclosure over all rows) equals the per-indicator route it replaced, row by row and
value by value, on a database of many indicators of every kind: polarities, targets or none,
proportions, rates, counts and published means, small and suppressed counts, rows with only a
published value, tied values, series of different lengths, quarters, and an accepted rebase;
for every practice (a closed one too), level and confidence, with disclosure control off and
on."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy.orm import Session

from core.db import make_engine
from core.models import Rebase
from core.services import profile as prof
from core.services.disclosure import NOTE_COLUMN, SUPPRESSED_NOTE, note_columns
from core.services.indicators import list_indicator_meta
from core.services.organisations import get_org
from core.services.rebases import org_rebase_periods
from core.services.values import check_confidence
from core.settings import Settings, get_settings, override_settings
from tests.conftest import BACKENDS
from tests.core.services.factories import add_indicator, add_org, add_values, period_id

PRACTICES = [f"B8{k:04d}" for k in range(14)]
CLOSED = "B89999"
#: id -> (fields, months it has values, kind of counts)
INDICATORS: dict[str, tuple[dict[str, Any], int, str]] = {
    "p_hi_target": ({"target": 80.0, "domain": "A"}, 30, "normal"),
    "p_hi": ({"domain": "A"}, 30, "normal"),
    "p_lo_target": ({"polarity": "lower_is_better", "target": 30.0, "domain": "B"}, 30,
                    "normal"),
    "p_lo": ({"polarity": "lower_is_better", "domain": "B"}, 30, "small"),
    "p_nj": ({"polarity": "no_judgement", "domain": "C"}, 30, "normal"),
    "p_short": ({"target": 60.0, "domain": "A"}, 9, "normal"),  # another span; few points
    "p_tiny": ({"domain": None}, 4, "small"),  # too few points for an icon; no domain
    "p_ties": ({"target": 50.0, "domain": "C"}, 30, "ties"),
    "r_lo": ({"value_type": "rate", "multiplier": 1000.0, "polarity": "lower_is_better",
              "domain": "D"}, 30, "rate"),
    "c_hi": ({"value_type": "count", "multiplier": 1.0, "domain": "D"}, 30, "count"),
    "m_pub": ({"value_type": "mean", "multiplier": 1.0, "domain": "E"}, 30, "published"),
    "p_pub": ({"target": 70.0, "domain": "E"}, 30, "mixed"),  # some rows published only
    "q_hi": ({"frequency": "quarter", "target": 75.0, "domain": "F"}, 10, "quarter"),
}


def _build(session: Session) -> None:
    rng = np.random.default_rng(18)
    eng = add_org(session, "ENG", "England", "nation")
    assert eng
    add_org(session, "ICBX", "An ICB", "icb", "ENG")
    add_org(session, "PCNX", "A network", "pcn", "ICBX")
    ids = {c: add_org(session, c, f"Practice {c}", "practice", "PCNX") for c in PRACTICES}
    ids[CLOSED] = add_org(session, CLOSED, "Closed practice", "practice", "PCNX",
                          is_active=False)
    start = dt.date(2022, 1, 1)
    months = [f"{start.year + k // 12:04d}-{k % 12 + 1:02d}" for k in range(30)]
    quarters = [f"{2022 + k // 4}-Q{k % 4 + 1}" for k in range(10)]
    rows: list[dict[str, Any]] = []
    for ind, (fields, n, kind) in INDICATORS.items():
        add_indicator(session, ind, **fields)
        labels = quarters[-n:] if kind == "quarter" else months[-n:]
        for t, lab in enumerate(labels):
            pid = period_id(session, lab, "quarter" if kind == "quarter" else None)
            for j, code in enumerate([*PRACTICES, CLOSED]):
                if code == CLOSED and lab not in labels[-3:]:
                    continue
                if kind == "small":
                    den = float(rng.integers(3, 40))
                elif kind == "rate":
                    den = float(rng.integers(2000, 9000))
                else:
                    den = float(rng.integers(40, 400))
                p = 0.2 + 0.6 * (j % 7) / 7 + rng.normal(0, 0.05)
                if j % 3 == 0:  # a run up or down at the end: special causes
                    p += 0.03 * max(0, t - n + 8) * (1 if j % 2 else -1)
                num = float(rng.binomial(int(den), min(max(p, 0.01), 0.99)))
                if kind == "rate":
                    num = float(rng.poisson(den * 0.02))
                row: dict[str, Any] = {"org_id": ids[code], "indicator_id": ind,
                                       "period_id": pid, "numerator": num,
                                       "denominator": den, "value": num / den * 100}
                if kind == "ties":  # groups of equal values (ranks share the minimum)
                    row.update(numerator=float(10 + j % 3), denominator=20.0,
                               value=(10 + j % 3) / 20 * 100)
                if kind == "count":
                    row.update(denominator=None, value=num)
                if kind == "published" or (kind == "mixed" and j % 4 == 1):
                    v = 20 + 10 * rng.random() if kind == "published" else 60 + 20 * rng.random()
                    row.update(numerator=None, denominator=None, value=v, lower_ci=v - 2.0,
                               upper_ci=v + 2.5)
                if j == 5 and lab == labels[-1] and kind in ("normal", "rate"):
                    row.update(numerator=None, denominator=None, value=None, suppressed=True)
                if j == 6 and kind == "normal" and lab == labels[-2]:
                    continue  # a gap in a series
                rows.append(row)
    add_values(session, rows)
    # an accepted rebase: that series is judged on its own newest limits
    session.add(Rebase(org_id=ids[PRACTICES[2]], indicator_id="p_hi", period_type="month",
                       period=months[-12], reason="new service"))
    session.add(Rebase(org_id=ids[PRACTICES[3]], indicator_id="p_hi_target",
                       period_type="month", period=months[-8], reason="new service",
                       withdrawn_at=dt.datetime(2024, 1, 1, tzinfo=dt.UTC)))
    session.flush()


@pytest.fixture(scope="module", params=BACKENDS)
def many(request, module_database, database_factory) -> Iterator[str]:  # type: ignore[no-untyped-def]
    url = module_database(request.param)
    engine = make_engine(url)
    try:
        with Session(engine) as s:
            _build(s)
            s.commit()
        yield url
    finally:
        engine.dispose()
        database_factory.drop(url)


def per_indicator(conn: Any, code: str, level: str, confidence: float) -> pd.DataFrame:
    """The profile as it was computed before: per indicator, the peers' columns, the
    engine's comparison over them (:class:`~core.services.profile.PeerStats`), the row read
    at the organisation's position, the SPC icon of its own series alone, and disclosure
    control on that row."""
    conf = check_confidence(confidence)
    org = get_org(conn, code)
    own = prof._org_values(conn, [org.id], None)
    chosen = prof._chosen_periods(own, None, None)
    where = prof._series_index(own)
    metas = {m.id: m for m in list_indicator_meta(conn)}
    rebases = org_rebase_periods(conn, org.id)
    rule = prof.active_rule()
    out = []
    for r in chosen.itertuples():
        ind = metas[r.indicator_id]
        pv = next(prof._peer_columns(conn, [(ind.id, int(r.period_id))], org.org_type))
        if org.id not in set(pv["org_id"].tolist()):
            mine = own.iloc[where[(ind.id, r.period_id)]]
            pv = {c: np.concatenate([a, mine[c].to_numpy(dtype=a.dtype)])
                  if c != "org_id" else np.append(a, org.id) for c, a in pv.items()}
        ps = prof._make_stats(ind, pv, conf)
        me = int(np.flatnonzero(ps.org_id == org.id)[0])
        row = prof._profile_row(ind, r, ps, me, level)
        at = where[(ind.id, r.period_type)]
        shown = prof.interval_arrays(
            ind, 95.0, *(own[c].to_numpy(dtype=float)[at] for c in
                         ("numerator", "denominator", "value", "lower_ci", "upper_ci")),
            own["suppressed"].to_numpy(dtype=bool)[at])[0]
        row["spc_variation"], row["spc_assurance"] = prof._latest_icon(
            own["period"].to_numpy(dtype=object)[at].tolist(), shown, ind, r.period_type,
            rebases.get((ind.id, r.period_type)))
        if rule is not None:
            prof._disclose_profile_row(row, ps, me, rule)
        out.append(row)
    frame = pd.DataFrame(out, columns=list(note_columns(prof.PROFILE_COLUMNS)))
    frame = frame.sort_values(["domain", "indicator_id"], na_position="last", kind="stable")
    return frame.reset_index(drop=True)


@pytest.fixture(params=[False, True], ids=["disclosure_off", "disclosure_on"])
def disclosure(request, many) -> Iterator[bool]:  # type: ignore[no-untyped-def]
    before = get_settings()
    override_settings(Settings(database_url=many, disclosure_control=request.param))
    try:
        yield request.param
    finally:
        override_settings(before)


@pytest.mark.parametrize(("level", "confidence"), [
    ("median", 95.0), ("upper_quartile", 99.8), ("best_decile", 95.0), ("target", 95.0)])
def test_profile_equals_the_per_indicator_route(many, disclosure, level, confidence):
    engine = make_engine(many)
    try:
        # every practice at the median; a few (the closed one too) at the other levels
        codes = [*PRACTICES, CLOSED] if level == "median" else [*PRACTICES[::4], CLOSED]
        for code in codes:
            with Session(engine) as s:
                got = prof.profile(s, code, level=level, confidence=confidence).rows
                want = per_indicator(s, code, level, confidence)
            assert len(got) == len(INDICATORS)
            # exactly equal: same values to the last bit, same types, same missing values
            pd.testing.assert_frame_equal(got, want, check_exact=True)
            assert (NOTE_COLUMN in got.columns) == disclosure
    finally:
        engine.dispose()


def test_the_database_covers_the_cases(many, disclosure):
    """What the equality above is worth: the profiles hold every kind of row it claims."""
    engine = make_engine(many)
    try:
        with Session(engine) as s:
            rows = pd.concat([prof.profile(s, c).rows for c in PRACTICES])
    finally:
        engine.dispose()
    assert set(rows["comparison"]) == {"better", "similar", "worse", "not_compared"}
    assert rows["rank"].dropna().duplicated().any()  # ties
    variation = set(rows["spc_variation"].dropna())
    assert {"common_cause", "improvement_high", "concern_low", "neutral_high"} <= variation
    assert rows["spc_variation"].isna().any()  # too few points
    assert set(rows["spc_assurance"].dropna()) == {"pass", "fail", "hit_or_miss"}
    assert set(rows["meets_target"].dropna()) == {True, False}
    assert (rows["opportunity"] > 0).any()
    assert rows["benchmark"].isna().any()  # published values only: no pooled benchmark
    if disclosure:
        assert (rows[NOTE_COLUMN] == SUPPRESSED_NOTE).sum() >= 10
