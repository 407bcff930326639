"""The ``qidash`` command line. Each command group lives in ``qidash/commands``."""

from __future__ import annotations

import typer

from core import audit
from qidash.commands import db, serve

app = typer.Typer(
    name="qidash",
    help="qidash: quality-improvement dashboards for NHS clinical networks.\n\n"
    "Load indicator extracts, compute peer comparisons, funnels and SPC charts, serve the API "
    "and dashboards, and export slide packs. The database is QIDASH_DATABASE_URL "
    "(default: an SQLite file qidash.db in the working directory).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(ctx: typer.Context) -> None:
    # every write a command makes is recorded in the audit log as this host's user, via cli
    token = audit.actor_var.set(audit.cli_actor())
    ctx.call_on_close(lambda: audit.actor_var.reset(token))


app.add_typer(db.app, name="db")
app.command("serve")(serve.serve)

# groups owned by the ETL, API, export and security work
for _module in ("load", "tokens", "export", "audit"):
    try:
        _mod = __import__(f"qidash.commands.{_module}", fromlist=["register"])
    except ModuleNotFoundError:
        continue
    _mod.register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
