"""Uploads: the list across tickets (by state), downloads (ranges, resumable; the logic
is tuslog.http.downloads, shared with the REST API) and deleting one upload."""

from aiohttp import web

from tuslog import errors
from tuslog.db.models import UploadState
from tuslog.http.client import client_ip
from tuslog.http.downloads import send_upload
from tuslog.keys import DATABASE, ENGINE
from tuslog.uploads import listing
from tuslog.web.portal.guard import LINKS, signed_in
from tuslog.web.portal.render import portal_page, redirect

PAGE_SIZE = 50
STATE_CHOICES = {
    "": "Any state",
    "receiving": "In progress",
    "verifying": "Verifying",
    "verified": "Verified",
    "complete": "Complete (no SHA-256 declared)",
    "corrupt": "Corrupt",
    "deleted": "Deleted",
    "expired": "Expired",
    "terminated": "Cancelled by the client",
}


async def upload_list(request: web.Request) -> web.StreamResponse:
    state = request.query.get("state", "")
    state = state if state in STATE_CHOICES else ""
    filters = listing.UploadFilter(states=(state,) if state else ())
    flashes = []
    async with request.config_dict[DATABASE].session() as session:
        try:
            page = await listing.search(
                session, filters, limit=PAGE_SIZE, cursor=request.query.get("after")
            )
        except errors.TuslogError:
            flashes.append(("warning", "That page link is out of date; here is the first page."))
            page = await listing.search(session, filters, limit=PAGE_SIZE)
    links = request.app[LINKS]
    return portal_page(
        request,
        "uploads.html",
        nav="uploads",
        flashes=flashes,
        found=page.items,
        state=state,
        states=STATE_CHOICES,
        next_url=links("uploads", state=state, after=page.next_cursor)
        if page.next_cursor
        else None,
    )


async def download(request: web.Request) -> web.StreamResponse:
    current = signed_in(request)
    return await send_upload(
        request,
        request.config_dict[ENGINE],
        request.match_info["upload_id"],
        actor=current.email,
        client_ip=client_ip(request),
        force=request.query.get("force") == "1",
    )


async def delete_form(request: web.Request) -> web.StreamResponse:
    upload, ticket = await request.config_dict[ENGINE].reading.find(request.match_info["upload_id"])
    return portal_page(request, "upload_delete.html", nav="uploads", upload=upload, ticket=ticket)


async def delete(request: web.Request) -> web.StreamResponse:
    current = signed_in(request)
    engine = request.config_dict[ENGINE]
    upload_id = request.match_info["upload_id"]
    _, ticket = await engine.reading.find(upload_id)
    ended = await engine.ending.end(
        upload_id, UploadState.DELETED, current.email, client_ip(request)
    )
    done = "upload-deleted" if ended else "upload-already-gone"
    links = request.app[LINKS]
    return redirect(links("tickets", ticket, done=done) if ticket else links("uploads", done=done))
