"""Engine and session factory for SQLite (WAL) and PostgreSQL (asyncpg)."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import URL, Engine, event
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def _pragmas(synchronous: str) -> Callable[[Any, Any], None]:
    def apply(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return apply


# Every commit of this engine (creations, completions, tickets, tokens, deletions) reaches
# the disk before it returns: with WAL and synchronous=NORMAL a power loss may drop the
# last commits, and a completion that the client was told about would then be lost.
_durable_pragmas = _pragmas("FULL")
# Only the offset records of the hot path (QuickTransactions) skip the WAL sync: one
# lost to a power cut leaves an older, lower offset, which is still true (the bytes
# were synced first); the client resumes from it after its HEAD. A later FULL commit
# syncs them along with itself (one WAL, appended in order).
_offset_pragmas = _pragmas("NORMAL")


def create_engine(database_url: str) -> AsyncEngine:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 10})
        event.listen(engine.sync_engine, "connect", _durable_pragmas)
        return engine
    return create_async_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)


def create_sync_sqlite_engine(
    url: URL, *, durable: bool = False, immediate: bool = False
) -> Engine:
    """The stdlib driver on the same SQLite file, for work run whole in a thread. Its
    commits are not synced (``_offset_pragmas``) unless ``durable``: only offset records
    write through the engine that is not.

    With ``immediate`` (for a durable engine) transactions start with ``BEGIN IMMEDIATE``:
    they hold SQLite's write lock from their first statement. The stdlib driver would
    otherwise run the SELECTs before the first write outside any transaction, and two
    admissions (quota, free space) could both read the room that only one may take."""
    engine = create_sync_engine(
        url.set(drivername="sqlite"), connect_args={"timeout": 10, "check_same_thread": False}
    )
    event.listen(engine, "connect", _durable_pragmas if durable else _offset_pragmas)
    if durable and immediate:
        event.listen(engine, "connect", _own_transactions)
        event.listen(engine, "begin", _begin_immediate)
    return engine


def _own_transactions(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # the driver issues no BEGIN of its own


def _begin_immediate(connection: Any) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
