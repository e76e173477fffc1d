"""Webhook endpoints, the outbox of events and their deliveries (tuslog.services.webhooks,
.outbox, .webhook_delivery)."""

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tuslog.db.models.base import Base, UTCDateTime, enum_type, utcnow
from tuslog.db.models.tickets import Upload


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
        enum_type(DeliveryStatus, "delivery_status"), default=DeliveryStatus.PENDING
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
