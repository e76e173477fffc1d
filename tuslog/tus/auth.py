"""Who may touch an upload: the request's upload token, checked timing-safe, with failed
attempts rate-limited per client IP. The request is read once, here; what goes down to
the engine and the services are plain values."""

from dataclasses import dataclass

from aiohttp import web

from tuslog import errors, metrics
from tuslog.db.database import Database
from tuslog.db.models import Upload, UploadToken
from tuslog.http.client import client_ip
from tuslog.http.ratelimit import FailureLimiter
from tuslog.keys import DATABASE, ENGINE, LIMITER
from tuslog.services import tokens


@dataclass(frozen=True)
class Caller:
    token: str | None  # the presented upload token, if any
    ip: str


def caller(request: web.Request) -> Caller:
    value = request.headers.get("Authorization", "")
    scheme, _, credentials = value.partition(" ")
    token = credentials.strip() if scheme.lower() == "bearer" and credentials.strip() else None
    return Caller(token, client_ip(request))


async def check_token(database: Database, limiter: FailureLimiter, who: Caller) -> UploadToken:
    """The caller's upload token, if valid. Failures are rate-limited per client IP, and
    counted before the look-up (``FailureLimiter``): an address over its limit is refused
    without one, unless its token succeeded here recently; one at its limit only by
    look-ups still running waits for them."""
    known_good = limiter.known_good(who.token)
    reservation = await limiter.reserve(who.ip, wait=not known_good)
    if reservation is None and not known_good:
        metrics.get().auth_limited.inc()
        raise errors.RATE_LIMITED(retry_after=limiter.retry_after(who.ip) or 1)
    try:
        record = await database.inline(lambda s: tokens.authenticate(s, who.token), writes=False)
    except BaseException:  # invalid, or unknown (cancelled, database down): stays counted
        if reservation is not None:
            limiter.keep(reservation)
        raise
    if reservation is not None:
        limiter.release(reservation)
    return record


async def authorize(request: web.Request) -> UploadToken:
    config = request.config_dict
    return await check_token(config[DATABASE], config[LIMITER], caller(request))


async def load_owned(request: web.Request) -> tuple[UploadToken, Upload, str]:
    """The token, and the upload if it exists, belongs to that token and has not expired
    or ended. One query in the usual case (this runs on every HEAD and PATCH): the upload
    comes with its token's row, and the presented token is checked against it."""
    config = request.config_dict
    who, upload_id = caller(request), request.match_info["upload_id"]
    limiter, reception = config[LIMITER], config[ENGINE].reception
    found = await reception.find(upload_id)
    if found is None or not tokens.presented(found[1], who.token):
        # A bad token (401), another token's upload (403) or no such upload (404).
        await check_token(config[DATABASE], limiter, who)
        raise errors.UPLOAD_NOT_FOUND() if found is None else errors.TOKEN_NOT_OWNER()
    upload, token, ticket = found  # the right token for this upload: never rate-limited
    reception.check_alive(upload)
    return token, upload, ticket
