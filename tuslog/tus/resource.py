"""tus verbs on one upload: HEAD, PATCH, DELETE. They parse HTTP, authorise, and call the
upload engine's reception."""

from urllib.parse import urlsplit

from aiohttp import web

from tuslog import errors
from tuslog.http.body import RequestBody
from tuslog.http.client import base_url, client_ip
from tuslog.keys import ENGINE
from tuslog.tus.auth import load_owned
from tuslog.tus.headers import (
    OFFSET_CONTENT_TYPE,
    parse_checksum,
    parse_sha256_header,
    parse_uint,
)
from tuslog.tus.render import upload_headers
from tuslog.uploads.reception import Length


async def head(request: web.Request) -> web.Response:
    token, upload, ticket = await load_owned(request)
    reception = request.config_dict[ENGINE].reception
    upload = await reception.status(upload, token, client_ip(request))
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
    declared = parse_sha256_header(request.headers.get("Tuslog-Sha256"))
    if declared is not None and new_length is None:
        raise errors.BAD_REQUEST("Tuslog-Sha256 goes with the PATCH that sends Upload-Length.")
    token, upload, ticket = await load_owned(request)
    reception = request.config_dict[ENGINE].reception
    length = None if new_length is None else Length(new_length, declared)
    with RequestBody.of(request).reading() as body:
        upload = await reception.receive(
            upload, token, offset, body, checksum, length, client_ip(request)
        )
    return web.Response(status=204, headers=upload_headers(upload, ticket))


async def terminate(request: web.Request) -> web.Response:
    token, upload, _ = await load_owned(request)
    await request.config_dict[ENGINE].reception.terminate(upload, token, client_ip(request))
    return web.Response(status=204)
