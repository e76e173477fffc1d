"""The REST API's request and response bodies: one pydantic model each. They validate what
comes in (unknown fields are refused), shape what goes out, and are the source of the
OpenAPI document (``tuslog.api.openapi``).

Names are snake_case; times are RFC 3339 in UTC (``2026-12-05T09:30:00Z``); sizes are
bytes; durations are seconds.
"""

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, PlainSerializer

from tuslog.services.outbox import EVENT_TYPES

Utc = Annotated[
    datetime,
    PlainSerializer(
        lambda moment: moment.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        return_type=str,
        when_used="json",
    ),
    Field(json_schema_extra={"format": "date-time"}),
]
EventType = Literal[EVENT_TYPES]  # type: ignore[valid-type]
TicketStatusName = Literal["open", "resolved"]
UploadStateName = Literal[
    "receiving", "verifying", "complete", "verified", "corrupt", "expired", "terminated", "deleted"
]
Scope = Literal["read", "write", "download", "admin"]


class Body(BaseModel):
    """A request body: JSON only, unknown fields refused, no type coercion."""

    model_config = ConfigDict(extra="forbid", strict=True)


class Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Query(BaseModel):
    """Query parameters (strings, converted; unknown parameters refused)."""

    model_config = ConfigDict(extra="forbid")


class PageQuery(Query):
    limit: int = Field(50, ge=1, le=200, description="Items per page (1-200).")
    cursor: str | None = Field(
        None, max_length=200, description="`next_cursor` of the previous page; omit for the first."
    )
    total: bool = Field(False, description="Also count every matching item (costs a scan).")


# --- problems ------------------------------------------------------------------------------
class FieldError(Out):
    field: str = Field(description="Dotted path of the field, e.g. `title` or `limit`.")
    location: Literal["body", "query", "path", "header"]
    message: str


class Problem(Out):
    """RFC 9457 problem details; ``code`` is stable (see the error catalogue)."""

    type: str = Field(description="Link to this code in the API reference.")
    title: str
    status: int
    detail: str
    code: str
    instance: str | None = None
    errors: list[FieldError] | None = None


# --- tickets -------------------------------------------------------------------------------
class TicketCreate(Body):
    number: str = Field(
        min_length=1, max_length=64, description="Help-desk ticket number; case is ignored."
    )
    title: str = Field("", max_length=300)
    platform: str = Field("", max_length=100)


class TicketPatch(Body):
    title: str | None = Field(None, max_length=300)
    platform: str | None = Field(None, max_length=100)


class Ticket(Out):
    number: str
    title: str
    platform: str
    status: TicketStatusName
    created_at: Utc
    updated_at: Utc


class TicketQuery(PageQuery):
    status: TicketStatusName | None = None
    platform: str | None = Field(None, max_length=100, description="Exact, case ignored.")
    number: str | None = Field(None, max_length=64, description="Exact, case ignored.")
    q: str | None = Field(
        None, max_length=100, description="Text in number, title or platform (case ignored)."
    )
    created_from: AwareDatetime | None = Field(None, description="Created at or after.")
    created_to: AwareDatetime | None = Field(None, description="Created before.")


class TicketList(Out):
    items: list[Ticket]
    next_cursor: str | None
    total: int | None


# --- tokens --------------------------------------------------------------------------------
class TokenIssue(Body):
    max_uses: int | None = Field(
        None, ge=1, le=1_000_000, description="Uploads allowed (default TUSLOG_TOKEN_UPLOADS)."
    )
    expires_in: int | None = Field(
        None, ge=1, le=3650 * 86400, description="Lifetime in seconds (default TUSLOG_TOKEN_TTL)."
    )
    max_bytes: int | None = Field(
        None, ge=1, le=2**63 - 1, description="Byte quota over all its uploads."
    )


class TokenPatch(Body):
    max_uses: int | None = Field(None, ge=1, le=1_000_000, description="Uploads allowed in all.")
    expires_in: int | None = Field(
        None, ge=1, le=3650 * 86400, description="New lifetime in seconds, counted from now."
    )


class Token(Out):
    prefix: str = Field(description="Names the token; the token itself is shown only once.")
    ticket: str
    status: Literal["active", "expired", "used up", "revoked"]
    uses: int
    max_uses: int
    max_bytes: int | None
    created_at: Utc
    expires_at: Utc
    revoked_at: Utc | None
    last_used_at: Utc | None
    last_used_ip: str | None


class UploaderCommands(Out):
    """The first forms keep the token off the command line (the uploader asks for it, or
    reads it from token.txt): send the token separately."""

    sh: str = Field(description="For any machine with sh and curl; asks for the token.")
    python: str = Field(description="For machines with Python 3.8+; asks for the token.")
    sh_token_file: str = Field(description="sh, with the token saved in token.txt.")
    python_token_file: str = Field(description="Python, with the token saved in token.txt.")
    sh_stdin: str = Field(description="Uploading what a command writes (a pipe).")
    sh_with_token: str = Field(description="sh with the token in the arguments (scripts).")
    python_with_token: str = Field(description="Python with the token in the arguments (scripts).")
    browser: str = Field(description="The browser upload page with the token.")


