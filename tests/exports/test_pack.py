"""Whole packs from real data, read back with python-pptx, on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from pptx import Presentation
from sqlalchemy import select

from core.errors import InvalidParameter, NotFound
from core.models import Organisation
from exports import pack as pack_mod
from exports.data import gather_pack
from exports.pack import build_pack
from exports.render import RenderError

PCN_CODE = "U08235"  # Regis Healthcare PCN: 6 practices
SMALL_PCN = "U87478"  # Lancing and Sompting PCN: 3 practices, so member slides stay few
TWO = "imm_dtapipvhibhepb_12m,imm_menb_12m"
PICTURE = 13


def _titles(prs) -> list[str]:
    return [s.shapes.title.text if s.shapes.title is not None else "" for s in prs.slides]


def test_gather_network_numbers(pack_session):
    data = gather_pack(pack_session, org_code=PCN_CODE, indicators=TWO)
    assert [i.meta.id for i in data.indicators] == TWO.split(",")
    ind = data.indicators[0]
    members = ind.members
    assert len(members) == 6
    assert members["org_type"].eq("practice").all()
    # the network's value is the ratio of sums of its members, never a mean of percentages
    ok = members["numerator"].notna()
    expected = members.loc[ok, "numerator"].sum() / members.loc[ok, "denominator"].sum() * 100
    assert ind.org_value["value"] == pytest.approx(expected)
    assert ind.org_value["lower"] < ind.org_value["value"] < ind.org_value["upper"]
    assert ind.period.label == "2021-22"
    assert ind.spc_points == 3
    assert ind.spc_variation is None  # too few points: no judgement
    assert ind.opportunity_extra is not None
    assert ind.opportunity_extra >= 0
    assert [ld.file_name for ld in ind.loads] == ["values_immunisations.csv"]


def test_gather_trust_has_a_real_spc(pack_session):
    code = "RYR"  # University Hospitals Sussex: 36 months of A&E
    assert pack_session.execute(select(Organisation.org_type).where(
        Organisation.code == code)).scalar_one() == "trust"
    data = gather_pack(pack_session, org_code=code)
    ind = data.indicators[0]
    assert ind.meta.id in ("ae_4hr_all", "ae_4hr_type1")
    assert ind.period.label == "2019-03"
    assert ind.spc_points == 36
    assert ind.spc_variation is not None
    assert ind.spc_frame["upl"].notna().all()
    assert ind.member_codes == [code]


def test_bad_input_says_what_to_fix(pack_session):
    with pytest.raises(NotFound, match="unknown organisation 'NOPE'"):
        gather_pack(pack_session, org_code="NOPE")
    with pytest.raises(NotFound, match="unknown indicator 'bogus'.*known indicators"):
        gather_pack(pack_session, org_code=PCN_CODE, indicators="imm_menb_12m,bogus")
    with pytest.raises(NotFound, match=r"periods with data \(latest first\): 2021-22"):
        gather_pack(pack_session, org_code=PCN_CODE, period="2030-31")
    with pytest.raises(InvalidParameter, match="peers 'odd' is not understood"):
        gather_pack(pack_session, org_code=PCN_CODE, peers="odd")


def test_pack_structure(pack_session, chromium, tmp_path: Path):
    out = tmp_path / "pack.pptx"
    result = build_pack(pack_session, org_code=SMALL_PCN, period="2021-22", indicators=TWO,
                        per_member=True, output=out)
    assert result.path == out
    assert out.exists()
    prs = Presentation(str(out))
    members = 3
    assert len(prs.slides) == result.slides == 1 + 1 + 2 * 2 + members + 1
    titles = _titles(prs)
    assert titles[0] == "Lancing and Sompting PCN"
    assert titles[1].startswith("Summary: ")
    assert titles[2].endswith("how Lancing and Sompting PCN compares")
    assert titles[3].endswith("variation and trend")
    assert all(t.endswith(": profile") for t in titles[6:9])
    assert titles[-1] == "Methods and data sources"
    slides = list(prs.slides)
    # summary: a real table, one row per indicator under the header
    table = next(s for s in slides[1].shapes if s.has_table).table
    assert len(table.rows) == 3
    assert table.cell(0, 0).text == "Indicator"
    assert {table.cell(r, 0).text for r in (1, 2)} == {
        "DTaPIPVHibHepB by 12 months", "MenB by 12 months"}
    # charts are pictures; each indicator slide has its message and speaker notes
    pics = [sum(sh.shape_type == PICTURE for sh in s.shapes) for s in slides]
    assert pics[2:6] == [1, 2, 1, 2]
    assert pics[6:9] == [1, 1, 1]
    assert pics[0] == pics[1] == pics[-1] == 0
    data = gather_pack(pack_session, org_code=SMALL_PCN, period="2021-22", indicators=TWO)
    for k, s in enumerate(slides[2:6]):
        notes = s.notes_slide.notes_text_frame.text
        assert "Method." in notes
        assert "Funnel plot." in notes
        assert "Source:" in notes
        texts = " ".join(sh.text_frame.text for sh in s.shapes if sh.has_text_frame)
        assert f"All {members} of its practices are within the limits" in texts
        ind = data.indicators[k // 2]
        if k % 2 == 0:  # the comparison slide states the network's value: a ratio of sums
            m = re.search(r"Lancing and Sompting PCN \((\d+\.\d)%\) is (similar to|"
                          r"significantly (better|worse) than) the average of all (\d+) "
                          r"practices", texts)
            assert m, texts
            own = ind.members.dropna(subset=["numerator", "denominator"])
            assert m.group(1) == f"{own.numerator.sum() / own.denominator.sum() * 100:.1f}"
        else:  # the trend slide: as many points as the series has
            assert (f"{ind.spc_points} points: too few for limits; at least 12 needed"
                    in texts)
    for s in slides[6:9]:  # member profiles say how many indicators, in words that parse
        texts = " ".join(sh.text_frame.text for sh in s.shapes if sh.has_text_frame)
        assert re.search(r"against the peer average: \d+ indicators? significantly better, "
                         r"\d+ similar and \d+ significantly worse", texts), texts
    closing = " ".join(sh.text_frame.text for sh in slides[-1].shapes if sh.has_text_frame)
    assert "values_immunisations.csv" in closing
    assert "Load #" in closing
    assert "UKHSA / NHS Digital COVER" in closing


def test_pack_bytes_when_no_output(pack_session, chromium):
    result = build_pack(pack_session, org_code=SMALL_PCN, indicators="imm_menb_12m")
    assert result.path is None
    assert result.data is not None
    prs = Presentation(io.BytesIO(result.data))
    assert len(prs.slides) == 1 + 1 + 2 + 1


def test_failed_chart_writes_nothing(pack_session, tmp_path: Path):
    calls = []

    def broken(fig, **kwargs):
        calls.append(kwargs["name"])
        if len(calls) == 2:
            raise RenderError(f"could not draw {kwargs['name']}: boom")
        return b"\x89PNG\r\n\x1a\n"

    out = tmp_path / "pack.pptx"
    with pytest.raises(RenderError, match="the funnel plot for imm_menb_12m"):
        build_pack(pack_session, org_code=SMALL_PCN, indicators="imm_menb_12m", output=out,
                   render=broken)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_spc_slide_agrees_with_the_page_at_3_and_36_points(pack_session, chromium,
                                                           tmp_path: Path):
    """Issue 15: H82006's MMR1 has 3 financial years. The page (the SPC service) and the slide
    draw no limits and say the same words; ticks are financial years, not months."""
    from core.services import spc as spcs

    view = spcs.spc(pack_session, "H82006", "imm_mmr1_24m")
    note = "3 points: too few for limits; at least 12 needed"
    assert view.limits_note == note
    ind = gather_pack(pack_session, org_code="H82006", indicators="imm_mmr1_24m").indicators[0]
    assert ind.spc_points == 3
    fig = pack_mod._spc_fig(ind, (800, 450))
    names = {t.name for t in fig.data}
    assert "Process limits" not in names
    assert "Median" in names
    assert any(note in (a.text or "") for a in fig.layout.annotations)
    assert list(fig.layout.xaxis.ticktext) == view.points["period"].tolist() == [
        "2019-20", "2020-21", "2021-22"]
    out = tmp_path / "p.pptx"
    build_pack(pack_session, org_code="H82006", indicators="imm_mmr1_24m", output=out)
    slides = list(Presentation(str(out)).slides)
    trend = next(s for s in slides if s.shapes.title is not None
                 and s.shapes.title.text.endswith("variation and trend"))
    texts = " ".join(sh.text_frame.text for sh in trend.shapes if sh.has_text_frame)
    assert note in texts
    assert "off the median, too few for the Anhoej run-chart tests" in texts
    assert note in trend.notes_slide.notes_text_frame.text

    # a trust's 36 months: limits within 0-100, monthly labels as ticks
    trust = gather_pack(pack_session, org_code="RYR").indicators[0]
    fig = pack_mod._spc_fig(trust, (800, 450))
    ys = [y for t in fig.data if t.name in ("Process limits", "lpl") for y in t.y
          if y is not None]
    assert ys
    assert 0 <= min(ys)
    assert max(ys) <= 100
    ticks = list(fig.layout.xaxis.ticktext)
    assert set(ticks) <= set(trust.spc_frame["period"])
    assert ticks[0] == "2016-04"
    # level labels, only as many as fit across a half-width slide chart
    assert fig.layout.xaxis.tickangle == 0
    assert 3 <= len(ticks) <= 6
