"""Tickets: the help-desk case that tokens and uploads belong to.

Ticket numbers are case-insensitive: ``SR-1234`` and ``sr-1234`` name the same ticket
(help desks and people type them both ways), shown as first entered. Deleting a ticket
ends its uploads through the upload engine (``tuslog.uploads``) first; this module only
handles the rows.
"""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy import update as update_rows
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tuslog import errors
from tuslog.db.models import (
    GONE_STATES,
    TICKET_SEARCH_COLUMNS,
    Ticket,
    TicketStatus,
    Upload,
    UploadToken,
    utcnow,
)
from tuslog.services import audit, paging

MAX_NUMBER_LENGTH = 64


def number_key(number: str) -> str:
    return number.strip().casefold()


def _check_number(number: str) -> str:
    number = number.strip()
    if not number or len(number) > MAX_NUMBER_LENGTH or not number.isprintable() or " " in number:
        raise errors.INVALID_VALUE("Ticket number must be 1-64 printable characters, no spaces.")
    return number


def one_line(text: str) -> str:
    """Titles and platforms are shown in tables and lists: one line, no control chars."""
    return " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())


async def create(
    session: AsyncSession,
    number: str,
    *,
    title: str = "",
    platform: str = "",
    actor: str,
    client_ip: str | None = None,
) -> Ticket:
    number = _check_number(number)
    ticket = Ticket(
        number=number,
        number_key=number_key(number),
        title=one_line(title),
        platform=one_line(platform),
    )
    try:
        async with session.begin_nested():
            session.add(ticket)
    except IntegrityError:
        existing = await find(session, number)
        shown = existing.number if existing else number
        raise errors.TICKET_EXISTS(
            f"Ticket {shown} already exists (ticket numbers ignore case)."
        ) from None
    audit.record(session, actor, "ticket.created", number, client_ip, title=ticket.title)
    return ticket


async def find(session: AsyncSession, number: str) -> Ticket | None:
    """The ticket of this number: an exact match first (tickets that differed only in case
    before numbers were case-insensitive keep theirs), then ignoring case.

    The case-folded key has a unique B-tree index; ``number`` only the trigram index of
    the text search, where an equality look-up costs ~13 ms at 100,000 tickets. So the
    key is asked first, and the exact number only when the key's ticket is not written
    exactly so (or there is none): the same answer, one fast query in the usual case."""
    number = number.strip()
    by_key: Ticket | None = await session.scalar(
        select(Ticket).where(Ticket.number_key == number_key(number))
    )
    if by_key is not None and by_key.number == number:
        return by_key
    exact: Ticket | None = await session.scalar(select(Ticket).where(Ticket.number == number))
    return exact if exact is not None else by_key


async def get(session: AsyncSession, number: str) -> Ticket:
    ticket = await find(session, number)
    if ticket is None:
        raise errors.TICKET_NOT_FOUND(f"No ticket {number.strip()[:MAX_NUMBER_LENGTH]}.")
    return ticket


async def list_all(session: AsyncSession) -> list[Ticket]:
    return list(await session.scalars(select(Ticket).order_by(Ticket.created_at.desc())))


async def resolve(
    session: AsyncSession, number: str, *, actor: str, client_ip: str | None = None
) -> Ticket:
    ticket = await get(session, number)
    if ticket.status is not TicketStatus.RESOLVED:
        ticket.status, ticket.resolved_at = TicketStatus.RESOLVED, utcnow()
        audit.record(session, actor, "ticket.resolved", ticket.number, client_ip)
    return ticket


async def reopen(
    session: AsyncSession, number: str, *, actor: str, client_ip: str | None = None
) -> Ticket:
    ticket = await get(session, number)
    if ticket.status is not TicketStatus.OPEN:
        ticket.status, ticket.resolved_at = TicketStatus.OPEN, None
        audit.record(session, actor, "ticket.reopened", ticket.number, client_ip)
    return ticket


async def live_upload_ids(session: AsyncSession, ticket_id: int) -> list[str]:
    """The ticket's uploads that have not ended (their bytes may still be on disk)."""
    query = select(Upload.id).where(Upload.ticket_id == ticket_id, Upload.state.not_in(GONE_STATES))
    return list(await session.scalars(query))


