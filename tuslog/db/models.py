"""The schema. Alembic migrations under ``tuslog/migrations`` must agree with it (tested)."""

import enum
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to UTCDateTime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        moment: datetime = value
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class TicketStatus(enum.StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


class UploadState(enum.StrEnum):
    RECEIVING = "receiving"
    COMPLETE = "complete"
    VERIFIED = "verified"
    CORRUPT = "corrupt"
    EXPIRED = "expired"  # unfinished and inactive too long (the janitor)
    TERMINATED = "terminated"  # ended by its client (tus DELETE) or claimed by a final upload
    DELETED = "deleted"  # removed by staff (or with its ticket)

    @property
    def finished(self) -> bool:
        return self in (UploadState.COMPLETE, UploadState.VERIFIED, UploadState.CORRUPT)

    @property
    def gone(self) -> bool:
        return self in GONE_STATES


GONE_STATES = frozenset({UploadState.EXPIRED, UploadState.TERMINATED, UploadState.DELETED})


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=16,
        values_callable=lambda members: [m.value for m in members],
    )


class Ticket(Base):
    __tablename__ = "tickets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(64))
    # The number case-folded: ``SR-1`` and ``sr-1`` are one ticket (tuslog.services.tickets).
    number_key: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(300), default="")
    platform: Mapped[str] = mapped_column(String(100), default="")
    status: Mapped[TicketStatus] = mapped_column(
        _enum(TicketStatus, "ticket_status"), default=TicketStatus.OPEN
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # When it was last resolved (None while open): the retention policy counts from here.
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)


class UploadToken(Base):
    __tablename__ = "upload_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    max_uses: Mapped[int] = mapped_column(Integer)
    uses: Mapped[int] = mapped_column(Integer, default=0)
    max_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
    created_by: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_used_ip: Mapped[str | None] = mapped_column(String(64), nullable=True)


