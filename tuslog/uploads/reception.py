"""The client's verbs on an existing upload: where it stands (HEAD), more bytes (PATCH),
a deferred length, and termination. Callers have checked the upload's token."""

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from tuslog import errors, metrics
from tuslog.db.models import Upload, UploadState, UploadToken, utcnow
from tuslog.logs import operations as oplog
from tuslog.services import tokens
from tuslog.storage.locks import HeldLock
from tuslog.storage.store import Writer, is_upload_id
from tuslog.uploads import admission, hotpath, records
from tuslog.uploads.checksums import Checksum
from tuslog.uploads.completion import Completion
from tuslog.uploads.ending import Ending
from tuslog.uploads.offsets import CheckpointPolicy
from tuslog.uploads.parts import Parts
from tuslog.uploads.receiver import Body, Received, Receiver
from tuslog.uploads.source import ByteSource, SourceStopped, Stop

log = logging.getLogger(__name__)
REVOCATION_CHECK = 2.0  # seconds between looks for revoked tokens, per process
_REVOCATION_MARGIN = timedelta(seconds=10)  # clocks of other hosts may be a little off


@dataclass(frozen=True)
class Length:
    """A deferred length declared on a PATCH, with the SHA-256 the client declares for
    the whole upload if it knows it only now (a stream)."""

    value: int
    sha256: str | None = None


def actor_of(token: UploadToken) -> str:
    return f"token:{token.prefix}"


