"""'What changed' and 'Actions and their effect' slides of a pack made with ``since``.

The alerts come from :func:`core.services.alerts.list_alerts` (the path through which alerts
leave core, disclosure control included): those raised since the date for the organisation and
every organisation below it, concerns first. The actions are those of the same organisations,
each with its effect on its SPC chart as it stands (:mod:`core.services.actions`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import QidashError
from core.models import Organisation
from core.services import actions as action_service
from core.services import rebases as rebase_service
from core.services import spc as spc_service
from core.services.alerts import KIND_ORDER, alert_records, list_alerts
from core.services.organisations import descendant_ids, get_org
from exports.pptx_builder import Cell, Deck

#: rows per table slide, and at most this many slides of each kind
ROWS = 10
MAX_SLIDES = 3
CONCERNS = ("special_cause_concern", "crossed_limit_worse", "target_missed")
KIND_WORDS = {
    "special_cause_concern": "SPC concern", "crossed_limit_worse": "Outside funnel (worse)",
    "target_missed": "Target missed", "special_cause_improvement": "SPC improvement",
    "crossed_limit_better": "Funnel (better)", "target_met": "Target met",
}


@dataclass(frozen=True)
class Changes:
    """Alerts raised since ``since`` (concerns first) and actions with their effect."""

    since: str
    alerts: list[dict[str, Any]]
    actions: list[dict[str, Any]]


def gather_changes(session: Session, org_code: str, since: str) -> Changes:
    org = get_org(session, org_code, parameter="org")
    below, _ = list_alerts(session, since=since, network=org.code, limit=None)
    own, _ = list_alerts(session, since=since, org=org.code, limit=None)
    frame = pd.concat([f for f in (own, below) if not f.empty] or [own], ignore_index=True)
    alerts = alert_records(frame) if not frame.empty else []
    alerts.sort(key=lambda a: (KIND_ORDER.get(a["kind"], 9), a["org_code"], a["indicator_id"],
                               a["period"]))
    ids = [org.id, *descendant_ids(session, org.id)]
    codes = set(session.execute(select(Organisation.code).where(Organisation.id.in_(ids)))
                .scalars())
    actions = []
    charts: dict[tuple[str, str], Any] = {}
    accepted: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rebase_service.list_rebases(session, include_withdrawn=False):
        accepted.setdefault((r["org"], r["indicator"]), []).append(r)
    for a in action_service.list_actions(session):
        if a["org"] not in codes:
            continue
        key = (a["org"], a["indicator"])
        if key not in charts:
            try:
                charts[key] = spc_service.spc(session, *key).points
            except QidashError:  # no values (yet) for this organisation and indicator
                charts[key] = pd.DataFrame()
        linked = [r for r in accepted.get(key, []) if r["action_id"] == a["id"]]
        points = charts[key]
        if linked:  # its effect as it was judged before the rebase it led to
            try:
                points = spc_service.spc(session, *key, rebase=[]).points
            except QidashError:
                points = pd.DataFrame()
        actions.append({**a, "effect": action_service.action_effect(points, a["date"]),
                        "rebases": linked})
    actions.sort(key=lambda a: (a["date"], a["id"]), reverse=True)
    return Changes(since=since, alerts=alerts, actions=actions)


def add_change_slides(deck: Deck, changes: Changes) -> None:
    """The 'What changed' table(s), then 'Actions and their effect'."""
    alerts = changes.alerts
    n_concern = sum(a["kind"] in CONCERNS for a in alerts)
    title = (f"What changed since {changes.since}: {len(alerts)} alert"
             f"{'' if len(alerts) == 1 else 's'}, {n_concern} of concern")
    header = ["Organisation", "Indicator", "Period", "Alert", "What changed"]
    widths = [2.4, 1.6, 0.9, 1.6, 5.8]
    rows = [[Cell(f"{a['org_name']} ({a['org_code']})"), Cell(a["indicator_id"]),
             Cell(a["period"]), Cell(KIND_WORDS.get(a["kind"], a["kind"]),
                                     flag=a["kind"] in CONCERNS),
             Cell(a["message"])] for a in alerts]
    shown = rows[:ROWS * MAX_SLIDES]
    more = len(rows) - len(shown)
    if not rows:
        deck.table_slide(title, header, [[Cell("No alerts were raised in this period"),
                                          Cell(""), Cell(""), Cell(""), Cell("")]],
                         col_widths=widths, font_size=11)
    for start in range(0, len(shown), ROWS):
        deck.table_slide(
            title if start == 0 else "What changed (continued)", header,
            shown[start:start + ROWS], col_widths=widths, font_size=10,
            footnote=("Tinted = concern. " + (f"{more} more alerts: see the /alerts page."
                                               if more else "")).strip(),
            notes="Alerts raised by the data loads since the date: special causes on the SPC "
                  "charts, moves across the 99.8% funnel limits, targets newly missed or met. "
                  "Concerns first.")
    header = ["Action", "Organisation", "Indicator", "Date", "Status", "Effect"]
    widths = [2.6, 1.4, 1.5, 1.25, 1.05, 4.5]
    rows = []
    for a in changes.actions:
        eff = a["effect"]
        text = (f"Special cause of improvement from {eff['since']}" if eff["improved"]
                else "No special cause of improvement since")
        linked = a.get("rebases") or []
        for r in linked:
            text += (f"; new limits from {r['period']}, accepted by "
                     f"{r['accepted_by'] or 'unknown'} on {rebase_service.day(r['accepted_at'])}")
        if eff["suggest_rebase"] and not linked:
            text += (f"; a sustained shift began at {eff['suggest_rebase']}: consider new "
                     "limits there once the change is understood")
        rows.append([Cell(a["title"]), Cell(a["org"]), Cell(a["indicator"]),
                     Cell(str(a["date"])), Cell(a["status"].replace("_", " ")),
                     Cell(text, bold=bool(eff["improved"]))])
    if not rows:
        rows = [[Cell("No actions recorded"), Cell(""), Cell(""), Cell(""), Cell(""),
                 Cell("")]]
    for start in range(0, min(len(rows), ROWS * MAX_SLIDES), ROWS):
        deck.table_slide(
            "Actions and their effect" if start == 0 else "Actions (continued)", header,
            rows[start:start + ROWS], col_widths=widths, font_size=10,
            notes="Effect: whether a special cause in the improvement direction began on the "
                  "SPC chart after the action's date. A suggested rebase is only a suggestion: "
                  "limits change when someone who understands the change accepts it.")
