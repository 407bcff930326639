"""The audit log: every write, with who did it, what, when and from where.

The edges say who is acting (:func:`acting`: the token's name and role, the entry point and the
client's address, or the CLI's ``user@host``); the services that write call :func:`record` in
the same transaction as the write, so a write and its audit entry commit or roll back together.
Functions that write are marked with :func:`writes`, which lists them in :data:`WRITE_FUNCTIONS`
(the security tests check that every dashboard callback reaching one of them is guarded).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import getpass
import socket
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import insert, select

from core.errors import InvalidParameter
from core.models import AuditEntry, utcnow
from core.services.query import Conn

F = TypeVar("F", bound=Callable[..., Any])

#: every function that writes data, by action (filled by :func:`writes`)
WRITE_FUNCTIONS: dict[str, Callable[..., Any]] = {}


def writes(action: str) -> Callable[[F], F]:
    """Mark a function as one that writes (recorded in the audit log as ``action``)."""

    def mark(fn: F) -> F:
        WRITE_FUNCTIONS[action] = fn
        fn.__qidash_writes__ = action  # type: ignore[attr-defined]
        return fn

    return mark


@dataclass(frozen=True)
class Actor:
    """Who is acting: a token's name and role (None for the CLI and scripts), the entry point
    (``api``, ``dashboard``, ``cli``, ``direct``) and where from (address or user@host)."""

    name: str | None
    role: str | None
    via: str
    source: str | None


DIRECT = Actor(None, None, "direct", None)
actor_var: ContextVar[Actor | None] = ContextVar("qidash_actor", default=None)


def current_actor() -> Actor:
    """The actor set by the edge handling this request or command (``direct`` if none)."""
    return actor_var.get() or DIRECT


@contextlib.contextmanager
def acting(actor: Actor) -> Iterator[Actor]:
    """Run the block as ``actor``: the writes it makes are recorded under that name."""
    token = actor_var.set(actor)
    try:
        yield actor
    finally:
        actor_var.reset(token)


def cli_actor() -> Actor:
    """The actor of a CLI command: the operating-system user on this host (the CLI writes
    with the database's own credentials, so it has no token)."""
    try:
        user = getpass.getuser()
    except Exception:  # no user name in this environment
        user = "unknown"
    return Actor(None, None, "cli", f"{user}@{socket.gethostname()}"[:200])


def record(conn: Conn, action: str, target: str | None = None,
           details: dict[str, Any] | None = None) -> None:
    """Add one audit entry for ``action`` on ``target`` by the current actor (no commit: it
    belongs to the caller's transaction)."""
    actor = current_actor()
    conn.execute(insert(AuditEntry).values(
        at=utcnow(), actor=actor.name, role=actor.role, action=action[:64],
        target=None if target is None else str(target)[:500], via=actor.via,
        source=actor.source, details=dict(details or {})))


AUDIT_COLUMNS = ["id", "at", "actor", "role", "action", "target", "via", "source", "details"]


def list_entries(conn: Conn, *, limit: int = 100, offset: int = 0, action: str | None = None,
                 actor: str | None = None, since: dt.datetime | None = None
                 ) -> list[dict[str, Any]]:
    """Audit entries, newest first, optionally of one action (or action prefix ending in
    ``.``, e.g. ``token.``), one actor, or since a time."""
    if not 1 <= limit <= 10_000:
        raise InvalidParameter("limit", "limit must be between 1 and 10000")
    t = AuditEntry.__table__
    stmt = select(t).order_by(t.c.at.desc(), t.c.id.desc()).limit(limit).offset(offset)
    if action:
        stmt = stmt.where(t.c.action.startswith(action, autoescape=True) if action.endswith(".")
                          else t.c.action == action)
    if actor:
        stmt = stmt.where(t.c.actor == actor)
    if since is not None:
        stmt = stmt.where(t.c.at >= since)
    out = []
    for row in conn.execute(stmt).mappings():
        item = {k: row[k] for k in AUDIT_COLUMNS}
        at = item["at"]
        if at is not None and at.tzinfo is None:
            at = at.replace(tzinfo=dt.UTC)  # SQLite returns naive datetimes
        item["at"] = at.isoformat() if at is not None else None
        out.append(item)
    return out
