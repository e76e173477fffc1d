"""Creating uploads: admission, the atomic use of a token attempt, the record and the empty
data file, in the order that leaves nothing behind when any step fails."""

import asyncio
import dataclasses

from sqlalchemy.ext.asyncio import AsyncSession

from tuslog import errors
from tuslog.db.models import Upload, UploadToken, utcnow
from tuslog.services import tokens
from tuslog.storage.store import Store
from tuslog.uploads import admission, concat, records
from tuslog.uploads.completion import Completion
from tuslog.uploads.ending import Ending
from tuslog.uploads.inspection import Inspection
from tuslog.uploads.parts import Parts


@dataclasses.dataclass(frozen=True)
class Concatenation:
    """``Upload-Concat``: a partial upload, or a final one made of these partial uploads."""

    partial: bool
    upload_ids: tuple[str, ...] = ()


class Creation:
    def __init__(self, parts: Parts, completion: Completion, ending: Ending) -> None:
        self._parts = parts
        self._completion = completion
        self._ending = ending

    async def create(
        self, token: UploadToken, new: records.NewUpload, concatenation: Concatenation | None
    ) -> tuple[Upload, str]:
        """The new upload and its ticket number; a lost 201 asked again gets the upload it
        created (no attempt is used twice, even the last)."""
        if concatenation is not None and not concatenation.partial:
            return await self._create_final(token, new, concatenation.upload_ids)
        if concatenation is not None:
            new = dataclasses.replace(new, concat="partial")
        existing = await self._same_upload(token, new)
        if existing is not None:
            return existing
        if not tokens.usable_for_new_upload(token, utcnow()):
            raise errors.TOKEN_INVALID()  # before any disk work; consume_attempt decides races
        upload, ticket = await self._insert(token, new)
        if new.length == 0:
            upload = await self._completion.complete(upload, f"token:{token.prefix}", None)
        return upload, ticket

    async def _insert(self, token: UploadToken, new: records.NewUpload) -> tuple[Upload, str]:
        parts = self._parts
        free = await self._create_file(new)
        try:

            async def insert(session: AsyncSession) -> tuple[Upload, str] | None:
                if new.concat == "partial":
                    await concat.check_open_partials(parts, session, token, new.length or 0)
                else:
                    await tokens.consume_attempt(session, token, new.client_ip)
                if new.length:
                    room = await admission.measure(
                        session, token, parts.limits, free, serialise=True
                    )
                    room.check(new.length, new_on_disk=new.length, new_for_quota=new.length)
                records.insert(session, token, new, parts.settings.upload_expiry)
                return await records.load(session, new.upload_id)

            found = await parts.db.inline(insert)
        except asyncio.CancelledError:
            if not await self._recorded(new.upload_id):  # it may have committed meanwhile
                await parts.io(parts.store.delete, new.upload_id)
            raise
        except BaseException:
            await parts.io(parts.store.delete, new.upload_id)
            raise
        assert found is not None
        return found

    async def _create_file(self, new: records.NewUpload) -> int | None:
        """The empty data file, and the free space after it (for an upload with a length):
        one thread call. Cancelled meanwhile, the file goes once the call has ended."""
        parts = self._parts
        job = asyncio.ensure_future(
            parts.io(_create_and_measure, parts.store, new.upload_id, bool(new.length))
        )
        try:
            return await asyncio.shield(job)
        except asyncio.CancelledError:
            await asyncio.wait([job])
            if not job.cancelled() and job.exception() is None:
                await parts.io(parts.store.delete, new.upload_id)
            raise

    async def _recorded(self, upload_id: str) -> bool:
        found = await self._parts.db.inline(
            lambda session: records.load(session, upload_id), writes=False
        )
        return found is not None

    async def _same_upload(
        self, token: UploadToken, new: records.NewUpload
    ) -> tuple[Upload, str] | None:
        parts = self._parts
        if not records.may_repeat(new):
            return None
        upload_id = await parts.db.inline(
            lambda session: records.find_same(session, token.id, new), writes=False
        )
        if upload_id is None:
            return None
        found = await parts.reload(upload_id)
        return None if records.is_expired(found[0], utcnow()) else found

    async def _create_final(
        self, token: UploadToken, new: records.NewUpload, upload_ids: tuple[str, ...]
    ) -> tuple[Upload, str]:
        final = await concat.create_final(self._parts, token, new, upload_ids)
        for upload_id in dict.fromkeys(upload_ids):  # claimed: nothing refers to their bytes
            await self._ending.forget(upload_id)
        Inspection(self._parts).start(final[0].id)  # a finished archive: list its entries
        return final


def _create_and_measure(store: Store, upload_id: str, measure: bool) -> int | None:
    """The upload's empty data file and (``measure``) the free space after it. The file
    goes again if the space cannot be read."""
    store.create(upload_id)
    if not measure:
        return None
    try:
        return store.space().free
    except BaseException:
        store.delete(upload_id)
        raise
