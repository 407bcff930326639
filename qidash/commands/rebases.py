"""``qidash rebases``: accept, list and withdraw rebases of SPC charts."""

from __future__ import annotations

import sys
from typing import Any

import orjson
import typer

from core.db import ensure_schema, get_engine, session_scope
from core.errors import QidashError
from core.services import rebases as rebase_service

app = typer.Typer(help="Rebases of SPC charts that people accepted (new limits from a period; "
                       "every view and pack applies them).", no_args_is_help=True)


def _fail(exc: QidashError) -> None:
    typer.echo(f"error: {exc.message}", err=True)
    raise typer.Exit(2)


def _line(i: dict[str, Any]) -> str:
    state = (f"withdrawn by {i['withdrawn_by'] or 'unknown'} {i['withdrawn_at']:%Y-%m-%d %H:%M}"
             if i["withdrawn_at"] else "applied")
    return (f"{i['id']}: {i['org']} {i['indicator']} ({i['period_type']}) from {i['period']}, "
            f"accepted by {i['accepted_by'] or 'unknown'} {i['accepted_at']:%Y-%m-%d %H:%M}; "
            f"{state}" + (f"; {i['reason']}" if i["reason"] else ""))


@app.command("add")
def add(
    org: str = typer.Option(..., "--org", help="Organisation code"),
    indicator: str = typer.Option(..., "--indicator", help="Indicator id"),
    period: str = typer.Option(..., "--period", help="The period the new limits start"),
    period_type: str | None = typer.Option(None, "--period-type",
                                           help="month, quarter, financial_year, year "
                                                "(default: the series' finest)"),
    reason: str | None = typer.Option(None, "--reason", help="Why (e.g. the action)"),
    action_id: int | None = typer.Option(None, "--action", help="The action it followed"),
) -> None:
    """Accept a rebase: new limits from PERIOD, recorded as accepted by this host's user now."""
    engine = get_engine()
    ensure_schema(engine)
    try:
        with session_scope(engine) as session:
            item = rebase_service.accept_rebase(
                session, org=org, indicator=indicator, period=period, period_type=period_type,
                reason=reason, action_id=action_id)
    except QidashError as exc:
        _fail(exc)
        return
    typer.echo(_line(item))


@app.command("list")
def list_(
    org: str | None = typer.Option(None, "--org"),
    indicator: str | None = typer.Option(None, "--indicator"),
    active: bool = typer.Option(False, "--active", help="Only those applied now"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """List accepted rebases (withdrawn ones too, unless --active)."""
    engine = get_engine()
    ensure_schema(engine)
    try:
        with session_scope(engine) as session:
            items = rebase_service.list_rebases(session, org=org, indicator=indicator,
                                                include_withdrawn=not active)
    except QidashError as exc:
        _fail(exc)
        return
    if as_json:
        sys.stdout.write(orjson.dumps(items).decode() + "\n")
        return
    for i in items:
        typer.echo(_line(i))
    if not items:
        typer.echo("no rebases")


@app.command("withdraw")
def withdraw(rebase_id: int = typer.Argument(...)) -> None:
    """Withdraw a rebase: it is no longer applied; the record stays."""
    engine = get_engine()
    ensure_schema(engine)
    try:
        with session_scope(engine) as session:
            item = rebase_service.withdraw_rebase(session, rebase_id)
    except QidashError as exc:
        _fail(exc)
        return
    typer.echo(_line(item))


def register(root: typer.Typer) -> None:
    """Add ``rebases`` to the ``qidash`` command line."""
    root.add_typer(app, name="rebases")
