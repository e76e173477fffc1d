"""Background verification of received uploads.

When the last byte of an upload arrives in a process that holds its running SHA-256 (the
usual case), completion is immediate. When it does not (another worker received earlier
PATCHes, or the server restarted mid-upload), the file must be read again: for 100 GB
that is minutes, during which every request for the upload would wait for its lock and get
423s. So completion records the upload as received (state complete, no SHA-256 yet, shown
as "verifying"), answers at once, and this hashes the file off the request path, then
records verified, corrupt or complete. The upload's lock is held meanwhile, so two
processes never hash the same upload; whoever asks for the lock (staff deleting the
upload) makes the verification stop and let go. The janitor restarts verifications that a
stop, a crash or such a request cut short.
"""

import asyncio
import hashlib
import logging
import threading
import time
from collections.abc import Callable

from tuslog.db.availability import log_failure
from tuslog.db.models import UploadState
from tuslog.storage.locks import HeldLock
from tuslog.storage.store import DataMissingError, Store
from tuslog.uploads import records
from tuslog.uploads.inspection import Inspection
from tuslog.uploads.parts import Parts

log = logging.getLogger(__name__)
_LOCK_PATIENCE = 10.0  # the completing request still holds the lock for a moment
_LOCK_POLL = 0.1
_READ_BLOCK = 4 * 1024 * 1024


def sha256_of(store: Store, upload_id: str, length: int, stopped: Callable[[], bool]) -> str | None:
    """SHA-256 of the upload's first ``length`` bytes; None if ``stopped()`` meanwhile."""
    digest = hashlib.sha256()
    with store.open_reader(upload_id) as data:
        remaining = length
        while remaining > 0:
            if stopped():
                return None
            block = data.read(min(_READ_BLOCK, remaining))
            if not block:
                raise DataMissingError(upload_id)
            digest.update(block)
            remaining -= len(block)
    return digest.hexdigest()


class Verifier:
    def __init__(self, parts: Parts) -> None:
        self._parts = parts
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._patience: dict[str, float] = {}
        # One at a time, on a thread of its own (Pools.verify): hashing never takes the
        # threads that the requests' writes and syncs need.
        self._one_at_a_time = asyncio.Semaphore(1)
        self._stopping = threading.Event()

    def start(self, upload_id: str, *, patient: bool = True) -> None:
        """Verify ``upload_id`` in the background (once per process at a time). ``patient``
        waits a moment for the lock (the completing request is about to let go); it also
        makes an impatient start that is still waiting patient."""
        if self._stopping.is_set():
            return
        patience = _LOCK_PATIENCE if patient else 0.0
        self._patience[upload_id] = max(self._patience.get(upload_id, 0.0), patience)
        running = self._tasks.get(upload_id)
        if running is not None and not running.done():
            return
        task = asyncio.create_task(self._verify(upload_id))
        self._tasks[upload_id] = task
        task.add_done_callback(lambda done: self._forget(upload_id, done))

    def _forget(self, upload_id: str, task: "asyncio.Task[None]") -> None:
        if self._tasks.get(upload_id) is task:
            del self._tasks[upload_id]
            self._patience.pop(upload_id, None)

    async def wait(self) -> None:
        """Until the verifications running now have ended (tests, shutdown)."""
        while self._tasks:
            await asyncio.wait(list(self._tasks.values()))

    async def stop(self) -> None:
        """Interrupt running verifications (the janitor resumes them after the restart)."""
        self._stopping.set()
        await self.wait()

    async def _verify(self, upload_id: str) -> None:
        async with self._one_at_a_time:
            held = await self._lock(upload_id)
            if held is None:
                return  # another process is on it, or a request is; the janitor comes back
            stop = threading.Event()
            held.on_release_request(lambda _why: stop.set())
            try:
                await self._verify_locked(upload_id, stop)
            except Exception as exc:
                log_failure(
                    log, "verifying upload %s failed; the janitor will retry", exc, upload_id
                )
            finally:
                held.release()

    async def _lock(self, upload_id: str) -> HeldLock | None:
        started = time.monotonic()
        while not self._stopping.is_set():
            held = self._parts.locks.try_acquire(upload_id)
            if held is not None:
                return held
            if time.monotonic() - started >= self._patience.get(upload_id, 0.0):
                return None
            await asyncio.sleep(_LOCK_POLL)
        return None

    async def _verify_locked(self, upload_id: str, stop: threading.Event) -> None:
        parts = self._parts
        async with parts.db.session() as session:
            found = await records.load(session, upload_id)
        upload = found[0] if found is not None else None
        if upload is None or upload.state is not UploadState.COMPLETE or upload.sha256:
            parts.locks.discard(upload_id)  # nothing to verify (any more): no lock file left
            return

        def stopped() -> bool:
            return stop.is_set() or self._stopping.is_set()

        loop = asyncio.get_running_loop()
        try:
            sha256 = await loop.run_in_executor(
                parts.pools.verify, sha256_of, parts.store, upload_id, upload.offset, stopped
            )
        except FileNotFoundError:
            return  # deleted by staff meanwhile
        if sha256 is None:
            return  # stopping, or someone asked for the lock
        async with parts.db.begin() as session:
            recorded = await records.record_verification(session, upload, sha256)
        parts.locks.discard(upload_id)
        if recorded:
            log.info("upload %s verified in the background", upload_id)
            Inspection(parts).start(upload_id)  # its archive manifest
