"""How much room a chart label takes: text extents in pixels, and boxes that must not meet.

The figure builders place labels themselves (plotly does not move annotations apart), so they
need each label's size before the browser draws it. Widths are **measured** with the glyph
advances of DejaVu Sans (Pillow reads the font file), which is what Debian's Chromium draws
for the theme's font stack (``fc-match Arial`` -> DejaVu Sans on this machine and in the slide
renderer). Where Arial or Frutiger is installed the text comes out narrower, so the room kept
is enough. Without the font file the width is **estimated** at 0.62 em per character (DejaVu
Sans' mean advance). Heights are 1.3 em per line (plotly's line spacing).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

_FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu",
              "/usr/local/share/fonts")
#: mean advance of DejaVu Sans, in em, when its file cannot be read
MEAN_EM = 0.62
LINE_EM = 1.3
_TAG = re.compile(r"<[^>]+>")


@lru_cache(maxsize=8)
def _font(bold: bool, size: int) -> Any:
    try:
        from PIL import ImageFont
    except ImportError:  # pragma: no cover - Pillow comes with python-pptx
        return None
    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    for d in _FONT_DIRS:
        path = Path(d) / name
        if path.is_file():
            return ImageFont.truetype(str(path), size)
    return None


def measured() -> bool:
    """True when widths come from the font file, False when they are estimated."""
    return _font(False, 12) is not None


def _line_width(line: str, size: float) -> float:
    """Width of one line of plotly label markup (``<b>`` bold runs, ``<sup>`` at 70%)."""
    total = 0.0
    bold = sup = False
    for part in re.split(r"(<[^>]+>)", line):
        if not part:
            continue
        if part.startswith("<"):
            tag = part.strip("<>/ ").split()[0].lower() if part.strip("<>/ ") else ""
            closing = part.startswith("</")
            if tag == "b":
                bold = not closing
            elif tag in ("sup", "sub"):
                sup = not closing
            continue
        text = html.unescape(part)
        px = size * (0.7 if sup else 1.0)
        font = _font(bold, max(int(round(px * 4)), 1))  # at 4x size: sub-pixel advances
        if font is not None:
            total += float(font.getlength(text)) / 4
        else:
            total += len(text) * MEAN_EM * px * (1.08 if bold else 1.0)
    return total


def text_size(text: str, size: float) -> tuple[float, float]:
    """(width, height) in px of plotly label markup at font ``size`` px; ``<br>`` breaks
    lines."""
    lines = re.split(r"<br\s*/?>", text or "")
    width = max((_line_width(ln, size) for ln in lines), default=0.0)
    return width, len(lines) * LINE_EM * size


def plain(text: str) -> str:
    """The words of plotly label markup, without tags or entities (a line break is a space)."""
    return html.unescape(_TAG.sub("", re.sub(r"<br\s*/?>", " ", text or "")))


@dataclass(frozen=True)
class Box:
    """An axis-aligned box in pixels (x to the right, y downwards)."""

    x0: float
    y0: float
    x1: float
    y1: float

    def overlaps(self, other: Box, gap: float = 0.0) -> bool:
        """True when the boxes meet (or come closer than ``gap``)."""
        return not (self.x1 + gap <= other.x0 or other.x1 + gap <= self.x0
                    or self.y1 + gap <= other.y0 or other.y1 + gap <= self.y0)

    def inside(self, outer: Box) -> bool:
        """True when this box lies wholly within ``outer``."""
        return (self.x0 >= outer.x0 and self.x1 <= outer.x1 and self.y0 >= outer.y0
                and self.y1 <= outer.y1)


def spread(centres: list[float], sizes: list[float], lo: float, hi: float,
           gap: float = 4.0) -> list[float] | None:
    """Move 1-D intervals (``centres`` with ``sizes``, in order) apart as little as possible so
    that none meets the next (``gap`` between) and all lie in ``[lo, hi]``; ``None`` when they
    cannot all fit. The order is kept, so leader lines to them never cross."""
    n = len(centres)
    if n == 0:
        return []
    if sum(sizes) + gap * (n - 1) > hi - lo:
        return None
    pos = list(centres)
    # forwards: each starts after the previous one ends; then backwards from the upper end
    start = lo
    for i in range(n):
        pos[i] = max(pos[i], start + sizes[i] / 2)
        start = pos[i] + sizes[i] / 2 + gap
    end = hi
    for i in range(n - 1, -1, -1):
        pos[i] = min(pos[i], end - sizes[i] / 2)
        end = pos[i] - sizes[i] / 2 - gap
    return pos
