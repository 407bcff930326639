"""``qidash tokens``: create, list and revoke API bearer tokens."""

from __future__ import annotations

import json

import typer

from core import auth
from core.db import ensure_schema, get_engine, session_scope
from core.errors import QidashError

app = typer.Typer(
    help="API bearer tokens. Roles: viewer < analyst < admin; writes need analyst. Only a "
    "token's SHA-256 is stored: the token is printed once, when created.",
    no_args_is_help=True,
)


def _fail(exc: QidashError) -> None:
    typer.echo(f"error: {exc.message}", err=True)
    raise typer.Exit(2)


@app.command("create")
def create(
    name: str = typer.Option(..., "--name", help="A unique name, e.g. the person or script"),
    role: str = typer.Option("viewer", "--role", help="viewer, analyst or admin"),
    as_json: bool = typer.Option(False, "--json", help='Print {"name", "role", "token"}'),
) -> None:
    """Create a token and print it once (store it now: it cannot be shown again)."""
    engine = get_engine()
    ensure_schema(engine)
    try:
        with session_scope(engine) as session:
            info, token = auth.create_token(session, name, role)
    except QidashError as exc:
        _fail(exc)
        return
    if as_json:
        typer.echo(json.dumps({"name": info.name, "role": info.role, "token": token}))
    else:
        typer.echo(f"token for {info.name} ({info.role}); shown once, store it now:")
        typer.echo(token)
        typer.echo("use it as: Authorization: Bearer <token>")


@app.command("list")
def list_(
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list"),
) -> None:
    """List tokens (never the tokens themselves): name, role, created, last used, revoked."""
    engine = get_engine()
    ensure_schema(engine)
    with session_scope(engine) as session:
        tokens = auth.list_tokens(session)
    if as_json:
        typer.echo(json.dumps([
            {"name": t.name, "role": t.role, "created_at": t.created_at.isoformat(),
             "last_used_at": t.last_used_at.isoformat() if t.last_used_at else None,
             "revoked_at": t.revoked_at.isoformat() if t.revoked_at else None}
            for t in tokens
        ]))
        return
    if not tokens:
        typer.echo("no tokens; create one with qidash tokens create --role analyst --name NAME")
        return
    typer.echo(f"{'name':<30} {'role':<8} {'created':<20} {'last used':<20} status")
    for t in tokens:
        def fmt(d):  # type: ignore[no-untyped-def]
            return d.strftime("%Y-%m-%d %H:%M") if d else "-"

        status = f"revoked {fmt(t.revoked_at)}" if t.revoked_at else "active"
        typer.echo(f"{t.name:<30} {t.role:<8} {fmt(t.created_at):<20} "
                   f"{fmt(t.last_used_at):<20} {status}")


@app.command("revoke")
def revoke(name: str = typer.Argument(..., help="The token's name")) -> None:
    """Revoke a token: requests with it get 401 from now on."""
    engine = get_engine()
    ensure_schema(engine)
    try:
        with session_scope(engine) as session:
            info = auth.revoke_token(session, name)
    except QidashError as exc:
        _fail(exc)
        return
    typer.echo(f"revoked {info.name} ({info.role})")


def register(root: typer.Typer) -> None:
    """Add the ``tokens`` group to the ``qidash`` command line."""
    root.add_typer(app, name="tokens")
