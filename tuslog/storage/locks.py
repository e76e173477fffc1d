"""One writer per upload, across processes and hosts sharing the storage volume, handed
over in the order it was asked for.

The lock is an exclusive ``flock`` on ``<locks>/<id>.lock`` (plus an in-process registry,
because flock emulated over NFS is per process). A request that finds the lock taken (or
others waiting) queues: a ticket file ``<locks>/queue/<id>/<time>-<pid>-<random>`` whose
content says why it waits. Only the oldest live ticket may take the lock, so the request
that asked first gets it next, whichever worker or host it is on, and a stopped client
that comes straight back waits its turn. A holder is asked to let go while anyone waits:
in-process by its callback, across processes by one watcher per process (``watch``) that
looks into ``<locks>/queue`` (empty unless a hand-over is under way) for the uploads this
process holds. The holder saves what it has and releases; if that does not happen within
``release_timeout`` the waiter gets a retryable 423 and withdraws its ticket.
"""

import asyncio
import contextlib
import fcntl
import logging
import os
import secrets
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from tuslog import errors, metrics

log = logging.getLogger(__name__)

_POLL_SECONDS = 0.02
_WATCH_SECONDS = 0.1
_DEAD_TICKET_MARGIN = 10.0  # a ticket older than the release timeout plus this is dead
_ENQUEUE_ATTEMPTS = 100  # each lost only to another process's rmdir of an empty queue

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
    def _queue_dir(self) -> Path:
        return self.lock_dir / "queue"

    def prepare(self) -> None:
        self._queue_dir.mkdir(parents=True, exist_ok=True)

    def lock_path(self, upload_id: str) -> Path:
        return self.lock_dir / f"{upload_id}.lock"

    def queue_path(self, upload_id: str) -> Path:
        return self._queue_dir / upload_id

    def forget(self, held: HeldLock) -> None:
        if self._held.get(held.upload_id) is held:
            del self._held[held.upload_id]

    def is_held_here(self, upload_id: str) -> bool:
        return upload_id in self._held

    def try_acquire(self, upload_id: str) -> HeldLock | None:
        """The lock if it is free and nobody waits for it (background work: the janitor,
        the verifier, never jumps the queue)."""
        if upload_id in self._held or self.waiting(upload_id):
            return None
        return self._flock(upload_id)

    def _flock(self, upload_id: str) -> HeldLock | None:
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
        """Take the lock, queueing behind earlier requests and asking the holder to let
        go (telling it ``why``); 423 if it does not come in time."""
        held = self.try_acquire(upload_id)  # the usual case: free, nobody waiting
        if held is not None:
            return held
        ticket = self._enqueue(upload_id, why)
        try:
            return await self._wait_turn(upload_id, ticket, why)
        finally:
            self._withdraw(upload_id, ticket)

    async def _wait_turn(self, upload_id: str, ticket: str, why: str) -> HeldLock:
        deadline = time.monotonic() + self.release_timeout
        while True:
            if self._first_in_line(upload_id, ticket):
                held = self._flock(upload_id)
                if held is not None:
                    metrics.lock_takeover(True, "released")
                    return held
                local = self._held.get(upload_id)
                if local is not None:  # again at every poll: it may only now listen
                    local.request_release(why)
            if time.monotonic() >= deadline:
                metrics.lock_takeover(True, "timed_out")
                raise errors.UPLOAD_LOCKED()
            await asyncio.sleep(_POLL_SECONDS)

    def _enqueue(self, upload_id: str, why: str) -> str:
        """Our ticket in the upload's queue. Another process withdrawing its own ticket
        removes the queue folder when it looks empty, which may be right between our
        ``mkdir`` and our write: then the folder is made again."""
        ticket = f"{time.time_ns():020d}-{os.getpid()}-{secrets.token_hex(4)}"
        queue = self.queue_path(upload_id)
        attempts = 0
        while True:
            attempts += 1
            queue.mkdir(parents=True, exist_ok=True)
            try:
                (queue / ticket).write_text(why)
                return ticket
            except FileNotFoundError:
                if attempts >= _ENQUEUE_ATTEMPTS:
                    raise

    def _withdraw(self, upload_id: str, ticket: str) -> None:
        queue = self.queue_path(upload_id)
        with contextlib.suppress(OSError):
            (queue / ticket).unlink(missing_ok=True)
            queue.rmdir()  # only if nobody else waits (ENOTEMPTY otherwise)

    def waiting(self, upload_id: str) -> bool:
        return bool(self._live_tickets(upload_id))

    def _first_in_line(self, upload_id: str, ticket: str) -> bool:
        tickets = self._live_tickets(upload_id)
        return not tickets or tickets[0] >= ticket

    def _live_tickets(self, upload_id: str) -> list[str]:
        """The queue's tickets, oldest first; those of waiters that died are skipped (a
        live waiter withdraws its own at its deadline)."""
        try:
            names = sorted(os.listdir(self.queue_path(upload_id)))
        except (FileNotFoundError, NotADirectoryError):
            return []
        oldest = time.time_ns() - int((self.release_timeout + _DEAD_TICKET_MARGIN) * 1e9)
        live = [name for name in names if _ticket_time(name) >= oldest]
        for dead in set(names) - set(live):
            with contextlib.suppress(OSError):
                (self.queue_path(upload_id) / dead).unlink()
        return live

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
        """Remove the lock file of an upload that finished or is gone (call while holding
        its lock; a waiter that opened the old file notices and opens the new one). What
        ended the upload is already recorded, so a failure here is only logged: a lock file
        left behind costs an inode, and locking it later still works."""
        try:
            self.lock_path(upload_id).unlink(missing_ok=True)
        except OSError as exc:
            log.warning("could not remove the lock file of upload %s: %s", upload_id, exc)

    def _requested_elsewhere(self) -> dict[str, str]:
        """Upload id → why, for the locks this process holds that someone waits for."""
        try:
            with os.scandir(self._queue_dir) as entries:
                names = [entry.name for entry in entries if entry.name in self._held]
        except FileNotFoundError:
            return {}
        wanted: dict[str, str] = {}
        for name in names:
            tickets = self._live_tickets(name)
            if not tickets:
                continue
            try:
                why = (self.queue_path(name) / tickets[0]).read_text()[:16]
            except FileNotFoundError:
                why = TAKEOVER  # withdrawn meanwhile; another may still wait
            wanted[name] = why if why in _REASONS else TAKEOVER
        return wanted

    async def watch(self, stopping: asyncio.Event) -> None:
        """Pass waiting requests of other processes on to this process' holders, until
        ``stopping`` is set. One look into a (mostly empty) folder per tick, and nothing
        while this process holds no lock."""
        while not stopping.is_set():
            if self._held:
                try:
                    wanted = await asyncio.to_thread(self._requested_elsewhere)
                except OSError as exc:
                    log.warning("cannot read lock requests in %s: %s", self.lock_dir, exc)
                    wanted = {}
                for upload_id, why in wanted.items():
                    held = self._held.get(upload_id)
                    if held is not None:
                        held.request_release(why)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), _WATCH_SECONDS)


def _ticket_time(name: str) -> int:
    try:
        return int(name.split("-", 1)[0])
    except ValueError:
        return 0


def _same_file(fd: int, path: Path) -> bool:
    try:
        on_disk = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (held.st_dev, held.st_ino) == (on_disk.st_dev, on_disk.st_ino)
