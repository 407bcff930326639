"""Slide packs for network improvement meetings: one call from an organisation to a .pptx.

``build_pack(session, org_code=..., period=..., indicators=..., per_member=..., peers=...)``
gathers the numbers (:mod:`exports.data`, through the read services and the statistics
engine), draws the dashboards' own figures (:mod:`dashboards.figures`, ``for_slides=True``),
renders them with one Chromium (:mod:`exports.render`), writes the words
(:mod:`exports.narrative`) and lays out a 16:9 deck (:mod:`exports.pptx_builder`):

1. title slide: organisation, period, date made, data sources;
2. summary: a real table of every indicator (value, against the benchmark, SPC variation and
   assurance, target, opportunity) with the flags that need discussion tinted and named;
3. per indicator: the peer comparison (members highlighted among all peers) with key figures,
   then the funnel plot and the SPC chart; each slide has a plain-English message and speaker
   notes on method and caveats;
4. optionally one profile slide per member (spine chart of every indicator);
5. closing slide: methods, data sources, and the loads (id, file, date) behind every number.

Every chart is rendered before anything is written; a chart that fails raises
:class:`exports.render.RenderError` and no file appears (the file is written to a temporary
name and renamed at the end).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from core import stats
from core.services import rebases as rebase_service
from core.services import spc as spc_service
from core.services.disclosure import SUPPRESSED_NOTE
from dashboards import figures
from exports import narrative as nv
from exports.changes import Changes, add_change_slides, gather_changes
from exports.data import IndicatorData, PackData, gather_pack
from exports.pptx_builder import (
    BODY_BOTTOM,
    BODY_TOP,
    FOOTNOTE_H,
    MESSAGE_TOP,
    Cell,
    Chart,
    Deck,
    slot_pixels,
    table_pages,
    write_atomic,
)
from exports.render import render_png

#: Loads listed on the closing slide (the notes list them all).
CLOSING_LOADS = 8


@dataclass
class PackResult:
    """What :func:`build_pack` made: the bytes (or the path written), slide count, timings."""

    data: bytes | None
    path: Path | None
    slides: int
    indicators: list[str]
    charts: int
    seconds: float


# ---------------------------------------------------------------------------- words


def _fmt(ind: IndicatorData, value: float | None) -> str:
    m = ind.meta
    return nv.format_value(value, value_type=m.value_type, multiplier=m.multiplier,
                           decimals=m.decimals, unit=m.unit)


def _no_opportunity(ind: IndicatorData) -> str:
    """The opportunity cell without a number: disclosure control's note, or n/a."""
    return SUPPRESSED_NOTE if ind.opportunity_suppressed else "n/a"


def _noun(ind: IndicatorData, count: int = 2) -> str:
    return nv.org_noun(ind.unit_type, count)


def _story(pack: PackData, ind: IndicatorData) -> nv.IndicatorStory:
    ov = ind.org_value
    members = ind.members
    own = len(members) == 1 and members["org_id"].iloc[0] == pack.org.id
    flags = members["funnel_flag"].tolist() if not own else ind.peers_frame["funnel_flag"].tolist()
    return nv.IndicatorStory(
        name=ind.meta.name,
        org_name=pack.org.name,
        polarity=ind.meta.polarity,
        value_text=_fmt(ind, ov["value"]),
        benchmark_label=ind.benchmark_label,
        benchmark_text=_fmt(ind, ind.benchmark),
        category=ov["category"],
        suppressed=bool(ov.get("suppressed")),
        denominator=ov.get("denominator"),
        funnel_flags=flags if ind.funnel_points is not None else [],
        # the units on the funnel: rows without a usable value carry no flag and are not drawn
        funnel_units=(int(ind.funnel_points["flag"].notna().sum())
                      if ind.funnel_points is not None else None),
        funnel_centre_label=ind.benchmark_label if not own else ind.benchmark_label,
        member_noun=_noun(ind),
        opportunity=ind.opportunity_extra,
        opportunity_goal="the peer median",
        people=nv.people_words(ind.meta.numerator_label, ind.meta.denominator_label,
                               ind.meta.polarity),
        variation=ind.spc_variation,
        assurance=ind.spc_assurance,
        n_points=ind.spc_points,
        latest_label=ind.spc_frame["period"].iloc[-1] if len(ind.spc_frame) else None,
        target_text=_fmt(ind, ind.meta.target) if ind.meta.target is not None else None,
        below_target=(nv.meets_target(ov["value"], ind.meta.target, ind.meta.polarity) is False),
    )


