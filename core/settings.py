"""One settings object for the whole service (environment prefix ``QIDASH_``).

Read it through :func:`get_settings`; tests override it with :func:`override_settings`
instead of patching the environment.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Deployment settings. Every field can be set as ``QIDASH_<NAME>`` in the environment."""

    model_config = SettingsConfigDict(env_prefix="QIDASH_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default_factory=lambda: f"sqlite:///{Path.cwd() / 'qidash.db'}",
        description="SQLAlchemy URL. Default: an SQLite file qidash.db in the working directory. "
        "PostgreSQL: postgresql+psycopg://user@host:5432/dbname",
    )
    db_connect_timeout: int = Field(
        5, ge=2, description="PostgreSQL: seconds to wait for a connection to be established")
    db_statement_timeout: float = Field(
        60, ge=0, description="PostgreSQL: seconds a statement of a request may run (0: no "
        "limit); loads lift it for their own transaction")
    db_pool_timeout: float = Field(
        10, gt=0, description="Seconds a request waits for a free pooled connection")
    host: str = "127.0.0.1"
    port: int = 8000
    require_auth: bool = Field(False, description="Require a bearer token for reads too")
    max_upload_mb: int = Field(100, description="Largest accepted upload, in MiB")
    cors_origins: list[str] = Field(default_factory=list, description="Allowed CORS origins")
    log_json: bool = Field(False, description="Structured JSON logs")
    disclosure_control: bool = Field(
        False, description="Statistical disclosure control on every output (API, dashboards, "
        "packs): counts from disclosure_suppress_min to disclosure_suppress_max are suppressed "
        "(their row shows no value), the rest rounded to disclosure_round_to"
    )
    disclosure_suppress_min: int = Field(
        1, ge=0, description="Smallest count suppressed (0 also suppresses zeros)"
    )
    disclosure_suppress_max: int = Field(7, ge=0, description="Largest count suppressed")
    disclosure_round_to: int = Field(
        5, ge=1, description="Shown counts are rounded to a multiple of this (1 = exact)"
    )
    chromium_path: str | None = Field(None, description="Chromium for chart images")
    public_url: str | None = Field(
        None, description="Where people reach qidash (the links in alerts and digests). "
        "Default: the address qidash serve listens on (http://host:port)"
    )
    smtp_url: str | None = Field(
        None, description="Digest mail server: smtp://host:port or smtps://user:password@host:port"
    )
    mail_from: str = Field("qidash@localhost", description="Sender of digest emails")
    warm_interval: float = Field(
        30.0, ge=0, description="Seconds between a serving process's checks that build the "
        "profile's national peer summaries in the background (at start, after each load or "
        "revert, before their hour ends); 0 turns it off"
    )
    alert_min_denominator: float = Field(
        30.0, description="Default minimum denominator for an alert (per indicator: "
        "qidash alerts settings)"
    )

    def link_base(self) -> str:
        """The start of every link qidash sends out (alerts, digests): ``public_url``, else
        the address the server listens on."""
        if self.public_url:
            return self.public_url.rstrip("/")
        return local_url(self.host, self.port)


def local_url(host: str, port: int) -> str:
    """``http://host:port`` of a server listening on ``host`` (every address: 127.0.0.1)."""
    return f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"


_override: Settings | None = None


@lru_cache(maxsize=1)
def _cached() -> Settings:
    return Settings()


def reset_settings_cache() -> None:
    """Read the environment again at the next :func:`get_settings` (after a command changed
    it)."""
    _cached.cache_clear()


def get_settings() -> Settings:
    """The settings in force: an override set by tests or the CLI, else the environment."""
    return _override if _override is not None else _cached()


def override_settings(settings: Settings | None) -> None:
    """Replace the settings in force (``None`` returns to the environment)."""
    global _override
    _override = settings
    _cached.cache_clear()
