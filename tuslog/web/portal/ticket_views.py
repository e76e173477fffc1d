"""Tickets: the list (search, filters, sort, keyset pages), the ticket page, and
create, edit, resolve, reopen and delete."""

from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from tuslog import errors
from tuslog.db.models import Ticket, TicketStatus
from tuslog.http.client import client_ip
from tuslog.keys import DATABASE, ENGINE, SETTINGS
from tuslog.services import tickets, tokens
from tuslog.uploads import listing
from tuslog.web.portal.formatting import duration_text
from tuslog.web.portal.forms import read_form, search_text
from tuslog.web.portal.guard import LINKS, signed_in
from tuslog.web.portal.render import portal_page, redirect

PAGE_SIZE = 50
SORTS = {"newest": "Newest first", "oldest": "Oldest first"}
STATUSES = {"": "Any status", "open": "Open", "resolved": "Resolved"}
_QUERY_LIMIT = 200  # longer search text is cut: no ticket field is longer


def _listing_query(request: web.Request) -> dict[str, str]:
    query = request.query
    status = query.get("status", "")
    sort = query.get("sort", "newest")
    return {
        "q": search_text(query.get("q", ""), _QUERY_LIMIT),
        "status": status if status in STATUSES else "",
        "platform": search_text(query.get("platform", ""), _QUERY_LIMIT),
        "sort": sort if sort in SORTS else "newest",
    }


async def ticket_list(request: web.Request) -> web.StreamResponse:
    wanted = _listing_query(request)
    filters = tickets.TicketFilter(
        status=TicketStatus(wanted["status"]) if wanted["status"] else None,
        platform=wanted["platform"] or None,
        text=wanted["q"] or None,
    )
    flashes: list[tuple[str, str]] = []
    async with request.config_dict[DATABASE].session() as session:
        exact = None
        if wanted["q"]:  # the ticket of exactly this number (its key's index: fast)
            same = tickets.TicketFilter(number=wanted["q"])
            exact = next(iter((await tickets.search(session, same, limit=1)).items), None)
        try:
            page = await _search(session, filters, wanted, request.query.get("after"))
        except errors.TuslogError:  # a stale or edited cursor: start again at page one
            flashes.append(("warning", "That page link is out of date; here is the first page."))
            page = await _search(session, filters, wanted, None)
    links = request.app[LINKS]
    return portal_page(
        request,
        "tickets.html",
        nav="tickets",
        flashes=flashes,
        found=page.items,
        exact=exact,
        wanted=wanted,
        filtered=any(wanted[key] for key in ("q", "status", "platform")),
        statuses=STATUSES,
        sorts=SORTS,
        next_url=links("tickets", **wanted, after=page.next_cursor) if page.next_cursor else None,
        first_url=links("tickets", **wanted) if request.query.get("after") else None,
    )


async def _search(
    session: AsyncSession,
    filters: tickets.TicketFilter,
    wanted: dict[str, str],
    cursor: str | None,
) -> Any:
    return await tickets.search(
        session,
        filters,
        limit=PAGE_SIZE,
        cursor=cursor,
        oldest_first=wanted["sort"] == "oldest",
    )


# --- create and edit ---------------------------------------------------------------------
async def new_form(request: web.Request) -> web.StreamResponse:
    return portal_page(
        request, "ticket_form.html", nav="tickets", ticket=None, values={}, error=None
    )


async def create(request: web.Request) -> web.StreamResponse:
    form = await read_form(request)
    current = signed_in(request)
    values = {key: form.get(key, "") for key in ("number", "title", "platform")}
    try:
        async with request.config_dict[DATABASE].begin() as session:
            ticket = await tickets.create(
                session,
                values["number"],
                title=values["title"][:300],
                platform=values["platform"][:100],
                actor=current.email,
                client_ip=client_ip(request),
            )
    except errors.TuslogError as exc:
        return portal_page(
            request,
            "ticket_form.html",
            status=422,
            nav="tickets",
            ticket=None,
            values=values,
            error=exc.message,
        )
    return redirect(request.app[LINKS]("tickets", ticket.number, done="ticket-created"))


