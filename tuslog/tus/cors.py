"""CORS for browser uploads from configured origins (TUSLOG_CORS_ORIGINS): an
integrator's page may send any request header its client needs (the preflight's list is
allowed back, a header name at a time), and reads the headers a resumable client needs —
``Retry-After`` included, so that a page can honour it on 423, 429 and 503."""

import re

from aiohttp import web

from tuslog.keys import SETTINGS

METHODS = ("OPTIONS", "HEAD", "POST", "PATCH", "DELETE")
# Always allowed, also for a preflight that lists none (the tus headers and the usual).
ALLOW_HEADERS = (
    "Authorization, Content-Type, Tus-Resumable, Upload-Length, Upload-Metadata, "
    "Upload-Offset, Upload-Checksum, Upload-Concat, Upload-Defer-Length, "
    "X-HTTP-Method-Override, X-Requested-With, X-Request-ID, Tuslog-Sha256"
)
EXPOSE_HEADERS = (
    "Location, Upload-Offset, Upload-Length, Upload-Expires, Upload-Metadata, "
    "Upload-Defer-Length, Upload-Concat, Tus-Resumable, Tus-Version, Tus-Extension, "
    "Tus-Max-Size, Tus-Checksum-Algorithm, Tuslog-Upload-State, Tuslog-Ticket, "
    "Tuslog-Sha256, Retry-After"
)
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,64}$")  # an RFC 9110 field name
_MAX_REQUESTED = 32


def allowed_origin(request: web.Request) -> str | None:
    origin = request.headers.get("Origin")
    allowed = request.config_dict[SETTINGS].cors_origins
    if not origin or not ("*" in allowed or origin in allowed):
        return None
    return origin


def add_cors(request: web.Request, response: web.StreamResponse) -> None:
    if request.config_dict[SETTINGS].cors_origins:
        response.headers["Vary"] = "Origin"  # the answer depends on it, matched or not
    origin = allowed_origin(request)
    if origin is None:
        return
    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers["Access-Control-Expose-Headers"] = EXPOSE_HEADERS


def _requested_headers(request: web.Request) -> str:
    """The preflight's requested header names that are well-formed field names (at most
    ``_MAX_REQUESTED``): echoing anything else back would let a page smuggle text into
    the answer."""
    asked = request.headers.get("Access-Control-Request-Headers", "")
    names = [name.strip() for name in asked.split(",") if name.strip()]
    valid = [name for name in names[:_MAX_REQUESTED] if _TOKEN.match(name)]
    return ", ".join([ALLOW_HEADERS, *valid])


def preflight_headers(request: web.Request) -> dict[str, str]:
    """What an OPTIONS preflight from an allowed origin gets; nothing for others."""
    if not request.headers.get("Access-Control-Request-Method") or not allowed_origin(request):
        return {}
    return {
        "Access-Control-Allow-Methods": ", ".join(METHODS),
        "Access-Control-Allow-Headers": _requested_headers(request),
        "Access-Control-Max-Age": "86400",
    }
