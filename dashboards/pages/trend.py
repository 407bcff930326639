"""One organisation's trend on one indicator: the SPC chart (Making Data Count).

URL: ``/organisations/<code>/indicators/<id>?rebase=2017-04,2018-01&fix=12&chart=xmr|p``.
Annotations (notes on a date) are shown on the chart and can be added or removed by analysts.

Writes: adding or removing a note, recording an improvement action and accepting a suggested
rebase need an analyst sign-in (``/sign-in``), whatever ``QIDASH_REQUIRE_AUTH`` says
(:func:`dashboards.pages_auth.guarded_write`); each records who made it, and a removal or a
rebase asks for confirmation first. Without ``rebase`` in the URL the chart applies the rebases
people accepted (:mod:`core.services.rebases`) and marks them with who accepted them and when.
"""

import datetime as dt
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, callback, ctx, dcc, html, no_update

from core.db import session_scope
from core.errors import QidashError
from core.services import actions as action_service
from core.services import annotations as annotation_service
from core.services import rebases as rebase_service
from core.services import spc as spc_service
from core.services.disclosure import note_columns
from core.services.organisations import organisation_detail
from core.services.spc import SPC_POINT_COLUMNS
from dashboards import adapters, components, figures
from dashboards.adapters import ViewError
from dashboards.pages_auth import guarded_write, write_refusal, writer_name

dash.register_page(__name__, path_template="/organisations/<code>/indicators/<indicator_id>",
                   title="Trend - qidash")

P = "trend"
KEY = components.declare_key_store(f"{P}-key", {"code": str, "indicator": str})
KEYS = ("rebase", "fix", "chart")

HOW_TO_READ = (
    ("Points and lines", "Each point is one period. The black line is the mean; the dashed "
                         "grey lines are the process limits: where nearly all points fall when "
                         "nothing has changed."),
    ("Colours (Making Data Count)", "Grey points: common cause variation, the usual ups and "
                                    "downs. Blue: special cause improvement. Orange: special "
                                    "cause concern. Purple: a change where neither direction "
                                    "is better. Seven points rising or falling take the colour "
                                    "of their direction, wherever they lie against the mean."),
    ("Rules", "A point outside the limits, 7 points in a row on one side of the mean, 7 points "
              "rising or falling, or 2 of 3 points near a limit are signals that something "
              "changed."),
    ("Few points", "With fewer than 12 values there are no process limits (Making Data "
                   "Count): the chart is a run chart around the median, read with the Anhoej "
                   "rules (an unusually long run on one side of the median, or too few "
                   "crossings of it, is a signal). Limits on fewer than 12 points after a "
                   "rebase are trial limits."),
    ("Rebase", "When a change is known to have happened (a new recall system), start new "
               "limits from that period so the chart judges the new process on its own."),
)


def parse(query: dict[str, Any]) -> dict[str, Any]:
    """The chart options from the query string (bad values fall back to defaults). No
    ``rebase`` key: None, the accepted rebases apply; a ``rebase`` key (even empty): exactly
    those periods (``rebase=none``: none at all, as in the SPC API)."""
    rebase = None if "rebase" not in query else [
        r for r in str(query.get("rebase") or "").split(",")
        if r.strip() and r.strip().lower() != "none"]
    try:
        fix = int(query["fix"]) if query.get("fix") else None
    except (TypeError, ValueError):  # not a whole number (or, from a control, a list)
        fix = None
    chart = query.get("chart") if query.get("chart") in ("xmr", "p") else "xmr"
    return {"rebase": rebase, "fix": fix if fix and fix >= 2 else None, "chart": chart}


def controls(rebase: Any, fix: Any, chart: Any) -> dict[str, Any]:
    """The chart options from the page's controls, read as :func:`parse` reads the query
    string (a rebase list holds period labels; anything else is left out)."""
    labels = rebase if isinstance(rebase, list) else []
    return parse({"rebase": ",".join(r for r in labels if isinstance(r, str)), "fix": fix,
                  "chart": chart})


def compute(s: Any, code: str, indicator_id: str, opts: dict[str, Any]) -> Any:
    """The SPC view from the service (one read transaction)."""
    return spc_service.spc(s, code, indicator_id, rebase=opts["rebase"],
                           fix_after=opts["fix"], chart=opts["chart"])


