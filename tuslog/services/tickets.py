"""Tickets: the help-desk case that tokens and uploads belong to."""

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tuslog import errors
from tuslog.db.models import Ticket, TicketStatus, Upload
from tuslog.services import audit

MAX_NUMBER_LENGTH = 64


async def create(
    session: AsyncSession, number: str, *, title: str = "", platform: str = "", actor: str
) -> Ticket:
    number = number.strip()
    if not number or len(number) > MAX_NUMBER_LENGTH or not number.isprintable() or " " in number:
        raise errors.INVALID_VALUE("Ticket number must be 1-64 printable characters, no spaces.")
    # One line each: they are shown in tables and lists.
    ticket = Ticket(number=number, title=_one_line(title), platform=_one_line(platform))
    session.add(ticket)
    try:
        await session.flush()
    except IntegrityError:
        await session.rollback()
        raise errors.TICKET_EXISTS(f"Ticket {number} already exists.") from None
    audit.record(session, actor, "ticket.created", number, title=ticket.title)
    return ticket


def _one_line(text: str) -> str:
    return " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())


async def get(session: AsyncSession, number: str) -> Ticket:
    ticket = await session.scalar(select(Ticket).where(Ticket.number == number))
    if ticket is None:
        raise errors.TICKET_NOT_FOUND(f"No ticket {number}.")
    return ticket


async def list_all(session: AsyncSession) -> list[Ticket]:
    return list(await session.scalars(select(Ticket).order_by(Ticket.created_at.desc())))


async def resolve(session: AsyncSession, number: str, *, actor: str) -> Ticket:
    ticket = await get(session, number)
    ticket.status = TicketStatus.RESOLVED
    audit.record(session, actor, "ticket.resolved", number)
    return ticket


async def reopen(session: AsyncSession, number: str, *, actor: str) -> Ticket:
    ticket = await get(session, number)
    if ticket.status is not TicketStatus.OPEN:
        ticket.status = TicketStatus.OPEN
        audit.record(session, actor, "ticket.reopened", number)
    return ticket


async def delete(session: AsyncSession, number: str, *, actor: str) -> list[str]:
    """Delete the ticket with its tokens and upload rows; return the upload ids whose bytes
    the caller must remove from the store after committing."""
    ticket = await get(session, number)
    upload_ids = list(await session.scalars(select(Upload.id).where(Upload.ticket_id == ticket.id)))
    await session.delete(ticket)
    audit.record(session, actor, "ticket.deleted", number, uploads=len(upload_ids))
    return upload_ids
