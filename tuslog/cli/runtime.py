"""The command line's way to the database and the storage: staff commands never create a
database by accident (a relative SQLite path read from another directory would make a
new, empty one, and a token issued there would not work), never work on a folder that is
not the server's storage, and a database that cannot be used is one line naming
TUSLOG_DATABASE_URL instead of a driver's traceback."""

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from asyncpg import PostgresError  # type: ignore[import-untyped]
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from tuslog import errors
from tuslog.db.database import Database
from tuslog.db.engine import create_engine
from tuslog.db.migrate import upgrade
from tuslog.settings import Settings
from tuslog.storage.filestore import FileStore
from tuslog.storage.locks import UploadLocks
from tuslog.uploads.engine import UploadEngine

DATABASE_ERRORS = (OSError, SQLAlchemyError, PostgresError)


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
    except DATABASE_ERRORS as exc:
        raise _unusable(settings, exc) from exc


@contextlib.asynccontextmanager
async def database(settings: Settings) -> AsyncIterator[Database]:
    """The existing database, brought up to date first."""
    _require_existing_sqlite(settings.database_url)
    await migrate(settings)
    db = Database(settings.database_url)
    try:
        yield db
    except DATABASE_ERRORS as exc:
        if isinstance(exc, OSError) and not isinstance(exc, ConnectionError):
            raise  # the storage's, not the database's
        raise _unusable(settings, exc) from exc
    finally:
        await db.dispose()


async def with_session(
    settings: Settings, work: Callable[[AsyncSession], Awaitable[Any]], *, write: bool = False
) -> Any:
    """Run ``work`` in a session (a committed transaction with ``write``)."""
    async with database(settings) as db:
        if write:
            async with db.begin() as session:
                return await work(session)
        async with db.session() as session:
            return await work(session)


def _check_storage(settings: Settings) -> None:
    if not (settings.storage_dir / ".locks").is_dir():  # not the server's storage
        raise errors.INVALID_VALUE(
            f"{settings.storage_dir.resolve()} (TUSLOG_STORAGE_DIR) is not the server's "
            "upload storage; nothing was changed. Run this where the server runs."
        )


@contextlib.asynccontextmanager
async def engine(settings: Settings) -> AsyncIterator[UploadEngine]:
    """The upload engine on the server's database and storage, without background jobs:
    what staff commands that touch upload bytes use (the same rules as the server)."""
    _check_storage(settings)
    async with database(settings) as db:
        locks = UploadLocks(settings.storage_dir / ".locks", settings.lock_release_timeout)
        upload_engine = UploadEngine.build(settings, db, FileStore(settings.storage_dir), locks)
        async with upload_engine.running(background=False):
            yield upload_engine
