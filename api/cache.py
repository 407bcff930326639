"""Response cache for the heavy read endpoints, keyed by (endpoint, normalised parameters,
data version).

A cached response is served only while the data version it was built under is current
(:func:`core.services.version.data_version`: any finished load, revert, peer-group or annotation
write changes it, through any worker or the CLI), so every worker drops stale entries on its
next request; entries also expire after ``QIDASH_RESPONSE_CACHE_TTL`` seconds (300), which
bounds staleness after hand-written SQL that bypasses those paths.

Per worker process, in memory, least recently used first out, bounded by
``QIDASH_RESPONSE_CACHE_MB`` (64 MiB of response bodies; a 6,500-row comparison is about
1.8 MB) and ``QIDASH_RESPONSE_CACHE_ENTRIES`` (512). ``QIDASH_RESPONSE_CACHE_MB=0`` turns it off.
Only successful responses are stored; authentication and parameter validation run before the
cache is consulted (they are FastAPI dependencies of each route). Each response says
``X-Cache: hit`` or ``miss``.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from fastapi import Request, Response
from sqlalchemy.orm import Session

from api.deps import autocommit_reads, release
from core.services.disclosure import rule_key
from core.services.version import DEFAULT_TTL, VersionedLRU, current_version

DEFAULT_MB = 64
DEFAULT_ENTRIES = 512


def _env_number(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        return float(raw)
    except ValueError:
        return default


def make_cache() -> VersionedLRU:
    """A response cache sized from the environment (see the module docstring)."""
    mb = _env_number("QIDASH_RESPONSE_CACHE_MB", DEFAULT_MB)
    entries = int(_env_number("QIDASH_RESPONSE_CACHE_ENTRIES", DEFAULT_ENTRIES))
    ttl = _env_number("QIDASH_RESPONSE_CACHE_TTL", DEFAULT_TTL)
    return VersionedLRU(entries if mb > 0 else 0, maxbytes=int(mb * 1024 * 1024), ttl=ttl)


def cache_key(request: Request) -> tuple[str, tuple[tuple[str, str], ...]]:
    """``(path, sorted query parameters)``: the order of parameters does not matter, repeated
    ones keep their values; the path identifies endpoint and path parameters."""
    return request.url.path, tuple(sorted(request.query_params.multi_items()))


def cached(request: Request, session: Session, build: Callable[[], Response], *,
           autocommit: bool = False) -> Response:
    """The response for ``request`` from the app's cache if it was built under the current
    data version, else ``build()`` (stored when its status is 200).

    The route's read transaction ends here, in the route's thread, once the body is built
    (:func:`api.deps.release`): the session dependency then closes without a thread switch.
    ``autocommit``: the route only reads and sets nothing transaction-local, so its queries
    run outside a transaction block on PostgreSQL (:func:`api.deps.autocommit_reads`).
    """
    if autocommit:
        autocommit_reads(session)
    try:
        return _cached(request, session, build)
    finally:
        release(session)


def _cached(request: Request, session: Session, build: Callable[[], Response]) -> Response:
    cache: VersionedLRU | None = getattr(request.app.state, "response_cache", None)
    if cache is None or cache.maxsize <= 0:
        return build()
    # the disclosure rule in force is part of the key: a response built under another rule
    # (or none) is never served
    key = (*cache_key(request), rule_key())
    version = current_version(session)
    hit = cache.get(key, version)
    if hit is not None:
        body, status, media_type, headers = hit
        resp = Response(body, status_code=status, media_type=media_type, headers=headers)
        resp.headers["X-Cache"] = "hit"
        return resp
    resp = build()
    body = getattr(resp, "body", None)
    if resp.status_code == 200 and isinstance(body, bytes | bytearray | memoryview):
        headers = {k: v for k, v in resp.headers.items()
                   if k.lower() not in ("content-length", "content-type")}
        cache.put(key, version, (bytes(body), resp.status_code, resp.media_type, headers),
                  size=len(body))
    resp.headers["X-Cache"] = "miss"
    return resp


__all__ = ["cache_key", "cached", "make_cache"]
