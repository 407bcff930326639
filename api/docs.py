"""OpenAPI documentation helpers for routes that return pre-serialised bytes."""

from __future__ import annotations

from typing import Any

from api.schemas import ErrorBody
from core.periods import PERIOD_TYPES

#: ``json_schema_extra`` of query parameters whose values are a fixed set: documented as an
#: enum, so that a client (or schemathesis) knows that anything else is answered 422
PERIOD_TYPE_ENUM: dict[str, Any] = {"enum": list(PERIOD_TYPES)}
CONFIDENCE_ENUM: dict[str, Any] = {"enum": [95, 99.8]}

_ERROR_TEXT = {
    400: "A body that cannot be parsed (malformed JSON or multipart form, too many fields)",
    401: "No bearer token where one is needed, or an unknown/revoked token",
    403: "The token's role is too low",
    404: "Unknown indicator, organisation, period, group, annotation or load; the message "
         "lists how to find valid ones",
    409: "Conflicts with what exists",
    413: "Upload larger than QIDASH_MAX_UPLOAD_MB",
    422: "Invalid parameter; details.parameter names it",
}


def doc(
    model: type | None,
    *,
    csv: str | None = None,
    errors: tuple[int, ...] = (404, 422),
    status: int = 200,
    description: str = "Success",
) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: the success model (and a CSV alternative with an example
    header when ``csv`` is given) plus the error statuses, all in the one error shape."""
    ok: dict[str, Any] = {"description": description}
    if model is not None:
        ok["model"] = model
    if csv is not None:
        ok["content"] = {
            "application/json": {},
            "text/csv": {"schema": {"type": "string"}, "example": csv},
        }
    out: dict[int | str, dict[str, Any]] = {status: ok}
    for code in errors:
        out[code] = {"model": ErrorBody, "description": _ERROR_TEXT.get(code, "Error")}
    return out