class Reception:
    def __init__(self, parts: Parts, completion: Completion, ending: Ending) -> None:
        self._parts = parts
        self._completion = completion
        self._ending = ending
        self._receiving: dict[str, tuple[int, Receiver]] = {}  # upload id → (token id, it)

    async def find(self, upload_id: str) -> tuple[Upload, UploadToken, str] | None:
        """The upload with its token and ticket number, in one round trip (every HEAD and
        PATCH asks this first); None also for what cannot be an upload id."""
        if not is_upload_id(upload_id):
            return None
        return await self._parts.db.quick(lambda conn: hotpath.load_with_token(conn, upload_id))

    @staticmethod
    def check_alive(upload: Upload) -> None:
        if upload.state.gone or records.is_expired(upload, utcnow()):
            raise errors.UPLOAD_GONE()

    async def status(self, upload: Upload, token: UploadToken, client_ip: str | None) -> Upload:
        """Where the upload stands (HEAD). A finished upload never changes: no lock."""
        if upload.state.finished:
            return upload
        async with self._parts.locks.hold(upload.id):
            return await self._completion.reconcile(upload, actor_of(token), client_ip)

    async def receive(
        self,
        upload: Upload,
        token: UploadToken,
        offset: int,
        source: ByteSource,
        checksum: Checksum | None,
        new_length: Length | None,
        client_ip: str | None,
    ) -> Upload:
        """Bytes at ``offset`` (PATCH), with a deferred length declared on the way."""
        if upload.is_final:
            raise errors.FINAL_NOT_PATCHABLE()
        if upload.state.finished:  # never written again: answered from the row, no lock
            await self._nothing_more(upload, offset, source, new_length)
            return upload
        async with self._parts.locks.hold(upload.id) as held:
            upload, writer = await self._completion.reconcile_to_write(
                upload, actor_of(token), client_ip
            )
            try:
                _check_offset(upload, offset)
                if new_length is not None:
                    upload = await self._declare_length(upload, token, new_length)
                return await self._receive_body(
                    upload, token, held, source, checksum, client_ip, writer
                )
            finally:
                if writer is not None:
                    writer.close()

    async def receive_at_creation(
        self,
        upload: Upload,
        token: UploadToken,
        source: ByteSource,
        checksum: Checksum | None,
        client_ip: str | None,
    ) -> Upload:
        """creation-with-upload: whatever happens to the body, the upload exists and the
        client must learn its URL (or it would create another one and use another
        attempt), so this returns the upload with the offset that was kept."""
        try:
            async with self._parts.locks.hold(upload.id) as held:
                return await self._receive_body(upload, token, held, source, checksum, client_ip)
        except errors.TuslogError:
            return upload
        except OSError:  # the storage failed under the body: the upload still exists
            log.exception("creation-with-upload of %s: the body was not stored", upload.id)
            return upload

    async def terminate(self, upload: Upload, token: UploadToken, client_ip: str | None) -> None:
        """The client ends its unfinished upload (tus DELETE); finished archives are
        staff's to delete."""
        if upload.state.finished:
            raise errors.UPLOAD_FINISHED("Finished uploads can only be deleted by support staff.")
        async with self._parts.locks.hold(upload.id) as held:
            upload = await self._completion.reconcile(upload, actor_of(token), client_ip)
            if upload.state.finished:  # it may have finished while we waited for the lock
                raise errors.UPLOAD_FINISHED(
                    "Finished uploads can only be deleted by support staff."
                )
            await self._ending.end(
                upload.id, UploadState.TERMINATED, actor_of(token), client_ip, held=held
            )

    async def _nothing_more(
        self, upload: Upload, offset: int, source: ByteSource, new_length: Length | None
    ) -> None:
        """A PATCH for a finished upload: fine if it adds nothing (a client that lost the
        last answer asks again)."""
        headers = {"Upload-Offset": str(upload.offset)}
        _check_offset(upload, offset)
        if new_length is not None and new_length.value != upload.length:
            raise errors.BAD_REQUEST(
                f"Upload-Length is already set ({upload.length}) and cannot change.",
                headers=headers,
            )
        if not await self._empty(source):
            raise errors.TOO_LARGE(
                "This upload is complete and takes no more bytes.", headers=headers
            )

    async def _empty(self, source: ByteSource) -> bool:
        """Whether the body is empty: at most one chunk is looked at, no longer than
        TUSLOG_READ_TIMEOUT."""
        if source.length is not None:
            return source.length == 0
        idle = self._parts.settings.read_timeout.total_seconds()
        try:
            return not await asyncio.wait_for(source.read(), idle)
        except TimeoutError:
            source.interrupt(Stop.IDLE)  # the server would otherwise linger, reading
            raise errors.READ_TIMEOUT(headers={"Connection": "close"}) from None
        except SourceStopped:
            raise errors.BAD_REQUEST("The request body ended early.") from None

    async def _declare_length(self, upload: Upload, token: UploadToken, declared: Length) -> Upload:
        """A deferred length arrives on a PATCH: once, not below the offset, within limits;
        with it, perhaps the SHA-256 the upload must have (unless one was declared)."""
        length, sha256 = declared.value, declared.sha256
        if sha256 is not None and upload.declared_sha256 not in (None, sha256):
            raise errors.BAD_REQUEST("Tuslog-Sha256 differs from the SHA-256 declared before.")
        if upload.length is not None:
            if upload.length == length:
                return upload
            raise errors.BAD_REQUEST("Upload-Length is already set and cannot change.")
        if length < upload.offset:
            raise errors.BAD_REQUEST(f"Upload-Length {length} is below the offset {upload.offset}.")
        parts = self._parts
        headers = {"Upload-Offset": str(upload.offset)}
        new_bytes = length - upload.offset
        free = await parts.free_space()

        async def declare(session: AsyncSession) -> None:
            room = await admission.measure(session, token, parts.limits, free, serialise=True)
            room.check(length, new_on_disk=new_bytes, new_for_quota=new_bytes, headers=headers)
            await records.set_length(session, upload.id, length, sha256)

        await parts.db.inline(declare)
        upload.length = length
        upload.declared_sha256 = upload.declared_sha256 or sha256
        return upload

    async def _limit(
        self, upload: Upload, token: UploadToken
    ) -> tuple[admission.Bound, admission.Room | None]:
        """How far this PATCH may write. With a deferred length, admission happens here:
        the token's quota and the free space bound what may arrive."""
        if upload.length is not None:
            return admission.Bound(upload.length, "length"), None
        parts = self._parts
        free = await parts.free_space()
        async with parts.db.session() as session:
            room = await admission.measure(session, token, parts.limits, free)
        return room.bound(upload.offset), room

    async def _receive_body(
        self,
        upload: Upload,
        token: UploadToken,
        held: HeldLock,
        source: ByteSource,
        checksum: Checksum | None,
        client_ip: str | None,
        writer: Writer | None = None,
    ) -> Upload:
        """``writer``: the data file, if the caller opened it already."""
        bound, room = await self._limit(upload, token)
        offset_header = {"Upload-Offset": str(upload.offset)}
        remaining = bound.limit - upload.offset
        if source.length is not None and source.length > remaining:
            if room is not None:
                raise room.refusal(bound.reason, offset_header)
            raise errors.TOO_LARGE(
                f"The body ({source.length} bytes) goes past the upload's end "
                f"({remaining} bytes left).",
                headers=offset_header,
            )
        received = await self._run_receiver(upload, held, source, checksum, bound.limit, writer)
        metrics.get().bytes_received.inc(received.offset - upload.offset)
        upload.offset = received.offset
        offset_header = {"Upload-Offset": str(upload.offset)}
        if received.revoked:
            raise errors.TOKEN_INVALID(headers=offset_header)
        if received.checksum_ok is False and received.stop is None:
            raise errors.CHECKSUM_MISMATCH(headers=offset_header)
        if upload.state is UploadState.RECEIVING and upload.offset == upload.length:
            # every byte is here, however the body ended
            return await self._completion.complete(upload, actor_of(token), client_ip)
        if received.stop is Stop.TOO_LARGE and room is not None:
            raise room.refusal(bound.reason, offset_header)
        if received.stop is not None:
            await oplog.stopped(self._parts, upload.id, received.stop, received.offset)
            raise _stop_error(received, offset_header)
        return upload

    async def _run_receiver(
        self,
        upload: Upload,
        held: HeldLock,
        source: ByteSource,
        checksum: Checksum | None,
        limit: int,
        writer: Writer | None,
    ) -> Received:
        parts = self._parts
        settings = parts.settings
        running = parts.digests.take(upload.id, upload.offset)
        hashing = running or (parts.digests.new(upload.id, whole_file=False) if checksum else None)
        body = Body(source, upload.offset, limit, checksum, hashing, running is not None)

        async def record(offset: int) -> bool:
            recorded = await parts.record_offset(upload.id, offset)
            upload.expires_at = recorded.expires_at
            return recorded.token_revoked

        if writer is None:
            writer = await parts.io(parts.store.open_writer, upload.id)
        receiver = Receiver(
            body,
            writer,
            held,
            CheckpointPolicy(settings.checkpoint_bytes, settings.checkpoint_seconds),
            settings.read_timeout.total_seconds(),
            parts.pools.writes,
            record,
            bodies=lambda: len(self._receiving),
        )
        self._receiving[upload.id] = (upload.token_id or 0, receiver)
        try:
            received = await receiver.run()
        finally:
            self._receiving.pop(upload.id, None)
            writer.close()
        if received.digest is not None:
            parts.digests.put(upload.id, received.digest)
        else:
            parts.digests.drop(upload.id)
        return received

    def stop_token(self, token_id: int) -> None:
        """Stop every body this process receives for the token (revoked)."""
        for owner, receiver in list(self._receiving.values()):
            if owner == token_id:
                receiver.stop(Stop.REVOKED)

    async def _revoked_since(self, since: datetime) -> list[int]:
        return await self._parts.db.quick(lambda conn: tokens.revoked_since(conn, since))

    async def watch_revocations(self, stopping: asyncio.Event) -> None:
        """A revoked token stops its uploads at once, even mid-PATCH, also when another
        process (``tuslog token revoke``) revoked it: one look at the database every
        ``REVOCATION_CHECK`` seconds per process, and only while bodies are received."""
        since = utcnow()
        while not stopping.is_set():
            try:
                await asyncio.wait_for(stopping.wait(), REVOCATION_CHECK)
                return
            except TimeoutError:
                pass
            if not self._receiving:
                since = utcnow()
                continue
            now = utcnow()
            try:
                revoked = await self._revoked_since(since - _REVOCATION_MARGIN)
            except Exception as exc:  # the database is away: look again next time
                log.warning("revocation check failed: %s", exc)
                continue
            since = now
            for token_id in revoked:
                self.stop_token(token_id)