def _flags(ind: IndicatorData, story: nv.IndicatorStory) -> list[nv.Flag]:
    worse_998 = 0
    if ind.funnel_points is not None:
        bad = "below_998" if ind.meta.polarity == nv.HIGHER else "above_998"
        worse_998 = int((ind.members["funnel_flag"] == bad).sum()) \
            if ind.meta.polarity != nv.NEUTRAL else 0
    return nv.discussion_flags(
        category=story.category, variation=story.variation, assurance=story.assurance,
        n_points=story.n_points, below_target=story.below_target,
        funnel_worse_998=worse_998, noun=_noun(ind, 1), nouns=_noun(ind),
    )


def _notes(pack: PackData, ind: IndicatorData, story: nv.IndicatorStory) -> str:
    m = ind.meta
    pf = ind.peers_frame
    small = int(((pf["denominator"] < 30) & pf["denominator"].notna()).sum())
    head = nv.headline(story)
    body = nv.method_notes(
        value_type=m.value_type, polarity=m.polarity, benchmark_label=ind.benchmark_label,
        funnel_method=ind.funnel_method, overdispersion=ind.funnel_overdispersion,
        phi=ind.funnel_phi, n_points=ind.spc_points, opportunity_goal="the peer median",
        numerator_label=m.numerator_label, denominator_label=m.denominator_label,
        suppressed_count=int(pf["suppressed"].sum()), small_count=small, noun=_noun(ind),
    )
    spc = nv.spc_sentence(story.variation, story.assurance, story.n_points,
                          latest_label=story.latest_label, target_text=story.target_text,
                          run_chart=_run_chart(ind))
    ov = ind.org_value
    numbers = (
        f"Numbers. {pack.org.name}: {_fmt(ind, ov['value'])} ({ind.confidence:g}% CI "
        f"{_fmt(ind, ov['lower'])} to {_fmt(ind, ov['upper'])}), "
        f"{nv.format_number(ov['numerator'])} of "
        f"{nv.format_number(ov['denominator'])}; {ind.benchmark_label}: "
        f"{_fmt(ind, ind.benchmark)}; peer quartiles {_fmt(ind, ind.quartiles[0])}, "
        f"{_fmt(ind, ind.quartiles[1])}, {_fmt(ind, ind.quartiles[2])}. Period {ind.period.label}."
    )
    src = f"Source: {m.source or 'not recorded'}; loads " + ", ".join(
        f"#{ld.id} ({ld.file_name})" for ld in ind.loads) + "."
    why = f"Why it matters: {m.why_it_matters}" if m.why_it_matters else ""
    return "\n\n".join(x for x in (head, spc, numbers, why, body, src) if x)


# ---------------------------------------------------------------------------- figures


def _comparison_fig(pack: PackData, ind: IndicatorData, size: tuple[int, int]) -> Any:
    frame = ind.peers_frame[["org_code", "org_name", "value", "lower", "upper", "comparison",
                             "denominator"]]
    return figures.comparison_figure(
        frame, indicator=ind.meta, benchmark=ind.benchmark,
        benchmark_label=_cap(ind.benchmark_label.removeprefix("the ")),
        target=ind.meta.target, highlight=ind.member_codes, confidence=ind.confidence,
        for_slides=True, width=size[0], height=size[1],
    )


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _funnel_fig(ind: IndicatorData, size: tuple[int, int]) -> Any:
    points = ind.funnel_points
    if points is None:
        points = ind.peers_frame.iloc[0:0]
    # the same words as the dashboard's funnel, whichever setting the pack was made with
    if not ind.funnel_od_requested:
        note = "Limits not adjusted for overdispersion"
    elif ind.funnel_overdispersion and ind.funnel_phi is not None:
        note = f"Limits widened for overdispersion (phi = {ind.funnel_phi:.2f})"
    else:
        note = ("Overdispersion requested, but the organisations vary no more than chance "
                "predicts: limits not widened")
    return figures.funnel_figure(
        points, ind.funnel_limits, indicator=ind.meta, centre=ind.funnel_centre,
        centre_label="Peer average", target=ind.meta.target,
        highlight=ind.member_codes, overdispersion_note=note, for_slides=True,
        width=size[0], height=size[1],
    )


