"""Archive manifests in the background: every finished upload is read once, streaming, and
its entry list stored (``tuslog.uploads.manifests``), so that staff can browse, preview and
search it without downloading it (``tuslog.uploads.archive_reading``).

- **Which uploads.** Finished with a SHA-256: complete, verified, and also *corrupt*. A
  corrupt upload does not match the SHA-256 its client declared, so it is probably cut
  short or damaged; but its bytes are exactly what arrived, the readers take hostile bytes
  as normal input, and the entry list is what tells a support engineer whether what did
  arrive is usable (the listing shows the upload's state beside it). Partial uploads are
  pieces of a file, not files: never. An upload still being verified gets its manifest
  when the verifier has recorded the SHA-256.
- **Never on the request path.** Completion only spawns a task; the reading runs on
  ``Pools.archive_jobs`` threads, ``TUSLOG_ARCHIVE_JOBS`` at a time per process.
- **One at a time per upload, across processes.** The queue is the table. The process
  that finished an upload adds its row in the same transaction, already *claimed* by
  itself (``manifests.add_claimed``: no transaction of its own to claim it; if the job
  waited here for a third of the lease, the claim is renewed before the reading starts);
  a row that existed already is claimed by id (``manifests.claim_mine``); the rest (the
  janitor's finds, jobs given back, claims that ran out) is found by searching the table
  (``manifests.claim``) after the janitor's pass. A worker renews its claim while it
  reads; a deleted upload or a lost claim stops the reading at its next chunk.
- **Stops and crashes.** At shutdown the reading stops and the row goes back to pending,
  and so do the jobs claimed at completion that no worker started yet;
  the janitor's pass (``sweep``) starts pending work again, also rows whose claim ran out
  (a crash) and finished uploads that have no row at all, and forgets the manifests of
  uploads that are gone.
"""

import asyncio
import functools
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import BinaryIO

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tuslog.archives import Cancelled, Caps, Manifest, build_manifest
from tuslog.db.availability import log_failure
from tuslog.db.models import Upload, utcnow
from tuslog.settings import Settings
from tuslog.uploads import manifests
from tuslog.uploads.parts import Parts
from tuslog.uploads.pools import ClaimedJob

log = logging.getLogger(__name__)
_STORAGE_RETRY = manifests.LEASE  # a storage failure is tried again after this long


def archive_caps(settings: Settings, time_budget: timedelta, max_bytes: int | None = None) -> Caps:
    """The caps of one archive job, from the settings (``TUSLOG_ARCHIVE_*``)."""
    return Caps(
        max_entries=settings.archive_max_entries,
        max_total_bytes=max_bytes or settings.archive_max_bytes,
        max_ratio=settings.archive_max_ratio,
        max_path_length=settings.archive_max_path_length,
        time_budget=time_budget.total_seconds(),
        max_decoder_memory=settings.archive_max_decoder_memory,
    )


def new_holder() -> str:
    """Who holds a claim: this process, and this one job."""
    return f"{socket.gethostname()[:80]}:{os.getpid()}:{secrets.token_hex(4)}"


def _build(
    opener: Callable[[], BinaryIO], caps: Caps, cancel: threading.Event, filename: str
) -> tuple[Manifest, bytes | None]:
    """In a worker thread: list the archive, and compress the list for storage."""
    manifest = build_manifest(opener, caps, cancel, filename=filename or None)
    return manifest, manifests.pack(manifest) if manifest.is_archive else None


async def _claim_mine(
    session: AsyncSession, *, upload_id: str, holder: str
) -> tuple[bool, Upload | None]:
    """Claim a job this process queued, and load its upload, in one transaction."""
    mine = await manifests.claim_mine(session, upload_id, holder, utcnow())
    return mine, (await session.get(Upload, upload_id) if mine else None)


