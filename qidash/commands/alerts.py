"""``qidash alerts``: list the alerts values loads raised, set an indicator's noise rules,
and send digests that could not be sent at load time."""

from __future__ import annotations

import sys

import orjson
import typer

from core.db import ensure_schema, get_engine, session_scope
from core.errors import QidashError
from core.services import alerts as alert_service
from core.services import digests as digest_service
from core.services.alerts import ALERT_COLUMNS

app = typer.Typer(help="Alerts raised by values loads (special cause, funnel limits, targets).",
                  no_args_is_help=True)


def _fail(exc: QidashError) -> None:
    typer.echo(f"error: {exc.message}", err=True)
    raise typer.Exit(2)


@app.command("list")
def list_(
    load: int | None = typer.Option(None, "--load", help="Only this load's alerts"),
    since: str | None = typer.Option(None, "--since", help="Raised on or after (YYYY-MM-DD)"),
    network: str | None = typer.Option(None, "--network", help="Organisations below this code"),
    org: str | None = typer.Option(None, "--org", help="Organisation code"),
    indicator: str | None = typer.Option(None, "--indicator", help="Indicator id"),
    kind: str | None = typer.Option(None, "--kind", help="e.g. special_cause_concern"),
    limit: int = typer.Option(100, "--limit", min=1),
    offset: int = typer.Option(0, "--offset", min=0),
    as_json: bool = typer.Option(False, "--json", help='Print {"alerts": [...], "total"}'),
    as_csv: bool = typer.Option(False, "--csv", help="Print CSV"),
) -> None:
    """Standing alerts, newest load first and concerns first (the API's /alerts)."""
    engine = get_engine()
    ensure_schema(engine)
    try:
        with session_scope(engine) as session:
            frame, total = alert_service.list_alerts(
                session, load=load, since=since, network=network, org=org,
                indicator=indicator, kind=kind, limit=limit, offset=offset)
    except QidashError as exc:
        _fail(exc)
        return
    rows = alert_service.alert_records(frame)
    if as_json:
        sys.stdout.write(orjson.dumps({"alerts": rows, "total": total}).decode() + "\n")
        return
    if as_csv:
        frame[list(ALERT_COLUMNS)].to_csv(sys.stdout, index=False)
        return
    for a in rows:
        value = "" if a["value"] is None else f" = {a['value']:g}"
        typer.echo(f"[{a['kind']}] {a['org_code']} {a['org_name']}: {a['message']}{value}")
        typer.echo(f"    {a['url']}")
    typer.echo(f"{len(rows)} of {total} alerts")


@app.command("settings")
def settings(
    indicator: str = typer.Argument(..., help="Indicator id"),
    min_denominator: float | None = typer.Option(
        None, "--min-denominator", help="No alert from a smaller denominator (omit: default)"),
    kinds: list[str] = typer.Option([], "--kind", help="Kinds to raise (repeat; omit: all)"),
) -> None:
    """Set an indicator's noise rules for alerts."""
    engine = get_engine()
    ensure_schema(engine)
    try:
        with session_scope(engine) as session:
            out = alert_service.set_noise_rules(session, indicator,
                                                min_denominator=min_denominator,
                                                kinds=list(kinds) or None)
    except QidashError as exc:
        _fail(exc)
        return
    sys.stdout.write(orjson.dumps(out).decode() + "\n")


@app.command("send")
def send(
    pending: bool = typer.Option(False, "--pending", help="Send every pending digest"),
    load: int | None = typer.Option(None, "--load", help="Only this load's digests"),
) -> None:
    """Send the digests that are still pending (e.g. the mail server was down at load time).
    Exit 1 when some could not be sent (they stay pending)."""
    if not pending:
        typer.echo("error: say --pending to send the pending digests", err=True)
        raise typer.Exit(2)
    engine = get_engine()
    ensure_schema(engine)
    report = digest_service.send_pending(engine, load_id=load)
    sys.stdout.write(orjson.dumps(report.as_dict()).decode() + "\n")
    if report.failed:
        raise typer.Exit(1)


subs_app = typer.Typer(help="Email digests of the alerts below a network, after each load.",
                       no_args_is_help=True)


@subs_app.command("add")
def subs_add(
    email: str = typer.Option(..., "--email"),
    network: str = typer.Option(..., "--network", help="Organisation code"),
    kinds: list[str] = typer.Option([], "--kind", help="Alert kinds (repeat; omit: all)"),
) -> None:
    """Subscribe an email address to the digests of a network."""
    engine = get_engine()
    ensure_schema(engine)
    try:
        with session_scope(engine) as session:
            item = digest_service.create_subscription(session, email=email, network=network,
                                                      kinds=list(kinds) or None,
                                                      created_by="cli")
    except QidashError as exc:
        _fail(exc)
        return
    sys.stdout.write(orjson.dumps(item).decode() + "\n")


@subs_app.command("list")
def subs_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """List subscriptions."""
    engine = get_engine()
    ensure_schema(engine)
    with session_scope(engine) as session:
        items = digest_service.list_subscriptions(session)
    if as_json:
        sys.stdout.write(orjson.dumps(items).decode() + "\n")
        return
    for i in items:
        kinds = ", ".join(i["kinds"]) if i["kinds"] else "all kinds"
        typer.echo(f"{i['id']}: {i['email']} <- {i['network']} ({i['network_name']}), {kinds}")


@subs_app.command("remove")
def subs_remove(subscription_id: int = typer.Argument(...)) -> None:
    """Remove a subscription."""
    engine = get_engine()
    ensure_schema(engine)
    try:
        with session_scope(engine) as session:
            digest_service.delete_subscription(session, subscription_id)
    except QidashError as exc:
        _fail(exc)
        return
    typer.echo(f"removed subscription {subscription_id}")


def register(root: typer.Typer) -> None:
    """Add ``alerts`` and ``subscriptions`` to the ``qidash`` command line."""
    root.add_typer(app, name="alerts")
    root.add_typer(subs_app, name="subscriptions")
