"""The stateful half of the tus handlers: creating uploads, reconciling the data file with
the recorded offset, receiving bodies and completing uploads. Callers hold the lock."""

import asyncio
import dataclasses
from datetime import datetime

from aiohttp import web

from tuslog import errors
from tuslog.db.models import Upload, UploadState, UploadToken, utcnow
from tuslog.keys import DIGESTS, LOCKS, QUICK, SESSIONS, SETTINGS, STORE, VERIFIER
from tuslog.server import tus_concat
from tuslog.server.net import client_ip
from tuslog.server.receive import BodyReceiver, ReceiveLimits, Stop
from tuslog.server.socket_reads import larger_reads
from tuslog.server.tus_headers import Checksum, Concat
from tuslog.services import tokens, uploads
from tuslog.storage.filestore import is_disk_full
from tuslog.storage.locks import HeldLock


async def _reload(request: web.Request, upload_id: str) -> tuple[Upload, str]:
    async with request.config_dict[SESSIONS]() as session:
        found = await uploads.load(session, upload_id)
    if found is None:
        raise errors.UPLOAD_NOT_FOUND()
    if found[0].state.gone:
        raise errors.UPLOAD_GONE()
    return found


async def reconcile(request: web.Request, upload: Upload, token: UploadToken) -> Upload:
    """Under the lock: re-read what may have changed before the lock was ours; cut the data
    file back to the recorded offset (bytes past it were never acknowledged), or record a
    shorter file's real size if bytes were lost; and complete an upload whose bytes all
    arrived but whose PATCH never finished (a cut connection, a kill between the last
    checkpoint and completion)."""
    quick = request.config_dict[QUICK]
    if not await quick.run(lambda conn: uploads.refresh_locked_fields(conn, upload)):
        raise errors.UPLOAD_NOT_FOUND()
    if upload.state.gone:
        raise errors.UPLOAD_GONE()
    if upload.state is not UploadState.RECEIVING:
        return upload
    await _cut_back(request, upload)
    if upload.offset == upload.length:
        upload = await complete(request, upload, token)
    return upload


async def _cut_back(request: web.Request, upload: Upload) -> None:
    upload_id = upload.id
    store = request.config_dict[STORE]
    size = await asyncio.to_thread(store.size, upload_id)
    if size is None:
        raise errors.UPLOAD_GONE("The data of this upload is missing; start a new upload.")
    if size > upload.offset:
        data = await asyncio.to_thread(store.open, upload_id)
        try:
            await asyncio.to_thread(data.truncate, upload.offset)
        except OSError as exc:
            # The cut is made; only its sync failed on a full disk. The recorded offset
            # stays the truth and the tail is cut again next time.
            if not is_disk_full(exc):
                raise
        finally:
            data.close()
    elif size < upload.offset:
        request.config_dict[DIGESTS].drop(upload_id)
        upload.expires_at = await _record(request, upload_id, size)
        upload.offset = size


async def _record(
    request: web.Request, upload_id: str, offset: int, *, stop_if_revoked: bool = False
) -> datetime:
    """Record a durable offset. With ``stop_if_revoked``, also stop if the upload's token
    was revoked meanwhile: a revoked token stops its uploads at once, even mid-PATCH."""
    expiry = request.config_dict[SETTINGS].upload_expiry
    recorded = await request.config_dict[QUICK].run(
        lambda conn: uploads.record_offset(conn, upload_id, offset, expiry), writes=True
    )
    if stop_if_revoked and recorded.token_revoked:
        raise errors.TOKEN_INVALID(headers={"Upload-Offset": str(offset)})
    return recorded.expires_at


