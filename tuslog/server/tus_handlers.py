"""tus verbs. Handlers parse HTTP, own the transactions and the lock, and call services."""

import asyncio
import logging
import secrets
from email.utils import format_datetime
from urllib.parse import urlsplit

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from tuslog import errors
from tuslog.db.models import Upload, UploadState, UploadToken, utcnow
from tuslog.keys import DIGESTS, LIMITER, LOCKS, QUICK, SESSIONS, SETTINGS, STORE
from tuslog.server import tus_receive
from tuslog.server.net import base_url, client_ip
from tuslog.server.tus_headers import (
    OFFSET_CONTENT_TYPE,
    Checksum,
    Concat,
    declared_sha256,
    display_filename,
    parse_checksum,
    parse_concat,
    parse_metadata,
    parse_uint,
)
from tuslog.services import tokens, uploads
from tuslog.storage.filestore import is_upload_id

log = logging.getLogger(__name__)


def upload_headers(upload: Upload, ticket: str, *, full: bool = False) -> dict[str, str]:
    headers = {
        "Upload-Offset": str(upload.offset),
        "Tuslog-Upload-State": upload.shown_state,
        "Tuslog-Ticket": ticket,
    }
    if upload.length is not None:
        headers["Upload-Length"] = str(upload.length)
    else:
        headers["Upload-Defer-Length"] = "1"
    expires = upload.state is UploadState.RECEIVING or upload.is_partial
    if expires and upload.expires_at is not None:
        headers["Upload-Expires"] = format_datetime(upload.expires_at, usegmt=True)
    if upload.sha256:
        headers["Tuslog-Sha256"] = upload.sha256
    if full:
        headers["Cache-Control"] = "no-store"
        if upload.metadata_raw:
            headers["Upload-Metadata"] = upload.metadata_raw
        if upload.concat:
            headers["Upload-Concat"] = upload.concat
    return headers


def _bearer(request: web.Request) -> str | None:
    value = request.headers.get("Authorization", "")
    scheme, _, credentials = value.partition(" ")
    return credentials.strip() if scheme.lower() == "bearer" and credentials.strip() else None


async def _authenticate(request: web.Request, session: AsyncSession) -> UploadToken:
    ip = client_ip(request)
    limiter = request.config_dict[LIMITER]
    retry_after = limiter.retry_after(ip)
    if retry_after is not None:
        raise errors.RATE_LIMITED(retry_after=retry_after)
    try:
        return await tokens.authenticate(session, _bearer(request))
    except errors.TuslogError:
        limiter.fail(ip)
        raise


async def authorize(request: web.Request) -> UploadToken:
    """The request's upload token, if valid (rate-limited per client IP on failure)."""
    async with request.config_dict[SESSIONS]() as session:
        return await _authenticate(request, session)


def _upload_id(request: web.Request) -> str:
    upload_id = request.match_info["upload_id"]
    if not is_upload_id(upload_id):
        raise errors.UPLOAD_NOT_FOUND()
    return upload_id


async def load_owned(request: web.Request, upload_id: str) -> tuple[UploadToken, Upload, str]:
    """The token, and the upload if it exists, belongs to that token and has not expired
    or been ended. One query in the usual case (this runs on every HEAD and PATCH): the
    upload comes with its token's row, and the presented token is checked against it."""
    found = await request.config_dict[QUICK].run(
        lambda conn: uploads.load_with_token(conn, upload_id)
    )
    if found is None or not tokens.presented(found[1], _bearer(request)):
        # A bad token (401), another token's upload (403) or no such upload (404).
        await authorize(request)
        raise errors.UPLOAD_NOT_FOUND() if found is None else errors.TOKEN_NOT_OWNER()
    retry_after = request.config_dict[LIMITER].retry_after(client_ip(request))
    if retry_after is not None:
        raise errors.RATE_LIMITED(retry_after=retry_after)
    upload, token, ticket = found
    expired = upload.expires_at is not None and upload.expires_at < utcnow()
    if upload.state.gone or (upload.state is UploadState.RECEIVING and expired):
        raise errors.UPLOAD_GONE()
    return token, upload, ticket


