"""``qidash audit``: read the audit log (every write: who, what, when, from where)."""

from __future__ import annotations

import datetime as dt
import json

import typer

from core import audit
from core.db import ensure_schema, get_engine, session_scope
from core.errors import QidashError


def show(
    limit: int = typer.Option(50, "--limit", min=1, max=10_000, help="How many entries"),
    action: str = typer.Option(None, "--action",
                               help="Only this action (load, load.revert, annotation.create, "
                               "token.revoke...), or a prefix ending in '.' (token.)"),
    actor: str = typer.Option(None, "--actor", help="Only this token's name"),
    since: dt.datetime = typer.Option(None, "--since", help="Only entries from this time on "
                                      "(e.g. 2026-12-01 or 2026-12-01T09:00, UTC)"),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list"),
) -> None:
    """The latest writes, newest first: when, who (token and role, or the CLI's user@host),
    through what (api, dashboard, cli), the action and what it touched."""
    engine = get_engine()
    ensure_schema(engine)
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=dt.UTC)
    try:
        with session_scope(engine) as session:
            entries = audit.list_entries(session, limit=limit, action=action, actor=actor,
                                         since=since)
    except QidashError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(json.dumps(entries, default=str))
        return
    if not entries:
        typer.echo("no audit entries")
        return
    for e in entries:
        who = e["actor"] or "-"
        if e["role"]:
            who += f" ({e['role']})"
        details = json.dumps(e["details"], default=str) if e["details"] else ""
        typer.echo(f"{e['at'][:19]}  {who:<24} {e['via']:<9} {e['source'] or '-':<24} "
                   f"{e['action']:<18} {e['target'] or '-'}  {details}")


def register(root: typer.Typer) -> None:
    """Add ``audit`` to the ``qidash`` command line."""
    root.command("audit")(show)
