"""Tickets, their upload tokens and uploads, the audit log and leases; the listing indexes."""

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from tuslog.db.models.base import Base, UTCDateTime, enum_type, utcnow


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


class Ticket(Base):
    __tablename__ = "tickets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(64))
    # The number case-folded: ``SR-1`` and ``sr-1`` are one ticket (tuslog.services.tickets).
    number_key: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(300), default="")
    platform: Mapped[str] = mapped_column(String(100), default="")
    status: Mapped[TicketStatus] = mapped_column(
        enum_type(TicketStatus, "ticket_status"), default=TicketStatus.OPEN
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
        enum_type(UploadState, "upload_state"), default=UploadState.RECEIVING
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


# --- listing indexes (tuslog.services.tickets.search, .audit.events, uploads.listing.search) -
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
