"""Staff delete a ticket (CLI, portal) while one of its uploads is streaming: the PATCH
stops with a clear 410, nothing brings the upload row back, and the bytes are gone."""

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import func, select

from tests import tus
from tests.conftest import Issued, sessions
from tuslog.db.models import Upload
from tuslog.services import tickets
from tuslog.settings import Settings
from tuslog.storage.filestore import FileStore

PIECE = 256 * 1024


async def _delete_ticket(settings: Settings, number: str) -> None:
    """What ``tuslog ticket delete`` does, from outside the server."""
    async with sessions(settings).begin() as session:
        upload_ids = await tickets.delete(session, number, actor="test")
    for upload_id in upload_ids:
        FileStore(settings.storage_dir).delete(upload_id)


async def _upload_rows(settings: Settings) -> int:
    async with sessions(settings)() as session:
        return int(await session.scalar(select(func.count()).select_from(Upload)) or 0)


async def test_ticket_deleted_during_a_patch(
    client: Any, settings: Settings, issued: Issued, assertion_db: None
) -> None:
    data = os.urandom(32 * PIECE)
    path = await tus.create_path(client, issued.auth, len(data))

    async def body() -> AsyncIterator[bytes]:
        for start in range(0, len(data), PIECE):
            if start == 4 * PIECE:
                await _delete_ticket(settings, issued.ticket)
            yield data[start : start + PIECE]
            await asyncio.sleep(0.05)  # ~1.6 s: checkpoints (0.5 s) happen after the delete

    response = await client.patch(
        path,
        data=body(),
        headers={**issued.auth, "Upload-Offset": "0", "Content-Type": tus.OCTET},
    )
    assert response.status == 410, await response.text()
    assert "deleted" in await response.text()
    assert await _upload_rows(settings) == 0
    upload_id = path.rsplit("/", 1)[1]
    assert not (settings.storage_dir / upload_id[:2] / upload_id).exists()
    head = await client.head(path, headers=issued.auth)
    assert head.status in (401, 404)  # the token went with its ticket
