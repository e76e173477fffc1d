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
import hashlib
import logging
import threading
import time

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
        self._stopping = threading.Event()

    def start(self, upload_id: str, *, patient: bool = True) -> None:
        """Verify ``upload_id`` in the background (once per process at a time). ``patient``
        waits a moment for the lock (the completing request is about to let go)."""
        if upload_id in self._tasks or self._stopping.is_set():
            return
        task = asyncio.create_task(self._verify(upload_id, _LOCK_PATIENCE if patient else 0))
        self._tasks[upload_id] = task
        task.add_done_callback(lambda _: self._tasks.pop(upload_id, None))

    async def wait(self) -> None:
        """Until the verifications running now have ended (tests, shutdown)."""
        if self._tasks:
            await asyncio.wait(list(self._tasks.values()))

    async def stop(self) -> None:
        """Interrupt running verifications (the janitor resumes them after the restart)."""
        self._stopping.set()
        await self.wait()

    async def _verify(self, upload_id: str, patience: float) -> None:
        held = await self._lock(upload_id, patience)
        if held is None:
            return  # another process is on it, or a request is; the janitor comes back
        try:
            await self._verify_locked(upload_id)
        except Exception:
            log.exception("verifying upload %s failed; the janitor will retry", upload_id)
        finally:
            held.release()

    async def _lock(self, upload_id: str, patience: float) -> HeldLock | None:
        deadline = time.monotonic() + patience
        while not self._stopping.is_set():
            held = self._locks.try_acquire(upload_id)
            if held is not None or time.monotonic() >= deadline:
                return held
            await asyncio.sleep(_LOCK_POLL)
        return None

    async def _verify_locked(self, upload_id: str) -> None:
        async with self._sessions() as session:
            found = await uploads.load(session, upload_id)
        if found is None:
            return
        upload = found[0]
        if upload.state is not UploadState.COMPLETE or upload.sha256 is not None:
            return
        try:
            sha256 = await asyncio.to_thread(self._hash, upload_id, upload.offset)
        except FileNotFoundError:
            return  # deleted by staff meanwhile
        if sha256 is None:
            return  # stopping
        async with self._sessions.begin() as session:
            recorded = await uploads.record_verification(session, upload, sha256)
        if recorded:
            self._locks.discard(upload_id)
            log.info("upload %s verified in the background", upload_id)

    def _hash(self, upload_id: str, length: int) -> str | None:
        digest = hashlib.sha256()
        for block in self._store.read_blocks(upload_id, 0, length):
            if self._stopping.is_set():
                return None
            digest.update(block)
        return digest.hexdigest()
