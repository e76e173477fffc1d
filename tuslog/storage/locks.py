"""One writer per upload, across processes and hosts sharing the storage volume.

The lock is an exclusive ``flock`` on ``<locks>/<id>.lock`` (plus an in-process registry,
because flock emulated over NFS is per process). A request that finds the lock taken asks
the holder to let go: in-process by calling the holder's callback, across processes by
creating ``<locks>/release/<id>``. One watcher per process (``watch``) looks into that
folder, which is empty unless a hand-over is under way, and passes requests on to the
holders of this process: no per-upload polling. The holder saves what it has and
releases; only if that does not happen within ``release_timeout`` does the newcomer get a
retryable 423.
"""

import asyncio
import contextlib
import fcntl
import logging
import os
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from tuslog import errors, metrics

log = logging.getLogger(__name__)

_POLL_SECONDS = 0.05
_WATCH_SECONDS = 0.1

# Why a holder is asked to let go (its callback gets one of these).
TAKEOVER = "takeover"  # a newer request for the same upload
SHUTDOWN = "shutdown"  # this server is stopping
ENDING = "ending"  # the upload is being ended (deleted by staff, with its ticket...)
_REASONS = frozenset({TAKEOVER, SHUTDOWN, ENDING})


class HeldLock:
    def __init__(self, locks: "UploadLocks", upload_id: str, fd: int) -> None:
        self._locks = locks
        self.upload_id = upload_id
        self._fd = fd
        self._on_release_request: Callable[[str], None] | None = None
        self._released = False

    def on_release_request(self, callback: Callable[[str], None] | None) -> None:
        """Register what to do when someone else needs this upload: the PATCH's stop. The
        callback gets why (``TAKEOVER``, ``SHUTDOWN``, ``ENDING``)."""
        self._on_release_request = callback

    def request_release(self, why: str = TAKEOVER) -> None:
        if self._on_release_request is not None:
            self._on_release_request(why)

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

    @property
    def _release_dir(self) -> Path:
        return self.lock_dir / "release"

    def prepare(self) -> None:
        self._release_dir.mkdir(parents=True, exist_ok=True)

    def lock_path(self, upload_id: str) -> Path:
        return self.lock_dir / f"{upload_id}.lock"

    def release_path(self, upload_id: str) -> Path:
        return self._release_dir / upload_id

    def forget(self, held: HeldLock) -> None:
        if self._held.get(held.upload_id) is held:
            del self._held[held.upload_id]

    def is_held_here(self, upload_id: str) -> bool:
        return upload_id in self._held

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

    async def acquire(self, upload_id: str, why: str = TAKEOVER) -> HeldLock:
        """Take the lock, asking a holder to let go (telling it ``why``); 423 if it does
        not in time."""
        deadline = time.monotonic() + self.release_timeout
        asked_elsewhere = waited = False
        while True:
            held = self.try_acquire(upload_id)
            if held is not None:
                self.release_path(upload_id).unlink(missing_ok=True)
                metrics.lock_takeover(waited, "released")
                return held
            waited = True  # someone holds it: asked to let go below
            local = self._held.get(upload_id)
            if local is not None:
                # Again at every poll: the holder may only now be ready to hear it.
                local.request_release(why)
            elif not asked_elsewhere:
                # Once: the file stays until the next holder removes it. Writing it again
                # would also stop a third request that took the lock in between.
                self.release_path(upload_id).write_text(why)
                asked_elsewhere = True
            if time.monotonic() >= deadline:
                metrics.lock_takeover(True, "timed_out")
                raise errors.UPLOAD_LOCKED()
            await asyncio.sleep(_POLL_SECONDS)

    @contextlib.asynccontextmanager
    async def hold(self, upload_id: str, why: str = TAKEOVER) -> AsyncIterator[HeldLock]:
        held = await self.acquire(upload_id, why)
        try:
            yield held
        finally:
            held.release()

    def release_all(self) -> None:
        """Ask every holder in this process to let go (graceful shutdown)."""
        for held in list(self._held.values()):
            held.request_release(SHUTDOWN)

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

    def _requested_elsewhere(self) -> dict[str, str]:
        """Upload id → why, for the release requests of the locks this process holds."""
        wanted: dict[str, str] = {}
        try:
            with os.scandir(self._release_dir) as entries:
                names = [entry.name for entry in entries if entry.name in self._held]
        except FileNotFoundError:
            return wanted
        for name in names:
            try:
                why = (self._release_dir / name).read_text()[:16]
            except FileNotFoundError:
                continue  # the next holder took it meanwhile
            wanted[name] = why if why in _REASONS else TAKEOVER
        return wanted

    async def watch(self, stopping: asyncio.Event) -> None:
        """Pass release requests from other processes on to this process' holders, until
        ``stopping`` is set. Costs one look into a (mostly empty) folder per tick, and
        nothing while this process holds no lock."""
        while not stopping.is_set():
            if self._held:
                try:
                    wanted = await asyncio.to_thread(self._requested_elsewhere)
                except OSError as exc:
                    log.warning("cannot read release requests in %s: %s", self.lock_dir, exc)
                    wanted = {}
                for upload_id, why in wanted.items():
                    held = self._held.get(upload_id)
                    if held is not None:
                        held.request_release(why)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), _WATCH_SECONDS)


def _same_file(fd: int, path: Path) -> bool:
    try:
        on_disk = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (held.st_dev, held.st_ino) == (on_disk.st_dev, on_disk.st_ino)
