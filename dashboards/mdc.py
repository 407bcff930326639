"""Making Data Count icons drawn by qidash, and the summary matrix of a network.

The icons follow NHS England's Making Data Count set in shape and colour (NHSRplotthedots'
colours, :data:`dashboards.theme.SPC_COLOURS`): **variation** is a circle around a run of
points, grey for common cause, blue for special cause improvement, orange for concern and
purple where neither direction is better, with ``H`` or ``L`` for a high or low special cause;
**assurance** is a circle with ``P`` (the target will be met consistently, blue), ``F`` (it
will not be met unless the process changes, orange) or ``?`` (hit and miss, grey). Each is an
SVG drawn here (a ``data:`` image: no file or external image, and no script, so the
Content-Security-Policy allows it) and never stands alone: the cell's link carries the words as
its title and as visually hidden text (:func:`dashboards.adapters.variation_words`,
:func:`dashboards.adapters.assurance_words`: the same words as the trend page's badges).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pandas as pd
from dash import html

from core.services.spc import MIN_POINTS
from dashboards import adapters, theme

#: the most member columns the matrix shows (a region's ~130 trusts are not readable at once:
#: the most concerning are shown, with a note; the triage table and its CSV have them all)
MAX_MEMBERS = 30

_KIND_COLOUR = {
    "improvement": theme.SPC_COLOURS["special_cause_improvement"],
    "concern": theme.SPC_COLOURS["special_cause_concern"],
    "neutral": theme.SPC_COLOURS["special_cause_neutral"],
    "common": theme.SPC_COLOURS["common_cause"],
}
_ASSURANCE = {"pass": ("P", theme.SPC_COLOURS["special_cause_improvement"]),
              "fail": ("F", theme.SPC_COLOURS["special_cause_concern"]),
              "hit_or_miss": ("?", theme.SPC_COLOURS["common_cause"])}
SIZE = 30
_HIDDEN: dict[str, Any] = {"aria-hidden": "true"}
_REGION_LABEL: dict[str, Any] = {"aria-label": "Making Data Count summary: indicators by member"}


def _svg(body: str) -> str:
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{SIZE}" height="{SIZE}" '
           f'viewBox="0 0 40 40">{body}</svg>')
    return "data:image/svg+xml;utf8," + quote(svg)


def _circle(colour: str) -> str:
    return (f'<circle cx="20" cy="20" r="18" fill="#fff" stroke="{colour}" '
            'stroke-width="3"/>')


def variation_svg(code: str | None) -> str | None:
    """The variation icon of an engine code (``improvement_high``, ``common_cause`` ...), as a
    ``data:`` URI; None where there is no icon (too few points)."""
    if not isinstance(code, str) or not code:
        return None
    kind = code.split("_")[0] if code != "common_cause" else "common"
    colour = _KIND_COLOUR.get(kind, _KIND_COLOUR["common"])
    high = code.endswith("_high")
    # a run of points: level for common cause, stepping up (or down) for a special cause
    if kind == "common":
        ys = [22, 20, 23, 19, 21]
    elif high:
        ys = [27, 26, 18, 16, 15]
    else:
        ys = [14, 15, 23, 25, 26]
    dots = "".join(f'<circle cx="{9 + 5.5 * i:.1f}" cy="{y}" r="2.6" fill="{colour}"/>'
                   for i, y in enumerate(ys))
    line = " ".join(f"{9 + 5.5 * i:.1f},{y}" for i, y in enumerate(ys))
    body = _circle(colour) + (f'<polyline points="{line}" fill="none" stroke="{colour}" '
                              'stroke-width="1.5"/>') + dots
    if kind != "common":
        letter = "H" if high else "L"
        body += (f'<text x="20" y="{12 if not high else 35}" font-family="Arial,sans-serif" '
                 f'font-size="10" font-weight="700" text-anchor="middle" '
                 f'fill="{theme.NHS_BLACK}">{letter}</text>')
    return _svg(body)


def assurance_svg(code: str | None) -> str | None:
    """The assurance icon of an engine code (``pass``, ``fail``, ``hit_or_miss``) as a
    ``data:`` URI; None where there is no target (or too few points)."""
    if not isinstance(code, str) or code not in _ASSURANCE:
        return None
    letter, colour = _ASSURANCE[code]
    return _svg(_circle(colour) + (
        f'<text x="20" y="27" font-family="Arial,sans-serif" font-size="20" font-weight="700" '
        f'text-anchor="middle" fill="{theme.NHS_BLACK}">{letter}</text>'))


def concern_score(variation: Any, assurance: Any, worse: bool = False) -> tuple[int, int, int]:
    """How concerning one cell is, for sorting (higher first): a special cause of concern,
    a target that will be missed, worse than peers; an improvement counts against."""
    v = variation if isinstance(variation, str) else ""
    return (int(v.startswith("concern")) * 2 + int(assurance == "fail") + int(bool(worse)),
            -int(v.startswith("improvement")), int(assurance == "hit_or_miss"))


def _icon(src: str) -> Any:
    # decorative: the cell's words (title and visually hidden text) say what it shows
    return html.Img(src=src, alt="", width=SIZE, height=SIZE, className="qd-mdc-icon")


def cell_words(member: str, indicator: str, variation: Any, assurance: Any,
               note: Any = None) -> str:
    """The text equivalent of a cell's icons."""
    if note:
        return f"{member}, {indicator}: {note}"
    var, _ = adapters.variation_words(variation)
    ass, _ = adapters.assurance_words(assurance)
    if not isinstance(assurance, str) and isinstance(variation, str):
        ass = "no target assurance"
    return f"{member}, {indicator}: {var}" + (f"; {ass}" if ass else "")