def chart_actions(s: Any, view: Any) -> list[dict[str, Any]]:
    """The improvement actions on this chart, each with its effect (core.services.actions);
    an action that led to an accepted rebase keeps the effect judged before it (on the new
    limits the shift is the new process)."""
    return action_service.actions_for_view(s, view)


def figure_for(view: Any, *, for_slides: bool = False,
               actions: list[dict[str, Any]] | None = None, fit_width: int | None = None) -> Any:
    """The SPC chart of a service view (a run chart with its median when the series is too
    short for limits: :func:`core.services.spc.too_few_for_limits`)."""
    short = view.limits_note is not None
    var, _ = adapters.variation_words(view.variation)
    ass, _ = adapters.assurance_words(view.assurance)
    kind = "run" if short else ("XmR" if view.chart == "xmr" else "p")
    ind = view.indicator
    return figures.spc_figure(
        adapters.spc_frame(view.points), indicator=ind, target=view.target,
        annotations=view.annotations, variation=None if short else var or None,
        assurance=ass or None, note=view.limits_note,
        median=view.run_chart.centre if short and view.run_chart else None,
        trial_segments=view.trial_segments, rebases=rebase_marks(view),
        clip=(0.0, float(ind.multiplier)) if ind.value_type == "proportion" else None,
        title=f"{view.organisation.name}: {ind.name}",
        subtitle=f"{kind} chart, {len(view.points)} "
                 f"{view.period_type.replace('_', ' ')} periods", for_slides=for_slides,
        actions=actions, fit_width=fit_width)


def rebase_marks(view: Any) -> list[dict[str, Any]]:
    """The accepted rebases applied to the chart, as lines at their first period labelled
    with who accepted them and when."""
    starts = dict(zip(view.points["period"], view.points["start_date"], strict=True))
    return [{"date": starts[r["period"]],
             "text": rebase_service.mark_text(r)}
            for r in view.accepted_rebases if r["period"] in starts]


def _badges(view: Any) -> list[Any]:
    out: list[Any] = []
    if view.limits_note is not None:
        # too short for limits: the same words as the chart and the slide, and the run chart
        out.append(components.badge(view.limits_note, "common"))
        if view.run_chart is not None:
            out.append(html.Div(spc_service.run_chart_sentence(view.run_chart),
                                className="small mt-1 qd-run-chart"))
        return out
    var, kind = adapters.variation_words(view.variation)
    if var:
        out.append(components.badge(f"Variation: {var}", kind))
    ass, kind = adapters.assurance_words(view.assurance)
    if ass:
        out.append(components.badge(ass, kind))
    out += [html.Div(w, className="small text-muted mt-1") for w in view.warnings]
    out += [html.Div(w, className="small mt-1 qd-accepted-rebase")
            for w in rebase_service.applied_words(view.accepted_rebases)]
    return out


def _notes(view: Any) -> Any:
    if not view.annotations:
        return html.P("No notes yet.", className="text-muted")
    return html.Ul([
        html.Li([html.Strong(str(a["date"])), " ", a["text"],
                 html.Span(f" ({a['author']})" if a.get("author") else "",
                           className="text-muted"), " ",
                 dbc.Button("Remove", id={"type": "trend-del", "id": a["id"]}, size="sm",
                            color="link", className="p-0 ms-2")])
        for a in view.annotations])


