"""Upload for analysts: choose a file and its kind, see the check (a dry run: what would be
added, changed and left), then load it; below, the load history with revert.

Every step goes through the one loading pipeline (:func:`etl.pipeline.run_load`, dry run first)
and :func:`etl.revert.revert_load`. Checking, loading and reverting are writes: they need an
analyst sign-in whatever ``QIDASH_REQUIRE_AUTH`` says (:func:`dashboards.pages_auth.guarded_write`),
and are recorded under the signed-in name. A revert asks for confirmation first. The page speaks
the page's language: the pipeline's messages name command-line options, which are translated
into this page's controls (:func:`page_words`), and the library errors a file message quotes
(pandas' CSV tokenizer, PyYAML's marks) into what to fix (:func:`file_problem`).
"""

import base64
import binascii
import logging
import re
from typing import Any

import dash
import dash_ag_grid as dag
import dash_bootstrap_components as dbc
from dash import Input, Output, State, callback, ctx, dcc, html, no_update

from core import auth
from core.db import get_engine
from core.models import LOAD_KINDS
from core.settings import get_settings
from dashboards import components
from dashboards.pages_auth import current_principal, guarded_write, writer_name

dash.register_page(__name__, path="/upload", title="Upload data - qidash")

P = "up"
log = logging.getLogger(__name__)

KIND_LABELS = {"values": "Indicator values", "organisations": "Organisations",
               "indicators": "Indicator definitions"}
SKIP_LABEL = "Load the valid rows, skip the rest"

#: command-line wording in the pipeline's messages, and what it is on this page
_PAGE_WORDS = (
    (re.compile(r"load with --skip-invalid"), f'tick "{SKIP_LABEL}"'),
    (re.compile(r"--skip-invalid"), f'"{SKIP_LABEL}"'),
    (re.compile(r"\s*\(with --sheet\)"), " (its first sheet is read)"),
    (re.compile(r"use --format canonical or --mapping map\.yaml"),
     "save it with the canonical column names (see docs/loading.md for the data formats)"),
    (re.compile(r"describe the layout with --mapping"), "use the canonical column names"),
    (re.compile(r"\s*\(e\.g\. [^)]*--format [^)]*\)"), ""),
    (re.compile(r"qidash loads list"), "the load history below"),
)
_ANY_FLAG = re.compile(r"\s*\(?--[a-z][a-z-]*(?: [A-Za-z0-9_.=]+)?\)?")


def page_words(message: str) -> str:
    """A pipeline message in this page's words: no command-line options."""
    for pattern, words in _PAGE_WORDS:
        message = pattern.sub(words, message)
    return _ANY_FLAG.sub("", message)


#: library errors quoted in file messages (the CLI keeps them: analysts can use them there)
_LIBRARY_WORDS: tuple[tuple[re.Pattern[str], Any], ...] = (
    (re.compile(r"\(Error tokenizing data\. C error: Expected (\d+) fields in line (\d+), "
                r"saw (\d+)\s*\)"),
     r"(line \2 has \3 fields where the header has \1)"),
    (re.compile(r"\(Error tokenizing data\. C error: EOF inside string starting at row "
                r"(\d+)\s*\)"),  # pandas counts rows from 0 at the header: row n is line n + 1
     lambda m: f"(a quoted value that starts on line {int(m.group(1)) + 1} is never closed)"),
    (re.compile(r"\(Error tokenizing data\. C error: [^)]*\)"),
     "(its rows do not split into the header's columns)"),
    (re.compile(r"(not valid YAML(?: at line \d+)?): .*found character '\\t'.*", re.S),
     r"\1: a tab indents a line; indent with spaces"),
    (re.compile(r"(not (?:a )?valid YAML(?: mapping file)?(?: at line \d+)?): .*", re.S),
     r"\1: check the indentation, colons, quotes and brackets there"),
)


def file_problem(message: str) -> str:
    """A file error's message for this page: the library text it quotes (a CSV tokenizer's
    "C error", a YAML parser's marks and context lines) in words that say what to fix, on one
    line, and no command-line options (:func:`page_words`)."""
    for pattern, words in _LIBRARY_WORDS:  # the first that matches: they go from specific
        message, found = pattern.subn(words, message)  # to general
        if found:
            break
    return page_words(message.split("\n", 1)[0].rstrip())


