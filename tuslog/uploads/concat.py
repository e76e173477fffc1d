"""tus ``concatenation``: a final upload made of finished partial uploads of one token.

The bytes are copied first and the partials claimed after, in the transaction that
records the final as complete: a copy that fails (full disk, a partial's data damaged)
changes nothing, and the client can retry or upload the partial again. Partials whose
claim lost a race (another final, a DELETE) leave only the copy, which is removed.
"""

import dataclasses
import hashlib
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from tuslog import errors
from tuslog.db.models import Upload, UploadToken, utcnow
from tuslog.services import audit, tokens
from tuslog.storage.store import DataMissingError, Store, is_disk_full
from tuslog.uploads import admission, hotpath, records
from tuslog.uploads.parts import Parts

MAX_OPEN_PARTIALS = 32
_COPY_BLOCK = 4 * 1024 * 1024


async def check_open_partials(
    parts: Parts, session: AsyncSession, token: UploadToken, length: int
) -> None:
    """Partial uploads use no attempt (the final does), so they are bounded instead: in
    number, and in bytes by what the finals the token can still make may hold. Without the
    byte bound one single-use token could reserve many times the largest upload and turn
    other customers away with 507."""
    count, total = await records.partial_usage(session, token.id)
    if count >= MAX_OPEN_PARTIALS:
        raise errors.CONCAT_INVALID(
            f"This token already has {MAX_OPEN_PARTIALS} partial uploads; concatenate them first."
        )
    allowed = parts.settings.max_upload_size * max(token.max_uses - token.uses, 0)
    if total + length > allowed:
        raise errors.TOO_LARGE(
            f"This token's partial uploads may add up to {allowed} bytes "
            f"({total} are already taken); concatenate them first."
        )


async def create_final(
    parts: Parts, token: UploadToken, new: records.NewUpload, upload_ids: tuple[str, ...]
) -> tuple[Upload, str]:
    if not tokens.usable_for_new_upload(token, utcnow()):
        raise errors.TOKEN_INVALID()  # before the copy; consume_attempt decides races
    partials = await _finished_partials(parts, token, upload_ids, utcnow())
    length = sum(p.length or 0 for p in partials)
    urls = " ".join(f"/files/{p.id}" for p in partials)
    new = dataclasses.replace(new, length=length, concat=f"final;{urls}")
    await _admit(parts, token, partials, length)
    await parts.io(parts.store.create, new.upload_id)
    try:
        sha256 = await _copy(parts, new.upload_id, partials)
        found = await _record_final(parts, token, new, partials, sha256)
    except BaseException:
        await parts.io(parts.store.delete, new.upload_id)
        raise
    return found


async def _finished_partials(
    parts: Parts, token: UploadToken, upload_ids: tuple[str, ...], now: datetime
) -> list[Upload]:
    found_partials = []
    async with parts.db.session() as session:
        for upload_id in upload_ids:
            found = await records.load(session, upload_id)
            upload = found[0] if found else None
            if (
                upload is None
                or upload.token_id != token.id
                or not upload.is_partial
                or not upload.state.finished
                or records.is_expired(upload, now)
            ):
                raise errors.CONCAT_INVALID(
                    f"Upload {upload_id} is not a finished partial upload of this token."
                )
            found_partials.append(upload)
    return found_partials


async def _admit(parts: Parts, token: UploadToken, partials: list[Upload], length: int) -> None:
    """Admission before the copy. Nothing is reserved: a copy that meets a full disk anyway
    fails cleanly (507) and is removed. The partials count against the quota now; once
    claimed they count no more (the final does)."""
    claimed = sum({p.id: p.length or 0 for p in partials}.values())  # named twice: once
    free = await parts.free_space()
    async with parts.db.session() as session:
        room = await admission.measure(session, token, parts.limits, free)
    room.check(length, new_on_disk=length, new_for_quota=length - claimed)


def _copy_all(store: Store, target_id: str, sources: list[tuple[str, int]]) -> str:
    """Write the sources (id, length) one after the other into ``target_id``; SHA-256."""
    digest = hashlib.sha256()
    writer = store.open_writer(target_id)
    try:
        position = 0
        for source_id, length in sources:
            try:
                with store.open_reader(source_id) as data:
                    remaining = length
                    while remaining > 0:
                        block = data.read(min(_COPY_BLOCK, remaining))
                        if not block:
                            raise DataMissingError(source_id)
                        writer.write_at(block, position)
                        digest.update(block)
                        position += len(block)
                        remaining -= len(block)
            except FileNotFoundError as exc:
                raise DataMissingError(source_id) from exc
        writer.sync()
    finally:
        writer.close()
    return digest.hexdigest()


async def _copy(parts: Parts, upload_id: str, partials: list[Upload]) -> str:
    sources = [(p.id, p.length or 0) for p in partials]
    try:
        return await parts.io(_copy_all, parts.store, upload_id, sources)
    except DataMissingError as exc:
        raise errors.CONCAT_INVALID(
            f"The data of partial upload {exc.upload_id} is missing or damaged; "
            "upload that part again."
        ) from exc
    except OSError as exc:
        if is_disk_full(exc):
            raise errors.NO_SPACE(
                f"The disk filled up while joining {len(partials)} partial uploads; "
                "nothing was changed. Retry later."
            ) from exc
        raise


async def _record_final(
    parts: Parts,
    token: UploadToken,
    new: records.NewUpload,
    partials: list[Upload],
    sha256: str,
) -> tuple[Upload, str]:
    """One transaction: the attempt, the claim of every partial, the final as complete."""
    actor = f"token:{token.prefix}"
    expiry = parts.settings.upload_expiry
    length = new.length or 0
    async with parts.db.begin() as session:
        await tokens.consume_attempt(session, token, new.client_ip)
        await records.claim_partials(session, token.id, [p.id for p in partials])
        # The claimed partials count no more: a final that repeats a partial is charged
        # for every byte it holds.
        room = await admission.measure(session, token, parts.limits, free=None)
        room.check(length, new_on_disk=0, new_for_quota=length)
        upload = records.insert(session, token, new, expiry)
        await session.flush()
        conn = await session.connection()
        await conn.run_sync(hotpath.record_offset, upload.id, length, expiry)
        upload.offset = length
        state = await records.mark_complete(session, upload, sha256, actor, new.client_ip)
        audit.record(session, actor, "upload.concatenated", upload.id, parts=len(partials))
        found = await records.load(session, new.upload_id)
    assert found is not None
    final, ticket = found
    final.state, final.sha256, final.expires_at, final.offset = state, sha256, None, length
    return final, ticket
