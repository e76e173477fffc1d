"""A revoked token stops its uploads at once: also a PATCH that is already streaming."""

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

from tests import tus
from tests.conftest import Issued
from tests.fakes import data_path
from tuslog.db.engine import create_engine, session_factory
from tuslog.services import tokens
from tuslog.settings import Settings

PIECE = 256 * 1024


async def _revoke(settings: Settings, prefix: str) -> None:
    engine = create_engine(settings.database_url)
    try:
        async with session_factory(engine).begin() as session:
            await tokens.revoke(session, prefix, actor="test")
    finally:
        await engine.dispose()


async def test_revocation_stops_a_streaming_patch(
    client: Any, settings: Settings, issued: Issued
) -> None:
    data = os.urandom(64 * PIECE)
    path = await tus.create_path(client, issued.auth, len(data))
    sent = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal sent
        for start in range(0, len(data), PIECE):
            if start == 8 * PIECE:
                await _revoke(settings, issued.prefix)
            yield data[start : start + PIECE]
            sent += PIECE
            await asyncio.sleep(0.05)  # 64 pieces: ~3 s, several 0.5 s checkpoints

    response = await client.patch(
        path,
        data=body(),
        headers={**issued.auth, "Upload-Offset": "0", "Content-Type": tus.OCTET},
    )
    assert response.status == 401, await response.text()
    kept = int(response.headers["Upload-Offset"])
    assert 8 * PIECE <= kept < len(data)
    upload_id = path.rsplit("/", 1)[1]
    assert data_path(settings.storage_dir, upload_id).read_bytes()[:kept] == data[:kept]
    head = await client.head(path, headers=issued.auth)
    assert head.status == 401


async def test_revocation_stops_a_checksummed_patch_and_keeps_nothing(
    client: Any, settings: Settings, issued: Issued
) -> None:
    """A checksummed PATCH has no checkpoints; the watcher still notices the revocation."""
    import base64
    import hashlib

    data = os.urandom(64 * PIECE)
    path = await tus.create_path(client, issued.auth, len(data))
    digest = base64.b64encode(hashlib.sha1(data).digest()).decode()

    sent = []

    async def body() -> AsyncIterator[bytes]:
        for start in range(0, len(data), PIECE):
            if start == PIECE:
                await _revoke(settings, issued.prefix)
            yield data[start : start + PIECE]
            sent.append(PIECE)
            await asyncio.sleep(0.1)  # 64 pieces: ~6.4 s if nobody stops it

    response = await client.patch(
        path,
        data=body(),
        headers={
            **issued.auth,
            "Upload-Offset": "0",
            "Content-Type": tus.OCTET,
            "Upload-Checksum": f"sha1 {digest}",
        },
    )
    assert response.status == 401, await response.text()
    assert len(sent) < len(data) // PIECE  # stopped mid-body, not after the last piece
    assert response.headers["Upload-Offset"] == "0"
    upload_id = path.rsplit("/", 1)[1]
    assert data_path(settings.storage_dir, upload_id).read_bytes() == b""