async def declare_length(
    request: web.Request, upload: Upload, token: UploadToken, length: int
) -> Upload:
    """A deferred length arrives on a PATCH: once, not below the offset, within limits."""
    if upload.length is not None:
        if upload.length == length:
            return upload
        raise errors.BAD_REQUEST("Upload-Length is already set and cannot change.")
    if length < upload.offset:
        raise errors.BAD_REQUEST(f"Upload-Length {length} is below the offset {upload.offset}.")
    max_size = request.config_dict[SETTINGS].max_upload_size
    if length > max_size:
        raise errors.TOO_LARGE(
            f"Upload-Length {length} is larger than the server accepts ({max_size} bytes).",
            headers={"Upload-Offset": str(upload.offset)},
        )
    store = request.config_dict[STORE]
    async with request.config_dict[SESSIONS].begin() as session:
        await uploads.serialise_admission(session)
        await uploads.check_quota(session, token, length - upload.offset)
        free = await asyncio.to_thread(store.free_space)
        reserve = request.config_dict[SETTINGS].min_free_space
        await uploads.check_space(session, length - upload.offset, uploads.Admission(free, reserve))
        await uploads.set_length(session, upload.id, length)
    upload.length = length
    return upload


async def _limit(request: web.Request, upload: Upload, token: UploadToken) -> int:
    """How far this PATCH may write. With a deferred length, admission happens here: the
    token's quota and the free space bound what may arrive."""
    if upload.length is not None:
        return upload.length
    settings = request.config_dict[SETTINGS]
    free = await asyncio.to_thread(request.config_dict[STORE].free_space)
    async with request.config_dict[SESSIONS]() as session:
        promised = await uploads.promised_bytes(session)
        limit = upload.offset + free - settings.min_free_space - promised
        if token.max_bytes is not None:
            used = await uploads.token_bytes(session, token.id)
            limit = min(limit, token.max_bytes - used + upload.offset)
    return max(upload.offset, min(limit, settings.max_upload_size))


async def receive(
    request: web.Request,
    upload: Upload,
    token: UploadToken,
    held: HeldLock,
    checksum: Checksum | None,
) -> Upload:
    settings = request.config_dict[SETTINGS]
    store = request.config_dict[STORE]
    digests = request.config_dict[DIGESTS]
    limit = await _limit(request, upload, token)
    remaining = limit - upload.offset
    if request.content_length is not None and request.content_length > remaining:
        raise errors.TOO_LARGE(
            f"The body ({request.content_length} bytes) goes past the upload's end "
            f"({remaining} bytes left).",
            headers={"Upload-Offset": str(upload.offset)},
        )

    async def record(offset: int) -> None:
        upload.expires_at = await _record(request, upload.id, offset, stop_if_revoked=True)

    running = digests.take(upload.id, upload.offset)
    hashing = running or (digests.new(upload.id, whole_file=False) if checksum else None)
    data = await asyncio.to_thread(store.open, upload.id)
    try:
        with larger_reads(request.transport, request.content_length):
            received = await BodyReceiver(
                content=request.content,
                data=data,
                start=upload.offset,
                limit=limit,
                body_length=request.content_length,
                limits=ReceiveLimits(
                    read_timeout=settings.read_timeout.total_seconds(),
                    checkpoint_bytes=settings.checkpoint_bytes,
                    checkpoint_seconds=settings.checkpoint_seconds,
                ),
                held=held,
                hashing=hashing,
                keep_hash=running is not None,
                checksum=checksum,
                record_offset=record,
                still_allowed=lambda: _token_still_allowed(request, token.id),
            ).run()
    finally:
        data.close()
    upload.offset = received.offset
    if received.digest is not None:
        digests.put(upload.id, received.digest)
    else:
        digests.drop(upload.id)
    offset_header = {"Upload-Offset": str(upload.offset)}
    if received.checksum_ok is False and received.stop is None:
        raise errors.CHECKSUM_MISMATCH(headers=offset_header)
    if upload.state is UploadState.RECEIVING and upload.offset == upload.length:
        return await complete(request, upload, token)  # every byte is here, however it ended
    if received.stop is not None:
        error = _stop_error(received.stop, offset_header)
        if received.checksum_ok is False:  # the chunk was cut short, so it was not kept
            error.message = error.message.replace(
                "what arrived was kept", "the chunk was discarded (Upload-Checksum)"
            )
        raise error
    return upload