def _pipeline():
    from etl import pipeline  # imported late: the pipeline pulls in every reader

    return pipeline


def _load_runs():
    from etl import load_runs  # imported late, as the pipeline

    return load_runs


def _revert_module():
    from etl import revert  # imported late, as the pipeline

    return revert


def history_rows() -> list[dict[str, Any]]:
    """The latest loads, newest first, as table rows."""
    out = []
    for ld in _load_runs().list_loads(get_engine(), limit=50):
        out.append({"Load": ld.id, "File": ld.file_name, "Kind": ld.kind, "Status": ld.status,
                    "Read": ld.rows_read, "Inserted": ld.rows_inserted,
                    "Updated": ld.rows_updated, "Rejected": ld.rows_rejected,
                    "By": ld.user or "",
                    "Finished": ld.finished_at.strftime("%d %b %Y %H:%M")
                    if ld.finished_at else ""})
    return out


def _sign_in_note() -> Any:
    """Who will be recorded as loading, or how to get the right to load."""
    who = current_principal()
    if who is not None and auth.role_at_least(who.role, "analyst"):
        return html.P(f"Signed in as {who.name}: your uploads and reverts are recorded under "
                      "that name.", className="text-muted small", id=f"{P}-who")
    if who is not None:
        words = (f"You are signed in as {who.name} with a {who.role} token: checking, loading "
                 "and reverting files need an analyst token. ")
    else:
        words = ("Checking, loading and reverting files need an analyst sign-in. ")
    return dbc.Alert([words, html.A("Sign in", href="/sign-in?next=/upload"),
                      " with an analyst token; an administrator can create one for you."],
                     color="info", id=f"{P}-who")


def layout(**_query: str) -> Any:
    """The upload form and the load history."""
    try:
        rows = history_rows()
    except Exception:  # an empty history is better than no page
        log.warning("load history unavailable", exc_info=True)
        rows = []
    # the file name and the time get the room; counts are short
    num = {"type": "rightAligned", "flex": 0, "width": 92}
    cols = [{"field": "Load", "flex": 0, "width": 78},
            {"field": "File", "flex": 3, "minWidth": 140, "tooltipField": "File"},
            {"field": "Kind", "flex": 0, "width": 132},
            {"field": "Status", "flex": 0, "width": 100},
            *({"field": c, **num} for c in ("Read", "Inserted", "Updated")),
            {"field": "Rejected", **num, "width": 102},
            {"field": "By", "flex": 1, "minWidth": 100, "tooltipField": "By"},
            {"field": "Finished", "flex": 0, "width": 174}]
    return html.Div([
        components.breadcrumbs([("Start", "/"), ("Upload data", None)]),
        html.H1("Upload data", className="qd-title"),
        html.P("Choose a file to check it first: nothing is written until you press Load.",
               className="qd-lead"),
        _sign_in_note(),
        html.Div([
            dbc.Row([
                dbc.Col([dbc.Label("Kind of file", html_for=f"{P}-kind"),
                         dcc.Dropdown(id=f"{P}-kind", value="values", clearable=False,
                                      options=[{"label": KIND_LABELS.get(k, k), "value": k}
                                               for k in LOAD_KINDS])], md=3),
                dbc.Col([dbc.Label("File", html_for=f"{P}-file"),
                         dcc.Upload(id=f"{P}-file", children=html.Div(
                             ["Drop a CSV or XLSX file here, or ", html.A("choose one")],
                             id=f"{P}-file-label"),
                             className="border rounded p-3 text-center bg-light",
                             max_size=get_settings().max_upload_mb * 1024 * 1024)], md=6),
                dbc.Col([dbc.Checkbox(id=f"{P}-skip", value=False, label=SKIP_LABEL),
                         html.Div("Rows with problems are listed and left out; the rest "
                                  "are loaded.", className="form-text")], md=3),
            ], className="g-3 qd-controls"),
            html.Div(id=f"{P}-report", className="mt-3", **components.ARIA_LIVE_POLITE),
            dbc.Button("Load this file", id=f"{P}-commit", color="primary", disabled=True,
                       className="mt-2"),
        ], className="qd-card"),
        html.Div([
            html.H2("Load history", className="h5"),
            dag.AgGrid(id=f"{P}-history", rowData=rows, columnDefs=cols,
                       defaultColDef={"sortable": True, "resizable": True, "flex": 1},
                       # ag-grid 33 selects only through the checkbox unless told: a click
                       # on the row selects it too (found by the browser test)
                       dashGridOptions={"rowSelection": {"mode": "singleRow",
                                                         "enableClickSelection": True},
                                        "domLayout": "autoHeight",
                                        # one Tab stop: arrows move, Space selects, Tab leaves
                                        "tabToNextCell": {"function": "false"}},
                       className="ag-theme-alpine"),
            # the selection as the server sees it: the button waits for it, so a revert
            # never acts on a selection the browser drew but had not yet sent
            html.Div("No load selected.", id=f"{P}-selected", className="form-text mt-2",
                     **components.ARIA_LIVE_POLITE),
            dbc.Button("Revert the selected load", id=f"{P}-revert", color="danger",
                       outline=True, className="mt-2", disabled=True),
            dcc.ConfirmDialog(id=f"{P}-revert-confirm"),
            dcc.Store(id=f"{P}-revert-pending"),
            html.Div(id=f"{P}-revert-msg", className="mt-2", **components.ARIA_LIVE_POLITE),
        ], className="qd-card"),
    ])


