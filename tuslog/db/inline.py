"""The upload path's durable transactions (a creation, a completion) run whole in one
thread call on SQLite, the same service functions as everywhere else.

Through aiosqlite every DBAPI call of a statement (cursor, execute, fetch, close) is a
round trip to its thread, and so are begin and commit: a creation's six statements made
about 28 thread hand-offs. Here the transaction's ``async`` function runs in a worker
thread against a synchronous ORM session, through ``InlineSession``, whose coroutines
never suspend: the function runs to its end in one ``send``. It may only await the
session; anything else that suspends is a programming error and fails loudly.

Same database file, same pragmas as the async engine (``synchronous=FULL``: a commit is
on the disk before it returns). PostgreSQL (asyncpg) keeps the async session.
"""

from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, TypeVar, cast

from sqlalchemy import Connection, Result, ScalarResult
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

T = TypeVar("T")


class InlineSession:
    """The part of ``AsyncSession`` that tuslog's services use, over a sync ``Session``.
    Unlike ``AsyncSession``, results are not buffered: consume each before the next
    statement (a reader's snapshot kept open into a write makes SQLite refuse the write)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    @property
    def bind(self) -> Any:
        return self._session.bind

    def add(self, instance: object) -> None:
        self._session.add(instance)

    def add_all(self, instances: Sequence[object]) -> None:
        self._session.add_all(instances)

    async def execute(self, statement: Any, *args: Any, **kwargs: Any) -> Result[Any]:
        return self._session.execute(statement, *args, **kwargs)

    async def scalar(self, statement: Any, *args: Any, **kwargs: Any) -> Any:
        return self._session.scalar(statement, *args, **kwargs)

    async def scalars(self, statement: Any, *args: Any, **kwargs: Any) -> ScalarResult[Any]:
        return self._session.scalars(statement, *args, **kwargs)

    async def get(self, entity: Any, ident: Any, **kwargs: Any) -> Any:
        return self._session.get(entity, ident, **kwargs)

    async def flush(self) -> None:
        self._session.flush()

    async def connection(self) -> Connection:
        return self._session.connection()


class Suspended(RuntimeError):
    """An inline transaction awaited something other than its session."""


def run_inline(session: Session, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """``work`` against ``session`` to its end, in this (worker) thread."""
    coroutine = cast(Coroutine[Any, Any, T], work(cast(AsyncSession, InlineSession(session))))
    try:
        coroutine.send(None)
    except StopIteration as done:
        return cast(T, done.value)
    coroutine.close()
    raise Suspended("an inline transaction may only await its session")
