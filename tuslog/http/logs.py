"""Log hygiene for what any client can trigger: aiohttp logs a request it cannot parse
(bad Content-Length, broken headers) as an ERROR with a traceback, so anyone could fill
the log with them. Such requests become one INFO line; the client already got its 400."""

import logging

from aiohttp.http_exceptions import HttpProcessingError

_AIOHTTP_SERVER = logging.getLogger("aiohttp.server")


class MalformedRequestFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if not isinstance(error, HttpProcessingError):
            return True
        peer = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
        record.levelno, record.levelname = logging.INFO, "INFO"
        # repr: the message may quote the client's bytes (CR/LF, escapes): one safe line.
        record.msg, record.args = "malformed request from %s: %s", (peer, repr(error.message)[:200])
        record.exc_info, record.exc_text = None, None
        return _AIOHTTP_SERVER.isEnabledFor(logging.INFO)


def quiet_malformed_requests() -> None:
    """Install the filter once per process (every app, every worker)."""
    if not any(isinstance(f, MalformedRequestFilter) for f in _AIOHTTP_SERVER.filters):
        _AIOHTTP_SERVER.addFilter(MalformedRequestFilter())