def _n(x: int) -> str:
    return f"{x:,}"


def _counts(res: Any) -> str:
    """What the load adds, changes and leaves, in words."""
    noun = {"values": "values", "organisations": "organisations",
            "indicators": "indicators"}.get(res.kind, "rows")
    parts = f"{_n(res.rows_inserted)} {noun} added, {_n(res.rows_updated)} changed, " \
            f"{_n(res.rows_unchanged)} left as they were"
    if res.dry_run:
        parts = (f"would add {_n(res.rows_inserted)} {noun}, change "
                 f"{_n(res.rows_updated)} and leave {_n(res.rows_unchanged)} as they are")
    return parts


def _report(res: Any) -> Any:
    rejected = res.status == "rejected"
    read = f"{res.file_name}: {_n(res.rows_read)} rows read, {_n(res.rows_rejected)} rejected."
    if res.dry_run:
        head = (f"{read} Check only (dry run: nothing written): "
                + ("this file cannot be loaded as it is." if rejected or res.status == "failed"
                   else f"loading it {_counts(res)}."))
    elif rejected:
        head = f"{read} Nothing was loaded."
    else:
        head = f"{read} Loaded as load {res.load_id}: {_counts(res)}."
    errs = [e.as_dict() for e in res.errors[:500]]
    body = [html.P(head, className="fw-bold")]
    if res.message:
        body.append(html.P(page_words(res.message)))
    if errs:
        for e in errs:
            e["message"] = page_words(str(e.get("message") or ""))
        body.append(dag.AgGrid(rowData=errs, columnDefs=[
            {"field": "line"}, {"field": "column"}, {"field": "value"},
            {"field": "message", "flex": 3, "wrapText": True, "autoHeight": True}],
            defaultColDef={"resizable": True, "flex": 1}, style={"height": "300px"},
            className="ag-theme-alpine"))
    return dbc.Alert(body, color="warning" if errs or rejected else "success")


def _problem(filename: str | None, exc: Exception) -> str:
    """A user's message for a file the pipeline could not take (never a traceback)."""
    pl = _pipeline()
    from etl.extract import FileError
    from etl.formats import FormatError

    name = filename or "The file"
    if isinstance(exc, (FileError, FormatError, pl.UsageError)):
        text = file_problem(str(exc))
        return text if text.startswith(name) else f"{name}: {text}"
    log.exception("upload of %s failed", filename)
    return (f"{name} could not be checked or loaded because of a problem on the server "
            "(it is logged for the administrator); nothing was written.")


def _refused_load(message: str) -> tuple[Any, bool, Any]:
    return dbc.Alert(message, color="warning"), True, no_update


@callback(
    Output(f"{P}-file-label", "children"),
    Input(f"{P}-file", "filename"),
    prevent_initial_call=True,
)
def show_filename(filename):
    """The chosen file's name, in place of the drop prompt."""
    if not filename:
        return no_update
    return ["Chosen: ", html.Strong(filename), " (drop another file, or ",
            html.A("choose one"), ", to replace it)"]


