"""The access log (one line per request: request id, real client IP, status, bytes,
duration) and log hygiene for what any client can trigger.

aiohttp logs a request it cannot parse (bad Content-Length, broken headers, a body that
claims ``Content-Encoding: gzip`` and is not) as an ERROR with tracebacks, so anyone
could fill the log with them. Such requests become one INFO line; the client already got
its 400. aiohttp's own access log is off: it shows the proxy's address, not the client's.
"""

import asyncio
import logging
import re
import secrets
import time

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError

from tuslog import metrics
from tuslog.http.client import FROM_TRUSTED_PROXY, Handler, client_ip
from tuslog.http.metrics import count_request

_AIOHTTP_SERVER = logging.getLogger("aiohttp.server")
access_log = logging.getLogger("tuslog.access")

REQUEST_ID = web.RequestKey("request_id", str)
_REQUEST_ID_FORMAT = re.compile(r"[A-Za-z0-9._:\-]{8,64}")
_QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})  # polled: DEBUG unless failing
CLIENT_CLOSED = 499  # nginx's number for "the client closed the connection first"


def _client_mistake(error: BaseException | None) -> str | None:
    """What the client got wrong, if a logged exception is a parse error (or caused by
    one): the parser's own words."""
    found: str | None = None
    while error is not None:
        if isinstance(error, HttpProcessingError):
            return " ".join(error.message.split())
        if isinstance(error, RequestPayloadError):
            found = found or " ".join(str(error).split())
        error = error.__cause__ or error.__context__
    return found


class MalformedRequestFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        detail = _client_mistake(record.exc_info[1] if record.exc_info else None)
        if detail is None:
            return True
        peer = record.args[0] if isinstance(record.args, tuple) and record.args else None
        record.levelno, record.levelname = logging.INFO, "INFO"
        # repr: the message may quote the client's bytes (CR/LF, escapes): one safe line.
        shown = repr(detail)[:200]
        if peer:
            record.msg, record.args = "malformed request from %s: %s", (peer, shown)
        else:
            record.msg, record.args = "malformed request: %s", (shown,)
        record.exc_info, record.exc_text = None, None
        return _AIOHTTP_SERVER.isEnabledFor(logging.INFO)


def quiet_malformed_requests() -> None:
    """Install the filter once per process (every app, every worker)."""
    if not any(isinstance(f, MalformedRequestFilter) for f in _AIOHTTP_SERVER.filters):
        _AIOHTTP_SERVER.addFilter(MalformedRequestFilter())


def _request_id(request: web.Request) -> str:
    """The proxy's id for the request (so that both logs can be matched), else a new one."""
    given = request.headers.get("X-Request-Id", "")
    if request.get(FROM_TRUSTED_PROXY) and _REQUEST_ID_FORMAT.fullmatch(given):
        return given
    return secrets.token_hex(8)


async def add_request_id(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: every answer names its request (streamed ones too)."""
    if REQUEST_ID in request:
        response.headers["X-Request-Id"] = request[REQUEST_ID]


@web.middleware
async def access_log_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.monotonic()
    request[REQUEST_ID] = _request_id(request)
    response: web.StreamResponse | None = None
    status = 500
    receiving = _receives_upload_bytes(request)
    if receiving:
        metrics.get().receiving.inc()
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    except asyncio.CancelledError:  # the client left and the handler was cancelled
        status = CLIENT_CLOSED
        raise
    finally:
        if receiving:
            metrics.get().receiving.dec()
        _log(request, response, status, time.monotonic() - started)


def _receives_upload_bytes(request: web.Request) -> bool:
    return (
        request.method in ("PATCH", "POST")
        and request.body_exists
        and request.path.startswith("/files")
    )


def client_left(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


def _kept(request: web.Request, response: web.StreamResponse | None) -> int | None:
    """Bytes an upload gained in this request (its Upload-Offset before and after)."""
    if response is None:
        return None
    before, after = request.headers.get("Upload-Offset"), response.headers.get("Upload-Offset")
    if after is None or not after.isdigit():
        return None
    start = int(before) if before and before.isdigit() else 0
    return max(int(after) - start, 0)


def _log(
    request: web.Request, response: web.StreamResponse | None, status: int, took: float
) -> None:
    path = request.rel_url.raw_path[:300]
    left = client_left(request)
    shown_status = CLIENT_CLOSED if left and status >= 400 else status
    kept = _kept(request, response) if request.method in ("PATCH", "POST") else None
    received = request.content.total_bytes
    sent = (response.content_length or 0) if response is not None and not left else 0
    count_request(request, shown_status)
    level = logging.INFO
    if path in _QUIET_PATHS and status < 400:
        level = logging.DEBUG
    outcome = "client closed" if shown_status == CLIENT_CLOSED else ""
    if outcome and kept is not None:
        outcome += f", {kept} bytes kept"
    access_log.log(
        level,
        '%s "%s %s" %s in=%d out=%d %.3fs id=%s%s',
        client_ip(request),
        request.method,
        path,
        shown_status,
        received,
        sent,
        took,
        request[REQUEST_ID],
        f" ({outcome})" if outcome else "",
        extra={
            "request_id": request[REQUEST_ID],
            "client_ip": client_ip(request),
            "method": request.method,
            "path": path,
            "status": shown_status,
            "bytes_in": received,
            "bytes_out": sent,
            "duration": round(took, 6),
            "bytes_kept": kept,
        },
    )
