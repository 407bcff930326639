"""Slides measured to fit: the summary table never runs over its footnote (a long one continues
on the next slide), every left-out indicator is named with the reason, every symbol is
explained, and the funnel's overdispersion setting is the dashboard's default and says so.

Charts are stubbed (a blank PNG) where only the layout is under test; with LibreOffice
installed the deck is also rendered to PDF and the words' positions read back (pdftotext
-bbox), so the check is the one a reader's eyes make.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image
from pptx import Presentation
from pptx.util import Emu

from core.errors import NotFound
from dashboards.figures import axis_note
from exports import pack as pack_mod
from exports.data import gather_indicator, gather_pack, indicators_for_org
from exports.pptx_builder import BODY_BOTTOM, FOOTNOTE_H, Cell, table_row_heights

PCN = "U08235"  # Regis Healthcare PCN: 6 practices, every immunisation indicator


def _blank_png(fig, **kwargs) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (kwargs.get("width", 160) // 10, kwargs.get("height", 90) // 10),
              "white").save(buf, format="PNG")
    return buf.getvalue()


def _deck(pack):
    deck, _ = pack_mod.assemble(pack, render=_blank_png)
    return deck


def _summary_slides(prs) -> list:
    return [s for s in prs.slides
            if s.shapes.title is not None and s.shapes.title.text.startswith("Summary")]


def _text(slide) -> str:
    return " ".join(sh.text_frame.text for sh in slide.shapes if sh.has_text_frame)


def test_summary_rows_are_as_tall_as_their_text_and_stay_above_the_footnote(pack_session):
    """The CLI pack's 12+ row summary ran over the footnote and the page number: rows were
    sized evenly while the 'needs discussion' text wrapped to four lines."""
    pack = gather_pack(pack_session, org_code=PCN, period="2021-22")
    assert len(pack.indicators) >= 12
    deck = _deck(pack)
    slides = _summary_slides(deck.prs)
    assert len(slides) >= 2, "a long summary continues on a second slide"
    rows_seen = 0
    for slide in slides:
        shape = next(s for s in slide.shapes if s.has_table)
        table = shape.table
        widths = [Emu(c.width).inches for c in table.columns]
        cells = [[Cell(table.cell(r, c).text, bold=c == 0) for c in range(len(table.columns))]
                 for r in range(1, len(table.rows))]
        header = [table.cell(0, c).text for c in range(len(table.columns))]
        need = table_row_heights(header, cells, widths, 11)
        got = [Emu(r.height).inches for r in table.rows]
        assert all(g >= n - 1e-4 for g, n in zip(got, need, strict=True)), (got, need)
        bottom = Emu(shape.top).inches + sum(got)
        assert bottom <= BODY_BOTTOM - FOOTNOTE_H + 1e-4, f"table ends at {bottom:.2f} in"
        rows_seen += len(table.rows) - 1
        assert "~ means about" in _text(slide)  # the symbol is explained where it is used
    assert rows_seen == len(pack.indicators)


def test_left_out_indicators_are_named_with_the_reason(pack_session):
    """A 2021-22 pack said '14 indicators' and silently left out one with no 2021-22 data."""
    org_id = gather_pack(pack_session, org_code=PCN, period="2021-22").org
    all_ids = indicators_for_org(pack_session, org_id)
    missing = []
    for iid in all_ids:
        try:
            gather_indicator(pack_session, org_id, iid, period="2021-22")
        except NotFound:  # the ones without 2021-22 data (as gather_pack leaves them out)
            missing.append(iid)
    pack = gather_pack(pack_session, org_code=PCN, period="2021-22")
    assert len(pack.indicators) + len(pack.omitted) == len(all_ids)
    assert len(pack.omitted) == len(missing)
    if not missing:
        pytest.skip("every indicator has 2021-22 data in this sample")
    deck = _deck(pack)
    summary = _text(_summary_slides(deck.prs)[0])
    for name, reason in pack.omitted:
        assert name in summary
        assert "no values for 2021-22" in reason
    title = _text(deck.prs.slides[0])
    assert f"{len(pack.omitted)} left out" in title


def test_pack_funnel_defaults_to_the_dashboards_setting_and_says_it(pack_session):
    """Slides widened the funnel for overdispersion (phi 1.2) by default while the dashboard
    did not: both are off by default now, and the chart says which."""
    pack = gather_pack(pack_session, org_code=PCN, period="2021-22",
                       indicators="imm_mmr1_24m")
    ind = pack.indicators[0]
    assert ind.funnel_od_requested is False
    fig = pack_mod._funnel_fig(ind, (800, 600))
    assert "not adjusted for overdispersion" in axis_note(fig)
    widened = gather_pack(pack_session, org_code=PCN, period="2021-22",
                          indicators="imm_mmr1_24m", overdispersion=True).indicators[0]
    fig = pack_mod._funnel_fig(widened, (800, 600))
    assert "overdispersion" in axis_note(fig)


def _words(pdf: Path, page: int) -> list[tuple[str, float, float]]:
    """(word, yMin, yMax) of one PDF page, from pdftotext -bbox."""
    out = subprocess.run(["pdftotext", "-bbox", "-f", str(page), "-l", str(page), str(pdf),
                          "-"], capture_output=True, text=True, check=True).stdout
    return [(html_word, float(y0), float(y1)) for y0, y1, html_word in re.findall(
        r'<word xMin="[\d.]+" yMin="([\d.]+)" xMax="[\d.]+" yMax="([\d.]+)">([^<]*)</word>',
        out)]


def test_summary_drawn_by_libreoffice_keeps_clear_of_the_footnote(pack_session, soffice,
                                                                  tmp_path: Path):
    """Rendered through LibreOffice: on each summary slide the last table row's words lie
    above the footnote's first word, which lies above the footer."""
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    from exports.pdf import convert_to_pdf

    pack = gather_pack(pack_session, org_code=PCN, period="2021-22")
    deck = _deck(pack)
    pptx = tmp_path / "pack.pptx"
    pptx.write_bytes(deck.to_bytes())
    pdf = convert_to_pdf(pptx, tmp_path / "pack.pdf")
    prs = Presentation(str(pptx))
    pages = [i + 1 for i, s in enumerate(prs.slides) if s in _summary_slides(prs)]
    for page in pages:
        words = _words(pdf, page)
        foot = next(i for i, w in enumerate(words) if w[0] == "Tinted")
        table_bottom = max(y1 for _, _, y1 in words[:foot])
        foot_top = words[foot][1]
        assert table_bottom <= foot_top, f"page {page}: table runs into the footnote"
        footer = [w for w in words[foot:] if w[0] == "|"]
        assert all(f[1] >= max(y1 for _, _, y1 in words[foot:foot + 5]) for f in footer)
