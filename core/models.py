"""ORM models: the one schema, created and changed only by the Alembic migrations.

Provenance is part of the model: every organisation, indicator and value records the load that
wrote it, and ``value_history`` keeps what each load replaced so that a load can be reverted.

The value store is lean (see docs): ``indicator_values`` is keyed by integers only, (indicator
``ikey``, period, organisation), with no surrogate id and one secondary index. An indicator's
slug (``indicators.id``) stays its public id everywhere (API, URLs, files, alerts); ``ikey`` is
an internal integer surrogate that only the values and their history use.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    FetchedValue,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    select,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: A 64-bit key on PostgreSQL that is still SQLite's rowid alias (so it autoincrements).
BigId = BigInteger().with_variant(Integer(), "sqlite")
#: Double precision everywhere (PostgreSQL ``real`` would lose counts above 16 million).
Double = Float(precision=53)

VALUE_TYPES = ("proportion", "rate", "ratio", "mean", "count")
POLARITIES = ("higher_is_better", "lower_is_better", "no_judgement")
PERIOD_TYPES = ("month", "quarter", "financial_year", "year")
ROLES = ("viewer", "analyst", "admin")
LOAD_KINDS = ("organisations", "indicators", "values")
LOAD_STATUSES = ("running", "loaded", "unchanged", "rejected", "failed", "reverted")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}
    # every model is mapped to a real Table (none to a join or select), so type it as one
    __table__: ClassVar[Table]


class Load(Base):
    """One run of the loader over one file: who, what, when, and what happened."""

    __tablename__ = "loads"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    file_name: Mapped[str] = mapped_column(String(500))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    format: Mapped[str] = mapped_column(String(64), default="canonical")
    user: Mapped[str | None] = mapped_column(String(200))
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16), default="running", index=True)
    rows_read: Mapped[int] = mapped_column(Integer, default=0)
    rows_inserted: Mapped[int] = mapped_column(Integer, default=0)
    rows_updated: Mapped[int] = mapped_column(Integer, default=0)
    rows_unchanged: Mapped[int] = mapped_column(Integer, default=0)
    rows_rejected: Mapped[int] = mapped_column(Integer, default=0)
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    message: Mapped[str | None] = mapped_column(Text)
    reverted_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    reverted_by: Mapped[str | None] = mapped_column(String(200))

    errors: Mapped[list[LoadError]] = relationship(
        back_populates="load", cascade="all, delete-orphan", lazy="raise"
    )


class LoadError(Base):
    """A rejected row: where it is (line as an editor shows it, header = 1), and what to fix."""

    __tablename__ = "load_errors"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    load_id: Mapped[int] = mapped_column(ForeignKey("loads.id", ondelete="CASCADE"), index=True)
    line: Mapped[int | None] = mapped_column(Integer)
    sheet: Mapped[str | None] = mapped_column(String(200))
    column: Mapped[str | None] = mapped_column(String(200))
    value: Mapped[str | None] = mapped_column(Text)
    message: Mapped[str] = mapped_column(Text)

    load: Mapped[Load] = relationship(back_populates="errors", lazy="raise")


class Organisation(Base):
    """A practice, PCN, sub-ICB, ICB, region, nation, trust, or any other unit."""

    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    org_type: Mapped[str] = mapped_column(String(32), index=True)
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="SET NULL"), index=True
    )
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    load_id: Mapped[int | None] = mapped_column(ForeignKey("loads.id", ondelete="SET NULL"))
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )

    parent: Mapped[Organisation | None] = relationship(
        remote_side="Organisation.id", lazy="raise"
    )


class Indicator(Base):
    """An indicator definition, kept as reviewed data (as OpenPrescribing keeps its measures)."""

    __tablename__ = "indicators"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    #: the integer surrogate the values are keyed by (internal: the slug is the public id).
    #: Generated by the database (migration 0005): PostgreSQL an identity column, SQLite a
    #: trigger after the insert. The ORM reads it back when first used after a flush (not
    #: by RETURNING: SQLite returns the row as inserted, before the trigger numbers it).
    ikey: Mapped[int] = mapped_column(Integer, server_default=FetchedValue(), unique=True)
    __mapper_args__ = {"eager_defaults": False}
    name: Mapped[str] = mapped_column(String(300))
    description: Mapped[str | None] = mapped_column(Text)
    why_it_matters: Mapped[str | None] = mapped_column(Text)
    value_type: Mapped[str] = mapped_column(String(16), default="proportion")
    multiplier: Mapped[float] = mapped_column(Double, default=100.0)
    polarity: Mapped[str] = mapped_column(String(24), default="higher_is_better")
    target: Mapped[float | None] = mapped_column(Double)
    target_label: Mapped[str | None] = mapped_column(String(200))
    thresholds: Mapped[list[Any]] = mapped_column(default=list)
    numerator_label: Mapped[str | None] = mapped_column(String(300))
    denominator_label: Mapped[str | None] = mapped_column(String(300))
    unit: Mapped[str | None] = mapped_column(String(50))
    source: Mapped[str | None] = mapped_column(Text)
    source_url: Mapped[str | None] = mapped_column(Text)
    domain: Mapped[str | None] = mapped_column(String(200), index=True)
    tags: Mapped[list[Any]] = mapped_column(default=list)
    decimals: Mapped[int] = mapped_column(Integer, default=1)
    frequency: Mapped[str | None] = mapped_column(String(16))
    authored_by: Mapped[str | None] = mapped_column(String(200))
    checked_by: Mapped[str | None] = mapped_column(String(200))
    date_reviewed: Mapped[dt.date | None] = mapped_column(Date)
    load_id: Mapped[int | None] = mapped_column(ForeignKey("loads.id", ondelete="SET NULL"))
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class Period(Base):
    """A reporting period with its dates, so that series sort (see core.periods)."""

    __tablename__ = "periods"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    label: Mapped[str] = mapped_column(String(16), index=True)
    period_type: Mapped[str] = mapped_column(String(16))
    start_date: Mapped[dt.date] = mapped_column(Date)
    end_date: Mapped[dt.date] = mapped_column(Date)

    # "2011-12" is both a month and a financial year: the label is unique within its type.
    __table_args__ = (
        UniqueConstraint("period_type", "label"),
        Index("ix_periods_type_start", "period_type", "start_date"),
    )


class IndicatorValue(Base):
    """One organisation's value of one indicator in one period, and the load that wrote it.

    Keyed by integers only: the primary key (ikey, period_id, org_id) serves the comparison
    read (one indicator and period across organisations) and idempotent loads; the one
    secondary index (org_id, ikey) serves the organisation read (one organisation across
    indicators: SPC charts, profiles). No index on ``load_id``: a revert deletes by a scan.
    Integers first, so rows carry no alignment padding. On SQLite a ``WITHOUT ROWID`` table
    (clustered by the key).
    """

    __tablename__ = "indicator_values"

    ikey: Mapped[int] = mapped_column(
        ForeignKey("indicators.ikey", ondelete="CASCADE"), primary_key=True
    )
    period_id: Mapped[int] = mapped_column(
        ForeignKey("periods.id", ondelete="CASCADE"), primary_key=True
    )
    org_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True
    )
    load_id: Mapped[int | None] = mapped_column(ForeignKey("loads.id", ondelete="SET NULL"))
    numerator: Mapped[float | None] = mapped_column(Double)
    denominator: Mapped[float | None] = mapped_column(Double)
    value: Mapped[float | None] = mapped_column(Double)
    lower_ci: Mapped[float | None] = mapped_column(Double)
    upper_ci: Mapped[float | None] = mapped_column(Double)
    suppressed: Mapped[bool] = mapped_column(Boolean, default=False)
    note: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index("ix_indicator_values_org_ikey", "org_id", "ikey"),
        {"sqlite_with_rowid": False},
    )


class ValueCount(Base):
    """Each indicator's number of values and of organisations with a value, kept by every
    values load and revert in its own transaction (``core.services.counts``), so that the
    start page, ``/freshness`` and the indicator list never count the values table: a full
    count of a national 10-year history (about 770M values) takes half a minute for the
    values and tens of seconds of index probes for the organisations, in every worker. An
    indicator without a row has no values. Filled from the values by migration ``0006``."""

    __tablename__ = "value_counts"

    ikey: Mapped[int] = mapped_column(
        ForeignKey("indicators.ikey", ondelete="CASCADE"), primary_key=True
    )
    n_values: Mapped[int] = mapped_column(BigInteger)
    n_orgs: Mapped[int] = mapped_column(Integer)


class ValueHistory(Base):
    """What a load replaced: enough to put every value it wrote back as it was.

    Only values a load changed have a row (an inserted value is reverted by deleting what
    still carries the load's id). Keyed by (load, value key): the key serves a revert.
    """

    __tablename__ = "value_history"

    load_id: Mapped[int] = mapped_column(
        ForeignKey("loads.id", ondelete="CASCADE"), primary_key=True
    )
    ikey: Mapped[int] = mapped_column(Integer, primary_key=True)
    period_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    action: Mapped[str] = mapped_column(String(8))  # update (older databases: insert too)
    prev_load_id: Mapped[int | None] = mapped_column(Integer)
    prev_numerator: Mapped[float | None] = mapped_column(Double)
    prev_denominator: Mapped[float | None] = mapped_column(Double)
    prev_value: Mapped[float | None] = mapped_column(Double)
    prev_lower_ci: Mapped[float | None] = mapped_column(Double)
    prev_upper_ci: Mapped[float | None] = mapped_column(Double)
    prev_suppressed: Mapped[bool | None] = mapped_column(Boolean)
    prev_note: Mapped[str | None] = mapped_column(Text)

    __table_args__ = ({"sqlite_with_rowid": False},)


def ikey_of(indicator_id: Any) -> Any:
    """An indicator's integer key from its slug (a value or a bind parameter), as a scalar
    subquery: reads filter values with ``IndicatorValue.ikey == ikey_of(slug)``. The database
    looks the slug up once (on PostgreSQL an InitPlan) and then probes the values' key."""
    return select(Indicator.ikey).where(Indicator.id == indicator_id).scalar_subquery()


def indicator_slugs(conn: Any) -> dict[int, str]:
    """Every indicator's integer key -> its slug (a small table), to name the keys a
    grouped read of the values returns."""
    return {int(k): str(i) for k, i in conn.execute(select(Indicator.ikey, Indicator.id)).all()}


class PeerGroup(Base):
    """A saved custom peer group (a locality, a set of similar trusts)."""

    __tablename__ = "peer_groups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PeerGroupMember(Base):
    __tablename__ = "peer_group_members"

    group_id: Mapped[int] = mapped_column(
        ForeignKey("peer_groups.id", ondelete="CASCADE"), primary_key=True
    )
    org_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True
    )