async def head(request: web.Request) -> web.Response:
    upload_id = _upload_id(request)
    token, upload, ticket = await load_owned(request, upload_id)
    if not upload.state.finished:  # a finished upload never changes: no lock to take
        async with request.config_dict[LOCKS].hold(upload_id):
            upload = await tus_receive.reconcile(request, upload, token)
    headers = upload_headers(upload, ticket, full=True)
    prefix = urlsplit(base_url(request)).path.rstrip("/")  # PUBLIC_URL with a path
    if prefix and upload.concat and upload.concat.startswith("final;"):
        headers["Upload-Concat"] = upload.concat.replace("/files/", f"{prefix}/files/")
    return web.Response(status=200, headers=headers)


async def patch(request: web.Request) -> web.Response:
    if request.content_type != OFFSET_CONTENT_TYPE:
        raise errors.BAD_CONTENT_TYPE()
    offset = parse_uint("Upload-Offset", request.headers.get("Upload-Offset"))
    if offset is None:
        raise errors.BAD_REQUEST("PATCH needs an Upload-Offset header.")
    checksum = parse_checksum(request.headers.get("Upload-Checksum"))
    new_length = parse_uint("Upload-Length", request.headers.get("Upload-Length"))
    upload_id = _upload_id(request)
    token, upload, ticket = await load_owned(request, upload_id)
    if upload.is_final:
        raise errors.FINAL_NOT_PATCHABLE()
    if upload.state.finished:  # never written again: answered from the row, no lock taken
        _check_offset(upload, offset)
        if new_length is not None and new_length != upload.length:
            raise errors.BAD_REQUEST(
                f"Upload-Length is already set ({upload.length}) and cannot change.",
                headers={"Upload-Offset": str(upload.offset)},
            )
        if not await _empty_body(request):
            raise errors.TOO_LARGE(
                "This upload is complete and takes no more bytes.",
                headers={"Upload-Offset": str(upload.offset)},
            )
        return web.Response(status=204, headers=upload_headers(upload, ticket))
    async with request.config_dict[LOCKS].hold(upload_id) as held:
        upload = await tus_receive.reconcile(request, upload, token)
        _check_offset(upload, offset)
        if new_length is not None:
            upload = await tus_receive.declare_length(request, upload, token, new_length)
        upload = await tus_receive.receive(request, upload, token, held, checksum)
    return web.Response(status=204, headers=upload_headers(upload, ticket))


async def _empty_body(request: web.Request) -> bool:
    """Whether the body is empty; a chunked one (no Content-Length) is looked into, at
    most one byte of it, and no longer than READ_TIMEOUT."""
    if request.content_length is not None:
        return request.content_length == 0
    idle = request.config_dict[SETTINGS].read_timeout.total_seconds()
    try:
        return not await asyncio.wait_for(request.content.read(1), idle)
    except TimeoutError:
        # aiohttp would otherwise linger, reading the body, before it hangs up.
        request.content.set_exception(TimeoutError("idle"))
        raise errors.READ_TIMEOUT(headers={"Connection": "close"}) from None
    except Exception:  # OSError, aiohttp payload errors: a cut or malformed body
        raise errors.BAD_REQUEST("The request body ended early.") from None


def _check_offset(upload: Upload, offset: int) -> None:
    if upload.offset != offset:
        raise errors.OFFSET_MISMATCH(
            f"Upload-Offset is {offset} but the server has {upload.offset}; resume from there.",
            headers={"Upload-Offset": str(upload.offset)},
        )


