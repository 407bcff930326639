"""Bearer tokens, dashboard sessions, roles and the one access rule.

A token is 32 random bytes (``secrets.token_urlsafe``) with a ``qd_`` prefix, shown once when
created; only its SHA-256 is stored. A presented token is hashed, looked up by hash (a unique
index) and the stored hash compared with :func:`hmac.compare_digest`, so the check takes the
same time whatever the token. A token may expire (``expires_at``); its last use is recorded.

The rule (:func:`required_role`, enforced by :func:`authorize` at every entry point): roles are
ordered ``viewer < analyst < admin``; reads are open, or need ``viewer`` when
``QIDASH_REQUIRE_AUTH`` is on; every write needs ``analyst``, whatever the setting; tokens and
the audit log need ``admin``.

Dashboard sessions: signing in with a token creates a session whose random id lives in an
HttpOnly cookie and whose CSRF token the page sends back with every request that changes
anything; only the SHA-256 of each is stored, and a session ends when its token is revoked or
expires. Failed token checks are rate limited per client address (:class:`FailureLimiter`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import delete, insert, or_, select, update

from core import audit
from core.errors import (
    Conflict,
    InvalidParameter,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    TooManyAttempts,
)
from core.models import ROLES, ApiToken, AuthSession, utcnow
from core.services.query import Conn

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
    expires_at: dt.datetime | None = None

    @property
    def expired(self) -> bool:
        """Past its expiry time."""
        return self.expires_at is not None and _aware(self.expires_at) <= utcnow()

    @property
    def active(self) -> bool:
        """Neither revoked nor expired."""
        return self.revoked_at is None and not self.expired

    @property
    def status(self) -> str:
        """``active``, ``revoked`` or ``expired``."""
        return "revoked" if self.revoked_at is not None else (
            "expired" if self.expired else "active")

    def as_dict(self) -> dict[str, object]:
        """The token as listed by the API and ``qidash tokens list --json``."""
        def iso(d: dt.datetime | None) -> str | None:
            return _aware(d).isoformat() if d is not None else None

        return {"name": self.name, "role": self.role, "status": self.status,
                "created_at": iso(self.created_at), "last_used_at": iso(self.last_used_at),
                "expires_at": iso(self.expires_at), "revoked_at": iso(self.revoked_at)}


def _aware(d: dt.datetime) -> dt.datetime:
    return d.replace(tzinfo=dt.UTC) if d.tzinfo is None else d  # SQLite returns naive times


_DURATION = re.compile(r"^\s*(\d{1,6})\s*(m|min|h|d|w)\s*$", re.IGNORECASE)
_UNITS = {"m": "minutes", "min": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> dt.timedelta:
    """``90m``, ``12h``, ``30d`` or ``8w`` as a time span; :class:`InvalidParameter` else."""
    m = _DURATION.match(text or "")
    if not m or int(m.group(1)) == 0:
        raise InvalidParameter("expires_in", f"a duration is a whole number and a unit: 90m, "
                               f"12h, 30d or 8w; got {text!r}")
    span = dt.timedelta(**{_UNITS[m.group(2).lower()]: int(m.group(1))})
    if span > dt.timedelta(days=3660):
        raise InvalidParameter("expires_in", "a token lasts at most 10 years")
    return span


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
            ApiToken.last_used_at, ApiToken.revoked_at, ApiToken.expires_at)


@audit.writes("token.create")
def create_token(session: Conn, name: str, role: str,
                 expires_in: dt.timedelta | None = None) -> tuple[TokenInfo, str]:
    """Create a token (valid for ``expires_in``, or until revoked); returns its info and the
    plaintext, which is never stored or shown again. Names are unique (:class:`Conflict`)."""
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
                                created_at=now,
                                expires_at=now + expires_in if expires_in else None)
    )
    info = _by_name(session, name)
    assert info is not None
    audit.record(session, "token.create", name,
                 {"role": role, "expires_at": info.as_dict()["expires_at"]})
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


@audit.writes("token.revoke")
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
        session.execute(delete(AuthSession).where(AuthSession.token_id == info.id))
        audit.record(session, "token.revoke", name, {"role": info.role})
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


def token_problem(conn: Conn, token: str) -> str:
    """Why ``token`` is not accepted, in words for the person who presented it."""
    row = conn.execute(select(*_COLUMNS).where(ApiToken.token_hash == hash_token(token))
                       ).first() if token and len(token) <= 200 else None
    if row is None:
        return "the token is not known (check it was copied whole)"
    info = TokenInfo(*row)
    if info.revoked_at is not None:
        return f"the token {info.name!r} was revoked"
    return f"the token {info.name!r} expired"


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


# the one rule ---------------------------------------------------------------------------------
Action = Literal["read", "write", "admin"]


@dataclass(frozen=True)
class Principal:
    """Who sent a request: a token's name and role, and how it was presented (``bearer`` or
    ``session``)."""

    name: str
    role: str
    token_id: int
    method: str


def required_role(action: Action, *, require_auth: bool) -> str | None:
    """The role ``action`` needs: None (anyone) for reads unless ``require_auth``, then
    ``viewer``; ``analyst`` for every write, whatever the setting; ``admin`` for tokens, the
    audit log and destructive operations."""
    if action == "read":
        return "viewer" if require_auth else None
    if action == "write":
        return "analyst"
    if action == "admin":
        return "admin"
    raise ValueError(f"unknown action {action!r}")


def authorize(principal: Principal | None, action: Action, *, require_auth: bool,
              what: str = "this") -> None:
    """Raise :class:`NotAuthenticated` (no credentials where some are needed) or
    :class:`PermissionDenied` (a role too low) unless ``principal`` may do ``action``."""
    needed = required_role(action, require_auth=require_auth)
    if needed is None:
        return
    if principal is None:
        raise NotAuthenticated(
            f"{what} needs the {needed} role or above: sign in, or send "
            "'Authorization: Bearer TOKEN'", details={"required": needed})
    require_role(principal.role, needed, what)


# sessions -------------------------------------------------------------------------------------
SESSION_COOKIE = "qidash_session"
#: the cookie and header Dash's renderer uses for CSRF (dash-renderer sends the cookie's value
#: as ``X-CSRFToken`` on every callback request)
CSRF_COOKIE = "_csrf_token"
CSRF_HEADER = "x-csrftoken"
SESSION_LIFETIME = dt.timedelta(hours=12)


def create_session(session: Conn, info: TokenInfo, source: str | None,
                   lifetime: dt.timedelta = SESSION_LIFETIME) -> tuple[str, str, dt.datetime]:
    """Start a dashboard session for an active token: returns the session id and CSRF token
    (for the cookies; only their hashes are stored) and when it expires (never after the
    token does). Expired sessions are cleared on the way."""
    now = utcnow()
    session.execute(delete(AuthSession).where(AuthSession.expires_at <= now))
    expires = now + lifetime
    if info.expires_at is not None:
        expires = min(expires, _aware(info.expires_at))
    sid, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    session.execute(insert(AuthSession).values(
        session_hash=hash_token(sid), csrf_hash=hash_token(csrf), token_id=info.id,
        created_at=now, expires_at=expires, source=(source or "")[:200] or None))
    with audit.acting(audit.Actor(info.name, info.role, audit.current_actor().via, source)):
        audit.record(session, "session.sign_in", info.name)
    return sid, csrf, expires


def end_session(session: Conn, session_id: str) -> bool:
    """Sign out: delete the session (recorded in the audit log); whether there was one."""
    principal = _session_principal(session, session_id)
    n = session.execute(delete(AuthSession).where(  # type: ignore[attr-defined]
        AuthSession.session_hash == hash_token(session_id))).rowcount
    if principal is not None:
        actor = audit.current_actor()
        with audit.acting(audit.Actor(principal.name, principal.role, actor.via,
                                      actor.source)):
            audit.record(session, "session.sign_out", principal.name)
    return bool(n)


def _session_row(conn: Conn, session_id: str):  # returns a Row
    if not session_id or len(session_id) > 200:
        return None
    return conn.execute(
        select(ApiToken.id, ApiToken.name, ApiToken.role, AuthSession.csrf_hash)
        .join(AuthSession, AuthSession.token_id == ApiToken.id)
        .where(AuthSession.session_hash == hash_token(session_id),
               AuthSession.expires_at > utcnow(), ApiToken.revoked_at.is_(None),
               or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > utcnow()))
    ).first()


def _session_principal(conn: Conn, session_id: str) -> Principal | None:
    row = _session_row(conn, session_id)
    return Principal(row.name, row.role, row.id, "session") if row is not None else None


def authenticate(conn: Conn, *, bearer: str | None, session_id: str | None,
                 csrf: str | None, unsafe: bool) -> Principal | None:
    """Who presents these credentials: a bearer token (header) wins over a session (cookie).

    None when nothing is presented (or only a session cookie that has ended: the browser is
    then simply signed out). A bearer token that is unknown, revoked or expired is
    :class:`NotAuthenticated`. A session used for a request that may change something
    (``unsafe``) must carry its CSRF token, else :class:`PermissionDenied`.
    """
    if bearer is not None:
        info = verify_token(conn, bearer)
        if info is None:
            raise NotAuthenticated(token_problem(conn, bearer))
        return Principal(info.name, info.role, info.id, "bearer")
    if not session_id:
        return None
    row = _session_row(conn, session_id)
    if row is None:
        return None
    if unsafe and not (csrf and hmac.compare_digest(hash_token(csrf), row.csrf_hash)):
        raise PermissionDenied("the request did not carry this session's CSRF token; reload "
                               "the page and try again", details={"csrf": "missing or wrong"})
    return Principal(row.name, row.role, row.id, "session")


def touch(session: Conn, principal: Principal) -> bool:
    """Record the use of the principal's token (at most once a minute)."""
    row = session.execute(select(*_COLUMNS).where(ApiToken.id == principal.token_id)).first()
    return touch_token(session, TokenInfo(*row)) if row is not None else False


