"""tus ``creation`` (POST), with ``creation-with-upload``, ``creation-defer-length`` and
the concatenation's partial and final uploads."""

from aiohttp import web

from tuslog import errors
from tuslog.db.models import UploadState
from tuslog.http.body import RequestBody
from tuslog.http.client import client_ip, link_base
from tuslog.keys import DATABASE, ENGINE, LIMITER, SETTINGS
from tuslog.storage.store import new_upload_id
from tuslog.tus.auth import caller, check_token
from tuslog.tus.headers import (
    OFFSET_CONTENT_TYPE,
    declared_sha256,
    display_filename,
    parse_checksum,
    parse_concat,
    parse_metadata,
    parse_uint,
    retry_key,
)
from tuslog.tus.render import upload_headers
from tuslog.uploads.creation import Concatenation
from tuslog.uploads.records import NewUpload


def _has_body(request: web.Request) -> bool:
    if request.content_type != OFFSET_CONTENT_TYPE:
        return False
    return request.content_length is None or request.content_length > 0


def _creation_length(request: web.Request, concat: Concatenation | None) -> int | None:
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


def _new_upload(request: web.Request, length: int | None) -> NewUpload:
    raw_metadata = request.headers.get("Upload-Metadata", "").strip()
    metadata = parse_metadata(raw_metadata)
    return NewUpload(
        upload_id=new_upload_id(),
        length=length,
        metadata_raw=raw_metadata,
        filename=display_filename(metadata),
        declared_sha256=declared_sha256(metadata),
        concat=None,
        client_ip=client_ip(request),
        retry_key=retry_key(metadata),
    )


async def create(request: web.Request) -> web.Response:
    concat = parse_concat(request.headers.get("Upload-Concat"))
    new = _new_upload(request, _creation_length(request, concat))
    checksum = parse_checksum(request.headers.get("Upload-Checksum"))
    body = _has_body(request)
    if body and new.length is not None and (request.content_length or 0) > new.length:
        raise errors.TOO_LARGE("The request body is longer than Upload-Length.")
    who = caller(request)
    limiter = request.config_dict[LIMITER]
    token = await check_token(request.config_dict[DATABASE], limiter, who)
    engine = request.config_dict[ENGINE]
    try:
        upload, ticket = await engine.creation.create(token, new, concat)
    except errors.TuslogError as exc:
        if exc.code == errors.TOKEN_INVALID.code:  # exhausted, expired or revoked meanwhile
            limiter.fail(who.ip, who.token)
        raise
    if who.token is not None:
        limiter.remember_good(who.token)
    if body and upload.state is UploadState.RECEIVING and upload.id == new.upload_id:
        with RequestBody.of(request).reading() as source:
            upload = await engine.reception.receive_at_creation(
                upload, token, source, checksum, client_ip(request)
            )
    headers = upload_headers(upload, ticket)
    headers["Location"] = f"{link_base(request)}/files/{upload.id}"
    return web.Response(status=201, headers=headers)
