"""The ``qidash`` command line. Each command group lives in ``qidash/commands``.

The groups are imported only when one of their commands runs: ``qidash --help`` lists them from
the short descriptions below without importing pandas, SQLAlchemy, plotly or the loaders (which
took two to four seconds). ``tests/qidash/test_cli_lazy.py`` checks that each description is the
one the command itself gives, so the two cannot drift apart.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import typer
from typer.core import TyperGroup


def _add_typer(attr: str, name: str) -> Callable[[Any, typer.Typer], None]:
    return lambda module, root: root.add_typer(getattr(module, attr), name=name)


def _add_command(attr: str, name: str) -> Callable[[Any, typer.Typer], None]:
    return lambda module, root: root.command(name)(getattr(module, attr))


def _register(module: Any, root: typer.Typer) -> None:
    module.register(root)


#: name -> (module, how the module adds the command to a Typer, short help shown by --help)
LAZY_COMMANDS: dict[str, tuple[str, Callable[[Any, typer.Typer], None], str]] = {
    "serve": ("qidash.commands.serve", _add_command("serve", "serve"),
              "Start qidash: dashboards at /, the API under /api/v1, its docs at /api/docs."),
    "demo": ("qidash.commands.load", _register,
             "Load the bundled real demo data (West Sussex immunisations, NHS trusts' A&E)."),
    "db": ("qidash.commands.db", _add_typer("app", "db"),
           "Database schema: migrate and inspect."),
    "load": ("qidash.commands.load", _register,
             "Load organisations, indicator definitions or values from a file (CSV, XLSX, YAML)."),
    "loads": ("qidash.commands.load", _register, "Inspect and revert past loads."),
    "tokens": ("qidash.commands.tokens", _register,
               "API bearer tokens. Roles: viewer < analyst < admin; writes need analyst. Only a "
               "token's SHA-256 is stored: the token is printed once, when created."),
    "export": ("qidash.commands.export", _register,
               "Export slide packs for improvement meetings."),
    "alerts": ("qidash.commands.alerts", _register,
               "Alerts raised by values loads (special cause, funnel limits, targets)."),
    "subscriptions": ("qidash.commands.alerts", _register,
                      "Email digests of the alerts below a network, after each load."),
    "rebases": ("qidash.commands.rebases", _register,
                "Rebases of SPC charts that people accepted (new limits from a period; every "
                "view and pack applies them)."),
    "audit": ("qidash.commands.audit", _register,
              "The latest writes, newest first: when, who (token and role, or the CLI's "
              "user@host), through what (api, dashboard, cli), the action and what it touched."),
}


def load_command(name: str) -> Any:
    """The real click command for ``name``, importing the module that defines it."""
    module_name, add, _help = LAZY_COMMANDS[name]
    root = typer.Typer()

    @root.callback()
    def _group() -> None:  # a callback makes the Typer a group even with one command
        pass

    add(importlib.import_module(module_name), root)
    return typer.main.get_command(root).commands[name]  # type: ignore[attr-defined]


class _LazyCommand(typer.core.TyperCommand):
    """Stands in for a command in the help listing; becomes the real one when run."""

    def __init__(self, name: str, help_text: str) -> None:
        super().__init__(name=name, help=help_text, short_help=help_text)

    def make_context(self, info_name: str | None, args: list[str],
                     parent: Any = None, **extra: Any) -> Any:
        assert self.name is not None
        return load_command(self.name).make_context(info_name, args, parent=parent, **extra)


class LazyGroup(TyperGroup):
    """The root group: its commands are :class:`_LazyCommand` until one is invoked."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        for name, (_module, _add, help_text) in LAZY_COMMANDS.items():
            self.add_command(_LazyCommand(name, help_text), name)


app = typer.Typer(
    name="qidash",
    cls=LazyGroup,
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
    """qidash: quality-improvement dashboards for NHS clinical networks."""
    # every write a command makes is recorded in the audit log as this host's user, via cli
    # (imported here: --help must not import SQLAlchemy)
    from core import audit

    token = audit.actor_var.set(audit.cli_actor())
    ctx.call_on_close(lambda: audit.actor_var.reset(token))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