async def terminate(request: web.Request) -> web.Response:
    upload_id = _upload_id(request)
    token, upload, _ = await load_owned(request, upload_id)
    if upload.state.finished:
        raise errors.UPLOAD_FINISHED(
            "Finished uploads can only be deleted by support staff.",
        )
    locks = request.config_dict[LOCKS]
    async with locks.hold(upload_id):
        upload = await tus_receive.reconcile(request, upload, token)
        if upload.state.finished:  # it may have finished while we waited for the lock
            raise errors.UPLOAD_FINISHED("Finished uploads can only be deleted by support staff.")
        async with request.config_dict[SESSIONS].begin() as session:
            await uploads.mark_gone(
                session,
                upload_id,
                UploadState.TERMINATED,
                f"token:{token.prefix}",
                client_ip(request),
            )
        await asyncio.to_thread(request.config_dict[STORE].delete_ended, upload_id)
        request.config_dict[DIGESTS].drop(upload_id)
        locks.discard(upload_id)
    return web.Response(status=204)


def _has_body(request: web.Request) -> bool:
    if request.content_type != OFFSET_CONTENT_TYPE:
        return False
    return request.content_length is None or request.content_length > 0


def _creation_length(request: web.Request, concat: Concat | None) -> int | None:
    length = parse_uint("Upload-Length", request.headers.get("Upload-Length"))
    defer = request.headers.get("Upload-Defer-Length")
    if concat is not None and not concat.partial:
        if length is not None or defer is not None:
            raise errors.BAD_REQUEST("A final concatenation takes no Upload-Length.")
        return None
    if defer is not None and defer.strip() != "1":
        raise errors.BAD_REQUEST("Upload-Defer-Length must be 1.")
    if (length is None) == (defer is None):
        raise errors.BAD_REQUEST("Send either Upload-Length or Upload-Defer-Length: 1.")
    max_size = request.config_dict[SETTINGS].max_upload_size
    if length is not None and length > max_size:
        raise errors.TOO_LARGE(f"The upload is larger than the server accepts ({max_size} bytes).")
    return length


async def _receive_during_creation(
    request: web.Request, upload: Upload, token: UploadToken, checksum: Checksum | None
) -> Upload:
    """creation-with-upload: whatever happens to the body, the upload exists and the client
    must learn its URL (or it would create another one and use another attempt), so the
    answer stays 201 with the offset that was kept."""
    try:
        async with request.config_dict[LOCKS].hold(upload.id) as held:
            return await tus_receive.receive(request, upload, token, held, checksum)
    except errors.TuslogError:
        return upload
    except OSError:  # the storage failed under the body: the upload still exists
        log.exception("creation-with-upload of %s: the body was not stored", upload.id)
        return upload


async def create(request: web.Request) -> web.Response:
    concat = parse_concat(request.headers.get("Upload-Concat"))
    length = _creation_length(request, concat)
    raw_metadata = request.headers.get("Upload-Metadata", "").strip()
    metadata = parse_metadata(raw_metadata)
    checksum = parse_checksum(request.headers.get("Upload-Checksum"))
    body = _has_body(request)
    if body and length is not None and (request.content_length or 0) > length:
        raise errors.TOO_LARGE("The request body is longer than Upload-Length.")
    new = uploads.NewUpload(
        upload_id=secrets.token_hex(16),
        length=length,
        metadata_raw=raw_metadata,
        filename=display_filename(metadata),
        declared_sha256=declared_sha256(metadata),
        concat=None,
        client_ip=client_ip(request),
    )
    token = await authorize(request)
    try:
        upload, ticket = await tus_receive.create_upload(request, token, new, concat)
    except errors.TuslogError as exc:
        if exc.code == errors.TOKEN_INVALID.code:  # exhausted, expired or revoked meanwhile
            request.config_dict[LIMITER].fail(client_ip(request))
        raise
    if body and upload.state is UploadState.RECEIVING and upload.id == new.upload_id:
        upload = await _receive_during_creation(request, upload, token, checksum)
    headers = upload_headers(upload, ticket)
    headers["Location"] = f"{base_url(request)}/files/{upload.id}"
    return web.Response(status=201, headers=headers)