async def _get(request: web.Request) -> Ticket:
    async with request.config_dict[DATABASE].session() as session:
        return await tickets.get(session, request.match_info["number"])


async def edit_form(request: web.Request) -> web.StreamResponse:
    ticket = await _get(request)
    values = {"title": ticket.title, "platform": ticket.platform}
    return portal_page(
        request, "ticket_form.html", nav="tickets", ticket=ticket, values=values, error=None
    )


async def edit(request: web.Request) -> web.StreamResponse:
    form = await read_form(request)
    current = signed_in(request)
    async with request.config_dict[DATABASE].begin() as session:
        ticket = await tickets.update(
            session,
            request.match_info["number"],
            title=form.get("title", "")[:300],
            platform=form.get("platform", "")[:100],
            actor=current.email,
            client_ip=client_ip(request),
        )
    return redirect(request.app[LINKS]("tickets", ticket.number, done="ticket-updated"))


async def resolve(request: web.Request) -> web.StreamResponse:
    current = signed_in(request)
    async with request.config_dict[DATABASE].begin() as session:
        ticket = await tickets.resolve(
            session, request.match_info["number"], actor=current.email, client_ip=client_ip(request)
        )
    return redirect(request.app[LINKS]("tickets", ticket.number, done="ticket-resolved"))


async def reopen(request: web.Request) -> web.StreamResponse:
    current = signed_in(request)
    async with request.config_dict[DATABASE].begin() as session:
        ticket = await tickets.reopen(
            session, request.match_info["number"], actor=current.email, client_ip=client_ip(request)
        )
    return redirect(request.app[LINKS]("tickets", ticket.number, done="ticket-reopened"))


# --- the ticket page ---------------------------------------------------------------------
async def ticket_page(request: web.Request) -> web.StreamResponse:
    return await render_ticket(request)


async def render_ticket(
    request: web.Request, *, status: int = 200, token_form: dict[str, Any] | None = None
) -> web.StreamResponse:
    """The ticket page; ``token_form``: the issue form's values and error, shown again."""
    settings = request.config_dict[SETTINGS]
    async with request.config_dict[DATABASE].session() as session:
        ticket = await tickets.get(session, request.match_info["number"])
        ticket_tokens = [token for token, _ in await tokens.list_for(session, ticket.number)]
        held = await tickets.upload_summary(session, ticket.id)
        try:
            uploads = await listing.search(
                session,
                listing.UploadFilter(ticket_id=ticket.id),
                limit=PAGE_SIZE,
                cursor=request.query.get("uploads_after"),
            )
        except errors.TuslogError:
            uploads = await listing.search(
                session, listing.UploadFilter(ticket_id=ticket.id), limit=PAGE_SIZE
            )
    links = request.app[LINKS]
    defaults = {
        "uploads": str(settings.token_uploads),
        "expires": duration_text(settings.token_ttl),
        "max_bytes": "",
    }
    form = token_form or {"values": defaults, "error": None, "field": None}
    next_uploads = uploads.next_cursor
    return portal_page(
        request,
        "ticket.html",
        status=status,
        nav="tickets",
        ticket=ticket,
        tokens=ticket_tokens,
        uploads=uploads.items,
        held=held,
        token_form=form,
        more_uploads=links("tickets", ticket.number, uploads_after=next_uploads)
        if next_uploads
        else None,
    )


# --- delete ------------------------------------------------------------------------------
async def delete_form(request: web.Request) -> web.StreamResponse:
    async with request.config_dict[DATABASE].session() as session:
        ticket = await tickets.get(session, request.match_info["number"])
        count, size = await tickets.upload_summary(session, ticket.id)
    return portal_page(
        request, "ticket_delete.html", nav="tickets", ticket=ticket, count=count, size=size
    )


async def delete(request: web.Request) -> web.StreamResponse:
    current = signed_in(request)
    engine = request.config_dict[ENGINE]
    await engine.ending.delete_ticket(
        request.match_info["number"], current.email, client_ip(request)
    )
    return redirect(request.app[LINKS]("tickets", done="ticket-deleted"))
