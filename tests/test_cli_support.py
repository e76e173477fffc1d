"""Helper for CLI tests: real uploads made through the upload engine itself (no HTTP),
the same code path the server's PATCH takes."""

import asyncio
import hashlib
from collections.abc import AsyncIterator

from tuslog.db.database import Database
from tuslog.db.models import Upload
from tuslog.services import tickets, tokens
from tuslog.settings import Settings
from tuslog.storage.filestore import FileStore
from tuslog.storage.locks import UploadLocks
from tuslog.storage.store import new_upload_id
from tuslog.uploads.engine import UploadEngine
from tuslog.uploads.records import NewUpload
from tuslog.uploads.source import Stop


class BytesSource:
    """A body that is all there: ``data``, in pieces of ``piece`` bytes."""

    def __init__(self, data: bytes, piece: int = 256 * 1024) -> None:
        self._pieces = iter([data[i : i + piece] for i in range(0, len(data), piece)])
        self.length: int | None = len(data)

    async def read(self) -> bytes:
        return next(self._pieces, b"")

    def interrupt(self, reason: Stop) -> None:
        pass

    def leftover(self) -> list[bytes]:
        return []


async def _engine(settings: Settings) -> tuple[Database, UploadEngine]:
    database = Database(settings.database_url)
    locks = UploadLocks(settings.storage_dir / ".locks", settings.lock_release_timeout)
    store = FileStore(settings.storage_dir)
    return database, UploadEngine.build(settings, database, store, locks)


async def _running(settings: Settings) -> AsyncIterator[UploadEngine]:
    database, engine = await _engine(settings)
    try:
        async with engine.running(background=False):
            yield engine
    finally:
        await database.dispose()


def make_upload(
    settings: Settings,
    number: str,
    data: bytes = b"diagnostics\n" * 1000,
    *,
    received: int | None = None,
    declared: str | None = None,
    filename: str = "logs.tgz",
) -> Upload:
    """An upload of ``data`` for ticket ``number`` (which must exist), with the first
    ``received`` bytes sent (default: all of them)."""

    async def work() -> Upload:
        async for engine in _running(settings):
            async with engine.parts.db.begin() as session:
                await tickets.get(session, number)
                issued = await tokens.issue(
                    session, number, uploads=1, ttl=settings.token_ttl, max_bytes=None, actor="t"
                )
            new = NewUpload(
                upload_id=new_upload_id(),
                length=len(data),
                metadata_raw="",
                filename=filename,
                declared_sha256=declared,
                concat=None,
                client_ip="192.0.2.7",
            )
            upload, _ = await engine.creation.create(issued.record, new, None)
            body = data if received is None else data[:received]
            if body:
                try:
                    upload = await engine.reception.receive(
                        upload, issued.record, 0, BytesSource(body), None, None, "192.0.2.7"
                    )
                except Exception:
                    if received is None:
                        raise
            await engine.verifier.wait()
            return upload
        raise AssertionError("unreachable")

    return asyncio.run(work())


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_tokens(settings: Settings, number: str, count: int) -> None:
    async def work() -> None:
        database = Database(settings.database_url)
        try:
            async with database.begin() as session:
                for _ in range(count):
                    await tokens.issue(
                        session,
                        number,
                        uploads=1,
                        ttl=settings.token_ttl,
                        max_bytes=None,
                        actor="t",
                    )
        finally:
            await database.dispose()

    asyncio.run(work())