@callback(
    Output(f"{P}-report", "children"),
    Output(f"{P}-commit", "disabled"),
    Output(f"{P}-history", "rowData"),
    Input(f"{P}-file", "contents"),
    Input(f"{P}-commit", "n_clicks"),
    Input(f"{P}-skip", "value"),
    State(f"{P}-file", "filename"),
    State(f"{P}-kind", "value"),
    prevent_initial_call=True,
)
@guarded_write("Checking and loading files", refused=_refused_load)
def check_or_load(contents, commit, skip, filename, kind):
    """A dry run when a file is chosen (or the skip option changes); the real load when Load
    is pressed."""
    if not contents:
        return no_update, True, no_update
    dry = ctx.triggered_id != f"{P}-commit" or not commit
    try:
        raw = base64.b64decode(contents.split(",", 1)[1], validate=False)
    except (binascii.Error, ValueError, IndexError):  # not the data URL dcc.Upload sends
        name = filename or "The file"
        return dbc.Alert(f"{name} could not be read from the browser's upload; choose it again.",
                         color="danger"), True, no_update
    try:
        res = _pipeline().run_load(get_engine(), raw, kind=kind, file_name=filename,
                                   dry_run=dry, user=writer_name(), skip_invalid=bool(skip))
    except Exception as exc:  # every failure becomes a message for the user
        return dbc.Alert(_problem(filename, exc), color="danger"), True, no_update
    can_commit = dry and res.status not in ("rejected", "failed")
    return _report(res), not can_commit, history_rows() if not dry else no_update


@callback(
    Output(f"{P}-selected", "children"),
    Output(f"{P}-revert", "disabled"),
    Input(f"{P}-history", "selectedRows"),
)
def show_selection(selected):
    """Say which load is selected; the revert button is live only while one is."""
    if not selected:
        return "No load selected.", True
    row = selected[0]
    return f"Selected: load {row.get('Load')} ({row.get('File')}, {row.get('Status')}).", False


@callback(
    Output(f"{P}-revert-confirm", "displayed"),
    Output(f"{P}-revert-confirm", "message"),
    Output(f"{P}-revert-pending", "data"),
    Output(f"{P}-revert-msg", "children"),
    Input(f"{P}-revert", "n_clicks"),
    State(f"{P}-history", "selectedRows"),
    prevent_initial_call=True,
)
def ask_revert(_n, selected):
    """Ask before reverting: which load, and what reverting does."""
    if not selected:
        return False, no_update, None, dbc.Alert("Select a load in the table first.",
                                                 color="info")
    row = selected[0]
    if not isinstance(row.get("Load"), int):  # not a row of the loads table
        return False, no_update, None, dbc.Alert("Select a load in the table first.",
                                                 color="info")
    return True, (f"Revert load {row['Load']} ({row.get('File')})? The values it wrote go back "
                  "to what they were before it; the load stays in the history as reverted."
                  ), {"load": int(row["Load"])}, None


def _refused_revert(message: str) -> tuple[Any, Any]:
    return dbc.Alert(message, color="warning"), no_update


@callback(
    Output(f"{P}-revert-msg", "children", allow_duplicate=True),
    Output(f"{P}-history", "rowData", allow_duplicate=True),
    Input(f"{P}-revert-confirm", "submit_n_clicks"),
    State(f"{P}-revert-pending", "data"),
    prevent_initial_call=True,
)
@guarded_write("Reverting a load", refused=_refused_revert)
def revert(_confirmed, pending):
    """Revert the load confirmed in the dialog (its values go back to what they were)."""
    if not pending or not pending.get("load"):
        return dbc.Alert("Select a load in the table first.", color="info"), no_update
    load_id = int(pending["load"])
    etl_revert = _revert_module()
    try:
        etl_revert.revert_load(get_engine(), load_id, user=writer_name())
    except etl_revert.RevertError as exc:
        return dbc.Alert(f"Load {load_id} was not reverted: {page_words(str(exc))}",
                         color="warning"), no_update
    except Exception:  # logged; the user gets words, not a traceback
        log.exception("revert of load %s failed", load_id)
        return dbc.Alert(f"Load {load_id} was not reverted because of a problem on the "
                         "server (it is logged for the administrator).",
                         color="danger"), no_update
    return dbc.Alert(f"Load {load_id} reverted by {writer_name()}.", color="success"), \
        history_rows()