class Inspection:
    """Cheap to make: its state (tasks, cancel events) lives in ``parts.pools``."""

    def __init__(self, parts: Parts) -> None:
        self._parts = parts
        self._background = parts.pools.background
        self._jobs = parts.pools.manifest_jobs

    def start(self, upload_id: str) -> None:
        """After an upload finished: queue its manifest, if it gets one, and have a worker
        on it. Never blocks and never raises (on the event loop)."""
        self._background.spawn(f"archive-queue-{upload_id}", lambda: self._queue(upload_id))

    async def claimed(self, upload: Upload, holder: str) -> None:
        """The caller committed ``upload``'s row claimed by ``holder``
        (``manifests.add_claimed``, in its own transaction): a worker of this process reads
        it next. If a stop began meanwhile, no worker starts: the claim is given back at
        once (else it would hold for ``manifests.LEASE``)."""
        job = ClaimedJob(upload, holder, time.monotonic())
        self._jobs.mine.append(job)
        if self._spawn_workers():
            return
        self._jobs.mine.remove(job)
        await self._give_back([job])

    def queued(self, upload_id: str) -> None:
        """The caller committed ``upload_id``'s pending row (``manifests.add_pending``, in
        its own transaction): a worker of this process claims it by id, without searching
        the table. Call on the loop."""
        self._jobs.mine.append(upload_id)
        self._spawn_workers()

    async def _queue(self, upload_id: str) -> None:
        async with self._parts.db.begin() as session:
            eligible = await session.scalar(
                select(Upload.id).where(Upload.id == upload_id, manifests.eligible())
            )
            if eligible is not None:
                await manifests.add_pending(session, upload_id)
        if eligible is not None:
            self.queued(upload_id)

    def wake(self) -> None:
        """Have ``TUSLOG_ARCHIVE_JOBS`` workers go through the whole queue, the table (once
        more, those that run already: they may have found it empty a moment ago)."""
        self._jobs.searches += 1
        self._spawn_workers()

    def _spawn_workers(self) -> bool:
        """False if none will run (a stop has begun)."""
        started = [
            self._background.spawn(f"archive-manifests-{number}", self._work)
            for number in range(self._parts.settings.archive_jobs)
        ]
        return any(started)

    async def sweep(self) -> None:
        """The janitor's pass: forget what belongs to gone uploads, give up on jobs that
        keep dying, queue finished uploads that have no manifest, and start the queue.
        Never raises: the janitor's other work must not depend on this."""
        try:
            async with self._parts.db.begin() as session:
                forgotten = await manifests.forget_gone(session)
                given_up = await manifests.give_up(session, utcnow())
                added = await manifests.add_missing(session)
        except Exception as exc:
            log_failure(log, "archive manifests: the janitor's pass failed; will retry", exc)
            return
        if forgotten or given_up or added:
            log.info(
                "archive manifests: %d queued, %d of gone uploads removed, %d given up",
                added,
                forgotten,
                given_up,
            )
        self.wake()

    async def _work(self) -> None:
        """This process's own jobs first, each claimed by id; then, if asked, the table
        (every worker, until one finds nothing left for the latest search asked)."""
        stopping, jobs = self._background.stopping, self._jobs
        while jobs.mine and not stopping.is_set():
            job = jobs.mine.popleft()
            try:
                mine = await self._claimed(job)
            except Exception as exc:  # the database, for a moment: the next start retries
                jobs.mine.appendleft(job)
                upload_id = job if isinstance(job, str) else job.upload.id
                log_failure(log, "archive manifest of upload %s: not claimed yet", exc, upload_id)
                return
            if mine is not None:
                await self._run(*mine)
        if stopping.is_set():
            await self._hand_back_unstarted()
            return
        while not stopping.is_set() and jobs.searches > jobs.searched:
            asked, holder = jobs.searches, new_holder()
            async with self._parts.db.begin() as session:
                claimed = await manifests.claim(session, holder, utcnow())
            if claimed is None:
                jobs.searched = max(jobs.searched, asked)
                continue
            await self._run(claimed, holder)

    async def _hand_back_unstarted(self) -> None:
        """At a stop: the jobs claimed at completion that no worker started go back to
        pending now, not counted as an attempt (otherwise their claims held until they ran
        out, ``LEASE``, and each stop counted one of ``MAX_ATTEMPTS``)."""
        mine = self._jobs.mine
        unstarted = [job for job in mine if isinstance(job, ClaimedJob)]
        for job in unstarted:
            mine.remove(job)
        await self._give_back(unstarted)

    async def _give_back(self, jobs: list[ClaimedJob]) -> None:
        """Claims of jobs no worker started: pending again, not counted as an attempt."""
        if not jobs:
            return
        try:
            async with self._parts.db.begin() as session:
                for job in jobs:
                    await manifests.release(
                        session, job.upload.id, job.holder, problem=None, counts=False
                    )
        except Exception as exc:
            log_failure(log, "archive manifests: %d claims kept at the stop", exc, len(jobs))

    async def _claimed(self, job: str | ClaimedJob) -> tuple[str, str, Upload | None] | None:
        """A job of this process, claimed: its upload's id, the holder, and the row if it
        is at hand. None if another process has it (or it is done or gone)."""
        if isinstance(job, ClaimedJob):
            upload_id, holder = job.upload.id, job.holder
            fresh = time.monotonic() - job.claimed_at < manifests.LEASE.total_seconds() / 3
            if fresh or await self._parts.db.inline(
                lambda session: manifests.renew(session, upload_id, holder)
            ):
                return upload_id, holder, job.upload
            return None
        holder = new_holder()
        claim = functools.partial(_claim_mine, upload_id=job, holder=holder)
        mine, upload = await self._parts.db.inline(claim)
        return (job, holder, upload) if mine else None

    async def build_now(self, upload_id: str) -> bool:
        """Make ``upload_id``'s manifest in this process, now, unless another process is
        making it (False); for a command that waits for one while no server works."""
        holder = new_holder()
        async with self._parts.db.begin() as session:
            await manifests.add_pending(session, upload_id)
            claimed = await manifests.claim(session, holder, utcnow(), upload_id)
        if claimed is None:
            return False
        await self._run(upload_id, holder)
        return True

    async def _run(self, upload_id: str, holder: str, upload: Upload | None = None) -> None:
        """Read the claimed job's upload (``upload``: its row, if the claim loaded it)."""
        if upload is None:
            async with self._parts.db.session() as session:
                upload = await session.get(Upload, upload_id)
        if upload is None or upload.state.gone:
            await self._write(lambda session: manifests.forget(session, upload_id))
            return
        cancel = self._background.cancel_event()
        try:
            await self._read(upload, holder, cancel)
        finally:
            self._background.forget(cancel)

    async def _read(self, upload: Upload, holder: str, cancel: threading.Event) -> None:
        parts, upload_id = self._parts, upload.id
        caps = archive_caps(parts.settings, parts.settings.archive_time_budget)
        work = functools.partial(
            _build, lambda: parts.store.open_reader(upload_id), caps, cancel, upload.filename
        )
        future = asyncio.get_running_loop().run_in_executor(parts.pools.archive_jobs, work)
        try:
            await self._watch(future, upload_id, holder, cancel)
            manifest, data = await future
        except asyncio.CancelledError:  # a command interrupted (Ctrl-C)
            cancel.set()
            await self._release(upload_id, holder, None, counts=False)
            raise
        except Cancelled:
            await self._stopped(upload_id, holder)
        except OSError as error:
            await self._storage_failed(upload_id, holder, error)
        except Exception as error:  # a bug: recorded, never retried in a loop
            log.exception("listing the archive of upload %s failed", upload_id)
            problem = f"could not read: an internal error ({type(error).__name__}); see the log"
            await self._write(lambda session: manifests.fail(session, upload_id, holder, problem))
        else:
            await self._store(upload_id, holder, manifest, data)

    async def _watch(
        self,
        future: "asyncio.Future[tuple[Manifest, bytes | None]]",
        upload_id: str,
        holder: str,
        cancel: threading.Event,
    ) -> None:
        """While the reading runs: renew the claim; stop it if the claim was lost or the
        upload is gone (deleted by staff, with its ticket)."""
        every = manifests.LEASE.total_seconds() / 3
        while not future.done():
            await asyncio.wait({future}, timeout=every)
            if future.done():
                return
            try:
                async with self._parts.db.begin() as session:
                    kept = await manifests.renew(session, upload_id, holder)
                    gone = await manifests.upload_is_gone(session, upload_id)
            except Exception as error:  # the database, for a moment: read on, try again
                log.warning("could not renew the claim on upload %s: %s", upload_id, error)
                continue
            if not kept or gone:
                cancel.set()

    async def _store(
        self, upload_id: str, holder: str, manifest: Manifest, data: bytes | None
    ) -> None:
        async def finish(session: AsyncSession) -> bool:
            stored = await manifests.finish(session, upload_id, holder, manifest, data)
            if not stored and await manifests.upload_is_gone(session, upload_id):
                await manifests.forget(session, upload_id)
            return stored

        if await self._parts.db.inline(finish):
            log.info(
                "archive manifest of upload %s: %s, %d entries, %.1f s%s",
                upload_id,
                manifest.format or "not an archive",
                manifest.counts.entries,
                manifest.seconds,
                f" ({manifest.problem})" if manifest.problem else "",
            )

    async def _stopped(self, upload_id: str, holder: str) -> None:
        """The reading was cancelled: the server stops, the upload went, or the claim did."""
        async with self._parts.db.begin() as session:
            if await manifests.upload_is_gone(session, upload_id):
                await manifests.forget(session, upload_id)
            else:
                await manifests.release(session, upload_id, holder, problem=None, counts=False)

    async def _storage_failed(self, upload_id: str, holder: str, error: OSError) -> None:
        async with self._parts.db.begin() as session:
            if await manifests.upload_is_gone(session, upload_id):
                await manifests.forget(session, upload_id)
                return
        if isinstance(error, FileNotFoundError):
            problem = "could not read: the upload's data is missing from the storage"
            await self._write(lambda session: manifests.fail(session, upload_id, holder, problem))
            return
        log.warning("could not read upload %s for its manifest: %s", upload_id, error)
        problem = f"could not read: the storage failed ({error.strerror or error}); will retry"
        await self._release(upload_id, holder, problem, counts=True)

    async def _release(
        self, upload_id: str, holder: str, problem: str | None, *, counts: bool
    ) -> None:
        retry_at = utcnow() + _STORAGE_RETRY if counts else None
        await self._write(
            lambda session: manifests.release(
                session, upload_id, holder, problem=problem, counts=counts, not_before=retry_at
            )
        )

    async def _write(self, work: Callable[[AsyncSession], Awaitable[object]]) -> None:
        async with self._parts.db.begin() as session:
            await work(session)