def _actions(view: Any, actions: list[dict[str, Any]]) -> Any:
    """Each action with its effect; a sustained shift after it suggests a rebase, which only
    a person applies (Making Data Count: understand the change first)."""
    if not actions:
        return html.P("No improvement actions recorded for this chart yet.",
                      className="text-muted")
    refused = write_refusal("Accepting a rebase")
    items = []
    for a in actions:
        eff = a["effect"]
        text = (f"special cause of improvement from {eff['since']}" if eff["improved"]
                else "no special cause of improvement since")
        parts: list[Any] = [html.Strong(f"{a['date']}: {a['title']}"),
                            f" ({a['status'].replace('_', ' ')}"
                            + (f", {a['owner']}" if a.get("owner") else "") + f"). Effect: {text}."]
        at = eff["suggest_rebase"]
        # a rebase accepted after this action (or at its suggestion): the shift is now the
        # new process, so the effect on the rebased chart is read against the new limits
        linked = [r for r in view.accepted_rebases
                  if r["action_id"] == a["id"] or r["period"] == at]
        if linked:
            for r in linked:
                parts += [" New limits start at ", html.Strong(r["period"]),
                          ": rebase accepted by "
                          f"{r['accepted_by'] or 'unknown'} on "
                          f"{rebase_service.day(r['accepted_at'])}."]
        elif at and at not in view.rebase:
            href = (f"/organisations/{view.organisation.code}/indicators/{view.indicator.id}"
                    f"?rebase={','.join([*view.rebase, at])}")
            parts += [" A sustained shift began at ", html.Strong(at),
                      ": once you understand the change, you may ",
                      dcc.Link("preview new limits there", href=href,
                               className="qd-suggest-rebase"),
                      " and accept the rebase, so that every view and pack uses it "
                      "(suggested only: nothing is rebased unless someone accepts it). "]
            button_id = {"type": "trend-accept", "period": at, "action": a["id"]}
            if refused is None:
                parts.append(dbc.Button(f"Accept rebase at {at}", id=button_id, size="sm",
                                        color="primary", className="ms-1 qd-accept-rebase"))
            else:
                parts += [dbc.Button(f"Accept rebase at {at}", id=button_id, size="sm",
                                     color="secondary", disabled=True,
                                     className="ms-1 qd-accept-rebase", title=refused),
                          html.Span(f" {refused}", id=f"trend-accept-why-{a['id']}",
                                    className="small text-muted")]
        items.append(html.Li(parts))
    return html.Ul(items, className="qd-actions")


def layout(code: str | None = None, indicator_id: str | None = None, **query: Any) -> Any:
    """The trend page for one organisation and indicator."""
    opts = parse(query)
    try:
        view = adapters.read(compute, code or "", indicator_id or "", opts)
        actions = adapters.read(chart_actions, view)
        detail = adapters.read(organisation_detail, code or "")
    except ViewError as exc:
        return components.error_panel(exc)
    org, ind = view.organisation, view.indicator
    crumbs: list[tuple[str, str | None]] = [("England", "/")]
    crumbs += [(a.name, _org_href(a)) for a in reversed(detail.ancestors)
               if a.org_type != "nation"]
    crumbs += [(org.name, f"/organisations/{org.code}"), (ind.name, None)]
    labels = view.points["period"].tolist()
    return html.Div([
        components.breadcrumbs(crumbs),
        html.H1(f"{org.name}: {ind.name}", className="qd-title"),
        html.P(["Is it changing? ", dcc.Link("Compare with peers",
                                             href=f"/indicators/{ind.id}?highlight={org.code}")],
               className="qd-lead"),
        html.Div(dbc.Row([
            dbc.Col([dbc.Label("Start new limits (rebase) at", html_for=f"{P}-rebase"),
                     dcc.Dropdown(id=f"{P}-rebase", options=labels, value=view.rebase,
                                  multi=True, placeholder="No rebase")], md=5),
            dbc.Col([dbc.Label("Fix limits on the first N points", html_for=f"{P}-fix"),
                     dbc.Input(id=f"{P}-fix", type="number", min=2, step=1,
                               value=opts["fix"], debounce=True)], md=3),
            dbc.Col([dbc.Label("Chart"),
                     dbc.RadioItems(id=f"{P}-chart", value=view.chart, inline=True,
                                    options=[{"label": "XmR (Making Data Count)",
                                              "value": "xmr"},
                                             {"label": "p-chart", "value": "p"}])], md=4),
        ], className="qd-controls g-3"), className="qd-card"),
        html.Div([
            html.Div(_badges(view), id=f"{P}-badges"),
            dcc.Loading(dcc.Graph(id=f"{P}-graph", figure=figure_for(view, actions=actions),
                                  config=components.GRAPH_CONFIG), delay_show=300, type="dot"),
            components.export_bar(P, {"org": org.code, "indicator": ind.id,
                                      "rebase": ",".join(view.rebase)}),
        ], className="qd-card"),
        html.Div([
            html.H2("Actions and their effect", className="h5"),
            html.Div(_actions(view, actions), id=f"{P}-actions"),
            dcc.ConfirmDialog(id=f"{P}-accept-confirm"),
            dcc.Store(id=f"{P}-accept-pending"),
            html.Div(id=f"{P}-accept-msg", className="mt-2", **components.ARIA_LIVE_POLITE),
            _action_form(),
        ], className="qd-card"),
        html.Div([
            html.H2("Notes on this chart", className="h5"),
            html.Div(_notes(view), id=f"{P}-notes"),
            dbc.Row([
                dbc.Col(dbc.Input(id=f"{P}-note-date", type="date", placeholder="Date"), md=2),
                dbc.Col(dbc.Input(id=f"{P}-note-text", placeholder="What happened, e.g. new "
                                  "recall system", maxLength=500), md=5),
                dbc.Col(dbc.Button("Add note", id=f"{P}-note-add", color="primary"), md=2),
            ], className="g-2 mt-1"),
            dcc.ConfirmDialog(id=f"{P}-del-confirm"),
            dcc.Store(id=f"{P}-del-pending"),
            html.Div(id=f"{P}-note-msg", className="mt-2", **components.ARIA_LIVE_POLITE),
        ], className="qd-card"),
        components.how_to_read(HOW_TO_READ),
        components.key_store(KEY, {"code": org.code, "indicator": ind.id}),
        components.chart_width_store(P),  # the chart's width on the page (px), from the browser
        components.url_sync_store(P, {"rebase": [], "fix": None, "chart": "xmr"},
                                  types={"fix": "int"}),
    ])


