"""Disclosure control in the slide packs (SQLite and PostgreSQL): every text frame, table
cell and speaker note of real packs read back with python-pptx, and the numbers the charts
are drawn from.

The real sample holds small counts in 2021-22 (``tests/disclosure_data.py``): a practice's own
pack (H82010: 5 of 5), a network whose own sums are small (the tiny PCN: 5 of 7) and a PCN
with a suppressed member (U80779 holds H82010).
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator

import numpy as np
import pytest
from pptx import Presentation
from sqlalchemy.orm import Session

from core.db import make_engine
from core.settings import Settings, override_settings
from exports.data import gather_pack
from exports.pack import build_pack
from tests.disclosure_data import PERIOD, TINY_PCN, load_disclosure_sample

NOTE = "suppressed: small numbers"
IND = "imm_6in1_12m,imm_mmr2_5y"
#: "num of den;" in the notes' numbers line; counts of people in the opportunity texts
_COUNTS = (
    re.compile(r"\), ([\d,]+|n/a) of ([\d,]+|n/a);"),
    re.compile(r"(?<![\d.,])(\d[\d,]*) (?:more|fewer) (?:child|children|patients?|people)"),
    re.compile(r"~(\d[\d,]*)\b"),
)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def db(request, module_database, database_factory) -> Iterator[str]:  # type: ignore[no-untyped-def]
    url = module_database(request.param)
    engine = make_engine(url)
    load_disclosure_sample(engine)
    engine.dispose()
    try:
        yield url
    finally:
        override_settings(None)
        from core.db import _engine_for

        _engine_for.cache_clear()
        database_factory.drop(url)


def _session(url: str, on: bool) -> Session:
    override_settings(Settings(database_url=url, disclosure_control=on))
    return Session(make_engine(url))


def pptx_text(data: bytes) -> list[str]:
    """Every text of a pack: text frames (also in groups), table cells, speaker notes."""
    prs = Presentation(io.BytesIO(data))
    out: list[str] = []

    def shapes(coll):  # type: ignore[no-untyped-def]
        for sh in coll:
            if sh.shape_type == 6:  # a group
                yield from shapes(sh.shapes)
            else:
                yield sh

    for slide in prs.slides:
        for sh in shapes(slide.shapes):
            if sh.has_text_frame:
                out.append(sh.text_frame.text)
            if getattr(sh, "has_table", False) and sh.has_table:
                out += [c.text for row in sh.table.rows for c in row.cells]
        if slide.has_notes_slide:
            out.append(slide.notes_slide.notes_text_frame.text)
    return out


def small_counts(texts: list[str]) -> list[str]:
    found = []
    for t in texts:
        for pat in _COUNTS:
            for m in pat.finditer(t):
                nums = [g for g in m.groups() if g != "n/a"]
                if any(1 <= float(g.replace(",", "")) <= 7 for g in nums):
                    found.append(m.group(0))
    return found


def _counts_shown(texts: list[str]) -> list[float]:
    return [float(g.replace(",", "")) for t in texts for m in _COUNTS[0].finditer(t)
            for g in m.groups() if g != "n/a"]


def test_packs_disclose_every_text(db: str, chromium: str) -> None:
    with _session(db, True) as s:
        own = pptx_text(build_pack(s, org_code="H82010", period=PERIOD, indicators=IND).data)
        tiny = pptx_text(build_pack(s, org_code=TINY_PCN, period=PERIOD,
                                    indicators="imm_6in1_12m", per_member=True).data)
        pcn = pptx_text(build_pack(s, org_code="U80779", period=PERIOD, indicators=IND,
                                   per_member=True).data)
    for texts in (own, tiny, pcn):
        assert not small_counts(texts)
        shown = _counts_shown(texts)
        assert all(c % 5 == 0 for c in shown), shown
    joined = "\n".join(own)
    assert "H82010" not in joined or "suppressed" in joined
    assert "value is suppressed to protect confidentiality" in joined
    assert "100.0%" not in "\n".join(t for t in own if "Numbers." in t)
    tj = "\n".join(tiny)
    assert "71.4%" not in tj  # the network's own value, 5 of 7
    assert "75.0%" not in tj  # TINY1, 3 of 4
    assert "Tiny PCN's value is suppressed" in tj


def test_the_search_finds_counts_without_the_control(db: str, chromium: str) -> None:
    with _session(db, False) as s:
        own = pptx_text(build_pack(s, org_code="H82010", period=PERIOD,
                                   indicators="imm_6in1_12m").data)
    assert small_counts(own)  # "5 of 5;" in the notes
    assert "71.4%" not in own


def test_chart_numbers(db: str) -> None:
    """What the charts are drawn from: suppressed rows have no value or flag (not drawn),
    counts are rounded, the network's aggregate is suppressed, its SPC has a gap."""
    with _session(db, True) as s:
        pack = gather_pack(s, org_code=TINY_PCN, period=PERIOD, indicators="imm_6in1_12m")
        ind = pack.indicators[0]
        pf = ind.peers_frame
        tiny = pf[pf["org_code"].isin(["TINY1", "TINY2", "H82010", "H82621"])]
        assert tiny["value"].isna().all()
        assert tiny["funnel_flag"].isna().all()
        assert tiny["suppressed"].all()
        assert (tiny["disclosure"] == NOTE).all()
        shown = pf["numerator"].dropna()
        assert len(shown) > 50
        assert (shown % 5 == 0).all()
        fp = ind.funnel_points
        assert fp[fp["org_code"].isin(["TINY1", "H82010"])]["value"].isna().all()
        assert np.isnan(ind.org_value["value"])
        assert ind.org_value["suppressed"]
        sp = ind.spc_frame
        assert "numerator" not in sp
        assert sp["value"].isna().all()  # the tiny PCN has only 2021-22, and it is small
        own = gather_pack(s, org_code="H82010", indicators="imm_6in1_12m").indicators[0]
        assert own.opportunity_extra is None
        assert own.opportunity_suppressed
        sp = own.spc_frame  # too few points for limits: the suppressed 2021-22 is left out
        assert sp[sp["value"].notna()]["period"].tolist() == ["2019-20", "2020-21"]
    with _session(db, False) as s:
        raw = gather_pack(s, org_code=TINY_PCN, period=PERIOD, indicators="imm_6in1_12m")
        assert raw.indicators[0].org_value["value"] == pytest.approx(5 / 7 * 100)
