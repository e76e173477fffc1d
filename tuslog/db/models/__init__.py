"""The schema, one module per area. Alembic migrations under ``tuslog/migrations`` must
agree with it (tested). Everything is re-exported here: import from ``tuslog.db.models``."""

from tuslog.db.models.accounts import (
    ApiKey,
    FailureCounter,
    RecoveryCode,
    SessionStage,
    StaffSession,
    User,
    UserRole,
)
from tuslog.db.models.archives import ArchiveManifest, ManifestState
from tuslog.db.models.base import NAMING, Base, UTCDateTime, utcnow
from tuslog.db.models.tickets import (
    GONE_STATES,
    TICKET_SEARCH_COLUMNS,
    AuditEvent,
    Lease,
    Ticket,
    TicketStatus,
    Upload,
    UploadState,
    UploadToken,
)
from tuslog.db.models.webhooks import (
    DeliveryStatus,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)

__all__ = [
    "GONE_STATES",
    "NAMING",
    "TICKET_SEARCH_COLUMNS",
    "ApiKey",
    "ArchiveManifest",
    "AuditEvent",
    "Base",
    "DeliveryStatus",
    "FailureCounter",
    "Lease",
    "ManifestState",
    "RecoveryCode",
    "SessionStage",
    "StaffSession",
    "Ticket",
    "TicketStatus",
    "UTCDateTime",
    "Upload",
    "UploadState",
    "UploadToken",
    "User",
    "UserRole",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookEvent",
    "utcnow",
]
