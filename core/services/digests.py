"""Subscriptions and email digests of the alerts a load raised.

A subscription is an email address and a network (the organisations below an organisation
code), optionally limited to some alert kinds. Each values load that raises alerts in a
subscription's network queues one digest for it, in the load's own transaction
(:func:`queue_digests`); after the load commits the pending digests are sent over SMTP
(:func:`send_pending`, ``QIDASH_SMTP_URL``). A send that fails is logged and the digest stays
pending for ``qidash alerts send --pending``: it never fails the load.

A digest has a plain-text and an HTML part, grouped by organisation (organisations with
concerns first, concerns first within each), every alert linking to its chart under
``QIDASH_PUBLIC_URL``. Its alerts come from :func:`core.services.alerts.list_alerts`, the one
path by which alerts leave core (disclosure control applies there).
"""

from __future__ import annotations

import html
import logging
import re
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any
from urllib.parse import unquote, urlsplit

import pandas as pd
from sqlalchemy import Engine, delete, insert, select, update

from core import audit
from core.errors import InvalidParameter, NotFound
from core.models import Digest, Load, Organisation, Subscription, utcnow
from core.services.alerts import KIND_ORDER, check_kinds, list_alerts
from core.services.organisations import descendant_ids, get_org
from core.services.query import Conn
from core.settings import get_settings

log = logging.getLogger("qidash.digests")

_EMAIL = re.compile(r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;]+$")
KIND_TITLES = {
    "special_cause_concern": "Special cause of concern",
    "crossed_limit_worse": "Moved outside the funnel limits (worse)",
    "target_missed": "Target missed",
    "special_cause_improvement": "Special cause of improvement",
    "crossed_limit_better": "Back inside / better than the funnel limits",
    "target_met": "Target met",
}
CONCERNS = ("special_cause_concern", "crossed_limit_worse", "target_missed")


# ----------------------------------------------------------------------------- subscriptions
def _subscription(conn: Conn, sub_id: int) -> dict[str, Any]:
    r = conn.execute(
        select(Subscription.id, Subscription.email, Organisation.code, Organisation.name,
               Subscription.kinds, Subscription.created_by, Subscription.created_at)
        .join(Organisation, Organisation.id == Subscription.network_id)
        .where(Subscription.id == sub_id)).first()
    if r is None:
        raise NotFound(f"no subscription with id {sub_id}; list them with /subscriptions",
                       entity="subscription", key=sub_id)
    return {"id": r[0], "email": r[1], "network": r[2], "network_name": r[3],
            "kinds": r[4], "created_by": r[5], "created_at": r[6]}


@audit.writes("subscription.create")
def create_subscription(conn: Conn, *, email: str, network: str,
                        kinds: list[str] | None = None, created_by: str | None = None
                        ) -> dict[str, Any]:
    """Subscribe ``email`` to digests of the alerts below ``network``. Flushes only."""
    address = (email or "").strip()
    if len(address) > 320 or not _EMAIL.match(address):
        raise InvalidParameter("email", f"not an email address: {email!r}")
    net = get_org(conn, network, parameter="network")
    new_id = conn.execute(insert(Subscription).values(
        email=address, network_id=net.id, kinds=check_kinds(kinds), created_by=created_by,
        created_at=utcnow()).returning(Subscription.id)).scalar_one()
    audit.record(conn, "subscription.create", str(new_id),
                 {"email": address, "network": net.code, "kinds": check_kinds(kinds)})
    return _subscription(conn, new_id)


def list_subscriptions(conn: Conn) -> list[dict[str, Any]]:
    ids = conn.execute(select(Subscription.id).order_by(Subscription.id)).scalars().all()
    return [_subscription(conn, i) for i in ids]


@audit.writes("subscription.delete")
def delete_subscription(conn: Conn, sub_id: int) -> None:
    old = _subscription(conn, sub_id)  # NotFound
    conn.execute(delete(Subscription).where(Subscription.id == sub_id))
    audit.record(conn, "subscription.delete", str(sub_id),
                 {"email": old["email"], "network": old["network"], "kinds": old["kinds"]})


