"""One object for the database a process talks to: the async engine, its sessions, and the
hot path's quick transactions. Built once by whoever runs (the app, a CLI command)."""

import asyncio
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from contextlib import AbstractAsyncContextManager
from typing import TypeVar

from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from tuslog.db.engine import create_engine, session_factory
from tuslog.db.quick import QuickTransactions

T = TypeVar("T")
U = TypeVar("U")


class Database:
    def __init__(self, url: str) -> None:
        self.engine: AsyncEngine = create_engine(url)
        self._sessions = session_factory(self.engine)
        self._quick = QuickTransactions(self.engine)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def session(self) -> AsyncSession:
        """A session for reads (``async with db.session() as session``)."""
        return self._sessions()

    def begin(self) -> AbstractAsyncContextManager[AsyncSession]:
        """A session in a transaction, committed when the block ends without error."""
        return self._sessions.begin()

    async def quick(self, work: Callable[[Connection], T], *, writes: bool = False) -> T:
        """``work(connection)`` in one short transaction with the fewest thread hops (the
        hot path: every HEAD, PATCH and checkpoint; see ``tuslog.db.quick``)."""
        return await self._quick.run(work, writes=writes)

    async def quick_then(
        self, work: Callable[[Connection], T], then: Callable[[], U], io: Executor
    ) -> tuple[T, U]:
        """``quick(work)`` (a read), then the blocking storage call ``then()`` on ``io``:
        one thread hand-off instead of two on SQLite, where both need a thread."""
        return await self._quick.run_then(work, then, io)

    async def inline(
        self, work: Callable[[AsyncSession], Awaitable[T]], *, writes: bool = True
    ) -> T:
        """``work(session)`` in one transaction, committed to the disk when this returns,
        with the fewest thread hops (creations, completions, the token check; see
        ``tuslog.db.inline``). ``work`` may only await the session. ``writes``: it changes
        rows (and may wait for SQLite's write lock, which reads must not queue behind)."""
        return await self._quick.inline(work, self._sessions, writes=writes)

    async def dispose(self) -> None:
        await asyncio.to_thread(self._quick.dispose)
        await self.engine.dispose()
