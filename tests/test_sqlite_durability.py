"""SQLite: which commits reach the disk before they are answered. In WAL mode with
synchronous=NORMAL a power cut may drop the last commits; that is harmless for an offset
record (an older offset is still true) but would lose a completion the client was told
about, a new upload's record, or a staff change."""

from typing import Any

import pytest
from sqlalchemy import text

from tests import tus
from tests.conftest import Issued
from tuslog.keys import DATABASE
from tuslog.settings import Settings

FULL, NORMAL = 2, 1


async def test_only_offset_records_skip_the_wal_sync(
    client: Any, settings: Settings, issued: Issued
) -> None:
    if not settings.database_url.startswith("sqlite"):
        pytest.skip("SQLite's synchronous pragma")
    # Real traffic first, so that the pools hold the connections the server really uses.
    path = await tus.create_path(client, issued.auth, 5)
    assert (await tus.patch(client, path, issued.auth, 0, b"12345")).status == 204

    database = client.app[DATABASE]
    async with database.session() as session:
        durable = (await session.execute(text("PRAGMA synchronous"))).scalar_one()
    quick = await database.quick(
        lambda conn: conn.execute(text("PRAGMA synchronous")).scalar_one(), writes=True
    )

    async def pragma(session: Any) -> int:
        return int((await session.execute(text("PRAGMA synchronous"))).scalar_one())

    inline = await database.inline(pragma), await database.inline(pragma, writes=False)
    assert (durable, quick, inline) == (FULL, NORMAL, (FULL, FULL))
