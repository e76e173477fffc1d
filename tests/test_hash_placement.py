"""Where a body's running hash is computed (``tuslog.uploads.receiver``, ``HASH_TAIL``):
on the event loop while the process receives few bodies (each body's last ``HASH_TAIL``
bytes while its last write and sync run); on the hash lane while many bodies arrive at
once, or when the body's length is unknown. Wherever it runs, the hash covers every byte
in order and the file holds them all.

A real receiver writes a real data file under a real lock; the bytes come from a list
(the engine's byte source seam) and the hash lane counts the jobs it is handed."""

import hashlib
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tuslog.storage.filestore import FileStore
from tuslog.storage.locks import UploadLocks
from tuslog.uploads.digests import INLINE_HASH, RunningHash
from tuslog.uploads.offsets import CheckpointPolicy
from tuslog.uploads.receiver import HASH_TAIL, LOOP_HASH_BODIES, Body, Receiver
from tuslog.uploads.source import Stop

UPLOAD_ID = "cd" * 16
MiB = 1024 * 1024
CHUNK = MiB  # what one socket read of a long body brings (tuslog.http.aio)


class CountingLane(ThreadPoolExecutor):
    """A one-thread hash lane that counts the jobs handed to it."""

    def __init__(self) -> None:
        super().__init__(1)
        self.jobs = 0

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        self.jobs += 1
        return super().submit(fn, *args, **kwargs)


class LastWriteWatch(ThreadPoolExecutor):
    """The writer threads; notes how far the running hash had got when the body's last
    write (the one that syncs) was handed over."""

    def __init__(self, running: RunningHash) -> None:
        super().__init__(2)
        self.running = running
        self.hashed_at_last_write: int | None = None

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        if len(args) == 4 and args[3] is True:  # write_job(writer, chunks, position, sync)
            self.hashed_at_last_write = self.running.position
        return super().submit(fn, *args, **kwargs)


class ListSource:
    """A body that has fully arrived, read chunk by chunk."""

    def __init__(self, chunks: list[bytes], declared: bool) -> None:
        self._chunks = list(chunks)
        self._length = sum(map(len, chunks)) if declared else None

    @property
    def length(self) -> int | None:
        return self._length

    async def read(self) -> bytes:
        return self._chunks.pop(0) if self._chunks else b""

    def interrupt(self, reason: Stop) -> None:
        raise AssertionError(f"nothing should stop this body ({reason})")

    def leftover(self) -> list[bytes]:
        return []


@pytest.fixture
def lane() -> Iterator[CountingLane]:
    executor = CountingLane()
    yield executor
    executor.shutdown(wait=True)


async def _receive(
    tmp_path: Path, lane: CountingLane, chunks: list[bytes], bodies: int, declared: bool = True
) -> LastWriteWatch:
    store = FileStore(tmp_path / "uploads")
    store.prepare()
    store.create(UPLOAD_ID)
    locks = UploadLocks(tmp_path / "uploads" / ".locks", release_timeout=2.0)
    locks.prepare()
    held = await locks.acquire(UPLOAD_ID)
    running = RunningHash(lane)
    body = Body(ListSource(chunks, declared), 0, 1 << 40, None, running, True)
    recorded: list[int] = []

    async def record(offset: int) -> bool:
        recorded.append(offset)
        return False

    writer = store.open_writer(UPLOAD_ID)
    with LastWriteWatch(running) as writes:
        receiver = Receiver(
            body,
            writer,
            held,
            CheckpointPolicy(1 << 40, 60),
            60,
            writes,
            record,
            bodies=lambda: bodies,
        )
        try:
            received = await receiver.run()
        finally:
            writer.close()
            held.release()
    data = b"".join(chunks)
    assert received.offset == len(data) and recorded[-1] == len(data)
    assert store.path(UPLOAD_ID).read_bytes() == data
    assert await running.hexdigest() == hashlib.sha256(data).hexdigest()
    assert running.position == len(data)
    return writes


def _body(size: int) -> list[bytes]:
    """``size`` bytes in socket-read chunks, each different, so that order matters."""
    return [
        bytes([n % 251]) * min(CHUNK, size - start) for n, start in enumerate(range(0, size, CHUNK))
    ]


async def test_with_few_bodies_the_loop_hashes_them_the_tail_during_the_last_write(
    tmp_path: Path, lane: CountingLane
) -> None:
    size = 3 * HASH_TAIL + 123
    writes = await _receive(tmp_path, lane, _body(size), bodies=LOOP_HASH_BODIES)
    assert lane.jobs == 0
    # The tail was not hashed yet when the last write went (less than a batch before it).
    hashed = writes.hashed_at_last_write
    assert hashed is not None and size - HASH_TAIL - 2 * MiB <= hashed <= size - HASH_TAIL


async def test_with_many_bodies_the_lane_hashes_them_all(
    tmp_path: Path, lane: CountingLane
) -> None:
    size = 3 * HASH_TAIL + 123
    writes = await _receive(tmp_path, lane, _body(size), bodies=LOOP_HASH_BODIES + 1)
    assert lane.jobs >= size // (2 * MiB)
    assert writes.hashed_at_last_write is not None
    assert writes.hashed_at_last_write >= size - 2 * MiB  # handed to the lane as it came


async def test_a_body_of_unknown_length_is_hashed_on_the_lane(
    tmp_path: Path, lane: CountingLane
) -> None:
    size = 3 * HASH_TAIL + 123
    await _receive(tmp_path, lane, _body(size), bodies=1, declared=False)
    assert lane.jobs >= size // (2 * MiB)


async def test_a_short_body_is_all_tail(tmp_path: Path, lane: CountingLane) -> None:
    writes = await _receive(tmp_path, lane, _body(HASH_TAIL), bodies=1)
    assert lane.jobs == 0 and writes.hashed_at_last_write == 0


async def test_a_large_feed_on_the_loop_waits_behind_bytes_still_queued(
    lane: CountingLane,
) -> None:
    """The receiver may switch to the loop (a body ended elsewhere) while earlier bytes of
    the upload are still on the lane: they are not overtaken."""
    running = RunningHash(lane)
    first, second = b"a" * (INLINE_HASH * 4), b"b" * (INLINE_HASH * 4)
    running.feed([first], len(first))  # on the lane
    running.feed([second], len(second), on_loop=True)  # queued behind it, not hashed here
    assert lane.jobs == 2
    assert await running.hexdigest() == hashlib.sha256(first + second).hexdigest()
