"""Slide packs for everyone (issue 17): each picture has alt text (its summary sentence), each
slide a title, the reading order (shape order) follows the page from top to bottom, tables have
header rows or columns, colour bands are marked decorative; the PDF is tagged."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from pptx import Presentation
from pptx.util import Emu

from exports.pack import build_pack
from exports.pdf import convert_to_pdf
from exports.pptx_builder import FOOTER_TOP

SMALL_PCN = "U87478"  # Lancing and Sompting PCN: 3 practices
TWO = "imm_dtapipvhibhepb_12m,imm_menb_12m"
PICTURE = 13
DECORATIVE = "{C183D7F6-B498-43B3-948B-1728B52AA6E4}"


def _reading_order_follows_the_page(slide) -> bool:
    """The title is read first and the footer line (source, slide number) last: shapes are
    read in their order in the slide (what PowerPoint's Reading Order pane shows)."""
    tops = [Emu(sh.top).inches for sh in slide.shapes if DECORATIVE not in sh._element.xml]
    footer = [i for i, t in enumerate(tops) if t >= FOOTER_TOP - 0.01]
    body = [i for i, t in enumerate(tops) if t < FOOTER_TOP - 0.01]
    return tops[0] == min(tops) and bool(footer) and max(body) < min(footer)


@pytest.fixture(scope="module")
def deck_path(pack_db, tmp_path_factory) -> Path:
    from sqlalchemy.orm import Session

    from core.db import make_engine
    from exports.render import find_browser

    if find_browser() is None:
        pytest.skip("Chromium is not installed: charts cannot be drawn")
    out = tmp_path_factory.mktemp("a11y") / "pack.pptx"
    engine = make_engine(pack_db)
    with Session(engine) as s:
        build_pack(s, org_code=SMALL_PCN, period="2021-22", indicators=TWO, per_member=True,
                   output=out)
    engine.dispose()
    return out


def test_every_picture_has_its_summary_as_alt_text(deck_path: Path):
    slides = list(Presentation(str(deck_path)).slides)
    alts = []
    for slide in slides:
        for sh in slide.shapes:
            if sh.shape_type == PICTURE:
                alt = sh._element.nvPicPr.cNvPr.get("descr") or ""
                assert len(alt) > 40, (slide.shapes.title.text, alt)
                alts.append(alt)
    assert len(alts) == 2 + 2 * 2 + 3
    # the comparison chart's alt text is the slide's message (its summary sentence)
    cmp_slide = slides[2]
    pic = next(sh for sh in cmp_slide.shapes if sh.shape_type == PICTURE)
    message = next(sh.text_frame.text for sh in cmp_slide.shapes
                   if sh.has_text_frame and sh.text_frame.text and sh.shape_type != 14
                   and Emu(sh.top).inches > 1)
    assert message in pic._element.nvPicPr.cNvPr.get("descr")
    # the funnel and SPC pictures each say what they show, not the same text twice
    pair = [sh._element.nvPicPr.cNvPr.get("descr") for sh in slides[3].shapes
            if sh.shape_type == PICTURE]
    assert pair[0].startswith("Funnel plot")
    assert pair[1].startswith("Run chart of")  # 3 points: a run chart, not an SPC chart
    assert pair[0] != pair[1]


def test_every_slide_has_a_title_and_reads_top_to_bottom(deck_path: Path):
    for i, slide in enumerate(Presentation(str(deck_path)).slides):
        title = slide.shapes.title
        assert title is not None, f"slide {i + 1} has no title"
        assert title.text.strip(), f"slide {i + 1} has an empty title"
        if i == 0:
            continue
        assert _reading_order_follows_the_page(slide), [
            (sh.name, round(Emu(sh.top).inches, 2)) for sh in slide.shapes]
        first = next(sh for sh in slide.shapes if DECORATIVE not in sh._element.xml)
        assert first.shape_id == title.shape_id  # the title is read first


def test_colour_bands_are_decorative_and_tables_have_headers(deck_path: Path):
    tables = 0
    for slide in Presentation(str(deck_path)).slides:
        decorative = [sh for sh in slide.shapes if DECORATIVE in sh._element.xml]
        assert len(decorative) == 1  # the blue bar (or the title slide's band)
        assert not decorative[0].has_text_frame or not decorative[0].text_frame.text
        for sh in slide.shapes:
            if sh.has_table:
                tables += 1
                assert sh.table.first_row or sh.table.first_col
    assert tables >= 1 + 2 + 3


def test_pdf_is_tagged(deck_path: Path, soffice, tmp_path: Path):
    pdf = convert_to_pdf(deck_path, tmp_path / "pack.pdf")
    data = pdf.read_bytes()
    assert b"/StructTreeRoot" in data
    assert b"/Marked true" in data
    assert data.count(b"/Figure") >= 9  # the charts are tagged figures ...
    assert data.count(b"/Alt") >= 9  # ... with their alt text
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=False)
    if info.returncode == 0:
        assert re.search(r"^Tagged:\s+yes$", info.stdout, re.M), info.stdout
