"""Exceptions the core raises for expected conditions; every edge maps them to its own words.

The API maps :class:`NotFound` to 404, :class:`InvalidParameter` to 422, :class:`Conflict` to
409, :class:`NotAuthenticated` to 401, :class:`PermissionDenied` to 403 and
:class:`TooManyAttempts` to 429; the CLI prints the
message and exits 2; the dashboards show the message. Messages are written for the person who
sent the request: they say what was wrong and how to find valid values.
"""

from __future__ import annotations

from typing import Any


class QidashError(Exception):
    """Base of the expected errors. ``code`` is a stable machine-readable word."""

    code = "error"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details or {}


class NotFound(QidashError):
    """An unknown indicator, organisation, period, group, annotation, load or token."""

    code = "not_found"

    def __init__(
        self,
        message: str,
        *,
        entity: str,
        key: Any = None,
        valid: list[Any] | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        d: dict[str, Any] = {"entity": entity, "key": key}
        if valid is not None:
            d["valid"] = valid
        d.update(details or {})
        super().__init__(message, details=d)
        self.entity = entity
        self.key = key


class InvalidParameter(QidashError):
    """A parameter with a value the service cannot use; ``parameter`` names it."""

    code = "invalid_parameter"

    def __init__(
        self, parameter: str, message: str, *, details: dict[str, Any] | None = None
    ) -> None:
        d: dict[str, Any] = {"parameter": parameter}
        d.update(details or {})
        super().__init__(message, details=d)
        self.parameter = parameter


class Conflict(QidashError):
    """The request clashes with what exists (a group name taken, a load already reverted)."""

    code = "conflict"


class NotAuthenticated(QidashError):
    """No credentials, or credentials that match no active token."""

    code = "not_authenticated"


class PermissionDenied(QidashError):
    """Valid credentials whose role is too low for the action."""

    code = "permission_denied"


class TooManyAttempts(QidashError):
    """Too many failed sign-ins or token checks from one address; ``retry_after`` seconds."""

    code = "too_many_attempts"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, details={"retry_after": retry_after})
        self.retry_after = retry_after


__all__ = [
    "Conflict",
    "InvalidParameter",
    "NotAuthenticated",
    "NotFound",
    "PermissionDenied",
    "QidashError",
    "TooManyAttempts",
]