class IssuedToken(Token):
    token: str = Field(description="The upload token. Shown only in this answer.")
    commands: UploaderCommands = Field(description="What the customer runs (replace FILE).")
    browser_url: str = Field(description="The browser upload page with the token.")


class TokenList(Out):
    items: list[Token]


class TokenQuery(Query):
    ticket: str | None = Field(None, max_length=64, description="Only this ticket's tokens.")


# --- uploads -------------------------------------------------------------------------------
class Upload(Out):
    id: str
    ticket: str | None = Field(description="Null for an ended upload whose ticket was deleted.")
    filename: str
    state: UploadStateName
    length: int | None = Field(description="Bytes in all; null while the client defers it.")
    offset: int = Field(description="Bytes received and stored.")
    progress: float | None = Field(description="offset / length, 0 to 1.")
    declared_sha256: str | None = Field(description="The SHA-256 the client declared.")
    sha256: str | None = Field(description="The SHA-256 the server computed.")
    client_ip: str | None
    concat: Literal["partial", "final"] | None
    created_at: Utc
    updated_at: Utc
    completed_at: Utc | None
    expires_at: Utc | None
    content_url: str | None = Field(description="Where to download it, once finished.")


class UploadQuery(PageQuery):
    ticket: str | None = Field(None, max_length=64)
    state: str | None = Field(
        None,
        max_length=200,
        description="Comma-separated states: receiving, verifying, complete, verified, "
        "corrupt, expired, terminated, deleted.",
    )
    created_from: AwareDatetime | None = None
    created_to: AwareDatetime | None = None


class UploadList(Out):
    items: list[Upload]
    next_cursor: str | None
    total: int | None


class ContentQuery(Query):
    force: bool = Field(
        False, description="Also an unfinished, verifying or corrupt upload (what arrived)."
    )


# --- storage -------------------------------------------------------------------------------
class Storage(Out):
    total: int
    used: int = Field(description="Used on the volume, by anything.")
    free: int
    promised: int = Field(description="Still owed to unfinished uploads.")
    reserve: int = Field(description="Never handed to uploads (TUSLOG_MIN_FREE_SPACE).")
    available: int = Field(description="Left for new uploads: free - reserve - promised.")
    uploads: int = Field(description="Uploads with bytes on disk.")
    upload_bytes: int
    low_space_threshold: int = Field(description="TUSLOG_STORAGE_LOW_SPACE.")
    status: Literal["ok", "low", "full"]


# --- audit ---------------------------------------------------------------------------------
class AuditEvent(Out):
    id: int
    at: Utc
    actor: str
    action: str
    subject: str
    client_ip: str | None
    details: dict[str, object]


class AuditQuery(PageQuery):
    action: str | None = Field(None, max_length=500, description="Comma-separated actions.")
    actor: str | None = Field(None, max_length=200)
    subject: str | None = Field(None, max_length=200)
    client_ip: str | None = Field(None, max_length=64)
    since: AwareDatetime | None = None
    until: AwareDatetime | None = None


class AuditList(Out):
    items: list[AuditEvent]
    next_cursor: str | None
    total: int | None


# --- webhooks ------------------------------------------------------------------------------
class WebhookCreate(Body):
    url: str = Field(min_length=1, max_length=2048, description="http(s) URL to POST events to.")
    events: list[EventType] = Field(
        default_factory=list, max_length=len(EVENT_TYPES), description="Empty: every event."
    )
    description: str = Field("", max_length=200)
    enabled: bool = True


class WebhookPatch(Body):
    url: str | None = Field(None, min_length=1, max_length=2048)
    events: list[EventType] | None = Field(None, max_length=len(EVENT_TYPES))
    description: str | None = Field(None, max_length=200)
    enabled: bool | None = None
    rotate_secret: bool = Field(False, description="Make a new signing secret (shown once).")


class Webhook(Out):
    id: int
    url: str
    events: list[EventType]
    description: str
    enabled: bool
    created_at: Utc
    updated_at: Utc
    secret: str | None = Field(
        None, description="whsec_…: only when created or rotated (Standard Webhooks)."
    )


class WebhookList(Out):
    items: list[Webhook]


class Delivery(Out):
    id: int
    webhook_id: int
    message_id: str = Field(description="The webhook-id header; the same on every retry.")
    event_type: EventType
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    next_attempt_at: Utc | None
    last_attempt_at: Utc | None
    last_status: int | None = Field(description="HTTP status of the last answer.")
    last_error: str
    last_response_ms: int | None
    created_at: Utc
    delivered_at: Utc | None


class DeliveryQuery(PageQuery):
    status: Literal["pending", "delivered", "failed"] | None = None


class DeliveryList(Out):
    items: list[Delivery]
    next_cursor: str | None
    total: int | None
