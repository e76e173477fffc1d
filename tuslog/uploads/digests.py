"""Running whole-file SHA-256 per upload, kept in this process between PATCHes.

Bytes are hashed in order, on the event loop or on a thread of the upload's own hash lane
beside the writes (the receiver chooses: ``tuslog.uploads.receiver``, ``HASH_TAIL``); a
PATCH is answered once its bytes are durable, without waiting for the lane: only
completion (and a chunk's ``Upload-Checksum``) waits. When consecutive PATCHes of an upload
reach the same process the server never reads the file back. Any gap (another worker
served a PATCH, a discarded chunk, a restart) drops the running hash and completion hashes
the file once instead.
"""

import asyncio
import hashlib
from collections import OrderedDict, deque
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tuslog.threads import in_thread

_MAX_ENTRIES = 256
# Up to this much is hashed right on the event loop when the upload's lane has nothing
# queued (a small PATCH, a body's last bytes): about 35 µs for 64 KiB, where handing it
# to a thread and back costs several times that in CPU (two wake-ups).
INLINE_HASH = 64 * 1024


class RunningHash:
    """SHA-256 of an upload's first ``position`` bytes, some of them possibly still being
    hashed. ``feed`` never waits; ``limit_backlog`` bounds the bytes held for hashing."""

    def __init__(self, lane: ThreadPoolExecutor, *, whole_file: bool = True) -> None:
        self._lane = lane  # one thread: FIFO keeps this upload's bytes in order
        # Without ``whole_file`` only the ``also`` hashers are fed (a chunk checksum in a
        # process that has no running hash of the upload).
        self._sha256 = hashlib.sha256() if whole_file else None
        self._jobs: deque[tuple[asyncio.Future[None], int]] = deque()
        self._backlog = 0
        self.position = 0

    def feed(
        self, chunks: list[bytes], size: int, also: Any | None = None, *, on_loop: bool = False
    ) -> None:
        """Hash ``chunks`` (``size`` bytes) after everything fed before; ``also`` is a second
        hasher (a chunk's Upload-Checksum) that gets the same bytes. ``on_loop``: hash them
        right here whatever their size (the receiver's choice), unless earlier bytes of
        this upload still wait for the lane."""
        self.position += size
        if (on_loop or size <= INLINE_HASH) and self._idle():
            _update(self._sha256, also, chunks)
            return
        job = in_thread(self._lane, _update, self._sha256, also, chunks)
        self._jobs.append((job, size))
        self._backlog += size

    def _idle(self) -> bool:
        """No job of this hash is queued or running: the loop may update it itself. (A
        failed job stays queued, for ``settled`` to raise.)"""
        while self._jobs and _succeeded(self._jobs[0][0]):
            self._backlog -= self._jobs.popleft()[1]
        return not self._jobs

    async def limit_backlog(self, max_bytes: int) -> None:
        while self._jobs and self._backlog > max_bytes:
            await self._oldest_done()

    async def settled(self) -> None:
        while self._jobs:
            await self._oldest_done()

    async def hexdigest(self) -> str:
        assert self._sha256 is not None
        await self.settled()
        return str(self._sha256.hexdigest())

    async def _oldest_done(self) -> None:
        job, size = self._jobs[0]
        await asyncio.shield(job)  # a cancelled waiter must not cancel the shared job
        if self._jobs and self._jobs[0][0] is job:
            self._jobs.popleft()
            self._backlog -= size


def _succeeded(job: "asyncio.Future[None]") -> bool:
    return job.done() and not job.cancelled() and job.exception() is None


def _update(sha256: Any | None, also: Any | None, chunks: list[bytes]) -> None:
    for chunk in chunks:
        if sha256 is not None:
            sha256.update(chunk)
        if also is not None:
            also.update(chunk)


class RunningDigests:
    """The running hashes of this process, by upload, on a few shared hash lanes: an
    upload always hashes on the same lane, and the thread count stays bounded however many
    PATCHes run at once."""

    def __init__(self, lanes: list[ThreadPoolExecutor]) -> None:
        self._entries: OrderedDict[str, RunningHash] = OrderedDict()
        self._lanes = lanes

    def take(self, upload_id: str, position: int) -> RunningHash | None:
        """The running hash if it covers exactly ``position`` bytes; a fresh one at 0."""
        entry = self._entries.pop(upload_id, None)
        if entry is not None and entry.position == position:
            return entry
        return self.new(upload_id) if position == 0 else None

    def new(self, upload_id: str, *, whole_file: bool = True) -> RunningHash:
        lane = self._lanes[int(upload_id[:8], 16) % len(self._lanes)]
        return RunningHash(lane, whole_file=whole_file)

    def put(self, upload_id: str, running: RunningHash) -> None:
        self._entries[upload_id] = running
        while len(self._entries) > _MAX_ENTRIES:
            self._entries.popitem(last=False)

    def drop(self, upload_id: str) -> None:
        self._entries.pop(upload_id, None)
