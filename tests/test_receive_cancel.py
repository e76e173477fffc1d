"""A body receiver whose handler is cancelled (aiohttp's ``handler_cancellation``, a
server shutting down) while a write is in flight: the writes end and the offset is
recorded before the cancellation goes on, and a cancelled receiver never spins.

The receiver runs on a real aiohttp StreamReader, a real data file and a real lock; only
the disk is slow (the storage seam), and the offset records go to a list."""

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp import StreamReader
from aiohttp.base_protocol import BaseProtocol

from tuslog.server.receive import WRITE_BUFFER, BodyReceiver, ReceiveLimits
from tuslog.storage.filestore import DataFile, FileStore
from tuslog.storage.locks import UploadLocks

UPLOAD_ID = "ab" * 16


class _SlowDisk(DataFile):
    def write_at(self, data: Any, position: int) -> None:
        time.sleep(0.5)
        super().write_at(data, position)


async def _receiver(tmp_path: Path, recorded: list[int]) -> tuple[BodyReceiver, StreamReader]:
    store = FileStore(tmp_path / "uploads")
    store.prepare()
    store.create(UPLOAD_ID)
    locks = UploadLocks(store.lock_dir, release_timeout=2.0)
    held = await locks.acquire(UPLOAD_ID)
    loop = asyncio.get_running_loop()
    content = StreamReader(BaseProtocol(loop), 1 << 30, loop=loop)  # never pauses reading

    async def record(offset: int) -> None:
        recorded.append(offset)

    async def allowed() -> bool:
        return True

    receiver = BodyReceiver(
        content=content,
        data=_SlowDisk(os.open(store.path(UPLOAD_ID), os.O_WRONLY)),
        start=0,
        limit=1 << 40,
        body_length=None,
        limits=ReceiveLimits(read_timeout=60, checkpoint_bytes=1 << 40, checkpoint_seconds=60),
        held=held,
        hashing=None,
        keep_hash=False,
        checksum=None,
        record_offset=record,
        still_allowed=allowed,
    )
    return receiver, content


async def test_a_cancelled_handler_waits_for_its_writes_and_records_them(
    tmp_path: Path,
) -> None:
    recorded: list[int] = []
    receiver, content = await _receiver(tmp_path, recorded)
    handler = asyncio.ensure_future(receiver.run())
    content.feed_data(b"x" * (WRITE_BUFFER + 10))
    content.feed_data(b"y" * (WRITE_BUFFER + 10))  # the second batch waits for the first
    await asyncio.sleep(0.2)
    handler.cancel()  # the connection is lost while the slow write runs
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(handler, 10)
    assert recorded == [2 * (WRITE_BUFFER + 10)]


async def test_cancelling_every_task_ends_the_receiver_at_once(tmp_path: Path) -> None:
    """What a server's teardown does: the receiver's own task is cancelled too."""
    recorded: list[int] = []
    receiver, content = await _receiver(tmp_path, recorded)
    handler = asyncio.ensure_future(receiver.run())
    content.feed_data(b"x" * (WRITE_BUFFER + 10))
    content.feed_data(b"y" * (WRITE_BUFFER + 10))
    await asyncio.sleep(0.2)
    for task in asyncio.all_tasks():
        if task is not asyncio.current_task():
            task.cancel()
    started = time.monotonic()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(handler, 10)
    assert time.monotonic() - started < 5