def matrix(rows: pd.DataFrame, members: pd.DataFrame, *,
           max_members: int = MAX_MEMBERS) -> Any:
    """The Making Data Count summary: indicators (rows) x members (columns), each cell the
    latest variation and assurance icons linking to the member's trend chart; most
    concerning indicators first (and, where there are more members than ``max_members``,
    the most concerning members, with a note)."""
    if rows.empty:
        return html.P("No indicator values for the members yet.", className="text-muted")
    names = dict(zip(members["code"], members["name"], strict=True))
    score: dict[str, list[int]] = {}
    by_ind: dict[str, list[int]] = {}
    for r in rows.itertuples():
        s = concern_score(r.spc_variation, r.spc_assurance, r.significantly_worse)
        score.setdefault(r.org_code, [0, 0, 0])
        by_ind.setdefault(r.indicator_id, [0, 0, 0])
        for acc in (score[r.org_code], by_ind[r.indicator_id]):
            for k in range(3):
                acc[k] += s[k]
    codes = [c for c in members["code"] if c in score]
    codes.sort(key=lambda c: (tuple(-x for x in score[c]), c))
    shown = codes[:max_members]
    indicators = (rows[["indicator_id", "indicator_name"]].drop_duplicates("indicator_id")
                  .itertuples(index=False))
    ind_order = sorted(indicators, key=lambda t: (tuple(-x for x in by_ind[t[0]]), t[1]))
    cells = {(r.indicator_id, r.org_code): r for r in rows.itertuples()}
    head = html.Thead(html.Tr(
        [html.Th("Indicator", scope="col", className="qd-mdc-ind")]
        + [html.Th(html.Span(names.get(c, c), title=f"{names.get(c, c)} ({c})"), scope="col",
                   className="qd-mdc-member") for c in shown]))
    body = []
    for ind_id, ind_name in ind_order:
        tds: list[Any] = [html.Th(ind_name, scope="row", className="qd-mdc-ind")]
        for c in shown:
            r = cells.get((ind_id, c))
            if r is None:
                tds.append(html.Td([html.Span("-", **_HIDDEN),
                                    html.Span(f"{names.get(c, c)}: no data",
                                              className="visually-hidden")],
                                   className="qd-mdc-cell text-muted"))
                continue
            note = getattr(r, "disclosure", None)
            note = note if isinstance(note, str) and note else None
            words = cell_words(names.get(c, c), ind_name, r.spc_variation, r.spc_assurance,
                               note)
            icons: list[Any] = []
            if note is None:
                v, a = variation_svg(r.spc_variation), assurance_svg(r.spc_assurance)
                icons = [_icon(x) for x in (v, a) if x]
            if not icons:
                icons = [html.Span("suppressed" if note else "too few points",
                                   className="small", **_HIDDEN)]
            tds.append(html.Td(html.A(
                [*icons, html.Span(words, className="visually-hidden")],
                href=f"/organisations/{c}/indicators/{ind_id}", title=words,
                className="qd-mdc-link"), className="qd-mdc-cell"))
        body.append(html.Tr(tds))
    note_text = None
    if not any(isinstance(r.spc_variation, str) for r in rows.itertuples()):
        note_text = (f"No member has {MIN_POINTS} or more values of these indicators yet, so "
                     "there are no SPC icons (Making Data Count): each cell links to the run "
                     "chart.")
    elif len(codes) > len(shown):
        note_text = (f"Showing the {len(shown)} members with the most concerning icons of "
                     f"{len(codes)}; the 'Where to look first' table and its CSV list them "
                     "all.")
    return html.Div([
        html.P(note_text, className="small qd-mdc-note") if note_text else None,
        html.Div(html.Table([head, html.Tbody(body)], className="qd-mdc-table"),
                 className="qd-mdc-scroll", tabIndex=0, role="region",
                 **_REGION_LABEL),
        html.P(["Variation: ", html.Img(src=variation_svg("common_cause"), alt="",
                                        width=20, height=20), " common cause, ",
                html.Img(src=variation_svg("improvement_high"), alt="", width=20, height=20),
                " improvement, ",
                html.Img(src=variation_svg("concern_low"), alt="", width=20, height=20),
                " concern (H or L: high or low). Assurance: ",
                html.Img(src=assurance_svg("pass"), alt="", width=20, height=20),
                " target met consistently, ",
                html.Img(src=assurance_svg("fail"), alt="", width=20, height=20),
                " missed consistently, ",
                html.Img(src=assurance_svg("hit_or_miss"), alt="", width=20, height=20),
                " hit and miss. 'Too few points': fewer than 12 values, so no icons (Making "
                "Data Count)."], className="small mt-2 qd-mdc-key"),
    ])
