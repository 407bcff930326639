"""``qidash export pack``: a PowerPoint (or PDF) pack for an organisation's improvement meeting.

Exit codes: 0 written; 2 bad input (unknown organisation, indicator or period, bad option);
1 the pack could not be made (a chart could not be drawn, LibreOffice missing for PDF). Nothing
is written unless the whole pack was made.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import typer
from rich.console import Console

from core.db import get_engine
from core.errors import QidashError

export_app = typer.Typer(help="Export slide packs for improvement meetings.",
                         no_args_is_help=True)


def _err(message: str, code: int) -> None:
    Console(stderr=True, highlight=False, soft_wrap=True).print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


@export_app.command("pack")
def pack(
    org: str = typer.Option(..., "--org", help="ODS code of the organisation (PCN, ICB, "
                            "practice, trust)"),
    period: str = typer.Option(None, "--period", help="Period label, e.g. 2021-22 or 2019-03 "
                               "(default: each indicator's latest period with data)"),
    indicators: str = typer.Option(None, "--indicators", help="Comma-separated indicator ids "
                                   "(default: every indicator with data for the organisation)"),
    per_member: bool = typer.Option(False, "--per-member", help="Add one profile slide per "
                                    "member practice"),
    peers: str = typer.Option(None, "--peers", help="Peers: parent:CODE, similar:CODE or "
                              "group:NAME (default: every organisation of the members' type)"),
    overdispersion: bool = typer.Option(False, "--overdispersion", help="Widen the funnel "
                                        "limits for overdispersion (default off, as on the "
                                        "dashboard)"),
    fmt: str = typer.Option("pptx", "--format", help="pptx or pdf (pdf needs LibreOffice)"),
    since: str = typer.Option(None, "--since", help="Add 'What changed' (alerts raised since "
                              "this date, YYYY-MM-DD) and 'Actions and their effect'"),
    output: Path = typer.Option(None, "-o", "--output", help="File to write (default "
                                "qidash-pack-<ORG>-<PERIOD>.<format> in the current folder)"),
) -> None:
    """Make the slide pack for ORG's improvement meeting (PowerPoint or PDF).

    Summary table, a chart per indicator with a plain message and speaker notes, sources.
    """
    from sqlalchemy.orm import Session

    from exports.pack import build_pack, default_filename
    from exports.pdf import PdfError, convert_to_pdf
    from exports.render import RenderError

    fmt = fmt.strip().lower()
    if fmt not in ("pptx", "pdf"):
        _err(f"--format {fmt!r} is not supported; use pptx or pdf", 2)
    target = output or Path(default_filename(org, period, fmt))
    if target.suffix.lower() != f".{fmt}":
        _err(f"output {str(target)!r} should end in .{fmt} for --format {fmt}", 2)
    try:
        with Session(get_engine()) as session:
            if fmt == "pptx":
                result = build_pack(session, org_code=org, period=period,
                                    indicators=indicators, per_member=per_member, peers=peers,
                                    output=target, overdispersion=overdispersion, since=since)
            else:
                with tempfile.TemporaryDirectory(prefix="qidash-pack-") as tmp:
                    deck_path = Path(tmp) / target.with_suffix(".pptx").name
                    result = build_pack(session, org_code=org, period=period,
                                        indicators=indicators, per_member=per_member,
                                        peers=peers, output=deck_path,
                                        overdispersion=overdispersion, since=since)
                    convert_to_pdf(deck_path, target)
    except QidashError as exc:
        _err(exc.message, 2)
        return
    except (RenderError, PdfError) as exc:
        _err(str(exc), 1)
        return
    typer.echo(f"wrote {target} ({result.slides} slides, {len(result.indicators)} indicators, "
               f"{result.charts} charts) in {result.seconds:.1f} s")


def register(app: typer.Typer) -> None:
    """Add ``export`` (``qidash export pack ...``) to the ``qidash`` command line."""
    app.add_typer(export_app, name="export")
