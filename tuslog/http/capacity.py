"""How many requests a worker takes at once, and the file descriptors that allows.

Each open upload holds its connection's socket, its data file and its lock file; every
other request holds at least its socket. Out of descriptors, ``accept`` fails, and so
does every open of a data file, a lock file or a database connection: each would be
mistaken for a broken disk. So a worker raises its soft descriptor limit to the hard one
at start (and says how many it has), and above ``TUSLOG_MAX_CONNECTIONS`` requests in
progress answers new ones at once with ``503`` + ``Retry-After`` instead of failing them
half-way.
"""

import logging
import resource

from aiohttp import web

from tuslog import errors
from tuslog.http.client import Handler

log = logging.getLogger(__name__)
FDS_PER_REQUEST = 3  # socket, data file, lock file
FDS_SPARE = 64  # database connections, logs, the listening socket, the engine's files
_EXEMPT = ("/healthz", "/readyz", "/metrics")


def raise_fd_limit() -> int:
    """Raise the soft limit of open files to the hard one; the limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = max(soft, 1 << 20)
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError) as exc:
            log.warning("could not raise the open-files limit from %d to %d: %s", soft, hard, exc)
    return soft


def request_limit(configured: int, fd_limit: int) -> int:
    """``TUSLOG_MAX_CONNECTIONS``, or (0) what the descriptor limit allows."""
    fits = max(1, (fd_limit - FDS_SPARE) // FDS_PER_REQUEST)
    return fits if configured == 0 else min(configured, fits)


class RequestGate:
    """Counts requests in progress; refuses new ones above ``limit``."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_progress = 0
        self._refused = 0

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in _EXEMPT:
            return await handler(request)
        if self.in_progress >= self.limit:
            return self._busy(request)
        self.in_progress += 1
        try:
            return await handler(request)
        finally:
            self.in_progress -= 1

    def _busy(self, request: web.Request) -> web.Response:
        self._refused += 1
        if self._refused == 1 or self._refused % 1000 == 0:
            log.warning(
                "%d request(s) in progress, the most this worker takes "
                "(TUSLOG_MAX_CONNECTIONS); refused %d so far with 503",
                self.limit,
                self._refused,
            )
        error = errors.SERVER_BUSY()
        response = web.Response(status=error.status, text=error.message + "\n")
        response.headers["Retry-After"] = str(error.retry_after)
        if request.path.startswith("/files"):
            response.headers["Tus-Resumable"] = "1.0.0"
        response.force_close()
        return response
