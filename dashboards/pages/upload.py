"""Upload for analysts: choose a file and its kind, see the validation report of a dry run,
then load it; below, the load history with revert.

Every step goes through the one loading pipeline (:func:`etl.pipeline.run_load`, dry run first)
and :func:`etl.pipeline.revert_load`. When ``QIDASH_REQUIRE_AUTH`` is on, loading and reverting
need an analyst token (checked by :func:`core.auth.verify_token`, as on the trend page).
"""

import base64
from typing import Any

import dash
import dash_ag_grid as dag
import dash_bootstrap_components as dbc
from dash import Input, Output, State, callback, ctx, dcc, html, no_update

from core.db import get_engine, session_scope
from core.models import LOAD_KINDS
from core.settings import get_settings
from dashboards import components
from dashboards.adapters import ViewError

dash.register_page(__name__, path="/upload", title="Upload data - qidash")

P = "up"


def _pipeline():
    from etl import pipeline  # imported late: the pipeline pulls in every reader

    return pipeline


def history_rows() -> list[dict[str, Any]]:
    """The latest loads, newest first, as table rows."""
    out = []
    for ld in _pipeline().list_loads(get_engine(), limit=50):
        out.append({"Load": ld.id, "File": ld.file_name, "Kind": ld.kind, "Status": ld.status,
                    "Read": ld.rows_read, "Inserted": ld.rows_inserted,
                    "Updated": ld.rows_updated, "Rejected": ld.rows_rejected,
                    "By": ld.user or "",
                    "Finished": ld.finished_at.strftime("%d %b %Y %H:%M")
                    if ld.finished_at else ""})
    return out


def _writer(token: str | None) -> str | None:
    from dashboards.pages_auth import check_writer

    with session_scope() as s:
        return check_writer(s, token)


def layout(**_query: str) -> Any:
    """The upload form and the load history."""
    try:
        rows = history_rows()
    except Exception:  # noqa: BLE001 - an empty history is better than no page
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
        html.P("Check a file first: nothing is written until you press Load.",
               className="qd-lead"),
        html.Div([
            dbc.Row([
                dbc.Col([dbc.Label("Kind of file", html_for=f"{P}-kind"),
                         dcc.Dropdown(id=f"{P}-kind", options=list(LOAD_KINDS), value="values",
                                      clearable=False)], md=3),
                dbc.Col([dbc.Label("Analyst token", html_for=f"{P}-token"),
                         dbc.Input(id=f"{P}-token", type="password", autoComplete="off",
                                   placeholder="Needed when the server requires sign-in")],
                        md=3),
                dbc.Col([dbc.Label("File"),
                         dcc.Upload(id=f"{P}-file", children=html.Div(
                             ["Drop a CSV or XLSX file here, or ", html.A("choose one")]),
                             className="border rounded p-3 text-center bg-light",
                             max_size=get_settings().max_upload_mb * 1024 * 1024)], md=6),
            ], className="g-3 qd-controls"),
            html.Div(id=f"{P}-report", className="mt-3", **{"aria-live": "polite"}),
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
            dbc.Button("Revert the selected load", id=f"{P}-revert", color="danger",
                       outline=True, className="mt-2"),
            html.Div(id=f"{P}-revert-msg", className="mt-2"),
        ], className="qd-card"),
    ])


def _report(res: Any) -> Any:
    head = (f"{res.file_name}: {res.rows_read:,} rows read, {res.rows_rejected:,} rejected; "
            f"status {res.status}{' (dry run: nothing written)' if res.dry_run else ''}.")
    errs = [e.as_dict() for e in res.errors[:500]]
    body = [html.P(head, className="fw-bold")]
    if res.message:
        body.append(html.P(res.message))
    if errs:
        body.append(dag.AgGrid(rowData=errs, columnDefs=[
            {"field": "line"}, {"field": "column"}, {"field": "value"},
            {"field": "message", "flex": 3, "wrapText": True, "autoHeight": True}],
            defaultColDef={"resizable": True, "flex": 1}, style={"height": "300px"},
            className="ag-theme-alpine"))
    return dbc.Alert(body, color="warning" if errs or res.status == "rejected" else "success")


@callback(
    Output(f"{P}-report", "children"),
    Output(f"{P}-commit", "disabled"),
    Output(f"{P}-history", "rowData"),
    Input(f"{P}-file", "contents"),
    Input(f"{P}-commit", "n_clicks"),
    State(f"{P}-file", "filename"),
    State(f"{P}-kind", "value"),
    State(f"{P}-token", "value"),
    prevent_initial_call=True,
)
def check_or_load(contents, commit, filename, kind, token):
    """A dry run when a file is chosen; the real load when Load is pressed."""
    if not contents:
        return no_update, True, no_update
    dry = ctx.triggered_id != f"{P}-commit" or not commit
    try:
        user = _writer(token) if not dry else None
        raw = base64.b64decode(contents.split(",", 1)[1])
        pl = _pipeline()
        res = pl.run_load(get_engine(), raw, kind=kind, file_name=filename, dry_run=dry,
                          user=user)
    except ViewError as exc:
        return dbc.Alert(str(exc), color="warning"), True, no_update
    except Exception as exc:  # noqa: BLE001 - FileError/UsageError say what to fix
        return dbc.Alert(f"{filename}: {exc}", color="danger"), True, no_update
    can_commit = dry and res.status not in ("rejected", "failed")
    return _report(res), not can_commit, history_rows() if not dry else no_update


@callback(
    Output(f"{P}-revert-msg", "children"),
    Output(f"{P}-history", "rowData", allow_duplicate=True),
    Input(f"{P}-revert", "n_clicks"),
    State(f"{P}-history", "selectedRows"),
    State(f"{P}-token", "value"),
    prevent_initial_call=True,
)
def revert(_n, selected, token):
    """Revert the selected load (its values go back to what they were)."""
    if not selected:
        return dbc.Alert("Select a load in the table first.", color="info"), no_update
    load_id = int(selected[0]["Load"])
    try:
        user = _writer(token)
        _pipeline().revert_load(get_engine(), load_id, user=user)
    except ViewError as exc:
        return dbc.Alert(str(exc), color="warning"), no_update
    except Exception as exc:  # noqa: BLE001 - the pipeline's message says why
        return dbc.Alert(f"Load {load_id} was not reverted: {exc}", color="danger"), no_update
    return dbc.Alert(f"Load {load_id} reverted.", color="success"), history_rows()
