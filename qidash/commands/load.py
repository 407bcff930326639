"""``qidash load``, ``qidash loads`` and ``qidash demo``: parse options, call etl, format.

Exit codes: 0 loaded or unchanged, 1 rejected (or a revert refused), 2 usage errors and files
that cannot be read, 3 the database unreachable or failing (the connection refused or cut): a
load then wrote nothing, and ``--json`` still prints one object (``status: "error"``).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import orjson
import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import exc as sa_exc

from core.db import ensure_schema, get_engine
from etl.extract import FileError
from etl.formats import FormatError
from etl.load_runs import get_load, list_loads, recount_values
from etl.pipeline import LoadResult, UsageError, parse_format_options, run_load
from etl.revert import RevertError, revert_load

load_app = typer.Typer(
    help="Load organisations, indicator definitions or values from a file (CSV, XLSX, YAML).",
    no_args_is_help=True,
)
loads_app = typer.Typer(help="Inspect and revert past loads.", no_args_is_help=True)

#: files above this size get a progress bar on a terminal
PROGRESS_BYTES = 5_000_000


def _out() -> Console:
    # piped output (scripts, logs) is not wrapped at rich's default 80 columns
    return Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 160)


def _err() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def _fail(message: str, code: int = 2, as_json: bool = False) -> None:
    if as_json:
        sys.stdout.write(orjson.dumps({"status": "error", "message": message}).decode() + "\n")
    else:
        _err().print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


#: exit code when the database is unreachable or fails mid-way
DATABASE_EXIT = 3


def _database_failed(exc: sa_exc.DBAPIError, as_json: bool) -> None:
    """A refused, cut or failing database connection: one line that says so (no traceback),
    exit 3."""
    reason = str(exc.orig if exc.orig is not None else exc).strip().splitlines()
    url = get_engine().url.render_as_string(hide_password=True)
    _fail(f"the database at {url} failed ({type(exc.orig or exc).__name__}: "
          f"{reason[0] if reason else 'no detail'}); the load did not finish (it is one "
          "transaction: nothing of it is kept unless the database committed it just before the "
          "cut; qidash loads list shows which) - load the file again when the database "
          "answers", code=DATABASE_EXIT, as_json=as_json)


def _run(kind: str, file: Path, fmt: str, mapping: Path | None, sheet: str | None,
         period_type: str | None, skip_invalid: bool, dry_run: bool, as_json: bool,
         user: str | None, option: list[str] | None = None) -> None:
    if not file.exists():
        _fail(f"{file}: no such file", as_json=as_json)
    try:
        format_options = parse_format_options(option)
    except UsageError as exc:
        _fail(str(exc), as_json=as_json)
        return
    engine = get_engine()
    show_progress = (not as_json and sys.stderr.isatty() and file.is_file()
                     and file.stat().st_size > PROGRESS_BYTES)
    started = time.perf_counter()
    try:
        if show_progress:
            from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            with Progress(SpinnerColumn(), TextColumn("{task.description}"),
                          TimeElapsedColumn(), console=_err(), transient=True) as bar:
                task = bar.add_task(f"reading {file.name}", total=None)
                result = run_load(
                    engine, file, kind=kind, format=fmt, mapping=mapping, sheet=sheet,
                    period_type=period_type, skip_invalid=skip_invalid, dry_run=dry_run,
                    user=user, format_options=format_options, progress=lambda n: bar.update(
                        task, description=f"{file.name}: {n:,} rows validated"))
        else:
            result = run_load(
                engine, file, kind=kind, format=fmt, mapping=mapping, sheet=sheet,
                period_type=period_type, skip_invalid=skip_invalid, dry_run=dry_run, user=user,
                format_options=format_options)
    except (FileError, FormatError, UsageError) as exc:
        _fail(str(exc), as_json=as_json)
        return
    except sa_exc.DBAPIError as exc:
        _database_failed(exc, as_json)
        return
    elapsed = time.perf_counter() - started
    if as_json:
        sys.stdout.write(orjson.dumps(result.as_json()).decode() + "\n")
    else:
        _print_result(result, elapsed)
    raise typer.Exit(1 if result.status == "rejected" else 0)


def _print_result(result: LoadResult, elapsed: float) -> None:
    out = _out()
    colour = {"loaded": "green", "unchanged": "cyan", "rejected": "red"}.get(result.status, "")
    what = "dry run: " if result.dry_run else ""
    ident = f"load {result.load_id}" if result.load_id is not None else "not recorded"
    out.print(f"{what}[bold {colour}]{result.status}[/] {result.kind} from {result.file_name} "
              f"({result.format}; {ident}; {elapsed:.1f} s)")
    out.print(f"  rows read {result.rows_read:,}  inserted {result.rows_inserted:,}  "
              f"updated {result.rows_updated:,}  unchanged {result.rows_unchanged:,}  "
              f"rejected {result.rows_rejected:,}")
    p = result.preview
    if p.get("indicators") or p.get("periods"):
        out.print(f"  {p.get('organisations', 0):,} organisations; indicators: "
                  + ", ".join(p.get("indicators", [])[:8])
                  + (" ..." if len(p.get("indicators", [])) > 8 else "")
                  + (f"; periods {p['periods'][0]} to {p['periods'][-1]}"
                     if p.get("periods") else ""))
    if result.message:
        out.print(f"  {result.message}")
    if result.errors:
        table = Table("line", "column", "value", "what to fix", show_lines=False)
        for e in result.errors[:50]:
            line = e.line if e.line is not None else e.ref
            table.add_row("" if line is None else str(line), e.column or "",
                          "" if e.value is None else str(e.value)[:40], e.message)
        out.print(table)
        if len(result.errors) > 50:
            out.print(f"  ... {result.errors_total - 50:,} more errors: "
                      f"qidash loads show {result.load_id} or --json")


_FORMAT = typer.Option("auto", "--format", "-f",
                       help="auto, canonical, mapping, or a named importer (fingertips, qof, "
                            "nhse-ae, ods-practices, list-sizes)")
_MAPPING = typer.Option(None, "--mapping", "-m", help="YAML mapping file for any other layout",
                        exists=False)
_SHEET = typer.Option(None, "--sheet", help="the workbook sheet to read (XLSX)")
_PTYPE = typer.Option(None, "--period-type",
                      help="month, quarter, financial_year or year: decides ambiguous periods "
                           "(2011-12) for indicators that declare no frequency")
_SKIP = typer.Option(False, "--skip-invalid", help="load the valid rows, record the rest")
_DRY = typer.Option(False, "--dry-run", help="validate and count, write nothing")
_JSON = typer.Option(False, "--json", help="print one JSON object (for scripts)")
_USER = typer.Option(None, "--user", help="who loads the file (recorded with the load)")
_OPTION = typer.Option(None, "--option", "-o", metavar="KEY=VALUE",
                       help="an option of the format's reader, repeatable (e.g. --option "
                            "sexes=all for fingertips, --option include_all_settings=true for "
                            "ods-practices, --option period=2019-20 for qof)")


def _make(kind: str):  # typer reads the signature
    def command(
        file: Path = typer.Argument(..., help="the file (a folder of YAML files for indicators)"),
        fmt: str = _FORMAT, mapping: Path | None = _MAPPING, sheet: str | None = _SHEET,
        period_type: str | None = _PTYPE, skip_invalid: bool = _SKIP, dry_run: bool = _DRY,
        as_json: bool = _JSON, user: str | None = _USER, option: list[str] | None = _OPTION,
    ) -> None:
        _run(kind, file, fmt, mapping, sheet, period_type, skip_invalid, dry_run, as_json, user,
             option)

    command.__doc__ = {
        "organisations": "Load organisations: org_code,name,org_type,parent_code (+ attributes).",
        "indicators": "Load indicator definitions: CSV/XLSX, or YAML (a file or a folder).",
        "values": "Load values: org_code,indicator_id,period,numerator,denominator[,value].",
    }[kind]
    return command


for _kind in ("organisations", "indicators", "values"):
    load_app.command(_kind)(_make(_kind))


@loads_app.command("list")
def loads_list(
    limit: int = typer.Option(30, help="how many loads to show"),
    as_json: bool = _JSON,
) -> None:
    """List recent loads, newest first."""
    engine = get_engine()
    ensure_schema(engine)
    loads = list_loads(engine, limit=limit)
    if as_json:
        sys.stdout.write(orjson.dumps([s.as_json() for s in loads]).decode() + "\n")
        return
    if not loads:
        _out().print("no loads yet: qidash load values FILE, or qidash demo")
        return
    table = Table("id", "when", "kind", "file", "status", "read", "ins", "upd", "same", "rej",
                  "user")
    for s in loads:
        table.add_row(str(s.id), s.started_at.strftime("%Y-%m-%d %H:%M"), s.kind, s.file_name,
                      s.status, f"{s.rows_read:,}", f"{s.rows_inserted:,}",
                      f"{s.rows_updated:,}", f"{s.rows_unchanged:,}", f"{s.rows_rejected:,}",
                      s.user or "")
    _out().print(table)


@loads_app.command("show")
def loads_show(load_id: int = typer.Argument(..., help="the load id"),
               as_json: bool = _JSON) -> None:
    """Show one load with its errors."""
    engine = get_engine()
    ensure_schema(engine)
    s = get_load(engine, load_id)
    if s is None:
        _fail(f"there is no load {load_id}; see qidash loads list", code=1, as_json=as_json)
        return
    if as_json:
        sys.stdout.write(orjson.dumps(s.as_json()).decode() + "\n")
        return
    out = _out()
    out.print(f"load {s.id}: [bold]{s.status}[/] {s.kind} from {s.file_name} ({s.format})")
    out.print(f"  by {s.user or 'unknown'} at {s.started_at:%Y-%m-%d %H:%M:%S}; sha256 {s.sha256}")
    out.print(f"  rows read {s.rows_read:,}  inserted {s.rows_inserted:,}  updated "
              f"{s.rows_updated:,}  unchanged {s.rows_unchanged:,}  rejected {s.rows_rejected:,}")
    if s.message:
        out.print(f"  {s.message}")
    if s.errors:
        table = Table("line", "column", "value", "what to fix")
        for e in s.errors:
            line = e.line if e.line is not None else e.ref
            table.add_row("" if line is None else str(line), e.column or "",
                          "" if e.value is None else str(e.value)[:40], e.message)
        out.print(table)


@loads_app.command("revert")
def loads_revert(load_id: int = typer.Argument(..., help="the load id"),
                 user: str | None = _USER, as_json: bool = _JSON) -> None:
    """Put the values a load wrote back as they were before it."""
    engine = get_engine()
    ensure_schema(engine)
    try:
        s = revert_load(engine, load_id, user=user)
    except RevertError as exc:
        _fail(str(exc), code=1, as_json=as_json)
        return
    if as_json:
        sys.stdout.write(orjson.dumps(s.as_json()).decode() + "\n")
    else:
        _out().print(f"load {s.id}: {s.message}")


@loads_app.command("recount")
def loads_recount(as_json: bool = _JSON) -> None:
    """Count every indicator's values and organisations again.

    Loads and reverts keep these counts (the start page's number of values, the indicator
    list's organisations) as they write; run this only after values were written by other
    means, such as SQL. It reads the whole values table."""
    engine = get_engine()
    ensure_schema(engine)
    started = time.perf_counter()
    try:
        values, indicators = recount_values(engine)
    except sa_exc.DBAPIError as exc:
        _database_failed(exc, as_json)
        return
    if as_json:
        sys.stdout.write(orjson.dumps({"values": values, "indicators": indicators}).decode()
                         + "\n")
    else:
        _out().print(f"{values:,} values of {indicators:,} indicators counted in "
                     f"{time.perf_counter() - started:.1f} s")


def demo(
    as_json: bool = _JSON,
) -> None:
    """Load the bundled real demo data (West Sussex immunisations, NHS trusts' A&E)."""
    from etl.demo import DemoError, run_demo

    engine = get_engine()
    started = time.perf_counter()
    try:
        results = run_demo(engine)
    except (FileError, FormatError, UsageError, DemoError) as exc:
        _fail(str(exc), as_json=as_json)
        return
    elapsed = time.perf_counter() - started
    if as_json:
        sys.stdout.write(orjson.dumps([r.as_json() | {"file": r.file_name, "kind": r.kind}
                                       for r in results]).decode() + "\n")
    else:
        out = _out()
        url = engine.url.render_as_string(hide_password=True)
        out.print(f"demo data into {url}:")
        for r in results:
            out.print(f"  {r.status:<9} {r.kind:<13} {r.file_name:<42} read {r.rows_read:>6,}  "
                      f"inserted {r.rows_inserted:>6,}  updated {r.rows_updated:>5,}  "
                      f"unchanged {r.rows_unchanged:>6,}")
        out.print(f"done in {elapsed:.1f} s; start the service with: qidash serve")
    if any(r.status == "rejected" for r in results):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``load``, ``loads`` and ``demo`` to the ``qidash`` command line."""
    app.add_typer(load_app, name="load")
    app.add_typer(loads_app, name="loads")
    app.command("demo")(demo)