class Upload(Base):
    __tablename__ = "uploads"
    __table_args__ = (Index("ix_uploads_state_expires_at", "state", "expires_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    # An ended upload stays as a tombstone when its ticket is deleted (SET NULL): the
    # janitor can then still remove bytes that a crash left behind.
    ticket_id: Mapped[int | None] = mapped_column(
        ForeignKey("tickets.id", ondelete="SET NULL"), index=True, nullable=True
    )
    token_id: Mapped[int | None] = mapped_column(
        ForeignKey("upload_tokens.id", ondelete="SET NULL"), index=True, nullable=True
    )
    metadata_raw: Mapped[str] = mapped_column(Text, default="")
    filename: Mapped[str] = mapped_column(String(255), default="")
    length: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    offset: Mapped[int] = mapped_column(BigInteger, default=0)
    declared_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    state: Mapped[UploadState] = mapped_column(
        _enum(UploadState, "upload_state"), default=UploadState.RECEIVING
    )
    concat: Mapped[str | None] = mapped_column(Text, nullable=True)
    client_ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    @property
    def is_partial(self) -> bool:
        return self.concat == "partial"

    @property
    def is_final(self) -> bool:
        return bool(self.concat) and not self.is_partial

    @property
    def shown_state(self) -> str:
        """The state as people and clients see it: a received upload whose whole-file hash
        is still being computed (tuslog.uploads.verifier) is "verifying"."""
        if self.state is UploadState.COMPLETE and self.sha256 is None:
            return "verifying"
        return self.state.value


class AuditEvent(Base):
    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64), index=True)
    subject: Mapped[str] = mapped_column(String(200), default="")
    client_ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Lease(Base):
    """A named, expiring lease: keeps exactly one janitor active per deployment."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


# --- staff accounts (tuslog.services.accounts, .sessions, .signin) -------------------------
class UserRole(enum.StrEnum):
    ADMIN = "admin"
    STAFF = "staff"


class SessionStage(enum.StrEnum):
    """A session starts after the password as ``pending`` (only enrolment and the code
    check are reachable) and becomes ``signed_in`` with a new id after the second factor."""

    PENDING = "pending"
    SIGNED_IN = "signed_in"


class User(Base):
    """A staff member. ``email`` is stored normalised (see accounts.normalise_email) and is
    unique; ``totp_secret`` is sealed by tuslog.services.totp_cipher (None: not enrolled);
    ``totp_last_step`` is the last accepted TOTP time step, so no code is accepted twice."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[UserRole] = mapped_column(_enum(UserRole, "user_role"), default=UserRole.STAFF)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    totp_secret: Mapped[str | None] = mapped_column(String(255), nullable=True)
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    totp_enrolled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    deactivated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_by: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StaffSession(Base):
    """A server-side portal session. The cookie holds ``selector.verifier``; only the
    verifier's SHA-256 is stored. Revoking a session deletes its row."""

    __tablename__ = "staff_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    selector: Mapped[str] = mapped_column(String(32), unique=True)
    verifier_hash: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    stage: Mapped[SessionStage] = mapped_column(_enum(SessionStage, "session_stage"))
    csrf_secret: Mapped[str] = mapped_column(String(64))
    enrol_secret: Mapped[str | None] = mapped_column(String(255), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    signed_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    client_ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    user_agent: Mapped[str] = mapped_column(String(200), default="")


class RecoveryCode(Base):
    """One single-use recovery code, stored as the SHA-256 of its normalised text (the
    codes carry ~79 random bits, so a fast hash is as safe as for upload tokens)."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class FailureCounter(Base):
    """Failed sign-in attempts in a fixed window, per account or client address; shared
    by all workers (tuslog.services.throttle). ``key`` is a SHA-256 of kind and subject."""

    __tablename__ = "failure_counters"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    attempts: Mapped[int] = mapped_column(Integer)


# --- listing indexes (tuslog.services.tickets.search, .audit.events, uploads.records.search) -
# Keyset pagination walks these in (created_at, id) order, newest first, also with a filter.
Index("ix_tickets_created_at_id", Ticket.created_at, Ticket.id)
Index("ix_tickets_status_created_at_id", Ticket.status, Ticket.created_at, Ticket.id)
Index(
    "ix_tickets_platform_created_at_id",
    func.lower(Ticket.platform),
    Ticket.created_at,
    Ticket.id,
)
Index("ix_uploads_created_at_id", Upload.created_at, Upload.id)
Index("ix_uploads_ticket_created_at_id", Upload.ticket_id, Upload.created_at, Upload.id)
Index("ix_uploads_state_created_at_id", Upload.state, Upload.created_at, Upload.id)
Index("ix_audit_events_at_id", AuditEvent.at, AuditEvent.id)
Index("ix_audit_events_action_at_id", AuditEvent.action, AuditEvent.at, AuditEvent.id)
Index("ix_audit_events_actor_at_id", AuditEvent.actor, AuditEvent.at, AuditEvent.id)
Index("ix_audit_events_subject_at_id", AuditEvent.subject, AuditEvent.at, AuditEvent.id)
# Text search over number, title and platform: trigram indexes on PostgreSQL (pg_trgm,
# installed by migration 0004). SQLite gets plain indexes that the search cannot use (one
# schema for both); it scans, fast enough at the sizes an embedded database holds.
TICKET_SEARCH_COLUMNS = (Ticket.number, Ticket.title, Ticket.platform)
for _column in TICKET_SEARCH_COLUMNS:
    Index(
        f"ix_tickets_{_column.key}_trgm",
        _column,
        postgresql_using="gin",
        postgresql_ops={_column.key: "gin_trgm_ops"},
    )


# --- REST API keys (tuslog.services.apikeys) ----------------------------------------------
class ApiKey(Base):
    """An integrator's key: ``tlk_<8>_<secret>``, stored as the SHA-256 of the whole key
    (256 random bits: a fast hash is enough, as for upload tokens). ``scopes`` is a
    space-separated, sorted list of read, write, download, admin."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(100), default="")
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    scopes: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_used_ip: Mapped[str | None] = mapped_column(String(64), nullable=True)


# --- webhooks (tuslog.services.webhooks, .outbox; tuslog.api.delivery) --------------------
class WebhookEndpoint(Base):
    """Where events are sent. ``secret`` is sealed like TOTP secrets (TUSLOG_TOTP_KEYS);
    ``events`` lists the event types sent (empty: all)."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(String(2048))
    secret: Mapped[str] = mapped_column(String(255))
    events: Mapped[list[str]] = mapped_column(JSON, default=list)
    description: Mapped[str] = mapped_column(String(200), default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class WebhookEvent(Base):
    """The outbox: one row per event, written in the transaction of the change itself
    (beside its audit event), so that no event is lost in a crash. The delivery worker
    builds ``payload`` and the deliveries when it dispatches the event."""

    __tablename__ = "webhook_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[str] = mapped_column(String(40), unique=True)
    type: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    subject: Mapped[str] = mapped_column(String(200), default="")
    # The ticket number when the event happened (the ticket may be deleted by dispatch).
    ticket: Mapped[str | None] = mapped_column(String(64), nullable=True)
    upload_id: Mapped[str | None] = mapped_column(
        ForeignKey("uploads.id", ondelete="SET NULL"), nullable=True
    )
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    # Makes the unit of work insert an upload before an event about it in one flush.
    upload: Mapped["Upload | None"] = relationship()


Index("ix_webhook_events_dispatched_at_id", WebhookEvent.dispatched_at, WebhookEvent.id)


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"  # waiting for its (next) attempt
    DELIVERED = "delivered"  # a 2xx answer
    FAILED = "failed"  # retried for TUSLOG_WEBHOOK_RETRY_FOR without success


class WebhookDelivery(Base):
    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    event_id: Mapped[int] = mapped_column(ForeignKey("webhook_events.id", ondelete="CASCADE"))
    status: Mapped[DeliveryStatus] = mapped_column(
        _enum(DeliveryStatus, "delivery_status"), default=DeliveryStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str] = mapped_column(String(500), default="")
    last_response_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


Index("ix_webhook_deliveries_status_next", WebhookDelivery.status, WebhookDelivery.next_attempt_at)
Index("ix_webhook_deliveries_endpoint_id_id", WebhookDelivery.endpoint_id, WebhookDelivery.id)
Index("ix_webhook_deliveries_event_id", WebhookDelivery.event_id)


# --- archive manifests (tuslog.uploads.inspection, .manifests, .archive_reading) ----------
class ManifestState(enum.StrEnum):
    PENDING = "pending"  # waiting for a worker (also after a stop or crash cut it short)
    RUNNING = "running"  # claimed by ``claimed_by`` until ``claimed_until`` (renewed)
    DONE = "done"  # listed: ``complete`` says whether fully (else ``problem`` says why)
    FAILED = "failed"  # could not be listed at all (``problem`` says why)
    NOT_AN_ARCHIVE = "not_an_archive"


class ArchiveManifest(Base):
    """The entry list of one finished upload, made once in the background. ``data`` is the
    manifest's compact JSON (``tuslog.archives.Manifest.to_json``), zstd-compressed;
    ``summary`` holds its counts and costs, readable without it."""

    __tablename__ = "archive_manifests"

    upload_id: Mapped[str] = mapped_column(
        ForeignKey("uploads.id", ondelete="CASCADE"), primary_key=True
    )
    state: Mapped[ManifestState] = mapped_column(
        _enum(ManifestState, "manifest_state"), default=ManifestState.PENDING
    )
    format: Mapped[str | None] = mapped_column(String(16), nullable=True)
    complete: Mapped[bool] = mapped_column(Boolean, default=False)
    problem: Mapped[str | None] = mapped_column(Text, nullable=True)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    data: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True, deferred=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


# The queue: pending (and running, to find expired claims) rows, oldest first.
Index("ix_archive_manifests_state_created_at", ArchiveManifest.state, ArchiveManifest.created_at)