STATUS_OPTIONS = [{"label": s.replace("_", " ").capitalize(), "value": s}
                  for s in ("planned", "in_progress", "done", "abandoned")]


def _action_form() -> Any:
    """Record an action on this chart (analysts; others are told why there is no form). The
    organisation and indicator are the chart's."""
    refused = write_refusal("Recording an action")
    if refused is not None:
        return html.P(refused, className="small text-muted mt-2 qd-action-refused")

    def field(label: str, control: Any, md: int) -> Any:
        return dbc.Col([dbc.Label(label, html_for=control.id, className="small mb-0"),
                        control], md=md)

    return html.Div([
        html.H3("Record an action", className="h6 mt-3"),
        dbc.Row([
            field("What was done", dbc.Input(id=f"{P}-act-title", maxLength=300,
                                             placeholder="e.g. new recall system"), 4),
            field("Owner", dbc.Input(id=f"{P}-act-owner", maxLength=200), 2),
            field("Date", dbc.Input(id=f"{P}-act-date", type="date"), 2),
            field("Review date", dbc.Input(id=f"{P}-act-review", type="date"), 2),
            field("Status", dbc.Select(id=f"{P}-act-status", options=STATUS_OPTIONS,
                                       value="planned"), 2),
        ], className="g-2 align-items-end"),
        dbc.Button("Record action", id=f"{P}-act-add", color="primary", className="mt-2",
                   type="button"),
        html.Div(id=f"{P}-act-msg", className="mt-2", **components.ARIA_LIVE_POLITE),
    ], className="qd-action-form")


def _org_href(o: Any) -> str:
    return f"/networks/{o.code}" if o.org_type not in ("practice", "trust") else \
        f"/organisations/{o.code}"


@callback(
    Output(f"{P}-graph", "figure"),
    Output(f"{P}-badges", "children"),
    Input(f"{P}-rebase", "value"),
    Input(f"{P}-fix", "value"),
    Input(f"{P}-chart", "value"),
    Input(f"{P}-width", "data"),
    State(f"{P}-key", "data"),
    prevent_initial_call=True,
)
def update(rebase, fix, chart, width, key):
    """Redraw the chart for new rebase/fix/chart options, or with its title fitted to the width
    the page draws it at (the first drawing assumed 1,100 px)."""
    opts = controls(rebase, fix, chart)
    try:
        view = adapters.read(compute, key["code"], key["indicator"], opts)
    except ViewError as exc:
        return figures._empty(str(exc), for_slides=False, width=None, height=None), \
            [html.Div(str(exc), className="text-danger")]
    return figure_for(view, actions=adapters.read(chart_actions, view),
                      fit_width=components.chart_width(width)), _badges(view)


# the chart's width once the page has drawn it (and again when a resized window changes it)
components.report_chart_width(P, Input(f"{P}-key", "data"))


