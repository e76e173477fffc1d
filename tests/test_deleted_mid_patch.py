"""Staff delete a ticket (CLI, portal) while one of its uploads is streaming: the PATCH
is stopped and answers a clear 410, the upload stays a tombstone ("deleted") that nothing
brings back, and the bytes are gone."""

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import select

from tests import tus
from tests.conftest import Issued, sessions
from tests.fakes import data_path
from tuslog.cli import runtime
from tuslog.db.models import Upload, UploadState
from tuslog.settings import Settings

PIECE = 256 * 1024


async def _delete_ticket(settings: Settings, number: str) -> None:
    """What ``tuslog ticket delete`` does, from outside the server: its own engine."""
    async with runtime.engine(settings) as engine:
        await engine.ending.delete_ticket(number, "test", None)


async def _upload_states(settings: Settings) -> list[UploadState]:
    async with sessions(settings)() as session:
        return list(await session.scalars(select(Upload.state)))


async def test_ticket_deleted_during_a_patch(
    client: Any, settings: Settings, issued: Issued, assertion_db: None
) -> None:
    data = os.urandom(32 * PIECE)
    path = await tus.create_path(client, issued.auth, len(data))

    deleting: asyncio.Task[None] | None = None

    async def body() -> AsyncIterator[bytes]:
        nonlocal deleting
        for start in range(0, len(data), PIECE):
            if start == 4 * PIECE:
                deleting = asyncio.create_task(_delete_ticket(settings, issued.ticket))
            yield data[start : start + PIECE]
            await asyncio.sleep(0.05)  # ~1.6 s: checkpoints (0.5 s) happen after the delete

    response = await client.patch(
        path,
        data=body(),
        headers={**issued.auth, "Upload-Offset": "0", "Content-Type": tus.OCTET},
    )
    assert deleting is not None
    await deleting
    assert response.status == 410, await response.text()
    assert "deleted" in await response.text()
    assert await _upload_states(settings) == [UploadState.DELETED]
    upload_id = path.rsplit("/", 1)[1]
    assert not data_path(settings.storage_dir, upload_id).exists()
    head = await client.head(path, headers=issued.auth)
    assert head.status in (401, 404)  # the token went with its ticket