async def _token_still_allowed(request: web.Request, token_id: int) -> bool:
    quick = request.config_dict[QUICK]
    return not await quick.run(lambda conn: tokens.is_revoked(conn, token_id))


def _stop_error(stop: Stop, headers: dict[str, str]) -> errors.TuslogError:
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
    return errors.BAD_REQUEST(
        "The request body ended early; what arrived was kept.", headers=headers
    )


async def complete(request: web.Request, upload: Upload, token: UploadToken) -> Upload:
    """Take the running hash and record the final state; the caller holds the lock, whose
    files go: a finished upload is never written again (no inode per archive). Without a
    running hash (another process received earlier bytes) the upload is recorded as
    received and verified in the background (tuslog.verifier)."""
    digests = request.config_dict[DIGESTS]
    running = digests.take(upload.id, upload.offset)
    digests.drop(upload.id)
    if running is None:  # hashing the file again could take minutes: not under the lock
        async with request.config_dict[SESSIONS].begin() as session:
            await uploads.mark_received(session, upload.id)
        request.config_dict[VERIFIER].start(upload.id)
        upload.state, upload.sha256 = UploadState.COMPLETE, None
        if not upload.is_partial:
            upload.expires_at = None
        return upload
    sha256 = await running.hexdigest()
    async with request.config_dict[SESSIONS].begin() as session:
        state = await uploads.mark_complete(
            session, upload, sha256, f"token:{token.prefix}", client_ip(request)
        )
    request.config_dict[LOCKS].discard(upload.id)
    return _finished(upload, state, sha256)


def _finished(upload: Upload, state: UploadState, sha256: str) -> Upload:
    upload.state = state
    upload.sha256 = sha256
    if not upload.is_partial:  # a partial still expires unless a final claims it
        upload.expires_at = None
    return upload


async def create_upload(
    request: web.Request, token: UploadToken, new: uploads.NewUpload, concat: Concat | None
) -> tuple[Upload, str]:
    """Admission, the atomic use of a token attempt, the record and the empty data file."""
    if concat is not None and not concat.partial:
        return await tus_concat.create_final(request, token, new, concat)
    if concat is not None:
        new = dataclasses.replace(new, concat="partial")
    existing = await _same_upload(request, token, new)
    if existing is not None:
        return existing  # a lost 201 asked again: no attempt needed, even the last one
    if not tokens.usable_for_new_upload(token, utcnow()):
        raise errors.TOKEN_INVALID()  # before any disk work; consume_attempt decides races
    settings = request.config_dict[SETTINGS]
    store = request.config_dict[STORE]
    await asyncio.to_thread(store.create, new.upload_id)
    try:
        async with request.config_dict[SESSIONS].begin() as session:
            if concat is not None:
                await uploads.check_open_partials(
                    session, token, new.length or 0, settings.max_upload_size
                )
            else:
                await tokens.consume_attempt(session, token, new.client_ip)
            await uploads.serialise_admission(session)
            if new.length:
                await uploads.check_quota(session, token, new.length)
                free = await asyncio.to_thread(store.free_space)
                await uploads.check_space(
                    session, new.length, uploads.Admission(free, settings.min_free_space)
                )
            uploads.insert(session, token, new, settings.upload_expiry)
            found = await uploads.load(session, new.upload_id)
    except BaseException:
        await asyncio.to_thread(store.delete, new.upload_id)
        raise
    assert found is not None
    upload, ticket = found
    if new.length == 0:
        upload = await complete(request, upload, token)
    return upload, ticket


async def _same_upload(
    request: web.Request, token: UploadToken, new: uploads.NewUpload
) -> tuple[Upload, str] | None:
    async with request.config_dict[SESSIONS]() as session:
        upload_id = await uploads.find_same(session, token.id, new)
    if upload_id is None:
        return None
    found = await _reload(request, upload_id)
    upload = found[0]
    if upload.state is UploadState.RECEIVING and upload.expires_at and upload.expires_at < utcnow():
        return None
    return found