@callback(
    Output(f"{P}-csv", "data"),
    Input(f"{P}-csv-btn", "n_clicks"),
    State(f"{P}-key", "data"),
    State(f"{P}-rebase", "value"),
    State(f"{P}-fix", "value"),
    State(f"{P}-chart", "value"),
    prevent_initial_call=True,
)
def download_csv(_n, key, rebase, fix, chart):
    """The chart's points as CSV, with the limits and classes of the options shown (and the
    disclosure note column while disclosure control is on), as the API's SPC CSV."""
    opts = controls(rebase, fix, chart)
    try:
        view = adapters.read(compute, key["code"], key["indicator"], opts)
    except ViewError:
        return no_update
    columns = [c for c in note_columns(SPC_POINT_COLUMNS) if c in view.points.columns]
    return dcc.send_data_frame(view.points[columns].to_csv,
                               f"spc_{key['code']}_{key['indicator']}.csv", index=False)


@callback(
    Output(f"{P}-del-confirm", "displayed"),
    Output(f"{P}-del-confirm", "message"),
    Output(f"{P}-del-pending", "data"),
    Input({"type": "trend-del", "id": ALL}, "n_clicks"),
    prevent_initial_call=True,
)
def ask_remove(clicks):
    """Ask before removing a note."""
    trig = ctx.triggered_id
    # the list appearing (page render, redraw) fires this with no click: ignore that
    if not isinstance(trig, dict) or not any(clicks or []):
        return no_update, no_update, no_update
    return True, "Remove this note? It disappears from the chart for everyone.", \
        {"id": int(trig["id"])}


def _refused_note(message: str) -> tuple[Any, Any, Any]:
    return no_update, dbc.Alert(message, color="warning"), no_update


@callback(
    Output(f"{P}-notes", "children"),
    Output(f"{P}-note-msg", "children"),
    Output(f"{P}-graph", "figure", allow_duplicate=True),
    Input(f"{P}-note-add", "n_clicks"),
    Input(f"{P}-del-confirm", "submit_n_clicks"),
    State(f"{P}-note-date", "value"),
    State(f"{P}-note-text", "value"),
    State(f"{P}-del-pending", "data"),
    State(f"{P}-key", "data"),
    State(f"{P}-rebase", "value"),
    State(f"{P}-fix", "value"),
    State(f"{P}-chart", "value"),
    State(f"{P}-width", "data"),
    prevent_initial_call=True,
)
@guarded_write("Adding or removing notes", refused=_refused_note)
def edit_notes(_add, _confirmed, date, text, pending, key, rebase, fix, chart, width=None):
    """Add a note, or remove the one confirmed in the dialog (through the annotations
    service, as the signed-in analyst), then redraw."""
    trig = ctx.triggered_id
    if (trig == f"{P}-note-add" and not _add) or (trig != f"{P}-note-add" and not pending):
        return no_update, no_update, no_update
    try:
        with session_scope() as s:
            if trig == f"{P}-note-add":
                if not date:
                    raise ViewError("Choose the date the note belongs to.")
                annotation_service.create_annotation(
                    s, date=dt.date.fromisoformat(date), text=text or "", org=key["code"],
                    indicator=key["indicator"], author=writer_name())
                msg = "Note added."
            else:
                annotation_service.delete_annotation(s, int(pending["id"]))
                msg = "Note removed."
    except ViewError as exc:
        return no_update, dbc.Alert(str(exc), color="warning"), no_update
    except QidashError as exc:
        return no_update, dbc.Alert(exc.message, color="warning"), no_update
    except ValueError:
        return no_update, dbc.Alert("The date is not valid.", color="warning"), no_update
    opts = controls(rebase, fix, chart)
    view = adapters.read(compute, key["code"], key["indicator"], opts)
    return (_notes(view), dbc.Alert(msg, color="success"),
            figure_for(view, actions=adapters.read(chart_actions, view),
                       fit_width=components.chart_width(width)))


components.sync_url(P, KEYS)


@callback(
    Output(f"{P}-accept-confirm", "displayed"),
    Output(f"{P}-accept-confirm", "message"),
    Output(f"{P}-accept-pending", "data"),
    Input({"type": "trend-accept", "period": ALL, "action": ALL}, "n_clicks"),
    prevent_initial_call=True,
)
def ask_accept(clicks):
    """Ask before accepting a rebase (it changes every view and pack of this series)."""
    trig = ctx.triggered_id
    if not isinstance(trig, dict) or not any(clicks or []):
        return no_update, no_update, no_update
    return True, (f"Accept new limits from {trig['period']}? Every view and slide pack of "
                  "this chart will use them, recorded under your name; an analyst can "
                  "withdraw it later."), {"period": trig["period"], "action": trig["action"]}