def _run_chart(ind: IndicatorData) -> Any:
    """Anhoej run-chart analysis of the slide's series (shown when it is too short for
    limits), as the SPC service computes it."""
    return stats.run_chart_signals(ind.spc_frame["value"].to_numpy(dtype=float))


def _spc_fig(ind: IndicatorData, size: tuple[int, int]) -> Any:
    """The SPC chart as the trend page draws it: the x axis keeps dates with the series' own
    period labels as ticks; too short for limits = a run chart with the page's words."""
    enough = ind.spc_points >= nv.SPC_MIN_POINTS
    frame = ind.spc_frame
    return figures.spc_figure(
        frame, indicator=ind.meta, target=ind.meta.target,
        variation=nv.variation_label(ind.spc_variation) if enough else None,
        assurance=nv.assurance_label(ind.spc_assurance) if enough and ind.meta.target
        is not None else None,
        note=spc_service.too_few_for_limits(ind.spc_points),
        median=None if enough else _run_chart(ind).centre,
        clip=(0.0, float(ind.meta.multiplier)) if ind.meta.value_type == "proportion" else None,
        for_slides=True, width=size[0], height=size[1], rebases=_rebase_marks(frame),
    )


def _rebase_marks(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The accepted rebases on a slide's SPC chart, labelled as on the trend page."""
    starts = dict(zip(frame["period"], frame["x"], strict=False))
    return [{"date": starts[r["period"]],
             "text": rebase_service.mark_text(r)}
            for r in frame.attrs.get("accepted_rebases", []) if r["period"] in starts]


def _profile_frame(inds: list[IndicatorData], code: str) -> pd.DataFrame:
    rows = []
    for ind in inds:
        pf = ind.peers_frame
        me = pf[pf["org_code"] == code]
        vals = pf["value"].dropna().to_numpy()
        if me.empty or not vals.size:
            continue
        r = me.iloc[0]
        q1, med, q3 = np.percentile(vals, [25, 50, 75])
        rows.append({
            "indicator_name": ind.meta.name, "value": r["value"], "lowest": vals.min(),
            "q1": q1, "median": med, "q3": q3, "highest": vals.max(),
            "polarity": ind.meta.polarity, "decimals": ind.meta.decimals,
            "unit": ind.meta.unit, "comparison": r["comparison"],
        })
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------- slides


def _summary_rows(pack: PackData, show_period: bool) -> tuple[list[list[Cell]], int]:
    rows, flagged = [], 0
    for ind in pack.indicators:
        story = _story(pack, ind)
        flags = _flags(ind, story)
        codes = {f.code for f in flags}
        flagged += bool(flags)
        ov = ind.org_value
        cat_text = {
            "better": "Better", "worse": "Worse", "similar": "Similar",
            "higher": "Higher", "lower": "Lower", "not_compared": "Not compared",
        }.get(ov["category"], ov["category"])
        enough = ind.spc_points >= nv.SPC_MIN_POINTS
        target = _fmt(ind, ind.meta.target) if ind.meta.target is not None else "No target"
        met = nv.meets_target(ov["value"], ind.meta.target, ind.meta.polarity)
        if met is not None:
            target += " (met)" if met else " (not met)"
        opp = (_no_opportunity(ind) if ind.opportunity_extra is None else
               "0" if ind.opportunity_extra < 0.5 else nv.about(ind.opportunity_extra)
               .replace("about ", "~"))
        row = [Cell(ind.meta.name, bold=True)]
        if show_period:
            row.append(Cell(ind.period.label))
        row += [
            Cell(_fmt(ind, ov["value"])),
            Cell(cat_text, flag="worse" in codes),
            Cell(nv.variation_label(ind.spc_variation) if enough else
                 f"Too few points ({ind.spc_points})", flag="spc_concern" in codes),
            Cell(nv.assurance_label(ind.spc_assurance) if enough and ind.meta.target
                 is not None else "-", flag="target_fail" in codes),
            Cell(target, flag="below_target" in codes),
            Cell(opp),
            Cell(_cap("; ".join(f.text for f in flags)) or "-", flag=bool(flags)),
        ]
        rows.append(row)
    return rows, flagged


def _closing(deck: Deck, pack: PackData) -> None:
    loads = pack.loads
    sources = sorted({i.meta.source for i in pack.indicators if i.meta.source})
    lines_loads = [
        f"Load #{ld.id}: {ld.file_name}, loaded "
        f"{ld.finished_at.strftime('%d %b %Y %H:%M') if ld.finished_at else 'date unknown'} "
        f"({nv.format_number(ld.values)} values shown)"
        for ld in loads[:CLOSING_LOADS]
    ]
    if len(loads) > CLOSING_LOADS:
        lines_loads.append(f"... and {len(loads) - CLOSING_LOADS} more (see the notes)")
    periods = sorted({i.period.label for i in pack.indicators})
    sections = [
        ("Methods", [
            "Values and 95% confidence intervals: Wilson score for proportions, Byar/exact "
            "Poisson for rates and ratios (OHID Fingertips methods).",
            "Benchmark: the pooled value (total numerator / total denominator) of all peers; "
            "'similar' when the benchmark lies inside the interval (Fingertips rule).",
            "Funnel plots: 95% and 99.8% limits around the pooled value; widened for "
            "overdispersion only when asked (Spiegelhalter 2005; FunnelPlotR), as on the "
            "dashboard, and each funnel says which.",
            "SPC: XmR charts and icons as NHS England's Making Data Count; no judgement with "
            f"fewer than {nv.SPC_MIN_POINTS} points.",
            "Opportunity: extra people if each member below the peer median reached it "
            "(GIRFT-style estimate of scale).",
        ]),
        ("This pack", [
            f"Organisation: {pack.org.name} ({pack.org.code}).",
            f"Period{'s' if len(periods) > 1 else ''}: {', '.join(periods)}.",
            f"Made {pack.made_at.strftime('%d %b %Y %H:%M UTC')} by qidash from the "
            "database as it stood then.",
        ]),
        ("Data sources", sources or ["No source recorded in the indicator definitions."]),
        ("Loads behind the numbers", lines_loads or ["No load recorded."]),
    ]
    notes = "Every load behind the numbers in this pack:\n" + "\n".join(
        f"#{ld.id} {ld.file_name} "
        f"{ld.finished_at.isoformat() if ld.finished_at else ''} ({ld.values} values)"
        for ld in loads
    )
    deck.text_slide("Methods and data sources", sections, notes=notes)


def assemble(
    pack: PackData,
    *,
    render: Callable[..., bytes],
    per_member: bool = False,
    changes: Changes | None = None,
) -> tuple[Deck, int]:
    """Lay the pack out as a deck (rendering every chart first); returns the deck and the
    number of charts drawn. ``render(figure, width=, height=, scale=, name=)`` returns a chart's PNG
    bytes (:func:`exports.render.render_png`, or a stub in tests)."""
    org = pack.org
    made = pack.made_at.strftime("%d %B %Y")
    deck = Deck(footer=f"{org.name} ({org.code}) | {pack.period_label} | made {made} by qidash")

    # Render everything before laying out, so a failure writes nothing. Chromium draws one
    # chart while Python builds the next figure (the render call waits on the browser without
    # holding the GIL): a 10-indicator pack takes the render time, not render + build time.
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qidash-render")

    def png(fig: Any, size: tuple[int, int], name: str) -> Future[bytes]:
        return pool.submit(render, fig, width=size[0], height=size[1],
                           scale=max(1.0, 1600 / size[0]), name=name)

    pending: dict[str, tuple[Future[bytes], str]] = {}
    try:
        _build_charts(pack, per_member, png, pending)
        charts = {k: Chart(f.result(), cap) for k, (f, cap) in pending.items()}
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    member_codes = _member_codes(pack) if per_member else []
    _lay_out(deck, pack, charts, member_codes, changes)
    return deck, len(charts)


def _member_codes(pack: PackData) -> list[tuple[str, str]]:
    seen: dict[str, str] = {}
    for ind in pack.indicators:
        for c, n in ind.members[["org_code", "org_name"]].itertuples(index=False):
            seen.setdefault(str(c), str(n))
    return sorted(seen.items())


def _build_charts(
    pack: PackData, per_member: bool, png: Callable[..., Future[bytes]],
    charts: dict[str, tuple[Future[bytes], str]],
) -> None:
    org = pack.org
    wide, half = slot_pixels("wide"), slot_pixels("half")
    for ind in pack.indicators:
        iid, noun = ind.meta.id, _noun(ind)
        n_members = len(ind.members)
        charts[f"cmp:{iid}"] = (
            png(_comparison_fig(pack, ind, wide), wide, f"the peer comparison chart for {iid}"),
            f"All {int(ind.peers_frame['value'].notna().sum())} {noun} with a value; "
            + (f"{org.name}'s {n_members} {noun} outlined" if ind.members["org_id"].iloc[0]
               != org.id else f"{org.name} outlined")
            + f". Whiskers: {ind.confidence:g}% confidence intervals.",
        )
        charts[f"fun:{iid}"] = (
            png(_funnel_fig(ind, half), half, f"the funnel plot for {iid}"),
            "Funnel plot: outside the limits is more than chance; inside, do not rank."
            if ind.funnel_points is not None else
            f"No funnel plot for {ind.meta.value_type} indicators.",
        )
        charts[f"spc:{iid}"] = (
            png(_spc_fig(ind, half), half, f"the SPC chart for {iid}"),
            (f"SPC (XmR) chart of {org.name}, {len(ind.spc_frame)} periods."
             + "".join(f" {w}" for w in rebase_service.applied_words(
                 ind.spc_frame.attrs.get("accepted_rebases", [])))
             if ind.spc_points >= nv.SPC_MIN_POINTS else
             f"Run chart of {org.name}: {spc_service.too_few_for_limits(ind.spc_points)}."),
        )
    if per_member:
        for code, name in _member_codes(pack):
            profile = _profile_frame(pack.indicators, code)
            fig = figures.spine_figure(profile, org_name=name, peer_label="all peers",
                                       for_slides=True, width=wide[0], height=wide[1])
            charts[f"mem:{code}"] = (png(fig, wide, f"the profile of {code}"),
                                     "Dot: the practice; bar: range and middle half of "
                                     "all peers; better to the right.")


def _lay_out(
    deck: Deck, pack: PackData, charts: dict[str, Chart], member_codes: list[tuple[str, str]],
    changes: Changes | None = None,
) -> None:
    """Lay out every slide of the pack from the rendered ``charts``, in order: the title
    slide, the summary table (on as many slides as it needs), 'What changed' and 'Actions and
    their effect' when the pack is made with ``since`` (``changes``), each indicator's two
    slides, a profile slide for each of ``member_codes`` (code, name), and the closing slide."""
    _title_slide(deck, pack)
    _summary_slides(deck, pack)
    if changes is not None:  # pack made with ``since``: alerts and actions
        add_change_slides(deck, changes)
    for ind in pack.indicators:
        _indicator_slides(deck, pack, ind, charts)
    for code, name in member_codes:
        _member_slide(deck, pack, code, name, charts)
    _closing(deck, pack)


def _title_slide(deck: Deck, pack: PackData) -> None:
    """The title slide: the organisation, the period, how many indicators (and how many left
    out), when the pack was made, and the data sources."""
    org = pack.org
    made = pack.made_at.strftime("%d %B %Y")

    sources = sorted({i.meta.source for i in pack.indicators if i.meta.source})
    deck.title_slide(
        org.name,
        f"Quality improvement pack | {pack.period_label}",
        [
            f"{_cap(nv.org_noun(org.org_type, 1))} {org.code}: "
            f"{nv.plural(len(pack.indicators), 'indicator')} compared with peers"
            + (f"; {len(pack.omitted)} left out (no data for the period: see the summary)"
               if pack.omitted else ""),
            f"Made {made} by qidash",
            "Data: " + ("; ".join(sources) if sources else "see the closing slide"),
        ],
    )


def _summary_slides(deck: Deck, pack: PackData) -> None:
    """The summary table of every indicator (:func:`_summary_rows`), titled with the verdict,
    on as many slides as it needs: the first also names the indicators left out, the rest
    ('Summary (continued)') have the whole body for rows."""
    show_period = len({i.period.label for i in pack.indicators}) > 1
    rows, flagged = _summary_rows(pack, show_period)
    header = ["Indicator", *(["Period"] if show_period else []), "Value", "Vs peers",
              "Trend (SPC)", "Assurance", "Target", "Opportunity", "Needs discussion"]
    widths = [2.9, *([0.95] if show_period else []), 0.8, 0.95, 1.35, 1.3, 1.25, 1.35, 2.3]
    # The verdict is the title, so the table has the whole slide (one slide for 10 rows).
    verdict = (f"{flagged} of {len(pack.indicators)} indicators need discussion" if flagged
               else f"none of the {len(pack.indicators)} indicators is flagged")
    footnote = ("Tinted = discuss (last column says why). Vs peers: 95% CI vs pooled peer value. "
                "Opportunity: extra people if members below the peer median reached it; "
                "~ means about (rounded).")
    message = ""
    if pack.omitted:
        message = "Not in this pack: " + "; ".join(
            f"{name} ({reason})" for name, reason in pack.omitted) + "."
    room = BODY_BOTTOM - FOOTNOTE_H - 0.05 - (BODY_TOP if message else MESSAGE_TOP + 0.1)
    cont_room = BODY_BOTTOM - FOOTNOTE_H - 0.05 - (MESSAGE_TOP + 0.1)
    pages = table_pages(header, rows, widths, 11, room)
    if len(pages) > 1:  # the first page may hold the message; the rest have the whole body
        first = pages[0]
        pages = [first] + table_pages(header, rows[len(first):], widths, 11, cont_room)
    for i, part in enumerate(pages):
        title = f"Summary: {verdict}" if i == 0 else "Summary (continued)"
        deck.table_slide(
            title, header, part, col_widths=widths, message=message if i == 0 else "",
            footnote=footnote,
            notes="How to read this table: 'Vs peers' uses the 95% interval; 'Trend' and "
                  "'Assurance' are Making Data Count's SPC icons in words; tinted cells need "
                  "discussion and the last column says why. Unflagged indicators are similar "
                  "to or better than peers, show no SPC concern and meet their target. "
                  "Opportunity figures marked ~ are rounded estimates.",
            font_size=11,
        )


def _indicator_slides(deck: Deck, pack: PackData, ind: IndicatorData,
                      charts: dict[str, Chart]) -> None:
    """One indicator's two slides, with the same speaker notes: how the organisation compares
    (:func:`_comparison_slide`), then its variation and trend (:func:`_variation_slide`)."""
    story = _story(pack, ind)
    notes = _notes(pack, ind, story)
    _comparison_slide(deck, pack, ind, story, notes, charts[f"cmp:{ind.meta.id}"])
    _variation_slide(deck, ind, story, notes, charts)


def _comparison_slide(deck: Deck, pack: PackData, ind: IndicatorData, story: nv.IndicatorStory,
                      notes: str, chart: Chart) -> None:
    """The peer comparison chart beside a panel of key figures (value, interval, benchmark,
    comparison, target, peer median, opportunity, period), a flagged figure marked, under the
    indicator's headline."""
    ov = ind.org_value
    flags = {f.code for f in _flags(ind, story)}
    panel = [
        ("Value", f"{_fmt(ind, ov['value'])}", False),
        (f"{ind.confidence:g}% interval",
         f"{_fmt(ind, ov['lower'])} to {_fmt(ind, ov['upper'])}", False),
        ("Benchmark", _fmt(ind, ind.benchmark), False),
        ("Compared", {"better": "Significantly better", "worse": "Significantly worse",
                      "similar": "Similar", "higher": "Significantly higher",
                      "lower": "Significantly lower"}.get(ov["category"], "Not compared"),
         "worse" in flags),
        ("Target", _fmt(ind, ind.meta.target) if ind.meta.target is not None else "No target",
         "below_target" in flags or "target_fail" in flags),
        ("Peer median", _fmt(ind, ind.quartiles[1]), False),
        ("Opportunity", _no_opportunity(ind) if ind.opportunity_extra is None else
         nv.count_of(ind.opportunity_extra, story.people)
         if ind.opportunity_extra >= 0.5 else "0 (at or above the peer median)",
         False),
        ("Period", ind.period.label, False),
    ]
    deck.chart_panel_slide(
        f"{ind.meta.name}: how {pack.org.name} compares", chart, panel,
        message=nv.headline(story), notes=notes,
    )


def _variation_slide(deck: Deck, ind: IndicatorData, story: nv.IndicatorStory, notes: str,
                     charts: dict[str, Chart]) -> None:
    """The funnel plot and the SPC chart side by side, each picture's alt text its caption and
    its own sentence, the two sentences the slide's message."""
    funnel_text = nv.funnel_sentence(
        story.funnel_flags, centre_label=ind.benchmark_label, noun=_noun(ind),
        polarity=ind.meta.polarity, units=story.funnel_units) if story.funnel_flags else ""
    spc_text = nv.spc_sentence(story.variation, story.assurance, story.n_points,
                               latest_label=story.latest_label,
                               target_text=story.target_text, run_chart=_run_chart(ind))
    fun, spc = charts[f"fun:{ind.meta.id}"], charts[f"spc:{ind.meta.id}"]
    deck.two_chart_slide(  # each picture's alt text: its caption and its own sentence
        f"{ind.meta.name}: variation and trend",
        replace(fun, alt=" ".join(x for x in (fun.caption, funnel_text) if x)),
        replace(spc, alt=f"{spc.caption} {spc_text}".strip()),
        message=" ".join(x for x in (funnel_text, spc_text) if x),
        notes=notes,
    )


def _member_slide(deck: Deck, pack: PackData, code: str, name: str,
                  charts: dict[str, Chart]) -> None:
    """One member's profile: its spine chart of every indicator beside the counts of
    indicators better than, similar to and worse than the peer average (the worse ones named,
    up to three)."""
    profile = _profile_frame(pack.indicators, code)
    counts = profile["comparison"].value_counts().to_dict() if not profile.empty else {}
    worse = [r.indicator_name for r in profile.itertuples() if r.comparison == "worse"]
    n_better = counts.get("better", 0)
    msg = (f"{name} against the peer average: {n_better} "
           f"indicator{'' if n_better == 1 else 's'} significantly better, "
           f"{counts.get('similar', 0)} similar and {counts.get('worse', 0)} significantly "
           "worse"
           + (f"; worse on {', '.join(worse[:3])}" + (" and more" if len(worse) > 3 else "")
              if worse else "") + ".")
    panel = [
        ("Indicators", str(len(profile)), False),
        ("Better", str(counts.get("better", 0)), False),
        ("Similar", str(counts.get("similar", 0)), False),
        ("Worse", str(counts.get("worse", 0)), bool(counts.get("worse", 0))),
        ("Not compared", str(counts.get("not_compared", 0)), False),
    ]
    deck.chart_panel_slide(f"{name} ({code}): profile", charts[f"mem:{code}"], panel,
                           message=msg, notes="Spine chart: each row is one indicator; "
                           "the dot is this practice, the grey bar the range of all peers "
                           "and the darker bar their middle half; better is to the right.")


def build_pack(
    session: Session,
    *,
    org_code: str,
    period: str | None = None,
    indicators: str | list[str] | None = None,
    per_member: bool = False,
    peers: str | None = None,
    confidence: float = 95.0,
    output: str | Path | None = None,
    since: str | None = None,
    overdispersion: bool = False,
    render: Callable[..., bytes] = render_png,
) -> PackResult:
    """Make the slide pack for ``org_code``; write it to ``output`` (atomically) or return bytes.

    ``indicators``: ids (list or "a,b,c"; default every indicator with data for the
    organisation or its members). ``period``: a period label (default each indicator's latest
    period with data here). ``peers``: a peer spec (``parent:CODE``, ``similar:CODE``,
    ``group:NAME``; default every organisation of the members' type). ``confidence``: 95
    or 99.8, for the intervals and the comparison with peers (as on the comparison page).
    ``since`` (YYYY-MM-DD) adds 'What changed' (the alerts raised since then) and 'Actions
    and their effect' after the summary (:mod:`exports.changes`).
    ``overdispersion``: widen the funnel limits (off by default, as on the dashboard).
    ``render``: the chart renderer (default headless Chromium; tests pass a stub). Raises
    :class:`core.errors.QidashError` subclasses for bad input and
    :class:`exports.render.RenderError` when a chart cannot be drawn; nothing is written then.
    """
    t0 = time.perf_counter()
    pack = gather_pack(session, org_code=org_code, period=period, indicators=indicators,
                       peers=peers, confidence=confidence, overdispersion=overdispersion)
    changes = gather_changes(session, org_code, since) if since else None
    deck, n_charts = assemble(pack, render=render, per_member=per_member, changes=changes)
    data = deck.to_bytes()
    path = write_atomic(output, data) if output is not None else None
    return PackResult(
        data=None if path else data, path=path, slides=len(deck.prs.slides),
        indicators=[i.meta.id for i in pack.indicators], charts=n_charts,
        seconds=time.perf_counter() - t0,
    )


def default_filename(org_code: str, period: str | None, fmt: str = "pptx") -> str:
    """A safe file name for a pack: ``qidash-pack-U08235-2021-22.pptx``."""
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in org_code)
    tail = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in (period or "latest"))
    return f"qidash-pack-{safe}-{tail}.{fmt}"


__all__ = ["PackResult", "assemble", "build_pack", "default_filename"]
