"""Bringing an upload's record in line with its bytes, under its lock: reconciling after
the lock was taken, and completing an upload whose every byte has arrived."""

from sqlalchemy.ext.asyncio import AsyncSession

from tuslog import errors
from tuslog.db.models import Upload, UploadState
from tuslog.storage.store import is_disk_full
from tuslog.uploads import hotpath, manifests, records
from tuslog.uploads.inspection import Inspection
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
        if not await parts.db.quick(lambda conn: hotpath.refresh_locked_fields(conn, upload)):
            raise errors.UPLOAD_NOT_FOUND()
        if upload.state.gone:
            raise errors.UPLOAD_GONE()
        if upload.state is not UploadState.RECEIVING:
            return upload
        await self._cut_back(upload)
        if upload.offset == upload.length:
            upload = await self.complete(upload, actor, client_ip)
        return upload

    async def _cut_back(self, upload: Upload) -> None:
        parts = self._parts
        size = await parts.io(parts.store.size, upload.id)
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
        # Its archive manifest, queued with the state (one transaction) and read in the
        # background; an upload still to be verified gets it from the verifier.
        manifest = sha256 is not None and not upload.is_partial

        async def record(session: AsyncSession) -> UploadState:
            state = await records.mark_complete(session, upload, sha256, actor, client_ip)
            if manifest:
                await manifests.add_pending(session, upload.id)
            return state

        state = await parts.db.inline(record)
        if sha256 is None:  # hashing the file again could take minutes: not under the lock
            self._verifier.start(upload.id)
        else:
            parts.locks.discard(upload.id)
        upload.state, upload.sha256 = state, sha256
        if manifest:
            Inspection(parts).queued(upload.id)
        if not upload.is_partial:  # a partial still expires unless a final claims it
            upload.expires_at = None
        return upload


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