def _refused_accept(message: str) -> tuple[Any, ...]:
    return (no_update, dbc.Alert(message, color="warning"), no_update, no_update, no_update)


@callback(
    Output(f"{P}-actions", "children", allow_duplicate=True),
    Output(f"{P}-accept-msg", "children"),
    Output(f"{P}-graph", "figure", allow_duplicate=True),
    Output(f"{P}-badges", "children", allow_duplicate=True),
    Output(f"{P}-rebase", "value", allow_duplicate=True),
    Input(f"{P}-accept-confirm", "submit_n_clicks"),
    State(f"{P}-accept-pending", "data"),
    State(f"{P}-key", "data"),
    State(f"{P}-width", "data"),
    prevent_initial_call=True,
)
@guarded_write("Accepting a rebase", refused=_refused_accept)
def accept_rebase(_confirmed, pending, key, width=None):
    """Record the rebase the analyst confirmed (who and when), then redraw with the accepted
    rebases."""
    if not _confirmed or not isinstance(pending, dict) or not pending.get("period"):
        return (no_update,) * 5
    try:
        with session_scope() as s:
            made = rebase_service.accept_rebase(
                s, org=key["code"], indicator=key["indicator"], period=str(pending["period"]),
                action_id=int(pending["action"]) if pending.get("action") else None,
                accepted_by=writer_name())
    except QidashError as exc:
        return (no_update, dbc.Alert(exc.message, color="warning"), no_update, no_update,
                no_update)
    view = adapters.read(compute, key["code"], key["indicator"], parse({}))
    actions = adapters.read(chart_actions, view)
    return (_actions(view, actions),
            dbc.Alert(f"Rebase accepted: new limits from {made['period']}.", color="success"),
            figure_for(view, actions=actions, fit_width=components.chart_width(width)),
            _badges(view), view.rebase)


def _refused_action(message: str) -> tuple[Any, ...]:
    return (no_update, dbc.Alert(message, color="warning"), no_update, no_update)


@callback(
    Output(f"{P}-actions", "children", allow_duplicate=True),
    Output(f"{P}-act-msg", "children"),
    Output(f"{P}-graph", "figure", allow_duplicate=True),
    Output(f"{P}-act-title", "value"),
    Input(f"{P}-act-add", "n_clicks"),
    State(f"{P}-act-title", "value"),
    State(f"{P}-act-owner", "value"),
    State(f"{P}-act-date", "value"),
    State(f"{P}-act-review", "value"),
    State(f"{P}-act-status", "value"),
    State(f"{P}-key", "data"),
    State(f"{P}-rebase", "value"),
    State(f"{P}-fix", "value"),
    State(f"{P}-chart", "value"),
    State(f"{P}-width", "data"),
    prevent_initial_call=True,
)
@guarded_write("Recording an action", refused=_refused_action)
def add_action(_n, title, owner, date, review, status, key, rebase, fix, chart, width=None):
    """Record an improvement action on this chart (through the actions service, as the
    signed-in analyst), then redraw the chart and the list with its effect."""
    if not _n:
        return (no_update,) * 4
    try:
        if not date:
            raise ViewError("Choose the date of the action.")
        with session_scope() as s:
            action_service.create_action(
                s, org=key["code"], indicator=key["indicator"],
                date=dt.date.fromisoformat(str(date)), title=str(title or ""),
                owner=None if owner in (None, "") else str(owner),
                review_date=dt.date.fromisoformat(str(review)) if review else None,
                status=str(status or "planned"), created_by=writer_name())
    except ViewError as exc:
        return no_update, dbc.Alert(str(exc), color="warning"), no_update, no_update
    except QidashError as exc:
        return no_update, dbc.Alert(exc.message, color="warning"), no_update, no_update
    except ValueError:
        return no_update, dbc.Alert("A date is not valid.", color="warning"), no_update, \
            no_update
    opts = controls(rebase, fix, chart)
    view = adapters.read(compute, key["code"], key["indicator"], opts)
    actions = adapters.read(chart_actions, view)
    return (_actions(view, actions), dbc.Alert("Action recorded.", color="success"),
            figure_for(view, actions=actions, fit_width=components.chart_width(width)), "")
