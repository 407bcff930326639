"""Who may write from the dashboards (notes, uploads, reverts).

When ``QIDASH_REQUIRE_AUTH`` is on, a write needs an analyst (or admin) token: pasted once into
the page, kept in the browser tab's session storage only, checked here by
:func:`core.auth.verify_token` on every write. Without it (a single-user or demo install)
writes are open, as they are through the CLI.
"""

from typing import Any

from core import auth
from core.settings import get_settings
from dashboards.adapters import ViewError


def check_writer(s: Any, token: str | None) -> str | None:
    """The author name for a write, or raise when a token is required and not valid."""
    if not get_settings().require_auth:
        return None
    if not token:
        raise ViewError("Adding or removing notes needs an analyst token on this server: "
                        "paste yours in the token field.")
    info = auth.verify_token(s, token.strip())
    if info is None or not info.active:
        raise ViewError("That token is not valid (unknown or revoked).")
    if not auth.role_at_least(info.role, "analyst"):
        raise ViewError(f"Token {info.name!r} is a {info.role} token; notes need an analyst.")
    return info.name
