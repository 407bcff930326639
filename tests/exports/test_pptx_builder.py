"""The 16:9 deck builder: geometry, real tables, notes, numbering and atomic writes."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from pptx import Presentation
from pptx.util import Inches

from exports.pptx_builder import (
    SLIDE_W_IN,
    Cell,
    Chart,
    Deck,
    slot_inches,
    slot_pixels,
    write_atomic,
)

# A 1x1 white PNG: the builder places whatever picture it is given.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de0000000c4944415408d763f8"
    "ffff3f0005fe02fea7d6a4e80000000049454e44ae426082"
)


def _deck() -> bytes:
    d = Deck(footer="Test PCN | 2021-22")
    d.title_slide("Test PCN", "Quality improvement pack | 2021-22", ["Made today"])
    d.table_slide("Summary", ["A", "B"], [[Cell("x"), Cell("worse", flag=True)]],
                  message="1 of 1 needs discussion", notes="table notes")
    d.chart_panel_slide("Chart", Chart(PNG, "caption"), [("Value", "1%", False)],
                        message="msg", notes="chart notes")
    d.two_chart_slide("Two", Chart(PNG, "left"), Chart(PNG, "right"), message="m", notes="n")
    d.text_slide("Methods", [("Head", ["line 1", "line 2"]), ("Other", ["x"])], notes="all")
    return d.to_bytes()


def test_deck_is_16_9_and_every_shape_on_the_slide():
    prs = Presentation(io.BytesIO(_deck()))
    assert prs.slide_width == Inches(SLIDE_W_IN)
    assert prs.slide_height == Inches(7.5)
    for slide in prs.slides:
        for shape in slide.shapes:
            assert shape.left >= 0
            assert shape.top >= 0
            assert shape.left + shape.width <= prs.slide_width + 10
            assert shape.top + shape.height <= prs.slide_height + 10


def test_titles_tables_pictures_notes_numbers():
    prs = Presentation(io.BytesIO(_deck()))
    slides = list(prs.slides)
    assert [s.shapes.title.text for s in slides] == [
        "Test PCN", "Summary", "Chart", "Two", "Methods"]
    table = next(s for s in slides[1].shapes if s.has_table).table
    assert table.cell(0, 1).text == "B"
    assert table.cell(1, 1).text == "worse"
    assert table.cell(1, 1).text_frame.paragraphs[0].runs[0].font.bold
    assert sum(s.shape_type == 13 for s in slides[2].shapes) == 1  # 13 = picture
    assert sum(s.shape_type == 13 for s in slides[3].shapes) == 2
    assert slides[1].notes_slide.notes_text_frame.text == "table notes"
    texts = [sh.text_frame.text for sh in slides[4].shapes if sh.has_text_frame]
    assert "5 / 5" in texts
    assert "Test PCN | 2021-22" in texts
    assert not any("/ 5" in sh.text_frame.text for sh in slides[0].shapes if sh.has_text_frame)


def test_slot_pixels_keep_fonts_the_same_size():
    # pixels per inch are the same in every slot, so a 20 px font is the same on each slide
    for kind in ("wide", "half", "full"):
        w_in, _ = slot_inches(kind)
        w_px, _ = slot_pixels(kind)
        assert w_px / w_in == pytest.approx(slot_pixels("full")[0] / slot_inches("full")[0],
                                            rel=0.01)
    assert slot_pixels("full")[0] == 1600
    with pytest.raises(ValueError, match="unknown slot"):
        slot_inches("tiny")


def test_write_atomic_leaves_no_partial_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    target = tmp_path / "out" / "pack.pptx"
    write_atomic(target, b"abc")
    assert target.read_bytes() == b"abc"

    def broken(*_a, **_k):
        raise OSError("disk full")

    monkeypatch.setattr("exports.pptx_builder.os.replace", broken)
    with pytest.raises(OSError, match="disk full"):
        write_atomic(tmp_path / "out" / "other.pptx", b"xyz")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["pack.pptx"]
