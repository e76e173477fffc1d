"""The command line's way to the database: staff commands never create a database by
accident (a relative SQLite path read from another directory would make a new, empty
one, and a token issued there would not work), and a database that cannot be used is one
line naming TUSLOG_DATABASE_URL instead of a driver's traceback."""

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from asyncpg import PostgresError  # type: ignore[import-untyped]
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from tuslog import errors
from tuslog.db.engine import create_engine, session_factory
from tuslog.db.migrate import upgrade
from tuslog.settings import Settings


def _shown_url(database_url: str) -> str:
    return make_url(database_url).render_as_string(hide_password=True)


def _require_existing_sqlite(database_url: str) -> None:
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return
    path = Path(url.database)
    if not path.exists():
        raise errors.DATABASE_UNAVAILABLE(
            f"No database at {path.resolve()} (TUSLOG_DATABASE_URL). Run this where the "
            "server runs (a relative path counts from the current directory), or create "
            "it with `tuslog migrate`."
        )


def _unusable(settings: Settings, exc: BaseException) -> errors.TuslogError:
    reason = " ".join(str(exc.args[0] if exc.args else exc).split())[:300] or type(exc).__name__
    if isinstance(exc, OSError) and exc.strerror:
        reason = exc.strerror + (f": {exc.filename}" if exc.filename else "")
    return errors.DATABASE_UNAVAILABLE(
        f"Cannot use the database {_shown_url(settings.database_url)} "
        f"(TUSLOG_DATABASE_URL): {reason}"
    )


async def migrate(settings: Settings) -> None:
    """Create or upgrade the schema (``migrate`` and ``serve`` only)."""
    try:
        engine = create_engine(settings.database_url)
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()
    except (OSError, SQLAlchemyError, PostgresError) as exc:
        raise _unusable(settings, exc) from exc


async def with_session(
    settings: Settings, work: Callable[[AsyncSession], Awaitable[Any]], *, write: bool = False
) -> Any:
    """Run ``work`` in a session (a committed transaction with ``write``) on an existing
    database, brought up to date first."""
    _require_existing_sqlite(settings.database_url)
    await migrate(settings)
    engine = create_engine(settings.database_url)
    try:
        sessions = session_factory(engine)
        if write:
            async with sessions.begin() as session:
                return await work(session)
        async with sessions() as session:
            return await work(session)
    except (OSError, SQLAlchemyError, PostgresError) as exc:
        raise _unusable(settings, exc) from exc
    finally:
        await engine.dispose()
