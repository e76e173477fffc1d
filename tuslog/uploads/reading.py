"""Reading a finished upload back: for downloads (CLI, portal, API), in byte ranges, off
the event loop, in bounded blocks."""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import BinaryIO

from tuslog import errors
from tuslog.db.models import Upload, UploadState
from tuslog.services import audit
from tuslog.storage.store import DataMissingError
from tuslog.uploads import records
from tuslog.uploads.parts import Parts

READ_BLOCK = 1024 * 1024


@dataclass
class Download:
    """An open upload: ``chunks()`` yields bytes ``start`` to ``end`` (exclusive) of its
    ``size`` bytes. Open data stays readable even if the upload is deleted meanwhile."""

    upload: Upload
    ticket: str
    size: int
    start: int
    end: int
    _data: BinaryIO
    _parts: Parts

    async def chunks(self, block: int = READ_BLOCK) -> AsyncIterator[bytes]:
        position = self.start
        await self._parts.io(self._data.seek, position)
        while position < self.end:
            data = await self._parts.io(self._data.read, min(block, self.end - position))
            if not data:
                raise DataMissingError(self.upload.id)
            position += len(data)
            yield data

    async def close(self) -> None:
        await self._parts.io(self._data.close)


def readiness_error(upload: Upload) -> errors.TuslogError | None:
    """Why an upload should not be handed out as an archive (yet), if it should not."""
    if upload.state.gone:
        return errors.UPLOAD_GONE("This upload was removed.")
    if upload.state is UploadState.RECEIVING:
        return errors.UPLOAD_NOT_READY(
            f"This upload is unfinished ({upload.offset} of "
            f"{upload.length if upload.length is not None else '?'} bytes received)."
        )
    if upload.shown_state == "verifying":
        return errors.UPLOAD_NOT_READY("This upload's SHA-256 is still being computed.")
    if upload.state is UploadState.CORRUPT:
        return errors.UPLOAD_CORRUPT()
    return None


class Reading:
    def __init__(self, parts: Parts) -> None:
        self._parts = parts

    async def find(self, upload_id: str) -> tuple[Upload, str]:
        """The upload and its ticket number, whatever its state; 404 if unknown."""
        async with self._parts.db.session() as session:
            found = await records.load(session, upload_id)
        if found is None:
            raise errors.UPLOAD_NOT_FOUND()
        return found

    async def open(
        self,
        upload_id: str,
        start: int = 0,
        end: int | None = None,
        *,
        force: bool = False,
        actor: str,
        client_ip: str | None = None,
    ) -> Download:
        """Open the upload's bytes ``start`` to ``end`` (default: all it holds), audited as
        a download by ``actor``. Unfinished, still-verifying and corrupt uploads only with
        ``force`` (what was received so far)."""
        upload, ticket = await self.find(upload_id)
        problem = readiness_error(upload)
        if problem is not None and (not force or upload.state.gone):
            raise problem
        size = upload.offset
        end = size if end is None else end
        if not 0 <= start <= end <= size:
            raise errors.RANGE_NOT_SATISFIABLE(
                f"The range {start}-{end} is outside the upload's {size} bytes."
            )
        try:
            data = await self._parts.io(self._parts.store.open_reader, upload_id)
        except FileNotFoundError:
            raise errors.UPLOAD_GONE("This upload's data is missing from the storage.") from None
        async with self._parts.db.begin() as session:
            audit.record(
                session, actor, "upload.downloaded", upload_id, client_ip, start=start, end=end
            )
        return Download(upload, ticket, size, start, end, data, self._parts)
