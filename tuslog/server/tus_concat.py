"""tus ``concatenation``: a final upload made of finished partial uploads of one token.

The bytes are copied first and the partials claimed after, in the transaction that
records the final as complete: a copy that fails (full disk, a partial's file damaged)
changes nothing, and the client can retry or upload the partial again. Partials whose
claim lost a race (another final, a DELETE) leave only the copy, which is removed.
"""

import asyncio
import dataclasses

from aiohttp import web

from tuslog import errors
from tuslog.db.models import Upload, UploadToken, utcnow
from tuslog.keys import SESSIONS, SETTINGS, STORE
from tuslog.server.net import client_ip
from tuslog.server.tus_headers import Concat
from tuslog.services import audit, tokens, uploads
from tuslog.storage.filestore import DataMissingError, is_disk_full


async def create_final(
    request: web.Request, token: UploadToken, new: uploads.NewUpload, concat: Concat
) -> tuple[Upload, str]:
    if not tokens.usable_for_new_upload(token, utcnow()):
        raise errors.TOKEN_INVALID()  # before the copy; consume_attempt decides races
    partials = await _finished_partials(request, token, concat)
    length = sum(p.length or 0 for p in partials)
    max_size = request.config_dict[SETTINGS].max_upload_size
    if length > max_size:
        raise errors.TOO_LARGE(
            f"The partial uploads add up to {length} bytes, more than the server accepts "
            f"({max_size} bytes)."
        )
    new = dataclasses.replace(
        new, length=length, concat="final;" + " ".join(f"/files/{p.id}" for p in partials)
    )
    await _admit(request, token, partials, length)
    store = request.config_dict[STORE]
    await asyncio.to_thread(store.create, new.upload_id)
    try:
        sha256 = await _copy(request, new.upload_id, partials)
        found = await _record_final(request, token, new, partials, sha256)
    except BaseException:
        await asyncio.to_thread(store.delete, new.upload_id)
        raise
    for partial in partials:  # claimed: nothing refers to their bytes any more
        await asyncio.to_thread(store.delete_ended, partial.id)
    return found


async def _finished_partials(
    request: web.Request, token: UploadToken, concat: Concat
) -> list[Upload]:
    partials = []
    async with request.config_dict[SESSIONS]() as session:
        for upload_id in concat.upload_ids:
            found = await uploads.load(session, upload_id)
            upload = found[0] if found else None
            if (
                upload is None
                or upload.token_id != token.id
                or not upload.is_partial
                or not upload.state.finished
            ):
                raise errors.CONCAT_INVALID(
                    f"Upload {upload_id} is not a finished partial upload of this token."
                )
            partials.append(upload)
    return partials


async def _admit(
    request: web.Request, token: UploadToken, partials: list[Upload], length: int
) -> None:
    """Admission before the copy: the token's quota and the free space. Nothing is
    reserved: a copy that meets a full disk anyway fails cleanly (507) and is removed."""
    settings = request.config_dict[SETTINGS]
    async with request.config_dict[SESSIONS]() as session:
        await uploads.check_quota(session, token, length - _claimed_bytes(partials))
        free = await asyncio.to_thread(request.config_dict[STORE].free_space)
        await uploads.check_space(session, length, uploads.Admission(free, settings.min_free_space))


def _claimed_bytes(partials: list[Upload]) -> int:
    """What the partials count against the quota now; once claimed they count no more
    (the final counts instead). A partial named twice counts once."""
    return sum({p.id: p.length or 0 for p in partials}.values())


async def _copy(request: web.Request, upload_id: str, partials: list[Upload]) -> str:
    sources = [(p.id, p.length or 0) for p in partials]
    try:
        return await asyncio.to_thread(request.config_dict[STORE].concatenate, upload_id, sources)
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
    request: web.Request,
    token: UploadToken,
    new: uploads.NewUpload,
    partials: list[Upload],
    sha256: str,
) -> tuple[Upload, str]:
    """One transaction: the attempt, the claim of every partial, the final as complete."""
    actor = f"token:{token.prefix}"
    expiry = request.config_dict[SETTINGS].upload_expiry
    async with request.config_dict[SESSIONS].begin() as session:
        await tokens.consume_attempt(session, token, new.client_ip)
        await uploads.claim_partials(session, token.id, [p.id for p in partials])
        # The claimed partials count no more: a final that repeats a partial is charged
        # for every byte it holds.
        await uploads.check_quota(session, token, new.length or 0)
        upload = uploads.insert(session, token, new, expiry)
        await session.flush()
        conn = await session.connection()
        await conn.run_sync(uploads.record_offset, upload.id, new.length or 0, expiry)
        upload.offset = new.length or 0
        state = await uploads.mark_complete(session, upload, sha256, actor, client_ip(request))
        audit.record(session, actor, "upload.concatenated", upload.id, parts=len(partials))
        found = await uploads.load(session, new.upload_id)
    assert found is not None
    final, ticket = found
    final.state, final.sha256, final.expires_at = state, sha256, None
    final.offset = new.length or 0
    return final, ticket
