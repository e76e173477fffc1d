"""Alembic migrations are the only way the schema changes: they must match the models."""

from datetime import datetime
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, text

from tuslog.db.engine import create_engine
from tuslog.db.migrate import alembic_config, is_current
from tuslog.db.models import Base


def _differences(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


async def test_migrated_schema_matches_models(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        assert await is_current(engine)
        async with engine.connect() as conn:
            assert await conn.run_sync(_differences) == []
    finally:
        await engine.dispose()


async def test_empty_database_is_not_current(tmp_path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'empty.sqlite3'}")
    try:
        assert not await is_current(engine)
    finally:
        await engine.dispose()


def _upgrade_to(connection: Connection, revision: str) -> None:
    command.upgrade(alembic_config(connection), revision)


async def test_0002_keeps_tickets_that_differ_in_case_and_detaches_tombstones(
    tmp_path: Path, postgres: object
) -> None:
    """Tickets created before numbers ignored case stay reachable by their exact numbers;
    uploads outlive their ticket as tombstones; "deleted" is a state."""
    if postgres is not None:
        url = await postgres.new_empty()  # type: ignore[attr-defined]
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'old.sqlite3'}"
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_upgrade_to, "0001")
            for number in ("SR-1", "sr-1", "Ärger-1"):
                await conn.execute(
                    text(
                        "INSERT INTO tickets (number, title, platform, status, created_at, "
                        "updated_at) VALUES (:n, '', '', 'open', :t, :t)"
                    ),
                    {"n": number, "t": datetime(2026, 1, 1)},
                )
        async with engine.begin() as conn:
            await conn.run_sync(_upgrade_to, "head")
        async with engine.begin() as conn:
            keys = dict((await conn.execute(text("SELECT number, number_key FROM tickets"))).all())
            assert keys["SR-1"] == "sr-1" and keys["Ärger-1"] == "ärger-1"
            assert keys["sr-1"].startswith("sr-1#")  # kept apart, reachable by exact number
    finally:
        await engine.dispose()
