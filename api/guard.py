"""Text the database cannot hold never reaches it: a NUL character (PostgreSQL text cannot
contain one; psycopg refuses it) or a lone UTF-16 surrogate (not encodable as UTF-8) in a
path, query parameter or JSON body field is a 422 that names the parameter, not a 500.

Query strings and paths are checked by :class:`TextGuardMiddleware` (pure ASGI, microseconds
per request); JSON body fields by the :data:`CleanStr` type of the request schemas.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Annotated, Any
from urllib.parse import parse_qsl

from pydantic import AfterValidator

from api.errors import error_response

#: a NUL or a lone surrogate (Python keeps undecodable JSON escapes as surrogates)
_BAD = re.compile("[\x00\ud800-\udfff]")
_WHAT = "must not contain a NUL character or an unpaired surrogate (invalid text)"

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Any, Any], Awaitable[None]]


def _clean(value: str) -> str:
    if _BAD.search(value):
        raise ValueError(_WHAT)
    return value


#: a request body string that the database can store
CleanStr = Annotated[str, AfterValidator(_clean)]


def bad_parameter(path: str, query_string: bytes) -> str | None:
    """The name of the first path or query parameter holding text the database cannot
    hold, or None."""
    if _BAD.search(path):
        return "path"
    lowered = query_string.lower()
    if b"%00" not in lowered and b"%ed" not in lowered:
        return None  # the only ways to spell a NUL or a surrogate in a query string
    for key, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True,
                                encoding="utf-8", errors="surrogateescape"):
        if _BAD.search(key):
            return "query"
        if _BAD.search(value):
            return key
    return None


class TextGuardMiddleware:
    """422 for an API request whose path or query carries a NUL or a lone surrogate."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/api/"):
            name = bad_parameter(scope["path"], scope.get("query_string", b""))
            if name is not None:
                response = error_response(422, "invalid_parameter", f"invalid {name}: {_WHAT}",
                                          {"parameter": name})
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
