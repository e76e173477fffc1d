"""SQLite: while another process holds the write lock (a staff CLI transaction, say),
PATCHes wait to record their offsets. Requests that only read must not queue behind
them: WAL answers reads at once."""

import asyncio
import sqlite3
import threading
import time
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from tests import tus
from tests.conftest import Issued
from tuslog.settings import Settings

HOLD = 3.0


async def test_reads_do_not_wait_behind_writers(
    client: Any, settings: Settings, issued: Issued
) -> None:
    if not settings.database_url.startswith("sqlite"):
        pytest.skip("SQLite's single writer lock")
    finished = await tus.create_path(client, issued.auth, 5, Upload_Concat="partial")
    assert (await tus.patch(client, finished, issued.auth, 0, b"12345")).status == 204
    paths = [
        await tus.create_path(client, issued.auth, 100, Upload_Concat="partial") for _ in range(4)
    ]
    holding = threading.Event()

    def other_process_writes() -> None:
        database = make_url(settings.database_url).database
        assert database is not None
        connection = sqlite3.connect(database, timeout=10)
        try:
            connection.execute("BEGIN IMMEDIATE")
            holding.set()
            time.sleep(HOLD)
            connection.rollback()
        finally:
            connection.close()

    writer = threading.Thread(target=other_process_writes)
    writer.start()
    await asyncio.to_thread(holding.wait, 10)
    patches = [
        asyncio.create_task(tus.patch(client, path, issued.auth, 0, b"x" * 10)) for path in paths
    ]
    await asyncio.sleep(0.3)  # every PATCH now waits for the write lock
    started = time.monotonic()
    head = await client.head(finished, headers=issued.auth)
    waited = time.monotonic() - started
    assert head.status == 200
    assert waited < HOLD / 2, f"a read waited {waited:.2f}s behind the writers"
    assert [response.status for response in await asyncio.gather(*patches)] == [204] * 4
    await asyncio.to_thread(writer.join)
