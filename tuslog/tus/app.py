"""The tus sub-app at /files/: routing (with X-HTTP-Method-Override), the checks every
request passes (version, repeated headers, bodies stored exactly as sent), and rendering
of errors as text/plain with Tus-Resumable and CORS."""

import errno
import logging

from aiohttp import HttpVersion11, web

from tuslog import errors
from tuslog.db.availability import database_unavailable
from tuslog.http.aio import send_continue
from tuslog.http.client import Handler
from tuslog.keys import ENGINE, SETTINGS
from tuslog.storage.store import is_disk_full
from tuslog.tus import creation, resource
from tuslog.tus.auth import authorize
from tuslog.tus.cors import add_cors, preflight_headers
from tuslog.tus.headers import TUS_VERSION
from tuslog.tus.render import error_response
from tuslog.uploads.checksums import ALGORITHMS as CHECKSUM_ALGORITHMS

log = logging.getLogger(__name__)
INTERNAL_ERROR = "Internal server error; retry shortly.\n"
EXTENSIONS = (
    "creation,creation-with-upload,creation-defer-length,expiration,checksum,"
    "termination,concatenation"
)


def effective_method(request: web.Request) -> str:
    override = request.headers.get("X-HTTP-Method-Override")
    return override.strip().upper() if override else request.method


SINGLE_HEADERS = (
    "Authorization",
    "Content-Type",
    "Tus-Resumable",
    "Upload-Checksum",
    "Upload-Concat",
    "Upload-Defer-Length",
    "Upload-Length",
    "Upload-Metadata",
    "Upload-Offset",
    "X-HTTP-Method-Override",
    "Tuslog-Sha256",
)


def _reject_repeated_headers(request: web.Request) -> None:
    """Two Upload-Offset (or token, length, …) lines are ambiguous: refuse to pick one."""
    for name in SINGLE_HEADERS:
        if len(request.headers.getall(name, ())) > 1:
            raise errors.BAD_REQUEST(f"Send the {name} header only once.")


def _reject_encoded_bodies(request: web.Request, method: str) -> None:
    """Bodies are stored exactly as sent (DESIGN §2.4): a compressed body would be stored
    as something else than what the client hashed, and a small one can inflate to
    gigabytes (a decompression bomb). Refused before a byte is read."""
    if method not in ("POST", "PATCH"):
        return
    for coding in request.headers.getall("Content-Encoding", ()):
        if coding.strip().lower() not in ("", "identity"):
            raise errors.CONTENT_ENCODING_REFUSED(headers={"Connection": "close"})
    for coding in request.headers.getall("Transfer-Encoding", ()):
        if coding.strip().lower() != "chunked":
            raise errors.TRANSFER_ENCODING_UNSUPPORTED(headers={"Connection": "close"})


def check_request(request: web.Request) -> None:
    """What every tus request must get right before its handler runs."""
    method = effective_method(request)
    if method != "OPTIONS" and request.headers.get("Tus-Resumable") != TUS_VERSION:
        raise errors.UNSUPPORTED_VERSION()
    _reject_repeated_headers(request)
    _reject_encoded_bodies(request, method)


@web.middleware
async def tus_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        check_request(request)
        response = await handler(request)
    except errors.TuslogError as exc:
        response = error_response(exc)
    except web.HTTPException as exc:
        response = web.Response(status=exc.status, text=(exc.reason or "error") + "\n")
    except Exception as exc:
        # Still a tus response (Tus-Resumable, CORS) so that clients retry instead of
        # treating it as a foreign server's error.
        response = await _server_condition(request, exc)
    response.headers["Tus-Resumable"] = TUS_VERSION
    add_cors(request, response)
    return response