# ----------------------------------------------------------------------------- digests
def _digest_alerts(conn: Conn, load_id: int, network: str, kinds: list[str] | None
                   ) -> pd.DataFrame:
    frame, _ = list_alerts(conn, load=load_id, network=network, limit=None)
    if kinds:
        frame = frame[frame["kind"].isin(kinds)]
    return frame.reset_index(drop=True)


def queue_digests(conn: Conn, load_id: int) -> int:
    """Queue one pending digest per subscription with alerts of this load in its network
    (in the load's transaction). Returns how many were queued."""
    subs = conn.execute(select(Subscription.id, Subscription.network_id, Subscription.kinds)
                        ).all()
    if not subs:
        return 0
    from core.models import Alert

    rows = conn.execute(select(Alert.org_id, Alert.kind).where(
        Alert.load_id == load_id, Alert.withdrawn_at.is_(None))).all()
    if not rows:
        return 0
    queued = 0
    below: dict[int, set[int]] = {}
    for sub_id, network_id, kinds in subs:
        if network_id not in below:
            below[network_id] = set(descendant_ids(conn, network_id))
        if any(o in below[network_id] and (not kinds or k in kinds) for o, k in rows):
            conn.execute(insert(Digest).values(subscription_id=sub_id, load_id=load_id,
                                               status="pending", attempts=0,
                                               created_at=utcnow()))
            queued += 1
    return queued


def _grouped(frame: pd.DataFrame) -> list[tuple[str, str, list[dict[str, Any]]]]:
    """(code, name, alerts) per organisation: organisations with concerns first (most
    concerns first), then by code; within each, concerns first."""
    groups = []
    for (code, name), g in frame.groupby(["org_code", "org_name"], sort=False):
        items = sorted(g.to_dict("records"), key=lambda a: (KIND_ORDER.get(a["kind"], 9),
                                                            a["indicator_id"], a["period"]))
        groups.append((str(code), str(name), items))
    return sorted(groups, key=lambda x: (-sum(a["kind"] in CONCERNS for a in x[2]), x[0]))


def _value(a: dict[str, Any]) -> str:
    v = a.get("value")
    return "" if v is None or v != v else f" (value {v:.4g})"


def build_digest(conn: Conn, digest_id: int) -> EmailMessage | None:
    """The email for one digest; None when its alerts have all been withdrawn."""
    d = conn.execute(select(Digest.subscription_id, Digest.load_id).where(
        Digest.id == digest_id)).one()
    sub = _subscription(conn, d[0])
    frame = _digest_alerts(conn, d[1], sub["network"], sub["kinds"])
    if frame.empty:
        return None
    loaded = conn.execute(select(Load.file_name).where(Load.id == d[1])).scalar_one()
    settings = get_settings()
    n = len(frame)
    concerns = int(frame["kind"].isin(CONCERNS).sum())
    title = (f"qidash: {n} alert{'s' if n != 1 else ''} in {sub['network_name']} "
             f"({concerns} concern{'s' if concerns != 1 else ''})")
    intro = (f"Load {d[1]} ({loaded}) raised {n} alert{'s' if n != 1 else ''} for "
             f"organisations in {sub['network_name']} ({sub['network']}).")
    text_lines = [intro, ""]
    html_parts = [f"<h1>{html.escape(title)}</h1>", f"<p>{html.escape(intro)}</p>"]
    for code, name, items in _grouped(frame):
        text_lines.append(f"{name} ({code})")
        html_parts.append(f"<h2>{html.escape(name)} ({html.escape(code)})</h2><ul>")
        for a in items:
            kind = KIND_TITLES.get(a["kind"], a["kind"])
            text_lines.append(f"  - {kind}: {a['message']}{_value(a)}\n    {a['url']}")
            html_parts.append(
                f"<li><strong>{html.escape(kind)}</strong>: "
                f"<a href=\"{html.escape(a['url'], quote=True)}\">"
                f"{html.escape(a['message'])}</a>{html.escape(_value(a))}</li>")
        text_lines.append("")
        html_parts.append("</ul>")
    base = settings.link_base()
    footer = (f"All alerts: {base}/alerts?network={sub['network']}. You receive this because "
              f"{sub['email']} is subscribed (subscription {sub['id']}).")
    text_lines.append(footer)
    html_parts.append(f"<p>{html.escape(footer)}</p>")
    msg = EmailMessage()
    msg["Subject"] = title
    msg["From"] = settings.mail_from
    msg["To"] = sub["email"]
    msg.set_content("\n".join(text_lines))
    msg.add_alternative("<html><body>" + "".join(html_parts) + "</body></html>",
                        subtype="html")
    return msg


