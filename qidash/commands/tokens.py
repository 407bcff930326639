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
    expires_in: str = typer.Option(None, "--expires-in",
                                   help="Valid for this long: 90m, 12h, 30d or 8w "
                                   "(default: until revoked)"),
    as_json: bool = typer.Option(False, "--json",
                                 help='Print {"name", "role", "expires_at", "token"}'),
) -> None:
    """Create a token and print it once (store it now: it cannot be shown again)."""
    engine = get_engine()
    ensure_schema(engine)
    try:
        span = auth.parse_duration(expires_in) if expires_in is not None else None
        with session_scope(engine) as session:
            info, token = auth.create_token(session, name, role, expires_in=span)
    except QidashError as exc:
        _fail(exc)
        return
    expires = info.as_dict()["expires_at"]
    if as_json:
        typer.echo(json.dumps({"name": info.name, "role": info.role, "expires_at": expires,
                               "token": token}))
    else:
        typer.echo(f"token for {info.name} ({info.role}"
                   f"{f', expires {expires}' if expires else ''}); shown once, store it now:")
        typer.echo(token)
        typer.echo("use it as: Authorization: Bearer <token>, or sign in to the dashboards "
                   "with it at /sign-in")


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
        typer.echo(json.dumps([t.as_dict() for t in tokens]))
        return
    if not tokens:
        typer.echo("no tokens; create one with qidash tokens create --role analyst --name NAME")
        return
    typer.echo(f"{'name':<30} {'role':<8} {'created':<17} {'last used':<17} "
               f"{'expires':<17} status")
    for t in tokens:
        def fmt(d):
            return d.strftime("%Y-%m-%d %H:%M") if d else "-"

        status = f"revoked {fmt(t.revoked_at)}" if t.revoked_at else t.status
        typer.echo(f"{t.name:<30} {t.role:<8} {fmt(t.created_at):<17} "
                   f"{fmt(t.last_used_at):<17} {fmt(t.expires_at):<17} {status}")


@app.command("revoke")
def revoke(name: str = typer.Argument(..., help="The token's name")) -> None:
    """Revoke a token: requests with it get 401 from now on, and its dashboard sessions end."""
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