async def _server_condition(request: web.Request, exc: Exception) -> web.Response:
    """Conditions that are the operator's to fix and the client's to retry get 503 with
    Retry-After (507 for a creation that does not fit), never a 500: the database out of
    reach, the worker out of file descriptors, a disk that is full, read-only, unmounted
    or gone. Whether the storage as a whole fails is asked of the storage itself (a probe
    file), so one bad file or a bug stays a logged 500."""
    where = f"tus {request.method} {request.path}"
    if database_unavailable(exc):
        log.warning("%s: database unavailable: %s", where, _one_line(exc))
        return error_response(errors.DATABASE_UNAVAILABLE())
    if not isinstance(exc, OSError):
        log.exception("%s failed", where)
        return web.Response(status=500, text=INTERNAL_ERROR)
    if exc.errno in (errno.EMFILE, errno.ENFILE):
        log.warning("%s: out of file descriptors (%s)", where, exc.strerror)
        return error_response(errors.SERVER_BUSY())
    if is_disk_full(exc):
        log.error("%s: storage full: %s", where, exc)
        creating = effective_method(request) == "POST"
        return error_response(errors.NO_SPACE() if creating else errors.DISK_FULL())
    parts = request.config_dict[ENGINE].parts
    try:
        await parts.io(parts.store.probe)
    except OSError as probe:
        if probe.errno in (errno.EMFILE, errno.ENFILE):
            return error_response(errors.SERVER_BUSY())
        log.error("%s: storage unusable: %s (probe: %s)", where, exc, probe)
        return error_response(errors.STORAGE_UNAVAILABLE())
    log.exception("%s failed", where)
    return web.Response(status=500, text=INTERNAL_ERROR)


def _one_line(exc: BaseException) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())[:300]


async def options(request: web.Request) -> web.Response:
    settings = request.config_dict[SETTINGS]
    headers = {
        "Tus-Version": TUS_VERSION,
        "Tus-Extension": EXTENSIONS,
        "Tus-Max-Size": str(settings.max_upload_size),
        "Tus-Checksum-Algorithm": ",".join(CHECKSUM_ALGORITHMS),
    }
    headers.update(preflight_headers(request))
    return web.Response(status=204, headers=headers)


_COLLECTION: dict[str, Handler] = {"OPTIONS": options, "POST": creation.create}
_RESOURCE: dict[str, Handler] = {
    "OPTIONS": options,
    "HEAD": resource.head,
    "PATCH": resource.patch,
    "DELETE": resource.terminate,
}


def _dispatch(table: dict[str, Handler]) -> Handler:
    async def dispatch(request: web.Request) -> web.StreamResponse:
        handler = table.get(effective_method(request))
        if handler is None:
            raise errors.METHOD_NOT_ALLOWED(
                headers={"Allow": ", ".join(table)},
            )
        return await handler(request)

    return dispatch


async def collection_without_slash(request: web.Request) -> web.StreamResponse:
    """``/files`` as well as ``/files/``: clients are often configured without the slash,
    and a redirect would lose a POST's body and headers."""
    return await tus_middleware(request, _dispatch(_COLLECTION))


async def expect_continue(request: web.Request) -> web.StreamResponse | None:
    """Send ``100 Continue`` only once version and token are known good, so a refused
    client learns it before it sends gigabytes (curl asks this for every large PATCH)."""
    if request.version != HttpVersion11:
        return None
    try:
        if request.headers.get("Expect", "").lower() != "100-continue":
            raise errors.EXPECTATION_FAILED()
        if effective_method(request) != "OPTIONS":  # OPTIONS needs neither (never a 412)
            check_request(request)
            await authorize(request)
    except errors.TuslogError as exc:
        response = error_response(exc)
        response.headers["Tus-Resumable"] = TUS_VERSION
        add_cors(request, response)
        response.force_close()
        return response
    await send_continue(request)
    return None


def create_tus_app() -> web.Application:
    app = web.Application(middlewares=[tus_middleware])
    app.router.add_route("*", "/", _dispatch(_COLLECTION), expect_handler=expect_continue)
    app.router.add_route("*", "/{upload_id}", _dispatch(_RESOURCE), expect_handler=expect_continue)
    return app