# rate limiting ----------------------------------------------------------------------------------
class FailureLimiter:
    """At most ``limit`` failed token checks per client address in ``window`` seconds; after
    that the address gets :class:`TooManyAttempts` until the window has passed. In memory, per
    process (each worker counts its own)."""

    def __init__(self, limit: int = 10, window: float = 60.0, max_keys: int = 10_000) -> None:
        self.limit, self.window, self.max_keys = limit, window, max_keys
        self._fails: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> list[float]:
        times = [t for t in self._fails.get(key, ()) if now - t < self.window]
        if times:
            self._fails[key] = times
        else:
            self._fails.pop(key, None)
        return times

    def check(self, key: str) -> None:
        """Raise :class:`TooManyAttempts` if ``key`` has used up its failures."""
        now = time.monotonic()
        with self._lock:
            times = self._recent(key, now)
            if len(times) >= self.limit:
                wait = max(1, int(self.window - (now - times[0])) + 1)
                raise TooManyAttempts(
                    f"too many failed sign-in or token attempts from this address; try again "
                    f"in {wait} s", retry_after=wait)

    def failed(self, key: str) -> None:
        """Count one failure for ``key``."""
        now = time.monotonic()
        with self._lock:
            if len(self._fails) >= self.max_keys and key not in self._fails:
                for k in list(self._fails):  # drop stale addresses before adding another
                    self._recent(k, now)
                if len(self._fails) >= self.max_keys:
                    self._fails.pop(next(iter(self._fails)))
            self._fails.setdefault(key, []).append(now)

    def reset(self) -> None:
        """Forget every failure (tests)."""
        with self._lock:
            self._fails.clear()


#: the process's limiter of failed token checks (API, dashboards and sign-in share it)
limiter = FailureLimiter()


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def bearer_of(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer TOKEN`` header (None without the header);
    any other form of the header is :class:`NotAuthenticated`."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthenticated("the Authorization header must be 'Bearer TOKEN' (an admin "
                               "creates tokens with qidash tokens create)")
    return token.strip()


def authenticate_request(conn: Conn, *, authorization: str | None, session_id: str | None,
                         csrf: str | None, method: str, client: str | None) -> Principal | None:
    """:func:`authenticate` for an HTTP request, rate limited per client address: a failed
    bearer token counts against the address, and an address over the limit is refused
    (:class:`TooManyAttempts`) before its token is even looked up."""
    bearer = bearer_of(authorization)
    key = client or "unknown"
    if bearer is not None:
        limiter.check(key)
    try:
        return authenticate(conn, bearer=bearer, session_id=session_id, csrf=csrf,
                            unsafe=method.upper() not in SAFE_METHODS)
    except NotAuthenticated:
        limiter.failed(key)
        raise
