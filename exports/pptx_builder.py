"""A clean 16:9 slide template built in code, and the few slide kinds a pack needs.

python-pptx's default template is 4:3 (STACK.md): the deck is resized to 13.333 x 7.5 in and
every placeholder and shape is positioned explicitly, so nothing is left where the 4:3 layout
put it. Titles stay real title placeholders (they show in the outline, in screen readers and to
``slide.shapes.title``); tables are real PowerPoint tables; charts are pictures rendered for
the exact box they fill (:func:`slot_pixels`), so text on them is the same size on every slide.

Nothing here knows about indicators: :mod:`exports.pack` decides what goes on each slide.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pptx import Presentation
from pptx.dml.color import RGBColor
from pptx.enum.shapes import MSO_SHAPE
from pptx.enum.text import MSO_ANCHOR, PP_ALIGN
from pptx.util import Emu, Inches, Pt

SLIDE_W_IN = 13.333
SLIDE_H_IN = 7.5
MARGIN_IN = 0.5
#: CSS pixels per inch of slide a chart is rendered at: a full-width chart is 1600 px wide,
#: the size the dashboards' ``for_slides`` fonts are designed for.
PX_PER_INCH = 1600 / (SLIDE_W_IN - 2 * MARGIN_IN)

# Colours (NHS identity; kept in step with dashboards/theme.py).
BLUE = RGBColor(0x00, 0x5E, 0xB8)
DARK_BLUE = RGBColor(0x00, 0x30, 0x87)
DARK_GREY = RGBColor(0x42, 0x55, 0x63)
MID_GREY = RGBColor(0x76, 0x86, 0x92)
PALE_GREY = RGBColor(0xE8, 0xED, 0xEE)
WHITE = RGBColor(0xFF, 0xFF, 0xFF)
BLACK = RGBColor(0x23, 0x1F, 0x20)
FLAG_FILL = RGBColor(0xFD, 0xE9, 0xC4)  # pale warm yellow: "discuss", readable in print
FLAG_TEXT = RGBColor(0x8A, 0x4B, 0x00)
FONT = "Arial"

_LAYOUT_TITLE = 0
_LAYOUT_TITLE_ONLY = 5

# Geometry of a content slide (inches).
TITLE_TOP, TITLE_H = 0.28, 0.75
MESSAGE_TOP, MESSAGE_H = 1.08, 0.95
BODY_TOP = 2.1
FOOTER_TOP = 7.05
BODY_BOTTOM = 6.95
#: a table slide's footnote, above the footer (two lines of 10 pt)
FOOTNOTE_H = 0.42


@dataclass(frozen=True)
class Chart:
    """A rendered chart for a slide: PNG bytes and a one-line caption under it; ``alt`` is its
    text alternative (its summary sentence; the slide's message and the caption if empty)."""

    png: bytes
    caption: str = ""
    alt: str = ""


#: PowerPoint's "Mark as decorative" (Office 2019+): screen readers skip the shape.
_DECORATIVE_EXT = (
    '<a:extLst xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main">'
    '<a:ext uri="{C183D7F6-B498-43B3-948B-1728B52AA6E4}"><adec:decorative '
    'xmlns:adec="http://schemas.microsoft.com/office/drawing/2017/decorative" val="1"/>'
    "</a:ext></a:extLst>")


def _decorative(shape) -> None:
    """Mark a shape (a colour band) as decorative, so it is not read out."""
    from pptx.oxml import parse_xml

    c_nv_pr = shape._element.xpath("./*[1]/p:cNvPr")[0]
    c_nv_pr.append(parse_xml(_DECORATIVE_EXT))


@dataclass(frozen=True)
class Cell:
    """A table cell: its text, and whether it is flagged for discussion (bold, tinted)."""

    text: str
    flag: bool = False
    bold: bool = False


def slot_inches(kind: str) -> tuple[float, float]:
    """Width and height (in) of the picture box of a slide kind: ``wide`` (chart with a side
    panel), ``half`` (two side by side), ``full`` (one chart across the slide)."""
    body_h = BODY_BOTTOM - BODY_TOP
    usable = SLIDE_W_IN - 2 * MARGIN_IN
    if kind == "wide":
        return (usable * 0.66, body_h)
    if kind == "half":
        return ((usable - 0.3) / 2, body_h - 0.4)
    if kind == "full":
        return (usable, body_h)
    raise ValueError(f"unknown slot kind {kind!r}: use wide, half or full")


def slot_pixels(kind: str) -> tuple[int, int]:
    """The CSS pixel size to render a chart at for a slot, so fonts match across slides."""
    w, h = slot_inches(kind)
    return (round(w * PX_PER_INCH), round(h * PX_PER_INCH))


def _style_run(run, *, size: float, bold: bool = False, color: RGBColor = BLACK) -> None:
    run.font.name = FONT
    run.font.size = Pt(size)
    run.font.bold = bold
    run.font.color.rgb = color


def _set_text(
    frame,
    paragraphs: Sequence[str],
    *,
    size: float,
    bold: bool = False,
    color: RGBColor = BLACK,
    align: PP_ALIGN = PP_ALIGN.LEFT,
    space_after: float = 0,
) -> None:
    frame.clear()
    frame.word_wrap = True
    for i, text in enumerate(paragraphs):
        p = frame.paragraphs[0] if i == 0 else frame.add_paragraph()
        p.alignment = align
        if space_after:
            p.space_after = Pt(space_after)
        run = p.add_run()
        run.text = text
        _style_run(run, size=size, bold=bold, color=color)


#: a table cell's inner margins (python-pptx/PowerPoint default 0.1 in left and right; top
#: and bottom as table_slide sets them), and the line height of wrapped text, in em
CELL_MARGIN_X_IN, CELL_MARGIN_Y_IN, LINE_EM = 0.1, 0.03, 1.2


def wrapped_lines(text: str, width_in: float, size_pt: float, bold: bool = False) -> int:
    """How many lines ``text`` takes in a box ``width_in`` wide at ``size_pt``, word-wrapped.

    Widths are measured with DejaVu Sans (what LibreOffice draws for Arial on a machine without
    Arial, and wider than Arial, so PowerPoint needs no more room); see dashboards.textfit."""
    import html as _html

    from dashboards import textfit

    room = max(width_in * 72.0, 1.0)  # points

    def w(words: str) -> float:
        esc = _html.escape(words, quote=False)
        return textfit.text_size(f"<b>{esc}</b>" if bold else esc, size_pt)[0]

    lines = 0
    for para in str(text).split("\n"):
        lines += 1
        current = ""
        for word in para.split():
            trial = f"{current} {word}".strip()
            if current and w(trial) > room:
                lines += 1
                current = word
            else:
                current = trial
            while w(current) > room and len(current) > 1:  # a word longer than the cell
                lines += 1
                cut = max(int(len(current) * room / w(current)), 1)
                current = current[cut:]
    return lines


def table_row_heights(header: Sequence[str], rows: Sequence[Sequence[Cell]],
                      col_widths_in: Sequence[float], font_size: float) -> list[float]:
    """Each row's height in inches (the header first) once its cells' text has wrapped."""
    def height(texts: Sequence[tuple[str, bool]]) -> float:
        n = max(wrapped_lines(t, cw - 2 * CELL_MARGIN_X_IN, font_size, b)
                for (t, b), cw in zip(texts, col_widths_in, strict=False))
        return n * font_size * LINE_EM / 72.0 + 2 * CELL_MARGIN_Y_IN + 0.04

    out = [height([(h, True) for h in header])]
    out += [height([(c.text, c.flag or c.bold) for c in row]) for row in rows]
    return out


def table_pages(header: Sequence[str], rows: Sequence[Sequence[Cell]],
                col_widths: Sequence[float], font_size: float,
                room_in: float) -> list[list[Sequence[Cell]]]:
    """Split ``rows`` into slides' worth: each page's header and rows, measured, fit
    ``room_in`` inches (a long table continues on the next slide rather than overflowing)."""
    width = SLIDE_W_IN - 2 * MARGIN_IN
    scale = width / sum(col_widths)
    cols = [c * scale for c in col_widths]
    heights = table_row_heights(header, rows, cols, font_size)
    pages: list[list[Sequence[Cell]]] = [[]]
    used = heights[0]
    for row, h in zip(rows, heights[1:], strict=True):
        if pages[-1] and used + h > room_in:
            pages.append([])
            used = heights[0]
        pages[-1].append(row)
        used += h
    return pages


def _title_size(text: str) -> float:
    # Long indicator names would wrap past the title box; step the size down instead.
    if len(text) <= 60:
        return 26
    if len(text) <= 80:
        return 22
    return 18


class Deck:
    """A 16:9 deck with a footer on every content slide and a uniform look.

    ``footer`` is the small grey line at the bottom left (organisation, period, date made);
    slide numbers are added on :meth:`save` / :meth:`to_bytes` as "n / N".
    """

    def __init__(self, *, footer: str = "") -> None:
        self.prs = Presentation()
        self.prs.slide_width = Inches(SLIDE_W_IN)
        self.prs.slide_height = Inches(SLIDE_H_IN)
        self.footer = footer
        self._numbered: list = []  # slides that get "n / N"

    # --------------------------------------------------------------- slide scaffolding
    def _content_slide(self, title: str):
        slide = self.prs.slides.add_slide(self.prs.slide_layouts[_LAYOUT_TITLE_ONLY])
        bar = slide.shapes.add_shape(
            MSO_SHAPE.RECTANGLE, 0, 0, self.prs.slide_width, Inches(0.12)
        )
        bar.fill.solid()
        bar.fill.fore_color.rgb = BLUE
        bar.line.fill.background()
        _decorative(bar)
        t = slide.shapes.title
        t.left, t.top = Inches(MARGIN_IN), Inches(TITLE_TOP)
        t.width, t.height = Inches(SLIDE_W_IN - 2 * MARGIN_IN), Inches(TITLE_H)
        tf = t.text_frame
        tf.vertical_anchor = MSO_ANCHOR.MIDDLE
        tf.margin_left = tf.margin_right = 0
        _set_text(tf, [title], size=_title_size(title), bold=True, color=DARK_BLUE)
        # the footer is added with the slide number (:meth:`_number`), after the content, so
        # a screen reader reads the slide top to bottom (reading order is shape order)
        self._numbered.append(slide)
        return slide

    def _textbox(
        self, slide, left: float, top: float, width: float, height: float,
        paragraphs: Sequence[str], *, size: float = 14, bold: bool = False,
        color: RGBColor = BLACK, align: PP_ALIGN = PP_ALIGN.LEFT, space_after: float = 0,
        anchor: MSO_ANCHOR = MSO_ANCHOR.TOP,
    ):
        box = slide.shapes.add_textbox(Inches(left), Inches(top), Inches(width), Inches(height))
        tf = box.text_frame
        tf.vertical_anchor = anchor
        tf.margin_left = tf.margin_right = Inches(0.05)
        _set_text(tf, paragraphs, size=size, bold=bold, color=color, align=align,
                  space_after=space_after)
        return box

    def _message(self, slide, message: str) -> None:
        if not message:
            return
        box = slide.shapes.add_shape(
            MSO_SHAPE.RECTANGLE, Inches(MARGIN_IN), Inches(MESSAGE_TOP),
            Inches(SLIDE_W_IN - 2 * MARGIN_IN), Inches(MESSAGE_H),
        )
        box.fill.solid()
        box.fill.fore_color.rgb = PALE_GREY
        box.line.fill.background()
        box.shadow.inherit = False
        tf = box.text_frame
        tf.vertical_anchor = MSO_ANCHOR.MIDDLE
        tf.margin_left = tf.margin_right = Inches(0.15)
        size = 16 if len(message) <= 230 else 14 if len(message) <= 320 else 12
        _set_text(tf, [message], size=size, color=BLACK)

    @staticmethod
    def _notes(slide, notes: str | None) -> None:
        if notes:
            slide.notes_slide.notes_text_frame.text = notes

    def _picture(self, slide, chart: Chart, left: float, top: float, width: float,
                 height: float, message: str = "") -> None:
        pic = slide.shapes.add_picture(
            io.BytesIO(chart.png), Inches(left), Inches(top), Inches(width), Inches(height)
        )
        # alt text (WCAG 1.1.1; PowerPoint's accessibility checker): the chart's summary
        alt = chart.alt or " ".join(x for x in (message, chart.caption) if x)
        pic._element.nvPicPr.cNvPr.set("descr", alt)

    # --------------------------------------------------------------- slide kinds
    def title_slide(self, title: str, subtitle: str, details: Sequence[str]) -> None:
        """The opening slide: a blue band with the title and subtitle, details below it."""
        slide = self.prs.slides.add_slide(self.prs.slide_layouts[_LAYOUT_TITLE])
        band = slide.shapes.add_shape(
            MSO_SHAPE.RECTANGLE, 0, 0, self.prs.slide_width, Inches(4.4)
        )
        band.fill.solid()
        band.fill.fore_color.rgb = BLUE
        band.line.fill.background()
        _decorative(band)
        # The band was added last, so it sits above the placeholders: move it to the back.
        sp_tree = slide.shapes._spTree
        sp_tree.remove(band._element)
        sp_tree.insert(2, band._element)
        t, sub = slide.placeholders[0], slide.placeholders[1]
        t.left, t.top = Inches(0.8), Inches(1.3)
        t.width, t.height = Inches(SLIDE_W_IN - 1.6), Inches(1.6)
        t.text_frame.vertical_anchor = MSO_ANCHOR.BOTTOM
        _set_text(t.text_frame, [title], size=40 if len(title) <= 50 else 32, bold=True,
                  color=WHITE)
        sub.left, sub.top = Inches(0.8), Inches(3.0)
        sub.width, sub.height = Inches(SLIDE_W_IN - 1.6), Inches(1.1)
        sub.text_frame.vertical_anchor = MSO_ANCHOR.TOP
        _set_text(sub.text_frame, [subtitle], size=22, color=WHITE)
        self._textbox(slide, 0.8, 4.8, SLIDE_W_IN - 1.6, 2.3, list(details), size=16,
                      color=DARK_GREY, space_after=6)

    def table_slide(
        self,
        title: str,
        header: Sequence[str],
        rows: Sequence[Sequence[Cell]],
        *,
        col_widths: Sequence[float] | None = None,
        message: str = "",
        notes: str | None = None,
        footnote: str = "",
        font_size: float = 12,
    ) -> None:
        """A real PowerPoint table; flagged cells are bold on a warm tint (and say why in
        words in their own text, so colour never carries the meaning alone)."""
        slide = self._content_slide(title)
        self._message(slide, message)
        top = BODY_TOP if message else MESSAGE_TOP + 0.1
        width = SLIDE_W_IN - 2 * MARGIN_IN
        widths = list(col_widths) if col_widths else [1.0] * len(header)
        scale = width / sum(widths)
        # each row as tall as its wrapped text (measured), so the table's height is known:
        # callers split long tables with table_pages() to keep it above the footnote
        heights = table_row_heights(header, rows, [w * scale for w in widths], font_size)
        shape = slide.shapes.add_table(
            len(rows) + 1, len(header), Inches(MARGIN_IN), Inches(top), Inches(width),
            Inches(sum(heights)),
        )
        table = shape.table
        for i, w in enumerate(widths):
            table.columns[i].width = Emu(int(Inches(w * scale)))
        for r in range(len(rows) + 1):
            table.rows[r].height = Inches(heights[r])
        for c, text in enumerate(header):
            cell = table.cell(0, c)
            cell.fill.solid()
            cell.fill.fore_color.rgb = DARK_BLUE
            _set_text(cell.text_frame, [text], size=font_size, bold=True, color=WHITE)
            cell.vertical_anchor = MSO_ANCHOR.MIDDLE
        for r, row in enumerate(rows, start=1):
            for c, item in enumerate(row):
                cell = table.cell(r, c)
                cell.fill.solid()
                if item.flag:
                    cell.fill.fore_color.rgb = FLAG_FILL
                else:
                    cell.fill.fore_color.rgb = WHITE if r % 2 else PALE_GREY
                _set_text(cell.text_frame, [item.text], size=font_size,
                          bold=item.flag or item.bold,
                          color=FLAG_TEXT if item.flag else BLACK)
                cell.vertical_anchor = MSO_ANCHOR.MIDDLE
                cell.margin_top = cell.margin_bottom = Inches(0.03)
        if footnote:
            self._textbox(slide, MARGIN_IN, BODY_BOTTOM - FOOTNOTE_H, width, FOOTNOTE_H,
                          [footnote], size=10, color=MID_GREY)
        self._notes(slide, notes)

    def chart_panel_slide(
        self,
        title: str,
        chart: Chart,
        panel: Sequence[tuple[str, str, bool]],
        *,
        message: str = "",
        notes: str | None = None,
    ) -> None:
        """One chart in the ``wide`` slot and a key-figures panel (label, value, flagged)
        as a small two-column table to its right."""
        slide = self._content_slide(title)
        self._message(slide, message)
        w, h = slot_inches("wide")
        self._picture(slide, chart, MARGIN_IN, BODY_TOP, w, h - (0.3 if chart.caption else 0),
                      message)
        if chart.caption:
            self._textbox(slide, MARGIN_IN, BODY_TOP + h - 0.3, w, 0.3, [chart.caption],
                          size=10, color=MID_GREY)
        left = MARGIN_IN + w + 0.25
        pw = SLIDE_W_IN - MARGIN_IN - left
        row_h = min(0.52, h / max(len(panel), 1))
        shape = slide.shapes.add_table(
            len(panel), 2, Inches(left), Inches(BODY_TOP), Inches(pw), Inches(row_h * len(panel))
        )
        table = shape.table
        table.first_row = False
        table.first_col = True  # the labels are the row headers
        table.columns[0].width = Emu(int(Inches(pw * 0.45)))
        table.columns[1].width = Emu(int(Inches(pw * 0.55)))
        for r, (label, value, flag) in enumerate(panel):
            table.rows[r].height = Inches(row_h)
            for c, text in enumerate((label, value)):
                cell = table.cell(r, c)
                cell.fill.solid()
                cell.fill.fore_color.rgb = FLAG_FILL if flag else (
                    PALE_GREY if c == 0 else WHITE)
                _set_text(cell.text_frame, [text], size=12, bold=(c == 1 and flag) or c == 0,
                          color=FLAG_TEXT if flag and c == 1 else
                          (DARK_GREY if c == 0 else BLACK))
                cell.vertical_anchor = MSO_ANCHOR.MIDDLE
                cell.margin_top = cell.margin_bottom = Inches(0.02)
        self._notes(slide, notes)

    def two_chart_slide(
        self, title: str, left: Chart, right: Chart, *, message: str = "",
        notes: str | None = None,
    ) -> None:
        """Two charts side by side in ``half`` slots, each with its caption underneath."""
        slide = self._content_slide(title)
        self._message(slide, message)
        w, h = slot_inches("half")
        for i, chart in enumerate((left, right)):
            x = MARGIN_IN + i * (w + 0.3)
            self._picture(slide, chart, x, BODY_TOP, w, h, message)
            if chart.caption:
                self._textbox(slide, x, BODY_TOP + h + 0.02, w, 0.38, [chart.caption],
                              size=11, color=DARK_GREY)
        self._notes(slide, notes)

    def text_slide(
        self, title: str, sections: Sequence[tuple[str, Sequence[str]]], *,
        notes: str | None = None, size: float = 12,
    ) -> None:
        """Headed sections of short paragraphs in two columns (methods, sources)."""
        slide = self._content_slide(title)
        half = (len(sections) + 1) // 2
        col_w = (SLIDE_W_IN - 2 * MARGIN_IN - 0.4) / 2
        for col, part in enumerate((sections[:half], sections[half:])):
            if not part:
                continue
            box = slide.shapes.add_textbox(
                Inches(MARGIN_IN + col * (col_w + 0.4)), Inches(MESSAGE_TOP),
                Inches(col_w), Inches(BODY_BOTTOM - MESSAGE_TOP),
            )
            tf = box.text_frame
            tf.word_wrap = True
            first = True
            for heading, lines in part:
                for j, text in enumerate([heading, *lines]):
                    p = tf.paragraphs[0] if first else tf.add_paragraph()
                    first = False
                    p.space_after = Pt(3 if j else 2)
                    if j == 0:
                        p.space_before = Pt(8)
                    run = p.add_run()
                    run.text = text
                    _style_run(run, size=size + 2 if j == 0 else size, bold=j == 0,
                               color=DARK_BLUE if j == 0 else BLACK)
        self._notes(slide, notes)

    # --------------------------------------------------------------- output
    def _number(self) -> None:
        # python-pptx hands out new proxy objects on each iteration: match on slide_id.
        total = len(self.prs.slides)
        index = {s.slide_id: i for i, s in enumerate(self.prs.slides, start=1)}
        for slide in self._numbered:
            if self.footer:
                self._textbox(slide, MARGIN_IN, FOOTER_TOP, 10.5, 0.35, [self.footer],
                              size=10, color=MID_GREY)
            self._textbox(slide, SLIDE_W_IN - MARGIN_IN - 1.5, FOOTER_TOP, 1.5, 0.35,
                          [f"{index[slide.slide_id]} / {total}"], size=10, color=MID_GREY,
                          align=PP_ALIGN.RIGHT)
        self._numbered = []

    def to_bytes(self) -> bytes:
        """The finished deck as .pptx bytes."""
        self._number()
        buf = io.BytesIO()
        self.prs.save(buf)
        return buf.getvalue()

    def save(self, path: str | Path) -> Path:
        """Write the deck atomically: a temporary file beside ``path``, then a rename, so a
        failure never leaves a half-written deck where the reader expects one."""
        return write_atomic(path, self.to_bytes())


def write_atomic(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


__all__ = [
    "PX_PER_INCH",
    "SLIDE_H_IN",
    "SLIDE_W_IN",
    "Cell",
    "Chart",
    "Deck",
    "slot_inches",
    "slot_pixels",
    "write_atomic",
]
