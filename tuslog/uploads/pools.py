"""The engine's worker threads and background tasks, created and closed by whoever runs
the engine (the app's cleanup context, a CLI command): bounded, and named so that a thread
dump says who is who.
"""

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from tuslog.db.availability import log_failure
from tuslog.threads import in_thread

if TYPE_CHECKING:
    from tuslog.db.models import Upload

T = TypeVar("T")
log = logging.getLogger(__name__)

WRITE_THREADS = 8
HASH_LANES = 4
IO_THREADS = 8
ARCHIVE_JOB_THREADS = 8  # the most TUSLOG_ARCHIVE_JOBS allows
ARCHIVE_READ_THREADS = 4
_BACKGROUND_STOP_TIMEOUT = 20.0


class Background:
    """Coroutines that parts of the engine run on their own (archive manifests), by name.

    ``Pools.shutdown`` runs in a thread while the event loop goes on: it sets ``stopping``
    and every event handed out by ``cancel_event`` (archive work stops at its next chunk),
    then waits until the tasks have ended, i.e. recorded where they stopped, before the
    database is closed.
    """

    def __init__(self) -> None:
        self.stopping = threading.Event()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._again: dict[str, Callable[[], Coroutine[Any, Any, None]]] = {}
        self._cancels: set[threading.Event] = set()
        self._idle = threading.Condition()

    def spawn(self, name: str, work: Callable[[], Coroutine[Any, Any, None]]) -> bool:
        """Run ``work()`` as task ``name``; if that task runs already, once more after it
        (it may have looked for work just before there was more). False if a stop has
        begun: nothing runs then. Call on the loop."""
        if self.stopping.is_set():
            return False
        running = self._tasks.get(name)
        if running is not None and not running.done():
            self._again[name] = work
            return True
        task = asyncio.get_running_loop().create_task(work(), name=name)
        with self._idle:
            self._tasks[name] = task
        task.add_done_callback(lambda done: self._ended(name, done))
        return True

    def _ended(self, name: str, task: "asyncio.Task[None]") -> None:
        error = None if task.cancelled() else task.exception()
        if error is not None:
            log_failure(log, "background task %s failed", error, name)
        with self._idle:
            if self._tasks.get(name) is task:
                del self._tasks[name]
            self._idle.notify_all()
        again = self._again.pop(name, None)
        if again is not None:
            self.spawn(name, again)

    def cancel_event(self) -> threading.Event:
        """An event set at shutdown (already set when stopping); ``forget`` it after use."""
        event = threading.Event()
        with self._idle:
            self._cancels.add(event)
            if self.stopping.is_set():
                event.set()
        return event

    def forget(self, event: threading.Event) -> None:
        with self._idle:
            self._cancels.discard(event)

    async def wait(self) -> None:
        """Until no task runs (tests; a command that built a manifest)."""
        while tasks := [task for task in self._tasks.values() if not task.done()]:
            await asyncio.wait(tasks)

    def stop(self, timeout: float = _BACKGROUND_STOP_TIMEOUT) -> None:
        """Stop everything and wait for the tasks to end; from a thread other than the
        loop's (on the loop itself it cannot wait, and does not)."""
        with self._idle:
            self.stopping.set()
            for event in self._cancels:
                event.set()
            if _on_a_running_loop():
                return
            self._idle.wait_for(lambda: not self._tasks, timeout)


def _on_a_running_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


@dataclass(frozen=True)
class ClaimedJob:
    """A manifest job claimed in the transaction that finished its upload."""

    upload: "Upload"  # the finished upload's row
    holder: str
    claimed_at: float  # time.monotonic()


@dataclass
class ManifestJobs:
    """This process's archive-manifest work (``tuslog.uploads.inspection``): uploads whose
    row it committed itself, claimed already (``ClaimedJob``) or pending, to be claimed by
    id without searching the table; and the searches of the whole table asked for (the
    janitor's pass) and done."""

    mine: deque[str | ClaimedJob] = field(default_factory=deque)
    searches: int = 0  # asked for (``Inspection.wake``)
    searched: int = 0  # the latest of them that found nothing left to claim


@dataclass
class Pools:
    # Writes of all uploads: a FIFO queue, so a write that waits for the one before it
    # (tuslog.uploads.writes) only ever waits for one that has started.
    writes: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(WRITE_THREADS, "tuslog-write")
    )
    # One thread per lane: an upload always hashes on the same lane, in order.
    hash_lanes: list[ThreadPoolExecutor] = field(
        default_factory=lambda: [
            ThreadPoolExecutor(1, f"tuslog-hash-{n}") for n in range(HASH_LANES)
        ]
    )
    # Background verification: one at a time, never on the threads requests need.
    verify: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(1, "tuslog-verify")
    )
    # Short storage calls: open, size, truncate, delete, free space, reads for downloads.
    io: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(IO_THREADS, "tuslog-io")
    )
    # Archive manifests (tuslog.uploads.inspection): TUSLOG_ARCHIVE_JOBS at a time.
    archive_jobs: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(ARCHIVE_JOB_THREADS, "tuslog-archive")
    )
    # Previews, pages, searches and entry downloads: decompression that takes CPU for
    # seconds, never on the threads that uploads and downloads need.
    archive_reads: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(ARCHIVE_READ_THREADS, "tuslog-archive-read")
    )
    background: Background = field(default_factory=Background)
    manifest_jobs: ManifestJobs = field(default_factory=ManifestJobs)

    async def run(self, function: Callable[..., T], *args: object) -> T:
        """``function(*args)`` on an I/O thread."""
        return await in_thread(self.io, function, *args)

    def shutdown(self) -> None:
        self.background.stop()
        pools = (self.writes, *self.hash_lanes, self.verify, self.io)
        for pool in (*pools, self.archive_jobs, self.archive_reads):
            pool.shutdown(wait=True, cancel_futures=True)
