"""One writer per upload, across processes and hosts sharing the storage volume.

The lock is an exclusive ``flock`` on ``<storage>/.locks/<id>.lock`` (plus an in-process
registry, because flock emulated over NFS is per process). A request that finds the
lock taken asks the holder to let go: in-process by calling the holder's callback, across
processes by creating ``<id>.release``, which a holding PATCH polls for. The holder saves
what it has and releases; only if that does not happen within ``release_timeout`` does
the newcomer get a retryable 423.
"""

import asyncio
import contextlib
import fcntl
import logging
import os
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from tuslog import errors

log = logging.getLogger(__name__)

_POLL_SECONDS = 0.05


class HeldLock:
    def __init__(self, locks: "UploadLocks", upload_id: str, fd: int) -> None:
        self._locks = locks
        self.upload_id = upload_id
        self._fd = fd
        self._on_release_request: Callable[[bool], None] | None = None
        self._released = False

    def on_release_request(self, callback: Callable[[bool], None] | None) -> None:
        """Register what to do when another request wants this upload, or the server
        stops (the callback's argument): the PATCH's stop."""
        self._on_release_request = callback

    def request_release(self, shutdown: bool = False) -> None:
        if self._on_release_request is not None:
            self._on_release_request(shutdown)

    def release_requested_elsewhere(self) -> bool:
        """Cheap poll for a release request from another process or host."""
        return self._locks.release_path(self.upload_id).exists()

    def release(self) -> None:
        if self._released:
            return
        self._released = True
        self._locks.forget(self)
        with contextlib.suppress(OSError):
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)


class UploadLocks:
    def __init__(self, lock_dir: Path, release_timeout: float) -> None:
        self.lock_dir = lock_dir
        self.release_timeout = release_timeout
        self._held: dict[str, HeldLock] = {}

    def lock_path(self, upload_id: str) -> Path:
        return self.lock_dir / f"{upload_id}.lock"

    def release_path(self, upload_id: str) -> Path:
        return self.lock_dir / f"{upload_id}.release"

    def forget(self, held: HeldLock) -> None:
        if self._held.get(held.upload_id) is held:
            del self._held[held.upload_id]

    def try_acquire(self, upload_id: str) -> HeldLock | None:
        if upload_id in self._held:
            return None
        path = self.lock_path(upload_id)
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return None
            if _same_file(fd, path):
                break
            # The previous holder removed the lock file (the upload finished) after we
            # opened it: a lock on that orphan inode would exclude nobody. Open it anew.
            os.close(fd)
        held = HeldLock(self, upload_id, fd)
        self._held[upload_id] = held
        return held

    async def acquire(self, upload_id: str) -> HeldLock:
        """Take the lock, asking a stale holder to let go; 423 if it does not in time."""
        deadline = time.monotonic() + self.release_timeout
        asked_elsewhere = False
        while True:
            held = self.try_acquire(upload_id)
            if held is not None:
                self.release_path(upload_id).unlink(missing_ok=True)
                return held
            local = self._held.get(upload_id)
            if local is not None:
                # Again at every poll: the holder may only now be ready to hear it.
                local.request_release()
            elif not asked_elsewhere:
                # Once: the file stays until the next holder removes it. Touching it again
                # would also stop a third request that took the lock in between.
                self.release_path(upload_id).touch(exist_ok=True)
                asked_elsewhere = True
            if time.monotonic() >= deadline:
                raise errors.UPLOAD_LOCKED()
            await asyncio.sleep(_POLL_SECONDS)

    @contextlib.asynccontextmanager
    async def hold(self, upload_id: str) -> AsyncIterator[HeldLock]:
        held = await self.acquire(upload_id)
        try:
            yield held
        finally:
            held.release()

    def release_all(self) -> None:
        """Ask every holder in this process to let go (graceful shutdown)."""
        for held in list(self._held.values()):
            held.request_release(shutdown=True)

    def discard(self, upload_id: str) -> None:
        """Remove the lock files of an upload that finished or is gone (call while holding
        its lock; a waiter that opened the old file notices and opens the new one). What
        ended the upload is already recorded, so a failure here is only logged: a lock file
        left behind costs an inode, and locking it later still works."""
        try:
            self.lock_path(upload_id).unlink(missing_ok=True)
            self.release_path(upload_id).unlink(missing_ok=True)
        except OSError as exc:
            log.warning("could not remove the lock files of upload %s: %s", upload_id, exc)


def _same_file(fd: int, path: Path) -> bool:
    try:
        on_disk = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (held.st_dev, held.st_ino) == (on_disk.st_dev, on_disk.st_ino)