async def stop_new_uploads(session: AsyncSession, ticket_id: int) -> None:
    """Let the ticket's tokens expire now, so that no upload starts while the ticket is
    deleted. Not a revocation: an upload being written stops because it is ended (and
    says so: 410), not with a 401 that would race with that."""
    now = utcnow()
    await session.execute(
        update_rows(UploadToken)
        .where(UploadToken.ticket_id == ticket_id, UploadToken.expires_at > now)
        .values(expires_at=now)
    )


async def delete_row(
    session: AsyncSession,
    ticket: Ticket,
    *,
    actor: str,
    ended: int,
    client_ip: str | None = None,
) -> None:
    """Delete the ticket and its tokens; its (ended) uploads stay as tombstones."""
    await session.delete(ticket)
    audit.record(session, actor, "ticket.deleted", ticket.number, client_ip, uploads=ended)


async def upload_summary(session: AsyncSession, ticket_id: int) -> tuple[int, int]:
    """How many uploads of the ticket still have bytes, and how many bytes."""
    row = (
        await session.execute(
            select(func.count(), func.coalesce(func.sum(Upload.offset), 0)).where(
                Upload.ticket_id == ticket_id, Upload.state.not_in(GONE_STATES)
            )
        )
    ).one()
    return int(row[0] or 0), int(row[1] or 0)


# --- search (the REST API's and the portal's ticket list) -----------------------------------
@dataclass(frozen=True)
class TicketFilter:
    """What ``search`` narrows to; every field is optional and they combine with AND.
    ``number``: exactly this ticket (case ignored); ``platform``: exactly this platform
    (case ignored); ``text``: a substring of the number, title or platform (case ignored);
    ``created_from`` (inclusive) and ``created_to`` (exclusive): aware datetimes."""

    status: TicketStatus | None = None
    platform: str | None = None
    number: str | None = None
    text: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None


def _conditions(filters: TicketFilter) -> list[ColumnElement[bool]]:
    paging.check_range(filters.created_from, filters.created_to, "created")
    found: list[ColumnElement[bool]] = []
    if filters.status is not None:
        found.append(Ticket.status == filters.status)
    if filters.platform is not None:
        found.append(func.lower(Ticket.platform) == func.lower(one_line(filters.platform)))
    if filters.number is not None:
        found.append(Ticket.number_key == number_key(filters.number))
    if filters.text is not None and filters.text.strip():
        pattern = paging.like_pattern(filters.text.strip())
        found.append(or_(*(column.ilike(pattern, escape="\\") for column in TICKET_SEARCH_COLUMNS)))
    if filters.created_from is not None:
        found.append(Ticket.created_at >= filters.created_from)
    if filters.created_to is not None:
        found.append(Ticket.created_at < filters.created_to)
    return found


async def search(
    session: AsyncSession,
    filters: TicketFilter = TicketFilter(),
    *,
    limit: int = paging.DEFAULT_LIMIT,
    cursor: str | None = None,
    with_total: bool = False,
    oldest_first: bool = False,
) -> paging.Page[Ticket]:
    """Tickets matching ``filters``, newest first (``oldest_first``: oldest first), one
    page of at most ``limit`` after ``cursor`` (the ``next_cursor`` of the page before;
    None for the first page)."""
    rows, next_cursor, total = await paging.fetch(
        session,
        select(Ticket),
        _conditions(filters),
        (Ticket.created_at, Ticket.id),
        after=paging.decode(cursor, int),
        limit=paging.check_limit(limit),
        with_total=with_total,
        ascending=oldest_first,
    )
    return paging.Page([row[0] for row in rows], next_cursor, total)


async def update(
    session: AsyncSession,
    number: str,
    *,
    title: str | None = None,
    platform: str | None = None,
    actor: str,
    client_ip: str | None = None,
) -> Ticket:
    """Change a ticket's title and/or platform (one line each, as ``create`` stores)."""
    ticket = await get(session, number)
    changes: dict[str, str] = {}
    for name, value in (("title", title), ("platform", platform)):
        if value is not None and one_line(value) != getattr(ticket, name):
            setattr(ticket, name, one_line(value))
            changes[name] = one_line(value)
    if changes:
        audit.record(session, actor, "ticket.updated", ticket.number, client_ip, **changes)
        await session.flush()
    return ticket
