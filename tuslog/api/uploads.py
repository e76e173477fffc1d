"""Uploads: list, get, delete (through the engine), and their bytes: ``GET …/content``
with Range / If-Range, a strong ETag (the SHA-256) and Repr-Digest (RFC 9530)."""

from typing import Any

from aiohttp import web

from tuslog import errors
from tuslog.api import schemas
from tuslog.api.routing import Call, Operation, Reply
from tuslog.db.models import Upload, UploadState
from tuslog.http.downloads import send_upload
from tuslog.services import tickets
from tuslog.services.apikeys import DOWNLOAD, READ, WRITE
from tuslog.uploads import listing


def upload_out(upload: Upload, ticket: str) -> schemas.Upload:
    length = upload.length
    progress = None if not length else round(upload.offset / length, 6)
    if length == 0:
        progress = 1.0
    concat = None if upload.concat is None else ("partial" if upload.is_partial else "final")
    finished = upload.state.finished
    return schemas.Upload(
        id=upload.id,
        ticket=ticket or None,
        filename=upload.filename,
        state=upload.shown_state,
        length=length,
        offset=upload.offset,
        progress=progress,
        declared_sha256=upload.declared_sha256,
        sha256=upload.sha256,
        client_ip=upload.client_ip,
        concat=concat,
        created_at=upload.created_at,
        updated_at=upload.updated_at,
        completed_at=upload.completed_at,
        expires_at=upload.expires_at,
        content_url=f"/api/v1/uploads/{upload.id}/content" if finished else None,
    )


def _states(value: str | None) -> list[str]:
    if not value:
        return []
    return [state.strip() for state in value.split(",") if state.strip()]


async def list_uploads(call: Call[schemas.UploadQuery, None]) -> Reply:
    query = call.query
    async with call.db.session() as session:
        ticket_id = None
        if query.ticket is not None:
            ticket_id = (await tickets.get(session, query.ticket)).id
        filters = listing.UploadFilter(
            ticket_id=ticket_id,
            states=_states(query.state),
            created_from=query.created_from,
            created_to=query.created_to,
        )
        page = await listing.search(
            session, filters, limit=query.limit, cursor=query.cursor, with_total=query.total
        )
    items = [upload_out(upload, number) for upload, number in page.items]
    return Reply(schemas.UploadList(items=items, next_cursor=page.next_cursor, total=page.total))


async def _find(call: Call[Any, Any]) -> tuple[Upload, str]:
    upload_id = call.path("upload_id").lower()
    if len(upload_id) != 32 or not all(ch in "0123456789abcdef" for ch in upload_id):
        raise errors.UPLOAD_NOT_FOUND()
    found: tuple[Upload, str] = await call.engine.reading.find(upload_id)
    return found


async def get_upload(call: Call[None, None]) -> Reply:
    upload, ticket = await _find(call)
    return Reply(upload_out(upload, ticket))


async def delete_upload(call: Call[None, None]) -> Reply:
    """Ends the upload through the engine (a PATCH streaming into it stops, its bytes go);
    it stays listed as ``deleted``."""
    upload, _ = await _find(call)
    if upload.state.gone:
        raise errors.UPLOAD_GONE(f"Upload {upload.id} is already {upload.state.value}.")
    ended = await call.engine.ending.end(upload.id, UploadState.DELETED, call.caller.actor, call.ip)
    if not ended:
        raise errors.UPLOAD_GONE(f"Upload {upload.id} was ended meanwhile.")
    return Reply(None, 204)


async def download(call: Call[schemas.ContentQuery, None]) -> web.StreamResponse:
    """The upload's bytes, through the same download response as the portal's (ranges,
    multiple ranges, If-Range, ETag, Repr-Digest, a safe file name; audited)."""
    upload, _ = await _find(call)
    return await send_upload(
        call.request,
        call.engine,
        upload.id,
        actor=call.caller.actor,
        client_ip=call.ip,
        force=call.query.force,
        unfinished=call.query.force,
    )


_ERRORS = (401, 403, 404, 429)
_CONTENT = {
    "200": "The whole upload.",
    "206": "The byte range asked for; several ranges as multipart/byteranges.",
    "304": "If-None-Match matched.",
}
OPERATIONS = [
    Operation(
        "GET",
        "/uploads",
        list_uploads,
        "List uploads",
        READ,
        "Uploads",
        query=schemas.UploadQuery,
        response=schemas.UploadList,
        errors=(*_ERRORS, 422),
    ),
    Operation(
        "GET",
        "/uploads/{upload_id}",
        get_upload,
        "Get an upload",
        READ,
        "Uploads",
        response=schemas.Upload,
        errors=_ERRORS,
    ),
    Operation(
        "DELETE",
        "/uploads/{upload_id}",
        delete_upload,
        "Delete an upload's bytes",
        WRITE,
        "Uploads",
        status=204,
        errors=(*_ERRORS, 410, 423),
        description="The upload stays listed as `deleted`; fires `upload.deleted`.",
    ),
    Operation(
        "GET",
        "/uploads/{upload_id}/content",
        download,
        "Download an upload",
        DOWNLOAD,
        "Uploads",
        query=schemas.ContentQuery,
        errors=(*_ERRORS, 409, 410, 416, 422),
        content=_CONTENT,
        description="Streams the bytes. `Range: bytes=a-b` (one range) with `If-Range`; "
        '`ETag` is `"sha256-<hex>"` and `Repr-Digest` the SHA-256 of the whole upload '
        "(RFC 9530), so a client checks what it assembled. Unfinished, verifying or "
        "corrupt uploads are refused (409) unless `force=true`.",
    ),
]
