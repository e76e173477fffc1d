"""An upload's own page and what lies inside its archive: the details, the manifest as a
browsable tree (folder breadcrumbs, a filter by substring or glob, pages), one entry's
preview (first and last KiB, or a page of lines at a time) and one entry's download.
The search streams and lives in ``archive_search``.

The work is ``tuslog.uploads.archive_reading`` (the CLI's too), which audits every
preview, search and entry download. Entries are addressed by their number in the
archive, never by their name: names are display strings from the customer (escaped by
the manifest, HTML-escaped and isolated by the templates), never parts of a URL path.
"""

import re
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any, cast

from aiohttp import web

from tuslog import errors
from tuslog.archives import Entry
from tuslog.db.models import Upload
from tuslog.http.client import client_ip
from tuslog.http.downloads import content_disposition
from tuslog.keys import ENGINE
from tuslog.uploads.archive_reading import ArchiveReading, Listing
from tuslog.uploads.archive_streams import EntryDownload, safe_filename
from tuslog.web.portal.forms import search_text
from tuslog.web.portal.guard import LINKS, signed_in
from tuslog.web.portal.render import portal_page

PAGE_SIZE = 100
PAGE_LINES = 500
PREVIEW_KIB = (16, 64, 256, 1024)
DEFAULT_KIB = 64
_FILTER_LIMIT = 500
_MAX_LINE = 10**9
_GLOB_SPECIAL = re.compile(r"([*?[])")


def archive_reading(request: web.Request) -> ArchiveReading:
    return ArchiveReading(request.config_dict[ENGINE].parts)


def whole_number(raw: str | None, default: int, low: int, high: int) -> int:
    """A number from a query string; anything unusable is ``default``, out of range cut."""
    if raw is None or not raw.isascii() or not raw.isdigit() or len(raw) > 10:
        return default
    return max(low, min(high, int(raw)))


def _ids(request: web.Request) -> tuple[str, int]:
    return request.match_info["upload_id"], int(request.match_info["entry"])


async def _entry(request: web.Request) -> tuple[Upload, str, Entry]:
    upload_id, index = _ids(request)
    upload, ticket = await request.config_dict[ENGINE].reading.find(upload_id)
    return upload, ticket, await archive_reading(request).find(upload_id, f"#{index}")


# --- the upload page ------------------------------------------------------------------------
@dataclass(frozen=True)
class TreeQuery:
    folder: str
    text: str
    offset: int

    @classmethod
    def of(cls, request: web.Request) -> "TreeQuery":
        query = request.query
        folder = search_text(query.get("dir", ""), 4096)
        text = search_text(query.get("q", ""), _FILTER_LIMIT)
        return cls(folder, text, whole_number(query.get("offset"), 0, 0, _MAX_LINE))


def crumbs(folder: str) -> list[tuple[str, str]]:
    """(name, folder path) of each folder from the top down to ``folder``."""
    parts = [part for part in folder.split("/") if part not in ("", ".")]
    return [(part, "/".join(parts[: number + 1])) for number, part in enumerate(parts)]


async def _manifest(request: web.Request, upload: Upload, wanted: TreeQuery) -> dict[str, Any]:
    """What the page shows of the archive: its status, or why there is none, and a page
    of the tree or of the filter's matches."""
    reading = archive_reading(request)
    shown: dict[str, Any] = {"manifest": None, "note": None, "listing": None}
    try:
        shown["manifest"] = status = await reading.status(upload.id)
        if status.ready:
            shown["listing"] = await reading.listing(
                upload.id,
                prefix=wanted.folder,
                text=wanted.text or None,
                offset=wanted.offset,
                limit=PAGE_SIZE,
            )
    except errors.TuslogError as exc:  # unfinished, gone, or the list went meanwhile
        shown["note"] = exc.message
    return shown


def _pages(request: web.Request, listing: Listing | None, wanted: TreeQuery) -> dict[str, Any]:
    if listing is None:
        return {"previous_url": None, "next_url": None}
    links = request.app[LINKS]
    upload_id = request.match_info["upload_id"]

    def at(offset: int | None) -> str | None:
        if offset is None:
            return None
        return links("uploads", upload_id, dir=listing.prefix, q=wanted.text, offset=offset or None)

    before = max(0, listing.offset - listing.limit) if listing.offset > 0 else None
    return {"previous_url": at(before), "next_url": at(listing.next_offset)}


