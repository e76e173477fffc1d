"""Bringing an upload's record in line with its bytes, under its lock: reconciling after
the lock was taken, and completing an upload whose every byte has arrived."""

import asyncio

from sqlalchemy.ext.asyncio import AsyncSession

from tuslog import errors
from tuslog.db.models import Upload, UploadState
from tuslog.storage.store import Store, Writer, is_disk_full
from tuslog.uploads import hotpath, manifests, records
from tuslog.uploads.inspection import Inspection, new_holder
from tuslog.uploads.parts import Parts
from tuslog.uploads.verifier import Verifier


class Completion:
    def __init__(self, parts: Parts, verifier: Verifier) -> None:
        self._parts = parts
        self._verifier = verifier

    async def reconcile(self, upload: Upload, actor: str, client_ip: str | None) -> Upload:
        """Under the lock: re-read what may have changed before the lock was ours; cut the
        data back to the recorded offset (bytes past it were never acknowledged), or record
        a shorter file's real size if bytes were lost; and complete an upload whose bytes
        all arrived but whose PATCH never finished (a cut connection, a kill between the
        last checkpoint and completion)."""
        parts = self._parts
        refreshed = await parts.db.quick(lambda conn: hotpath.refresh_locked_fields(conn, upload))
        if not _receiving(upload, refreshed):
            return upload
        await self._cut_back(upload, await parts.io(parts.store.size, upload.id))
        if upload.offset == upload.length:
            upload = await self.complete(upload, actor, client_ip)
        return upload

    async def reconcile_to_write(
        self, upload: Upload, actor: str, client_ip: str | None
    ) -> tuple[Upload, Writer | None]:
        """``reconcile`` for a PATCH, which needs the data file open anyway: the re-read and
        the opening (with the file's size) share one thread hand-off on SQLite. The writer
        is None if the upload is not receiving (any more); the caller closes it."""
        parts = self._parts
        job = asyncio.ensure_future(
            parts.db.quick_then(
                lambda conn: hotpath.refresh_locked_fields(conn, upload),
                lambda: _open_sized(parts.store, upload.id),
                parts.pools.io,
            )
        )
        try:
            refreshed, opened = await asyncio.shield(job)
        except asyncio.CancelledError:
            job.add_done_callback(_close_opened)  # the file may be opened after all
            raise
        writer, size = opened if isinstance(opened, tuple) else (None, None)
        try:
            receiving = _receiving(upload, refreshed)
            if receiving and isinstance(opened, OSError):
                # It would not open (out of descriptors, EIO): the size as HEAD reads it;
                # the write opens it again, and fails with the real reason.
                size = await parts.io(parts.store.size, upload.id)
            if receiving:
                await self._cut_back(upload, size)
        except BaseException:
            if writer is not None:
                writer.close()
            raise
        if receiving and upload.offset != upload.length:
            return upload, writer
        if writer is not None:
            writer.close()
        if receiving:  # every byte is here, but its PATCH never finished
            upload = await self.complete(upload, actor, client_ip)
        return upload, None

    async def _cut_back(self, upload: Upload, size: int | None) -> None:
        """Bring the file and the recorded offset together; ``size``: the file's (None: it
        is missing)."""
        parts = self._parts
        if size is None:
            raise errors.UPLOAD_GONE("The data of this upload is missing; start a new upload.")
        if size > upload.offset:
            await parts.io(_truncate, parts, upload.id, upload.offset)
        elif size < upload.offset:
            parts.digests.drop(upload.id)
            recorded = await parts.record_offset(upload.id, size)
            upload.expires_at, upload.offset = recorded.expires_at, size

    async def complete(self, upload: Upload, actor: str, client_ip: str | None) -> Upload:
        """Take the running hash and record the final state; the caller holds the lock,
        whose files go: a finished upload is never written again (no inode per archive).
        Without a running hash (another process received earlier bytes) the upload is
        recorded as received and verified in the background (``Verifier``)."""
        parts = self._parts
        running = parts.digests.take(upload.id, upload.offset)
        parts.digests.drop(upload.id)
        sha256 = await running.hexdigest() if running is not None else None
        # Its archive manifest: queued with the state, claimed by this process in the same
        # transaction, read in the background; an upload still to be verified gets it from
        # the verifier. Once a stop has begun no worker of this process starts: the row is
        # left pending for the next one (a claim would hold it for ``manifests.LEASE``).
        listed = sha256 is not None and not upload.is_partial
        stopping = parts.pools.background.stopping.is_set()
        holder = new_holder() if listed and not stopping else None

        async def record(session: AsyncSession) -> tuple[UploadState, bool]:
            state = await records.mark_complete(session, upload, sha256, actor, client_ip)
            if listed and holder is None:
                await manifests.add_pending(session, upload.id)
            claimed = holder is not None and await manifests.add_claimed(session, upload.id, holder)
            return state, claimed

        state, claimed = await parts.db.inline(record)
        if sha256 is None:  # hashing the file again could take minutes: not under the lock
            self._verifier.start(upload.id)
        else:
            parts.locks.discard(upload.id)
        upload.state, upload.sha256 = state, sha256
        if holder is not None and claimed:
            await Inspection(parts).claimed(upload, holder)
        elif holder is not None:  # it had a row already: claimed by id, if claimable
            Inspection(parts).queued(upload.id)
        if not upload.is_partial:  # a partial still expires unless a final claims it
            upload.expires_at = None
        return upload


def _receiving(upload: Upload, refreshed: bool) -> bool:
    """After the re-read under the lock: whether the upload still takes bytes (raises if
    it is no more)."""
    if not refreshed:
        raise errors.UPLOAD_NOT_FOUND()
    if upload.state.gone:
        raise errors.UPLOAD_GONE()
    return upload.state is UploadState.RECEIVING


Opened = tuple[Writer, int] | OSError | None


def _open_sized(store: Store, upload_id: str) -> Opened:
    """The data file opened for writing, and its size; None if it is missing. Another
    failure is returned, not raised: the PATCH's own checks (its offset, its length)
    answer before a storage fault does, as when the file was opened only to write."""
    try:
        writer = store.open_writer(upload_id)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return exc
    try:
        return writer, writer.size()
    except BaseException as exc:
        writer.close()
        if isinstance(exc, OSError):
            return exc
        raise


def _close_opened(job: "asyncio.Future[tuple[bool, Opened]]") -> None:
    if job.cancelled() or job.exception() is not None:
        return
    opened = job.result()[1]
    if isinstance(opened, tuple):
        opened[0].close()


def _truncate(parts: Parts, upload_id: str, size: int) -> None:
    writer = parts.store.open_writer(upload_id)
    try:
        writer.truncate(size)
    except OSError as exc:
        # The cut is made; only its sync failed on a full disk. The recorded offset stays
        # the truth and the tail is cut again next time.
        if not is_disk_full(exc):
            raise
    finally:
        writer.close()