class Annotation(Base):
    """A note on a date shown on SPC charts ("new recall system"); editable by analysts."""

    __tablename__ = "annotations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    indicator_id: Mapped[str | None] = mapped_column(
        ForeignKey("indicators.id", ondelete="CASCADE"), index=True
    )
    date: Mapped[dt.date] = mapped_column(Date)
    text: Mapped[str] = mapped_column(Text)
    author: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ApiToken(Base):
    """A bearer token; only its SHA-256 hash is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class AuthSession(Base):
    """A dashboard sign-in: the browser holds a random session id in an HttpOnly cookie; only
    its SHA-256 is stored, with the SHA-256 of the session's CSRF token. A session lives no
    longer than its token: revoking or expiring the token ends it."""

    __tablename__ = "auth_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_hash: Mapped[str] = mapped_column(String(64))
    token_id: Mapped[int] = mapped_column(ForeignKey("api_tokens.id", ondelete="CASCADE"),
                                          index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    source: Mapped[str | None] = mapped_column(String(200))


class AuditEntry(Base):
    """One write: who (token name and role), what (action, target, details), when, from where
    (client address, or the CLI's user@host) and through which entry point."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    actor: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[str | None] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(64), index=True)
    target: Mapped[str | None] = mapped_column(String(500))
    via: Mapped[str] = mapped_column(String(16))
    source: Mapped[str | None] = mapped_column(String(200))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


ALERT_KINDS = (
    "special_cause_concern", "special_cause_improvement", "crossed_limit_worse",
    "crossed_limit_better", "target_missed", "target_met",
)
ACTION_STATUSES = ("planned", "in_progress", "done", "abandoned")


class Alert(Base):
    """A change a values load raised (special cause, funnel limit crossed, target); withdrawn
    (``withdrawn_at``) when the load is reverted."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    load_id: Mapped[int] = mapped_column(ForeignKey("loads.id", ondelete="CASCADE"), index=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    indicator_id: Mapped[str] = mapped_column(ForeignKey("indicators.id", ondelete="CASCADE"))
    period_id: Mapped[int] = mapped_column(ForeignKey("periods.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32), index=True)
    rule: Mapped[str | None] = mapped_column(String(32))
    value: Mapped[float | None] = mapped_column(Double)
    numerator: Mapped[float | None] = mapped_column(Double)
    denominator: Mapped[float | None] = mapped_column(Double)
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        UniqueConstraint("load_id", "org_id", "indicator_id", "period_id", "kind"),
        Index("ix_alerts_org_indicator", "org_id", "indicator_id"),
    )


class AlertSetting(Base):
    """An indicator's noise rules for alerts (absent: the defaults in docs/alerts.md)."""

    __tablename__ = "alert_settings"

    indicator_id: Mapped[str] = mapped_column(
        ForeignKey("indicators.id", ondelete="CASCADE"), primary_key=True
    )
    min_denominator: Mapped[float | None] = mapped_column(Double)
    kinds: Mapped[list[Any] | None] = mapped_column(JSON)


class Subscription(Base):
    """An email address that receives a digest of the alerts in a network after each load."""

    __tablename__ = "subscriptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    network_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    kinds: Mapped[list[Any] | None] = mapped_column(JSON)
    created_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Digest(Base):
    """One subscription's digest of one load's alerts: pending until sent."""

    __tablename__ = "digests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="CASCADE"), index=True
    )
    load_id: Mapped[int] = mapped_column(ForeignKey("loads.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (UniqueConstraint("subscription_id", "load_id"),)


class Action(Base):
    """An improvement action on a date for an organisation and indicator, marked on its chart."""

    __tablename__ = "actions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    indicator_id: Mapped[str] = mapped_column(
        ForeignKey("indicators.id", ondelete="CASCADE"), index=True
    )
    date: Mapped[dt.date] = mapped_column(Date)
    title: Mapped[str] = mapped_column(String(300))
    owner: Mapped[str | None] = mapped_column(String(200))
    review_date: Mapped[dt.date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="planned")
    created_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )



class Rebase(Base):
    """A rebase someone accepted: new SPC limits for an organisation's series of an indicator
    start at ``period``. Every view and pack applies it unless the caller asks for its own
    rebase. Withdrawing keeps the record (``withdrawn_by`` / ``withdrawn_at``)."""

    __tablename__ = "rebases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    indicator_id: Mapped[str] = mapped_column(
        ForeignKey("indicators.id", ondelete="CASCADE"), index=True
    )
    period_type: Mapped[str] = mapped_column(String(16))
    period: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(String(500))
    action_id: Mapped[int | None] = mapped_column(
        ForeignKey("actions.id", ondelete="SET NULL"), index=True
    )
    accepted_by: Mapped[str | None] = mapped_column(String(200))
    accepted_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    withdrawn_by: Mapped[str | None] = mapped_column(String(200))
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


__all__ = [
    "Action",
    "Alert",
    "AlertSetting",
    "Annotation",
    "ApiToken",
    "AuditEntry",
    "AuthSession",
    "Base",
    "Digest",
    "Indicator",
    "IndicatorValue",
    "Load",
    "LoadError",
    "Organisation",
    "Rebase",
    "PeerGroup",
    "PeerGroupMember",
    "Period",
    "Subscription",
    "ValueHistory",
    "func",
    "ikey_of",
    "indicator_slugs",
]
