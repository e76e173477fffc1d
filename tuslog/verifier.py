"""Background verification of received uploads.

When the last byte of an upload arrives in a process that holds its running SHA-256 (the
usual case), completion is immediate. When it does not (another worker received earlier
PATCHes, or the server restarted mid-upload), the file must be read again: for 100 GB
that is minutes, during which every request for the upload would wait for its lock and get
423s. So completion records the upload as received (state complete, no SHA-256 yet, shown
as "verifying"), answers at once, and this hashes the file off the request path, then
records verified, corrupt or complete. The upload's lock is held meanwhile, so two
processes never hash the same upload; the janitor restarts verifications that a stop or a
crash cut short.
"""

import asyncio
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tuslog.db.models import UploadState
from tuslog.services import uploads
from tuslog.storage.filestore import FileStore
from tuslog.storage.locks import HeldLock, UploadLocks

log = logging.getLogger(__name__)
_LOCK_PATIENCE = 10.0  # the completing request still holds the lock for a moment
_LOCK_POLL = 0.1


class Verifier:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], store: FileStore, locks: UploadLocks
    ) -> None:
        self._sessions = sessions
        self._store = store
        self._locks = locks
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._patience: dict[str, float] = {}
        # One at a time, on a thread of its own: hashing never takes the threads that the
        # requests' writes and syncs need, however many verifications are waiting.
        self._one_at_a_time = asyncio.Semaphore(1)
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="tuslog-verify")
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
        self._thread.shutdown(wait=True)

    async def _verify(self, upload_id: str) -> None:
        async with self._one_at_a_time:
            held = await self._lock(upload_id)
            if held is None:
                return  # another process is on it, or a request is; the janitor comes back
            try:
                await self._verify_locked(upload_id)
            except Exception:
                log.exception("verifying upload %s failed; the janitor will retry", upload_id)
            finally:
                held.release()

    async def _lock(self, upload_id: str) -> HeldLock | None:
        started = time.monotonic()
        while not self._stopping.is_set():
            held = self._locks.try_acquire(upload_id)
            if held is not None:
                return held
            if time.monotonic() - started >= self._patience.get(upload_id, 0.0):
                return None
            await asyncio.sleep(_LOCK_POLL)
        return None

    async def _verify_locked(self, upload_id: str) -> None:
        async with self._sessions() as session:
            found = await uploads.load(session, upload_id)
        upload = found[0] if found is not None else None
        if upload is None or upload.state is not UploadState.COMPLETE or upload.sha256:
            self._locks.discard(upload_id)  # nothing to verify (any more): no lock file left
            return
        loop = asyncio.get_running_loop()
        try:
            sha256 = await loop.run_in_executor(
                self._thread, self._store.sha256, upload_id, upload.offset, self._stopping
            )
        except FileNotFoundError:
            return  # deleted by staff meanwhile
        if sha256 is None:
            return  # stopping
        async with self._sessions.begin() as session:
            recorded = await uploads.record_verification(session, upload, sha256)
        self._locks.discard(upload_id)
        if recorded:
            log.info("upload %s verified in the background", upload_id)
