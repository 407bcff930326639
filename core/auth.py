"""Bearer tokens and roles.

A token is 32 random bytes (``secrets.token_urlsafe``) with a ``qd_`` prefix, shown once when
created; only its SHA-256 is stored. A presented token is hashed, looked up by hash (a unique
index) and the stored hash compared with :func:`hmac.compare_digest`, so the check takes the
same time whatever the token. Roles are ordered ``viewer < analyst < admin``: reads need
``viewer`` when ``QIDASH_REQUIRE_AUTH`` is on, every write needs ``analyst`` or above.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import insert, select, update

from core.errors import Conflict, InvalidParameter, NotFound, PermissionDenied
from core.models import ROLES, ApiToken, utcnow
from core.services.base import Conn

ROLE_RANK = {role: i for i, role in enumerate(ROLES)}
TOKEN_PREFIX = "qd_"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._@-]{0,199}$")
#: how stale ``last_used_at`` may get before a request writes it again (saves a write per read)
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


@dataclass(frozen=True)
class TokenInfo:
    """A token as listed (never the token itself)."""

    id: int
    name: str
    role: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None

    @property
    def active(self) -> bool:
        """Not revoked."""
        return self.revoked_at is None


def check_role(role: str) -> str:
    """``role`` if it is one of viewer, analyst, admin; else :class:`InvalidParameter`."""
    if role not in ROLE_RANK:
        raise InvalidParameter("role", f"role must be one of {', '.join(ROLES)}, got {role!r}")
    return role


def role_at_least(role: str, minimum: str) -> bool:
    """Whether ``role`` is ``minimum`` or above (viewer < analyst < admin)."""
    return ROLE_RANK.get(role, -1) >= ROLE_RANK[check_role(minimum)]


def require_role(role: str, minimum: str, action: str = "this") -> None:
    """Raise :class:`PermissionDenied` unless ``role`` is ``minimum`` or above."""
    if not role_at_least(role, minimum):
        raise PermissionDenied(
            f"{action} needs the {minimum} role or above; this token has the {role} role",
            details={"role": role, "required": minimum},
        )


def generate_token() -> str:
    """A new random bearer token (about 256 bits of entropy)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """The hex SHA-256 of a token: what the database stores."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


_COLUMNS = (ApiToken.id, ApiToken.name, ApiToken.role, ApiToken.created_at,
            ApiToken.last_used_at, ApiToken.revoked_at)


def create_token(session: Conn, name: str, role: str) -> tuple[TokenInfo, str]:
    """Create a token; returns its info and the plaintext, which is never stored or shown
    again. Names are unique (:class:`Conflict`)."""
    check_role(role)
    name = (name or "").strip()
    if not _NAME.match(name):
        raise InvalidParameter(
            "name", "a token name is 1-200 letters, digits, spaces or . _ @ - (e.g. 'ci-bot')"
        )
    if session.execute(select(ApiToken.id).where(ApiToken.name == name)).first() is not None:
        raise Conflict(f"a token named {name!r} exists; revoke it or choose another name")
    token = generate_token()
    now = utcnow()
    session.execute(
        insert(ApiToken).values(name=name, role=role, token_hash=hash_token(token),
                                created_at=now)
    )
    info = _by_name(session, name)
    assert info is not None
    return info, token


def _by_name(conn: Conn, name: str) -> TokenInfo | None:
    row = conn.execute(select(*_COLUMNS).where(ApiToken.name == name)).first()
    return TokenInfo(*row) if row is not None else None


def list_tokens(conn: Conn, *, include_revoked: bool = True) -> list[TokenInfo]:
    """Every token, oldest first (revoked ones too unless ``include_revoked`` is False)."""
    stmt = select(*_COLUMNS).order_by(ApiToken.created_at, ApiToken.id)
    if not include_revoked:
        stmt = stmt.where(ApiToken.revoked_at.is_(None))
    return [TokenInfo(*r) for r in conn.execute(stmt).all()]


def revoke_token(session: Conn, name: str) -> TokenInfo:
    """Revoke the token ``name`` (idempotent); :class:`NotFound` lists the token names."""
    info = _by_name(session, name)
    if info is None:
        names = [t.name for t in list_tokens(session)]
        raise NotFound(
            f"no token named {name!r}; tokens: {', '.join(names) or 'none'}",
            entity="token", key=name, valid=names,
        )
    if info.revoked_at is None:
        session.execute(
            update(ApiToken).where(ApiToken.id == info.id).values(revoked_at=utcnow())
        )
        info = _by_name(session, name)
        assert info is not None
    return info


def verify_token(conn: Conn, token: str) -> TokenInfo | None:
    """The active token matching ``token``, or None (unknown, malformed or revoked)."""
    if not token or len(token) > 200:
        return None
    digest = hash_token(token)
    row = conn.execute(
        select(*_COLUMNS, ApiToken.token_hash).where(ApiToken.token_hash == digest)
    ).first()
    if row is None or not hmac.compare_digest(row[-1], digest):
        return None
    info = TokenInfo(*row[:-1])
    return info if info.active else None


def touch_token(session: Conn, info: TokenInfo) -> bool:
    """Record use of a token, at most once a minute; returns whether it wrote."""
    now = utcnow()
    last = info.last_used_at
    if last is not None and last.tzinfo is None:
        last = last.replace(tzinfo=dt.UTC)  # SQLite returns naive datetimes
    if last is not None and now - last < LAST_USED_RESOLUTION:
        return False
    session.execute(update(ApiToken).where(ApiToken.id == info.id).values(last_used_at=now))
    return True
