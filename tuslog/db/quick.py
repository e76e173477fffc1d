"""Short transactions on the hot path (every HEAD, PATCH and checkpoint) with the fewest
thread hops.

aiosqlite runs each DBAPI call (cursor, execute, fetch, close, commit, the pool's reset) as
a separate round trip to its thread: six or so per statement, about 1 ms on a busy 2-CPU
machine, three times per PATCH. For SQLite this runs a whole transaction as one synchronous
function on a small thread pool, with the stdlib driver on the same database file and the
same pragmas: one round trip (measured: 1.0 ms → 0.25 ms per offset record). PostgreSQL
(asyncpg) has no thread to hop to and keeps the async engine.
"""

import asyncio
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, sessionmaker

from tuslog.db.engine import create_sync_sqlite_engine
from tuslog.db.inline import run_inline
from tuslog.threads import in_thread

T = TypeVar("T")
U = TypeVar("U")
_THREADS = 4
_DURABLE_THREADS = 2  # SQLite lets one writer in at a time anyway


class QuickTransactions:
    """Reads and writes get threads of their own: a writer waiting for SQLite's write lock
    (``busy_timeout``) must not hold up reads, which WAL answers at once."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._sync: Engine | None = None
        self._readers: ThreadPoolExecutor | None = None
        self._writers: ThreadPoolExecutor | None = None
        self._durable: sessionmaker[Session] | None = None  # writes: BEGIN IMMEDIATE
        self._inline_reads: sessionmaker[Session] | None = None
        self._durable_writers: ThreadPoolExecutor | None = None
        if engine.dialect.name == "sqlite":
            self._sync = create_sync_sqlite_engine(engine.url)
            self._readers = ThreadPoolExecutor(_THREADS, thread_name_prefix="tuslog-db-read")
            self._writers = ThreadPoolExecutor(_THREADS, thread_name_prefix="tuslog-db-write")
            durable = create_sync_sqlite_engine(engine.url, durable=True, immediate=True)
            self._durable = sessionmaker(durable, expire_on_commit=False)
            reads = create_sync_sqlite_engine(engine.url, durable=True)
            self._inline_reads = sessionmaker(reads, expire_on_commit=False)
            self._durable_writers = ThreadPoolExecutor(
                _DURABLE_THREADS, thread_name_prefix="tuslog-db-durable"
            )

    async def run(self, work: Callable[[Connection], T], *, writes: bool = False) -> T:
        """``work(connection)`` in one transaction, committed if it returns. ``writes``:
        it changes rows (and may wait for SQLite's write lock). On SQLite such a commit
        is not synced to disk: only offset records, which a power cut may roll back
        safely, belong here; everything else commits through the sessions."""
        executor = self._writers if writes else self._readers
        if self._sync is None or executor is None:
            async with self._engine.begin() as conn:
                return await conn.run_sync(work)
        return await in_thread(executor, self._in_transaction, work)

    async def run_then(
        self, work: Callable[[Connection], T], then: Callable[[], U], io: Executor
    ) -> tuple[T, U]:
        """``work(connection)`` in one read transaction, then ``then()`` (a blocking
        storage call), on ``io``: on SQLite both in one thread hand-off. Not on the
        database's reader threads: a stalled storage (a hung network mount) must not hold
        up every token check and look-up."""
        if self._sync is None:
            first = await self.run(work)
            return first, await in_thread(io, then)
        return await in_thread(io, self._in_transaction_then, work, then)

    async def inline(
        self,
        work: Callable[[AsyncSession], Awaitable[T]],
        sessions: async_sessionmaker[AsyncSession],
        *,
        writes: bool,
    ) -> T:
        """``work(session)`` in one transaction that is on the disk when this returns; on
        SQLite in one thread call (``tuslog.db.inline``), elsewhere in ``sessions``."""
        executor = self._durable_writers if writes else self._readers
        maker = self._durable if writes else self._inline_reads
        if maker is None or executor is None:
            async with sessions.begin() as session:
                return await work(session)
        # Cancelled or not, the caller hears of it only once the thread is done: whoever
        # cleans up after a cancellation must know whether the transaction committed.
        future = in_thread(executor, _inline, maker, work)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            await asyncio.wait([future])
            raise

    def _in_transaction(self, work: Callable[[Connection], T]) -> T:
        assert self._sync is not None
        with self._sync.begin() as conn:
            return work(conn)

    def _in_transaction_then(
        self, work: Callable[[Connection], T], then: Callable[[], U]
    ) -> tuple[T, U]:
        return self._in_transaction(work), then()

    def dispose(self) -> None:
        for executor in (self._readers, self._writers, self._durable_writers):
            if executor is not None:
                executor.shutdown(wait=True)
        if self._sync is not None:
            self._sync.dispose()
        for maker in (self._durable, self._inline_reads):
            if maker is not None:
                maker.kw["bind"].dispose()


def _inline(maker: "sessionmaker[Session]", work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    with maker.begin() as session:
        return run_inline(session, work)
