"""Test databases: a fresh one per test, on SQLite or (TUSLOG_TEST_DATABASE_URL) PostgreSQL.

PostgreSQL databases are cloned from a template migrated once per session, which is much
faster than migrating each one."""

import asyncio
import os
import secrets
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from tuslog.db.engine import create_engine
from tuslog.db.migrate import upgrade

PG_ENV = "TUSLOG_TEST_DATABASE_URL"


def pg_base_url() -> str | None:
    url = os.environ.get(PG_ENV, "").strip()
    return url or None


async def migrate(url: str) -> None:
    engine = create_engine(url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


def _dsn(url: str, database: str) -> str:
    parsed = make_url(url).set(drivername="postgresql", database=database)
    return parsed.render_as_string(hide_password=False)


class PostgresDatabases:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.admin_dsn = _dsn(base_url, make_url(base_url).database or "postgres")
        self.template = f"tuslog_tpl_{secrets.token_hex(4)}"
        self.created: list[str] = []

    def url_for(self, name: str) -> str:
        return make_url(self.base_url).set(database=name).render_as_string(hide_password=False)

    async def _admin(self, sql: str) -> None:
        conn = await asyncpg.connect(self.admin_dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    async def setup(self) -> None:
        await self._admin(f'CREATE DATABASE "{self.template}"')
        await migrate(self.url_for(self.template))

    async def new(self) -> str:
        name = f"tuslog_t_{secrets.token_hex(6)}"
        await self._admin(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        self.created.append(name)
        return self.url_for(name)

    async def new_empty(self) -> str:
        """A database with no schema at all (for migration tests)."""
        name = f"tuslog_t_{secrets.token_hex(6)}"
        await self._admin(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return self.url_for(name)

    async def teardown(self) -> None:
        for name in [*self.created, self.template]:
            await self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def new_sqlite(directory: Path) -> str:
    url = f"sqlite+aiosqlite:///{directory / 'tuslog.sqlite3'}"
    await migrate(url)
    return url


def run(coro: object) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]