def _check_offset(upload: Upload, offset: int) -> None:
    if upload.offset != offset:
        raise errors.OFFSET_MISMATCH(
            f"Upload-Offset is {offset} but the server has {upload.offset}; resume from there.",
            headers={"Upload-Offset": str(upload.offset)},
        )


def _stop_error(received: Received, headers: dict[str, str]) -> errors.TuslogError:
    error = _error_for(received.stop, headers)
    if received.checksum_ok is False:  # the chunk was cut short, so it was not kept
        error.message = error.message.replace(
            "what arrived was kept", "the chunk was discarded (Upload-Checksum)"
        )
    return error


def _error_for(stop: Stop | None, headers: dict[str, str]) -> errors.TuslogError:
    if stop is Stop.DISK_FULL:
        return errors.DISK_FULL(headers=headers)
    if stop is Stop.TOO_LARGE:
        return errors.TOO_LARGE("The body goes past the upload's length.", headers=headers)
    if stop is Stop.IDLE:
        return errors.READ_TIMEOUT(headers={**headers, "Connection": "close"})
    if stop is Stop.REVOKED:
        return errors.TOKEN_INVALID(headers=headers)
    if stop is Stop.SHUTDOWN:
        return errors.SHUTTING_DOWN(headers=headers)
    if stop is Stop.RELEASED:
        return errors.UPLOAD_LOCKED("A newer request took over this upload.", headers=headers)
    if stop is Stop.ENDED:
        return errors.UPLOAD_GONE("This upload was deleted while it was being written.")
    return errors.BAD_REQUEST(
        "The request body ended early; what arrived was kept.", headers=headers
    )
