"""Uploads: list, get, delete (through the engine), and their bytes: ``GET …/content``
with Range / If-Range, a strong ETag (the SHA-256) and Repr-Digest (RFC 9530)."""

import base64
from typing import Any

from aiohttp import web

from tuslog import errors
from tuslog.api import ranges, schemas
from tuslog.api.routing import Call, Operation, Reply
from tuslog.db.models import Upload, UploadState
from tuslog.services import tickets
from tuslog.services.apikeys import DOWNLOAD, READ, WRITE
from tuslog.uploads import records
from tuslog.uploads.reading import readiness_error


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
        filters = records.UploadFilter(
            ticket_id=ticket_id,
            states=_states(query.state),
            created_from=query.created_from,
            created_to=query.created_to,
        )
        page = await records.search(
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


def _validators(upload: Upload) -> dict[str, str]:
    """ETag and Repr-Digest exist only for bytes whose SHA-256 is known (finished)."""
    if upload.sha256 is None or upload.state is UploadState.RECEIVING:
        return {}
    digest = base64.b64encode(bytes.fromhex(upload.sha256)).decode()
    return {"ETag": f'"sha256-{upload.sha256}"', "Repr-Digest": f"sha-256=:{digest}:"}


async def download(call: Call[schemas.ContentQuery, None]) -> web.StreamResponse:
    upload, _ = await _find(call)
    problem = readiness_error(upload)
    if problem is not None and (upload.state.gone or not call.query.force):
        raise problem
    request = call.request
    validators = _validators(upload)
    size = upload.offset
    if ranges.not_modified(request, validators.get("ETag")):
        return web.Response(status=304, headers=validators)
    wanted = ranges.requested(request, size, validators.get("ETag"), upload.completed_at)
    start, end = wanted or (0, size)
    headers = {
        **validators,
        "Accept-Ranges": "bytes",
        "Content-Type": "application/octet-stream",
        "Content-Disposition": ranges.attachment(upload.filename or f"{upload.id}.bin"),
        "Content-Length": str(end - start),
        "Cache-Control": "private, no-store",
    }
    if upload.completed_at is not None:
        headers["Last-Modified"] = ranges.http_date(upload.completed_at)
    status = 200
    if wanted is not None:
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
    response = web.StreamResponse(status=status, headers=headers)
    if request.method == "HEAD":
        await response.prepare(request)
        return response
    opened = await call.engine.reading.open(
        upload.id, start, end, force=call.query.force, actor=call.caller.actor, client_ip=call.ip
    )
    try:
        await response.prepare(request)
        async for chunk in opened.chunks():
            await response.write(chunk)
        await response.write_eof()
    finally:
        await opened.close()
    return response


_ERRORS = (401, 403, 404, 429)
_CONTENT = {
    "200": "The whole upload.",
    "206": "The byte range asked for (one range; several are answered with the whole).",
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