async def upload_page(request: web.Request) -> web.StreamResponse:
    upload, ticket = await request.config_dict[ENGINE].reading.find(request.match_info["upload_id"])
    wanted = TreeQuery.of(request)
    shown = await _manifest(request, upload, wanted)
    listing = shown["listing"]
    folder = listing.prefix if listing is not None else wanted.folder
    return portal_page(
        request,
        "upload.html",
        nav="uploads",
        upload=upload,
        ticket=ticket,
        wanted=wanted,
        crumbs=crumbs(folder),
        folder=folder,
        **shown,
        **_pages(request, listing, wanted),
    )


# --- preview --------------------------------------------------------------------------------
async def entry_page(request: web.Request) -> web.StreamResponse:
    """A text entry's first and last ``kib`` KiB, or with ``line`` a page of lines from
    there; a binary entry says so and offers its download."""
    upload, ticket, entry = await _entry(request)
    current = signed_in(request)
    reading = archive_reading(request)
    query = request.query
    context: dict[str, Any] = {"preview": None, "page": None, "kib": DEFAULT_KIB}
    who = {"actor": current.email, "client_ip": client_ip(request)}
    if "line" in query:
        first = whole_number(query.get("line"), 1, 1, _MAX_LINE)
        context["page"] = await reading.page(
            upload.id, entry.index, first_line=first, max_lines=PAGE_LINES, **who
        )
        context["previous_line"] = max(1, first - PAGE_LINES) if first > 1 else None
        context["wanted_line"] = whole_number(query.get("at"), 0, 0, _MAX_LINE)
    else:
        kib = whole_number(query.get("kib"), DEFAULT_KIB, 1, PREVIEW_KIB[-1])
        kib = kib if kib in PREVIEW_KIB else DEFAULT_KIB
        context["kib"] = kib
        context["preview"] = await reading.preview(
            upload.id, entry.index, head_bytes=kib * 1024, tail_bytes=kib * 1024, **who
        )
    return portal_page(
        request,
        "archive_entry.html",
        nav="uploads",
        upload=upload,
        ticket=ticket,
        entry=entry,
        folder=entry.path.rstrip("/").rpartition("/")[0],
        only_this=_GLOB_SPECIAL.sub(r"[\1]", entry.path),  # a glob of exactly this path
        sizes=PREVIEW_KIB,
        page_lines=PAGE_LINES,
        **context,
    )


# --- download -------------------------------------------------------------------------------
def _download_headers(filename: str, index: int, size: int | None) -> dict[str, str]:
    headers = {
        "Content-Type": "application/octet-stream",  # never sniffed or rendered
        "Content-Disposition": content_disposition(filename, f"entry-{index}"),
        "Cache-Control": "private, no-store",
    }
    if size is not None:
        headers["Content-Length"] = str(size)
    return headers


async def entry_download(request: web.Request) -> web.StreamResponse:
    """The entry's bytes, streamed. A damaged entry that fails before its first byte is
    an error page; after it, the connection is cut short of the promised length (or of
    the last chunk), so the client knows the file is incomplete, as ``upload extract``
    removes its partial file."""
    upload, _, entry = await _entry(request)
    if request.method == "HEAD":  # answered from the list: nothing opened, nothing audited
        headers = _download_headers(safe_filename(entry.path, entry.index), entry.index, None)
        return web.Response(status=200, headers=headers)
    current = signed_in(request)
    download = await archive_reading(request).open_entry(
        upload.id,
        entry.index,
        actor=current.email,
        client_ip=client_ip(request),
        force=request.query.get("force") == "1",
    )
    async with download:
        return await _send(request, download)


async def _send(request: web.Request, download: EntryDownload) -> web.StreamResponse:
    chunks = cast(AsyncGenerator[bytes, None], download.chunks())
    try:
        first = await anext(chunks, b"")  # fails here: still an error page
        headers = _download_headers(download.filename, download.index, download.size)
        response = web.StreamResponse(status=200, headers=headers)
        await response.prepare(request)
        try:
            await response.write(first)
            async for chunk in chunks:
                await response.write(chunk)
            await response.write_eof()
        except (OSError, errors.TuslogError):  # the client left, or the entry is damaged
            if request.transport is not None:
                request.transport.close()
        return response
    finally:
        await chunks.aclose()
