"""The retention policy (``TUSLOG_RETENTION_DAYS``): the archives of a ticket resolved that
many days ago are deleted by the janitor, through the upload engine's one way to end an
upload, and audited. Reopening a ticket stops the clock; resolving it again restarts it.

This module answers the questions: which uploads are due, and when will a ticket's
archives go (shown by the portal and ``tuslog ticket show``)."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tuslog.db.models import GONE_STATES, Ticket, TicketStatus, Upload
from tuslog.services import audit

ACTOR = "retention"


@dataclass(frozen=True)
class DueTicket:
    number: str
    resolved_at: datetime
    upload_ids: list[str]


def deletion_time(ticket: Ticket, retention_days: int) -> datetime | None:
    """When this ticket's archives will be deleted; None: not while it stays as it is
    (open, or no retention policy)."""
    if retention_days <= 0 or ticket.status is not TicketStatus.RESOLVED:
        return None
    if ticket.resolved_at is None:
        return None
    return ticket.resolved_at + timedelta(days=retention_days)


async def archives_deleted_at(
    session: AsyncSession, ticket_id: int, retention_days: int
) -> datetime | None:
    """``deletion_time`` for a ticket that still has archives; None if it has none."""
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None:
        return None
    live = await session.scalar(
        select(func.count())
        .select_from(Upload)
        .where(Upload.ticket_id == ticket_id, Upload.state.not_in(GONE_STATES))
    )
    return deletion_time(ticket, retention_days) if live else None


async def due(
    session: AsyncSession, now: datetime, retention_days: int, limit: int = 500
) -> list[DueTicket]:
    """Tickets resolved at least ``retention_days`` ago that still have uploads."""
    if retention_days <= 0:
        return []
    cutoff = now - timedelta(days=retention_days)
    rows = await session.execute(
        select(Ticket.number, Ticket.resolved_at, Upload.id)
        .join(Upload, Upload.ticket_id == Ticket.id)
        .where(
            Ticket.status == TicketStatus.RESOLVED,
            Ticket.resolved_at <= cutoff,
            Upload.state.not_in(GONE_STATES),
        )
        .order_by(Ticket.resolved_at, Upload.id)
        .limit(limit)
    )
    tickets: dict[str, DueTicket] = {}
    for number, resolved_at, upload_id in rows:
        entry = tickets.setdefault(number, DueTicket(number, resolved_at, []))
        entry.upload_ids.append(upload_id)
    return list(tickets.values())


def record_applied(session: AsyncSession, ticket: DueTicket, deleted: int, days: int) -> None:
    """The ticket-level audit event (each upload's own ``upload.deleted`` names the actor
    ``retention`` too)."""
    audit.record(
        session,
        ACTOR,
        "ticket.retention_applied",
        ticket.number,
        uploads=deleted,
        resolved_at=ticket.resolved_at.isoformat(),
        retention_days=days,
    )
