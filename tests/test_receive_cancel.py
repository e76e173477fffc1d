"""A body receiver whose handler is cancelled (aiohttp's ``handler_cancellation``, a
server shutting down) while a write is in flight: no write outlives the receiver (its
caller then releases the upload's lock), the offset of what was written is recorded, and
a cancelled receiver never spins.

The receiver reads a real aiohttp StreamReader on a real connection and writes a real
data file under a real lock; only the disk is held back (the storage seam), and the
offset records go to a list."""

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import StreamReader
from aiohttp.base_protocol import BaseProtocol

from tests.fakes import FaultyStore
from tuslog.http.body import RequestBody
from tuslog.storage.locks import UploadLocks
from tuslog.uploads.offsets import CheckpointPolicy
from tuslog.uploads.receiver import WRITE_BUFFER, Body, Receiver

UPLOAD_ID = "ab" * 16
BATCH = WRITE_BUFFER + 10  # one read of this size makes one write


@dataclass
class _HeldDisk:
    """Every write waits until the test lets it go on; ``writing`` tells if one runs."""

    started: threading.Event = field(default_factory=threading.Event)
    go_on: threading.Event = field(default_factory=threading.Event)
    writing: bool = False

    def write_at(self, real: Any, data: Any, position: int) -> None:
        self.writing = True
        self.started.set()
        try:
            assert self.go_on.wait(30), "the test never let the write go on"
            real(data, position)
        finally:
            self.writing = False


@dataclass
class _Setup:
    receiver: Receiver
    content: StreamReader
    disk: _HeldDisk
    recorded: list[int] = field(default_factory=list)


@pytest.fixture
async def connection() -> AsyncIterator[asyncio.Transport]:
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    _, writer = await asyncio.open_connection("127.0.0.1", server.sockets[0].getsockname()[1])
    yield writer.transport  # type: ignore[misc]
    writer.close()
    server.close()
    await server.wait_closed()


@pytest.fixture
def writes() -> AsyncIterator[ThreadPoolExecutor]:
    pool = ThreadPoolExecutor(4)
    yield pool  # type: ignore[misc]
    pool.shutdown(wait=True)


async def _setup(
    tmp_path: Path,
    transport: asyncio.Transport,
    writes: ThreadPoolExecutor,
    record: Callable[[list[int], int], Awaitable[None]] | None = None,
) -> _Setup:
    store = FaultyStore(tmp_path / "uploads")
    store.prepare()
    store.create(UPLOAD_ID)
    disk = _HeldDisk()
    store.intercept("writer.write_at", disk.write_at)
    locks = UploadLocks(tmp_path / "uploads" / ".locks", release_timeout=2.0)
    locks.prepare()
    held = await locks.acquire(UPLOAD_ID)
    protocol = BaseProtocol(asyncio.get_running_loop())
    protocol.transport = transport  # a live connection: reads wait for data
    content = StreamReader(protocol, 1 << 30, loop=asyncio.get_running_loop())  # no pausing
    recorded: list[int] = []

    async def record_offset(offset: int) -> bool:
        if record is not None:
            await record(recorded, offset)
        else:
            recorded.append(offset)
        return False

    body = Body(RequestBody(content, None, transport), 0, 1 << 40, None, None, False)
    receiver = Receiver(
        body,
        store.open_writer(UPLOAD_ID),
        held,
        CheckpointPolicy(1 << 40, 60),
        60,
        writes,
        record_offset,
        bodies=lambda: 1,
    )
    return _Setup(receiver, content, disk, recorded)


async def _until(event: threading.Event) -> None:
    assert await asyncio.to_thread(event.wait, 10)


async def test_a_handler_cancelled_mid_body_waits_for_its_write_and_records_it(
    tmp_path: Path, connection: asyncio.Transport, writes: ThreadPoolExecutor
) -> None:
    setup = await _setup(tmp_path, connection, writes)
    handler = asyncio.ensure_future(setup.receiver.run())
    setup.content.feed_data(b"x" * BATCH)
    await _until(setup.disk.started)  # the first write runs, held
    setup.content.feed_data(b"y" * BATCH)
    await asyncio.sleep(0.2)  # the reader took it and now waits for the first write
    handler.cancel()  # the connection is lost
    await asyncio.sleep(0.3)
    assert not handler.done()  # it waits for the writes
    setup.disk.go_on.set()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(handler, 10)
    assert not setup.disk.writing
    assert setup.recorded == [2 * BATCH]


async def test_a_cancelled_offset_record_still_completes(
    tmp_path: Path, connection: asyncio.Transport, writes: ThreadPoolExecutor
) -> None:
    recording = asyncio.Event()

    async def slow_record(recorded: list[int], offset: int) -> None:
        recording.set()
        await asyncio.sleep(0.3)  # a slow database commit
        recorded.append(offset)

    setup = await _setup(tmp_path, connection, writes, slow_record)
    setup.disk.go_on.set()
    handler = asyncio.ensure_future(setup.receiver.run())
    setup.content.feed_data(b"x" * 1000)
    setup.content.feed_eof()
    await asyncio.wait_for(recording.wait(), 10)
    handler.cancel()  # the client hangs up while its offset is being recorded
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(handler, 10)
    assert setup.recorded == [1000]


async def test_cancelling_every_task_ends_the_receiver_once_no_write_runs(
    tmp_path: Path, connection: asyncio.Transport, writes: ThreadPoolExecutor
) -> None:
    """What a server's teardown does: the receiver's own task is cancelled too. It must
    end (no spinning) and no write may still run when it does."""
    setup = await _setup(tmp_path, connection, writes)
    handler = asyncio.ensure_future(setup.receiver.run())
    setup.content.feed_data(b"x" * BATCH)
    setup.content.feed_eof()  # the body ended right after a write was sent
    await _until(setup.disk.started)
    asyncio.get_running_loop().call_later(0.3, setup.disk.go_on.set)
    for task in asyncio.all_tasks():
        if task is not asyncio.current_task():
            task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(handler, 10)
    assert not setup.disk.writing
