"""``qidash db``: schema migrations."""

from __future__ import annotations

import typer

from core.db import get_engine, head_revision, migrate, schema_version

app = typer.Typer(help="Database schema: migrate and inspect.", no_args_is_help=True)


@app.command("upgrade")
def upgrade(revision: str = typer.Argument("head", help="Target revision")) -> None:
    """Migrate the database (QIDASH_DATABASE_URL) to the latest schema."""
    engine = get_engine()
    before = schema_version(engine)
    migrate(engine, revision)
    after = schema_version(engine)
    typer.echo(f"database {engine.url.render_as_string(hide_password=True)}: "
               f"{before or 'empty'} -> {after}")


@app.command("current")
def current() -> None:
    """Print the schema revision of the database and of this code."""
    typer.echo(f"database: {schema_version() or 'empty'}; code: {head_revision()}")
