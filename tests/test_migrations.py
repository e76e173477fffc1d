"""Alembic migrations are the only way the schema changes: they must match the models."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection

from tuslog.db.engine import create_engine
from tuslog.db.migrate import is_current
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
