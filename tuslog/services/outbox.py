"""The webhook outbox: an action that is a webhook event adds a row here in the same
transaction as its audit event (``tuslog.services.audit.record`` calls ``add``), so an
event is recorded if and only if the change itself is: none is lost in a crash, none is
sent for a change that was rolled back. The delivery worker (``tuslog.api.delivery``)
dispatches rows to the endpoints that want them.

Every event carries the ticket number as it was at the time (a ticket may be deleted
before its events are dispatched); an upload event also names its upload, whose details
are read when the event is dispatched.
"""

import secrets
from typing import Any

from sqlalchemy import ScalarSelect, select
from sqlalchemy.ext.asyncio import AsyncSession

from tuslog.db.models import Ticket, Upload, WebhookEvent

EVENT_TYPES = (
    "upload.created",
    "upload.completed",
    "upload.verified",
    "upload.corrupt",
    "upload.expired",
    "upload.deleted",
    "ticket.resolved",
    "ticket.deleted",
    "storage.low",
)

# The webhook events an audit action raises. Every finished upload raises
# upload.completed (its state says which); one whose client declared a SHA-256 raises
# upload.verified or upload.corrupt besides.
_RAISED_BY: dict[str, tuple[str, ...]] = {
    "upload.created": ("upload.created",),
    "upload.completed": ("upload.completed",),
    "upload.verified": ("upload.completed", "upload.verified"),
    "upload.corrupt": ("upload.completed", "upload.corrupt"),
    "upload.expired": ("upload.expired",),
    "upload.deleted": ("upload.deleted",),
    "ticket.resolved": ("ticket.resolved",),
    "ticket.deleted": ("ticket.deleted",),
    "storage.low": ("storage.low",),
}


def new_message_id() -> str:
    """The Standard Webhooks ``webhook-id``: unique per event, the same on every retry."""
    return "msg_" + secrets.token_urlsafe(18)


def _ticket_of(upload_id: str) -> ScalarSelect[str]:
    """The upload's ticket number, evaluated when the row is inserted (the upload's row
    is inserted first in the same flush: the ``upload`` relationship orders them)."""
    return (
        select(Ticket.number)
        .join(Upload, Upload.ticket_id == Ticket.id)
        .where(Upload.id == upload_id)
        .scalar_subquery()
    )


# The upload's state that an action means (the payload's upload.state): the row may have
# moved on by the time the event is dispatched.
_STATE_OF: dict[str, str] = {
    "upload.created": "receiving",
    "upload.completed": "complete",
    "upload.verified": "verified",
    "upload.corrupt": "corrupt",
    "upload.expired": "expired",
    "upload.deleted": "deleted",
}


def add(session: AsyncSession, action: str, subject: str, details: dict[str, Any]) -> None:
    for event_type in _RAISED_BY.get(action, ()):
        kept = dict(details)
        if action in _STATE_OF:
            kept["state"] = _STATE_OF[action]
        event = WebhookEvent(
            message_id=new_message_id(), type=event_type, subject=subject, details=kept
        )
        if event_type.startswith("upload."):
            event.upload_id = subject
            event.ticket = _ticket_of(subject)
        elif event_type.startswith("ticket."):
            event.ticket = subject
        session.add(event)
