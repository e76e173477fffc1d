"""Whether an exception means "the database cannot be reached right now" (stopped,
restarting, the network between, out of connections), which clients are told to retry
(503 + Retry-After), as opposed to a bug or a bad query (500)."""

import errno
import logging
import sqlite3

from sqlalchemy import exc as sa

try:  # asyncpg is a dependency, but this module must not fail without it
    import asyncpg  # type: ignore[import-untyped]

    _ASYNCPG: tuple[type[BaseException], ...] = (
        asyncpg.PostgresConnectionError,
        asyncpg.CannotConnectNowError,
        asyncpg.TooManyConnectionsError,
        asyncpg.InterfaceError,
    )
except ImportError:  # pragma: no cover
    _ASYNCPG = ()

_UNREACHABLE: tuple[type[BaseException], ...] = (ConnectionError, TimeoutError, *_ASYNCPG)
_SQLITE_BUSY = ("database is locked", "unable to open database file", "disk i/o error")


def database_unavailable(exc: BaseException) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if _unavailable_here(current):
            return True
        current = current.__cause__ or current.__context__
    return False


def _unavailable_here(exc: BaseException) -> bool:
    if isinstance(exc, sa.DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, sa.TimeoutError | sa.DisconnectionError):  # pool timeout, lost link
        return True
    if isinstance(exc, _UNREACHABLE):
        return True
    if isinstance(exc, OSError) and exc.errno in (errno.ECONNREFUSED, errno.ECONNRESET):
        return True
    if isinstance(exc, sqlite3.OperationalError):
        return any(text in str(exc).lower() for text in _SQLITE_BUSY)
    return False


def log_failure(logger: logging.Logger, message: str, exc: BaseException, *args: object) -> None:
    """Log a failed request or background pass: one warning line without a traceback when
    the database is out of reach (the caller retries; the log's repeat filter counts the
    rest), the traceback when it is anything else (a bug to look at)."""
    if database_unavailable(exc):
        logger.warning(message + ": database unavailable: %s", *args, _summary(exc))
    else:
        logger.error(message, *args, exc_info=exc)


def _summary(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__