@dataclass(frozen=True)
class SmtpTarget:
    host: str
    port: int
    ssl: bool
    user: str | None
    password: str | None


def parse_smtp_url(url: str) -> SmtpTarget:
    """``smtp://host:port`` or ``smtps://user:password@host:port``."""
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise InvalidParameter("smtp_url", "QIDASH_SMTP_URL must be smtp://host:port or "
                               "smtps://user:password@host:port")
    try:
        port = parts.port or (465 if parts.scheme == "smtps" else 25)
    except ValueError:
        raise InvalidParameter("smtp_url", "QIDASH_SMTP_URL has a bad port") from None
    return SmtpTarget(parts.hostname, port, parts.scheme == "smtps",
                      unquote(parts.username) if parts.username else None,
                      unquote(parts.password) if parts.password else None)


def _send(msg: EmailMessage, target: SmtpTarget) -> None:
    client: smtplib.SMTP
    if target.ssl:
        client = smtplib.SMTP_SSL(target.host, target.port, timeout=30,
                                  context=ssl.create_default_context())
    else:
        client = smtplib.SMTP(target.host, target.port, timeout=30)
    with client:
        if target.user:
            client.login(target.user, target.password or "")
        client.send_message(msg)


@dataclass
class SendReport:
    sent: int = 0
    failed: int = 0
    empty: int = 0
    errors: list[str] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"sent": self.sent, "failed": self.failed, "empty": self.empty,
                "errors": list(self.errors or [])}


@audit.writes("digest.send")
def send_pending(engine: Engine, *, load_id: int | None = None) -> SendReport:
    """Send the pending digests (of one load, or all); each one's outcome is committed on its
    own. A failure is logged and leaves the digest pending with its error."""
    report = SendReport(errors=[])
    with engine.connect() as conn:
        stmt = select(Digest.id).where(Digest.status == "pending").order_by(Digest.id)
        if load_id is not None:
            stmt = stmt.where(Digest.load_id == load_id)
        ids = list(conn.execute(stmt).scalars())
    if not ids:
        return report
    url = get_settings().smtp_url
    for digest_id in ids:
        with engine.begin() as conn:
            try:
                msg = build_digest(conn, digest_id)
                if msg is None:
                    conn.execute(update(Digest).where(Digest.id == digest_id).values(
                        status="empty", sent_at=None))
                    report.empty += 1
                    continue
                if not url:
                    raise RuntimeError("QIDASH_SMTP_URL is not set")
                _send(msg, parse_smtp_url(url))
            except Exception as exc:  # any send failure keeps it pending
                message = f"{type(exc).__name__}: {exc}"
                log.warning("digest %s not sent (kept for qidash alerts send --pending): %s",
                            digest_id, message)
                conn.execute(update(Digest).where(Digest.id == digest_id).values(
                    attempts=Digest.attempts + 1, last_error=message[:2000]))
                report.failed += 1
                assert report.errors is not None
                report.errors.append(f"digest {digest_id}: {message}")
                continue
            conn.execute(update(Digest).where(Digest.id == digest_id).values(
                status="sent", sent_at=utcnow(), attempts=Digest.attempts + 1,
                last_error=None))
            audit.record(conn, "digest.send", str(digest_id), {"to": str(msg["To"])})
            report.sent += 1
    return report
