"""``qidash serve``: run the API and dashboards."""

from __future__ import annotations

import os
from typing import Any

import typer
from sqlalchemy import exc as sa_exc

from core.db import ensure_schema, get_engine
from core.settings import get_settings, local_url, reset_settings_cache


def log_config(json_logs: bool) -> dict[str, Any]:
    """The logging set-up of :func:`qidash.middleware.configure_logging` as a ``dictConfig``,
    which uvicorn applies in each worker process."""
    formatter: dict[str, Any] = {"()": "qidash.middleware.JsonFormatter"} if json_logs else {
        "()": "qidash.middleware.TextFormatter",
        "fmt": "%(asctime)s %(levelname)s %(name)s: %(message)s"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"qidash": formatter},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "qidash",
                                "stream": "ext://sys.stderr"}},
        "root": {"handlers": ["stderr"], "level": "INFO"},
        "loggers": {
            "uvicorn": {"handlers": [], "propagate": True},
            "uvicorn.error": {"handlers": [], "propagate": True},
            # qidash.access (with request ids) replaces uvicorn's access log
            "uvicorn.access": {"handlers": [], "propagate": False, "level": "WARNING"},
            "alembic": {"level": "WARNING"},
        },
    }


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def exposure_warning(host: str, require_auth: bool) -> str | None:
    """The warning for listening beyond this machine while reads are open, or None."""
    if require_auth or host in LOOPBACK or host.startswith("127."):
        return None
    return (f"WARNING: listening on {host}, beyond this machine, with QIDASH_REQUIRE_AUTH off: "
            "anyone who can reach this address can read every indicator value, download the "
            "data and export slides without signing in (writes still need an analyst token). "
            "Set QIDASH_REQUIRE_AUTH=true, or listen on 127.0.0.1 behind a proxy that "
            "authenticates.")


def serve(
    host: str = typer.Option(None, help="Address to listen on (default QIDASH_HOST, 127.0.0.1)"),
    port: int = typer.Option(None, help="Port (default QIDASH_PORT, 8000)"),
    workers: int = typer.Option(1, min=1, help="Worker processes (use 2-4 per core in production)"),
) -> None:
    """Start qidash: dashboards at /, the API under /api/v1, its docs at /api/docs."""
    import uvicorn

    from qidash.middleware import configure_logging

    settings = get_settings()
    configure_logging(settings.log_json)
    host = host or settings.host
    port = port or settings.port
    try:
        ensure_schema(get_engine())
    except (sa_exc.OperationalError, sa_exc.InterfaceError) as exc:
        # an outage at start-up is not a reason to stay down: the service starts, /health and
        # /ready answer 503 and reads 503 until the database answers (the pool reconnects by
        # itself); the schema is checked by /ready then ('run qidash db upgrade' if behind)
        url = get_engine().url.render_as_string(hide_password=True)
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        typer.echo(f"warning: the database at {url} is unreachable ({reason}); starting "
                   "anyway: /api/v1/health answers 503 until it is back, then run "
                   "'qidash db upgrade' if /api/v1/ready says the schema is behind", err=True)
    warning = exposure_warning(host, settings.require_auth)
    if warning:
        typer.echo(warning, err=True)
    url = local_url(host, port)
    if not settings.public_url:
        # the links in alerts and digests point where this server answers (--port included),
        # unless QIDASH_PUBLIC_URL names the address people use (a proxy's); the environment
        # carries it to uvicorn's worker processes too
        os.environ["QIDASH_PUBLIC_URL"] = url
        reset_settings_cache()
    typer.echo(f"qidash is running at {url}/  (API docs: {url}/api/docs)")
    uvicorn.run(
        "qidash.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        # applied by uvicorn in every worker process too: configure_logging above runs only
        # in this (parent) process, so with --workers N the workers' access logs were lost
        log_config=log_config(settings.log_json),
        proxy_headers=True,
        timeout_graceful_shutdown=30,  # let in-flight requests (and loads) finish on SIGTERM
    )
