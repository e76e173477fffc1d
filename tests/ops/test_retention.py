"""TUSLOG_RETENTION_DAYS: the janitor deletes the archives of tickets resolved that many
days ago, through the engine (state deleted, bytes gone, audited), and nothing else."""

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select, text, update

from tests.conftest import make_settings
from tests.fakes import data_path
from tests.test_cli_support import _running, make_upload
from tuslog.db.database import Database
from tuslog.db.engine import session_factory
from tuslog.db.models import AuditEvent, Ticket, Upload, UploadState, utcnow
from tuslog.services import retention, tickets
from tuslog.settings import Settings


async def _ticket(
    settings: Settings, number: str, *, resolved_days_ago: float | None, uploads: int = 0
) -> list[Upload]:
    """A ticket with ``uploads`` finished uploads, then resolved that many days ago."""
    database = Database(settings.database_url)
    try:
        async with database.begin() as session:
            await tickets.create(session, number, actor="test")
        made = [await asyncio.to_thread(make_upload, settings, number) for _ in range(uploads)]
        if resolved_days_ago is not None:
            async with database.begin() as session:
                await tickets.resolve(session, number, actor="test")
            async with database.begin() as session:
                await session.execute(
                    update(Ticket)
                    .where(Ticket.number == number)
                    .values(resolved_at=utcnow() - timedelta(days=resolved_days_ago))
                )
    finally:
        await database.dispose()
    return made


async def _resolve_ago(settings: Settings, number: str, days: float) -> None:
    database = Database(settings.database_url)
    try:
        async with database.begin() as session:
            await tickets.resolve(session, number, actor="test")
            await session.execute(
                update(Ticket)
                .where(Ticket.number == number)
                .values(resolved_at=utcnow() - timedelta(days=days))
            )
    finally:
        await database.dispose()


async def _states(settings: Settings) -> dict[str, UploadState]:
    database = Database(settings.database_url)
    try:
        async with database.session() as session:
            rows = await session.execute(select(Upload.id, Upload.state))
            return dict(rows.tuples().all())
    finally:
        await database.dispose()


async def _apply(settings: Settings) -> int:
    async for engine in _running(settings):
        return await engine.janitor.apply_retention()
    raise AssertionError("unreachable")


async def test_archives_of_tickets_resolved_long_enough_ago_are_deleted(
    database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(database_url, tmp_path, retention_days=30)
    old = await _ticket(settings, "OLD-1", resolved_days_ago=None, uploads=2)
    old.append(await asyncio.to_thread(make_upload, settings, "OLD-1", received=100))
    keep = await _ticket(settings, "RECENT-1", resolved_days_ago=29, uploads=1)
    keep += await _ticket(settings, "OPEN-1", resolved_days_ago=None, uploads=1)
    keep += await _ticket(settings, "REOPENED-1", resolved_days_ago=90, uploads=1)
    database = Database(settings.database_url)
    try:
        async with database.begin() as session:
            await tickets.reopen(session, "REOPENED-1", actor="test")
    finally:
        await database.dispose()

    await _resolve_ago(settings, "OLD-1", 31)
    assert await _apply(settings) == 3
    states = await _states(settings)
    for upload in old:
        assert states[upload.id] is UploadState.DELETED
        assert not data_path(settings.storage_dir, upload.id).exists()
    for upload in keep:
        assert states[upload.id] is UploadState.VERIFIED or states[upload.id].finished
        assert data_path(settings.storage_dir, upload.id).exists()
    assert await _apply(settings) == 0  # nothing left to do, nothing done twice

    database = Database(settings.database_url)
    try:
        async with database.session() as session:
            events = list(
                await session.scalars(select(AuditEvent).where(AuditEvent.actor == retention.ACTOR))
            )
    finally:
        await database.dispose()
    deleted = sorted(e.subject for e in events if e.action == "upload.deleted")
    assert deleted == sorted(u.id for u in old)
    (summary,) = [e for e in events if e.action == "ticket.retention_applied"]
    assert summary.subject == "OLD-1"
    assert (summary.details["uploads"], summary.details["retention_days"]) == (3, 30)


async def test_no_policy_deletes_nothing(settings: Settings) -> None:
    (upload,) = await _ticket(settings, "OLD-2", resolved_days_ago=3650, uploads=1)
    assert settings.retention_days == 0
    assert await _apply(settings) == 0
    assert (await _states(settings))[upload.id].finished


async def test_when_the_archives_will_go(database_url: str, tmp_path: Path) -> None:
    settings = make_settings(database_url, tmp_path, retention_days=14)
    await _ticket(settings, "SHOWN-1", resolved_days_ago=10, uploads=1)
    await _ticket(settings, "EMPTY-1", resolved_days_ago=10)
    await _ticket(settings, "OPEN-2", resolved_days_ago=None, uploads=1)
    database = Database(settings.database_url)
    try:
        async with database.session() as session:
            shown = await tickets.get(session, "SHOWN-1")
            when = await retention.archives_deleted_at(session, shown.id, 14)
            assert when is not None and shown.resolved_at is not None
            assert when == shown.resolved_at + timedelta(days=14)
            empty = await tickets.get(session, "EMPTY-1")
            assert await retention.archives_deleted_at(session, empty.id, 14) is None
            still_open = await tickets.get(session, "OPEN-2")
            assert await retention.archives_deleted_at(session, still_open.id, 14) is None
            assert await retention.archives_deleted_at(session, shown.id, 0) is None
    finally:
        await database.dispose()


async def test_resolving_records_when_and_reopening_clears_it(settings: Settings) -> None:
    await _ticket(settings, "CLOCK-1", resolved_days_ago=None)
    database = Database(settings.database_url)
    try:
        async with database.begin() as session:
            ticket = await tickets.resolve(session, "CLOCK-1", actor="test")
            assert ticket.resolved_at is not None
            assert abs((utcnow() - ticket.resolved_at).total_seconds()) < 60
        async with database.begin() as session:
            assert (await tickets.reopen(session, "CLOCK-1", actor="t")).resolved_at is None
        async with database.session() as session:
            row = await session.execute(
                text("SELECT resolved_at FROM tickets WHERE number = 'CLOCK-1'")
            )
            assert row.scalar() is None
    finally:
        await database.dispose()


async def test_migration_dates_tickets_resolved_before_it(tmp_path: Path, postgres: object) -> None:
    """Tickets resolved before 0005 count from their last change; open ones from none."""
    from alembic import command

    from tuslog.db.engine import create_engine
    from tuslog.db.migrate import alembic_config

    if postgres is not None:
        url = await postgres.new_empty()  # type: ignore[attr-defined]
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'old.sqlite3'}"
    engine = create_engine(url)
    changed = datetime(2026, 3, 4, 5, 6, 7)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(lambda c: command.upgrade(alembic_config(c), "0003"))
            for number, status in (("R-1", "resolved"), ("O-1", "open")):
                await conn.execute(
                    text(
                        "INSERT INTO tickets (number, number_key, title, platform, status, "
                        "created_at, updated_at) VALUES (:n, :k, '', '', :s, :t, :t)"
                    ),
                    {"n": number, "k": number.lower(), "s": status, "t": changed},
                )
        async with engine.begin() as conn:
            await conn.run_sync(lambda c: command.upgrade(alembic_config(c), "head"))
        async with session_factory(engine)() as session:
            found = {t.number: t.resolved_at for t in await session.scalars(select(Ticket))}
    finally:
        await engine.dispose()
    assert found == {"R-1": changed.replace(tzinfo=UTC), "O-1": None}
