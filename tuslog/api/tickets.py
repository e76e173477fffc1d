"""Tickets: create, list, get, update, resolve, reopen, delete (with every archive)."""

from typing import Any
from urllib.parse import quote

from sqlalchemy.ext.asyncio import AsyncSession

from tuslog.api import schemas
from tuslog.api.etags import etag, matched_revision
from tuslog.api.routing import Call, Operation, Reply
from tuslog.db.models import Ticket, TicketStatus
from tuslog.services import revisions, tickets
from tuslog.services.apikeys import READ, WRITE


def ticket_out(ticket: Ticket) -> schemas.Ticket:
    return schemas.Ticket(
        number=ticket.number,
        title=ticket.title,
        platform=ticket.platform,
        status=ticket.status.value,
        created_at=ticket.created_at,
        updated_at=ticket.updated_at,
    )


def ticket_reply(ticket: Ticket, status: int = 200) -> Reply:
    headers = {"ETag": etag(revisions.ticket_revision(ticket))}
    if status == 201:
        headers["Location"] = f"/api/v1/tickets/{quote(ticket.number, safe='')}"
    return Reply(ticket_out(ticket), status, headers)


async def list_tickets(call: Call[schemas.TicketQuery, None]) -> Reply:
    query = call.query
    filters = tickets.TicketFilter(
        status=TicketStatus(query.status) if query.status else None,
        platform=query.platform,
        number=query.number,
        text=query.q,
        created_from=query.created_from,
        created_to=query.created_to,
    )
    async with call.db.session() as session:
        page = await tickets.search(
            session, filters, limit=query.limit, cursor=query.cursor, with_total=query.total
        )
    items = [ticket_out(ticket) for ticket in page.items]
    return Reply(schemas.TicketList(items=items, next_cursor=page.next_cursor, total=page.total))


async def create_ticket(call: Call[None, schemas.TicketCreate]) -> Reply:
    body = call.body
    async with call.db.begin() as session:
        ticket = await tickets.create(
            session, body.number, title=body.title, platform=body.platform, actor=call.caller.actor
        )
    return ticket_reply(ticket, 201)


async def get_ticket(call: Call[None, None]) -> Reply:
    async with call.db.session() as session:
        ticket = await tickets.get(session, call.path("number"))
    return ticket_reply(ticket)


async def update_ticket(call: Call[None, schemas.TicketPatch]) -> Reply:
    async with call.db.begin() as session:
        ticket = await _claimed(call, session)
        ticket = await tickets.update(
            session,
            ticket.number,
            title=call.body.title,
            platform=call.body.platform,
            actor=call.caller.actor,
            client_ip=call.ip,
        )
    return ticket_reply(ticket)


async def _claimed(call: Call[Any, Any], session: AsyncSession) -> Ticket:
    """The ticket, claimed at the revision If-Match names (when it names one)."""
    ticket = await tickets.get(session, call.path("number"))
    if call.if_match is not None:
        seen = matched_revision(call.if_match, revisions.ticket_revision(ticket))
        await revisions.claim_ticket(session, ticket, seen)
    return ticket


async def resolve_ticket(call: Call[None, None]) -> Reply:
    async with call.db.begin() as session:
        ticket = await _claimed(call, session)
        ticket = await tickets.resolve(session, ticket.number, actor=call.caller.actor)
        await session.flush()
    return ticket_reply(ticket)


async def reopen_ticket(call: Call[None, None]) -> Reply:
    async with call.db.begin() as session:
        ticket = await _claimed(call, session)
        ticket = await tickets.reopen(session, ticket.number, actor=call.caller.actor)
        await session.flush()
    return ticket_reply(ticket)


async def delete_ticket(call: Call[None, None]) -> Reply:
    """Through the engine: its uploads end (a PATCH streaming into one stops) and their
    bytes are removed; the ticket row goes last."""
    await call.engine.ending.delete_ticket(call.path("number"), call.caller.actor, call.ip)
    return Reply(None, 204)


_TICKET_ERRORS = (401, 403, 404, 429)
OPERATIONS = [
    Operation(
        "GET",
        "/tickets",
        list_tickets,
        "List and search tickets",
        READ,
        "Tickets",
        query=schemas.TicketQuery,
        response=schemas.TicketList,
        errors=(401, 403, 422, 429),
        description="Newest first. Filters combine; pages follow `next_cursor`.",
    ),
    Operation(
        "POST",
        "/tickets",
        create_ticket,
        "Open a ticket",
        WRITE,
        "Tickets",
        body=schemas.TicketCreate,
        response=schemas.Ticket,
        status=201,
        etag=True,
        errors=(400, 401, 403, 409, 415, 422, 429),
    ),
    Operation(
        "GET",
        "/tickets/{number}",
        get_ticket,
        "Get a ticket",
        READ,
        "Tickets",
        response=schemas.Ticket,
        etag=True,
        errors=_TICKET_ERRORS,
    ),
    Operation(
        "PATCH",
        "/tickets/{number}",
        update_ticket,
        "Change title or platform",
        WRITE,
        "Tickets",
        body=schemas.TicketPatch,
        response=schemas.Ticket,
        etag=True,
        if_match="required",
        errors=(*_TICKET_ERRORS, 400, 412, 415, 422, 428),
    ),
    Operation(
        "POST",
        "/tickets/{number}/resolve",
        resolve_ticket,
        "Resolve a ticket",
        WRITE,
        "Tickets",
        response=schemas.Ticket,
        etag=True,
        if_match="optional",
        errors=(*_TICKET_ERRORS, 412),
        description="Fires `ticket.resolved`. Resolving a resolved ticket changes nothing.",
    ),
    Operation(
        "POST",
        "/tickets/{number}/reopen",
        reopen_ticket,
        "Reopen a ticket",
        WRITE,
        "Tickets",
        response=schemas.Ticket,
        etag=True,
        if_match="optional",
        errors=(*_TICKET_ERRORS, 412),
    ),
    Operation(
        "DELETE",
        "/tickets/{number}",
        delete_ticket,
        "Delete a ticket, its tokens and the bytes of all its uploads",
        WRITE,
        "Tickets",
        status=204,
        errors=(*_TICKET_ERRORS, 423),
        description="The uploads stay listed as `deleted`. Fires `upload.deleted` for each "
        "and `ticket.deleted`.",
    ),
]
