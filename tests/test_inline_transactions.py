"""``Database.inline``: a transaction's async function run whole in one thread call on
SQLite (``tuslog.db.inline``), in an async session elsewhere; committed when it returns,
rolled back when it raises, and refused if it awaits anything but its session."""

import asyncio
import sqlite3
import threading
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from tests.inspection.support import CLIENT_IP, running
from tuslog.db.database import Database
from tuslog.db.inline import Suspended
from tuslog.db.models import Ticket
from tuslog.services import audit, tickets, tokens
from tuslog.services.tickets import number_key
from tuslog.settings import Settings
from tuslog.storage.store import new_upload_id
from tuslog.uploads import records
from tuslog.uploads.records import NewUpload


async def _add_ticket(session: Any, number: str) -> None:
    """A ticket and its audit line, as the services write them (flushed: the insert
    runs inside the transaction)."""
    session.add(Ticket(number=number, number_key=number_key(number), title="t", platform=""))
    audit.record(session, "test", "ticket.created", number, None)
    await session.flush()


async def _count(database: Database) -> int:
    async with database.session() as session:
        return int(await session.scalar(select(func.count()).select_from(Ticket)) or 0)


async def test_commits_what_it_returns_and_rolls_back_what_raises(settings: Settings) -> None:
    database = Database(settings.database_url)
    try:

        async def create(session: Any) -> str:
            await _add_ticket(session, "SR-7")
            return "SR-7"

        async def create_then_fail(session: Any) -> None:
            await _add_ticket(session, "SR-8")
            raise LookupError("stop")

        assert await database.inline(create) == "SR-7"
        with pytest.raises(LookupError):
            await database.inline(create_then_fail)
        assert await _count(database) == 1
    finally:
        await database.dispose()


async def test_awaiting_anything_but_the_session_is_refused(settings: Settings) -> None:
    if not settings.database_url.startswith("sqlite"):
        pytest.skip("only SQLite runs the function in a thread")
    database = Database(settings.database_url)
    try:

        async def sleeps(session: Any) -> None:
            await _add_ticket(session, "SR-9")
            await asyncio.sleep(0)

        with pytest.raises(Suspended):
            await database.inline(sleeps)
        assert await _count(database) == 0  # rolled back

        async def nested(session: Any) -> None:  # a session feature the adapter lacks
            async with session.begin_nested():
                await _add_ticket(session, "SR-10")

        with pytest.raises(AttributeError):
            await database.inline(nested)
    finally:
        await database.dispose()


async def test_a_cancelled_creation_keeps_its_row_and_its_file_together(
    settings: Settings,
) -> None:
    """Cancelled while its transaction waits for SQLite's write lock: the thread still
    commits, so the data file must stay (it was deleted, leaving a row without data)."""
    if not settings.database_url.startswith("sqlite"):
        pytest.skip("SQLite's write lock, held by another connection")
    async with running(settings) as engine:
        token = await _token(engine)
        path = make_url(settings.database_url).database
        blocker = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        blocker.execute("BEGIN IMMEDIATE")
        release = threading.Timer(1.0, lambda: blocker.execute("COMMIT"))
        release.start()
        new = NewUpload(new_upload_id(), 10, "", "f.bin", None, None, CLIENT_IP)
        task = asyncio.create_task(engine.creation.create(token, new, None))
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        release.join()
        blocker.close()
        async with engine.parts.db.session() as session:
            row = await records.load(session, new.upload_id)
        on_disk = engine.parts.store.size(new.upload_id)
        assert (row is not None, on_disk is not None) == (True, True)


async def _token(engine: Any) -> Any:
    async with engine.parts.db.begin() as session:
        await tickets.create(session, "SR-1", title="t", actor="test")
        issued = await tokens.issue(
            session,
            "SR-1",
            uploads=1,
            ttl=engine.parts.settings.token_ttl,
            max_bytes=None,
            actor="test",
        )
    return issued.record


async def test_a_write_transaction_holds_the_write_lock_from_its_first_read(
    settings: Settings,
) -> None:
    """Admission reads the room (quota, free space) before it takes it: on SQLite the
    write lock is held from the start (BEGIN IMMEDIATE), so a second admission waits
    instead of reading the same room. A read-only one takes no lock."""
    if not settings.database_url.startswith("sqlite"):
        pytest.skip("SQLite's write lock (PostgreSQL admissions take an advisory lock)")
    path = str(make_url(settings.database_url).database)
    database = Database(settings.database_url)

    def another_writer_gets_in() -> bool:
        other = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
            return True
        except sqlite3.OperationalError as exc:
            assert "locked" in str(exc)
            return False
        finally:
            other.close()

    async def reads_then_asks(session: Any) -> bool:
        await session.scalar(select(func.count()).select_from(Ticket))
        return another_writer_gets_in()

    try:
        assert await database.inline(reads_then_asks) is False
        assert await database.inline(reads_then_asks, writes=False) is True
        assert another_writer_gets_in() is True  # and it is let go at the end
    finally:
        await database.dispose()
