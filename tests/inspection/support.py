"""Real archives uploaded through a running upload engine (no HTTP), with the engine's
background work: completion queues the manifest, ``settled`` waits for it."""

import contextlib
import hashlib
import io
import tarfile
import threading
import time
from collections.abc import AsyncIterator
from typing import Any, BinaryIO

from tests.archives.build import MTIME
from tests.fakes import FaultyStore
from tests.test_cli_support import BytesSource
from tuslog import errors
from tuslog.db.database import Database
from tuslog.db.models import Upload, UploadToken
from tuslog.services import tickets, tokens
from tuslog.settings import Settings
from tuslog.storage.filestore import FileStore
from tuslog.storage.locks import UploadLocks
from tuslog.storage.store import Store, new_upload_id
from tuslog.uploads.creation import Concatenation
from tuslog.uploads.engine import UploadEngine
from tuslog.uploads.records import NewUpload

CLIENT_IP = "192.0.2.7"


@contextlib.asynccontextmanager
async def running(settings: Settings, store: Store | None = None) -> AsyncIterator[UploadEngine]:
    """An engine as a server runs it, minus the janitor's timer (tests call its sweep)."""
    database = Database(settings.database_url)
    locks = UploadLocks(settings.storage_dir / ".locks", settings.lock_release_timeout)
    engine = UploadEngine.build(settings, database, store or FileStore(settings.storage_dir), locks)
    try:
        async with engine.running(background=False):
            yield engine
    finally:
        await database.dispose()


async def create(
    engine: UploadEngine,
    data: bytes,
    *,
    filename: str = "logs.tar.gz",
    number: str = "SR-1",
    declared: str | None = "match",
    partial: bool = False,
) -> tuple[Upload, UploadToken]:
    """A new upload for ``data`` (nothing sent yet) and its token; ``declared``: "match"
    declares the data's SHA-256, None none, anything else that (a wrong one: corrupt)."""
    if declared == "match":
        declared = hashlib.sha256(data).hexdigest()
    async with engine.parts.db.begin() as session:
        try:
            await tickets.get(session, number)
        except errors.TuslogError:
            await tickets.create(session, number, title="t", actor="t")
        issued = await tokens.issue(
            session,
            number,
            uploads=1,
            ttl=engine.parts.settings.token_ttl,
            max_bytes=None,
            actor="t",
        )
    new = NewUpload(
        upload_id=new_upload_id(),
        length=len(data),
        metadata_raw="",
        filename=filename,
        declared_sha256=declared,
        concat=None,
        client_ip=CLIENT_IP,
    )
    concatenation = Concatenation(partial=True) if partial else None
    created, _ = await engine.creation.create(issued.record, new, concatenation)
    return created, issued.record


async def send(
    engine: UploadEngine, target: Upload, token: UploadToken, data: bytes, start: int, end: int
) -> Upload:
    """Bytes ``start`` to ``end`` of ``data`` (a PATCH, without HTTP)."""
    body = BytesSource(data[start:end])
    return await engine.reception.receive(target, token, start, body, None, None, CLIENT_IP)


async def upload(
    engine: UploadEngine,
    data: bytes,
    *,
    filename: str = "logs.tar.gz",
    number: str = "SR-1",
    declared: str | None = "match",
) -> Upload:
    """A finished upload of ``data`` (see ``create`` for ``declared``)."""
    created, token = await create(engine, data, filename=filename, number=number, declared=declared)
    return await send(engine, created, token, data, 0, len(data))


async def settled(engine: UploadEngine) -> None:
    """Until the engine's background work (manifests queued and made) has ended."""
    await engine.verifier.wait()
    await engine.parts.pools.background.wait()


def tar_gz(files: dict[str, bytes], dirs: tuple[str, ...] = ()) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT) as archive:
        for name in dirs:
            info = tarfile.TarInfo(name)
            info.type, info.mtime, info.mode = tarfile.DIRTYPE, MTIME, 0o755
            archive.addfile(info)
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(content), MTIME
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


SYSLOG = b"".join(b"Nov  1 12:00:%02d host sshd[1]: line %d\n" % (n % 60, n) for n in range(3000))
BUNDLE = {
    "var/log/syslog": SYSLOG,
    "var/log/app/app.log": b"start\nERROR disk full on /data\nstop\n",
    "etc/hostname": b"host1\n",
    "bin/tool": b"\x7fELF\x00\x00binary",
}
BUNDLE_DIRS = ("var/", "var/log/", "var/log/app/", "etc/", "bin/")


class SlowReads:
    """Every reader of a store made slow: 4 KiB per read, ``delay`` seconds each. The
    storage seam's way to keep a manifest job busy for a while."""

    def __init__(self, store: FaultyStore, delay: float = 0.02) -> None:
        self.delay = delay
        self.started = threading.Event()
        self.bytes_read = 0
        store.intercept("open_reader", lambda real, upload_id: _SlowFile(real(upload_id), self))


class _SlowFile:
    def __init__(self, inner: BinaryIO, reads: SlowReads) -> None:
        self._inner = inner
        self._reads = reads

    def read(self, size: int = -1) -> bytes:
        self._reads.started.set()
        time.sleep(self._reads.delay)
        data = self._inner.read(4096 if size < 0 else min(size, 4096))
        self._reads.bytes_read += len(data)
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def __enter__(self) -> "_SlowFile":
        return self

    def __exit__(self, *exc: object) -> None:
        self._inner.close()
