"""Real archives uploaded through a running upload engine (no HTTP), with the engine's
background work: completion queues the manifest, ``settled`` waits for it."""

import contextlib
import hashlib
import io
import tarfile
from collections.abc import AsyncIterator

from tests.archives.build import MTIME
from tests.test_cli_support import BytesSource
from tuslog.db.database import Database
from tuslog.db.models import Upload
from tuslog.services import tickets, tokens
from tuslog.settings import Settings
from tuslog.storage.filestore import FileStore
from tuslog.storage.locks import UploadLocks
from tuslog.storage.store import Store, new_upload_id
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


async def upload(
    engine: UploadEngine,
    data: bytes,
    *,
    filename: str = "logs.tar.gz",
    number: str = "SR-1",
    declared: str | None = "match",
) -> Upload:
    """A finished upload of ``data``; ``declared``: "match" declares its SHA-256 (so it
    is verified), None declares none (complete), anything else a wrong one (corrupt)."""
    if declared == "match":
        declared = hashlib.sha256(data).hexdigest()
    async with engine.parts.db.begin() as session:
        try:
            await tickets.get(session, number)
        except Exception:
            await tickets.create(session, number, title="t", actor="t")
    async with engine.parts.db.begin() as session:
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
    created, _ = await engine.creation.create(issued.record, new, None)
    return await engine.reception.receive(
        created, issued.record, 0, BytesSource(data), None, None, CLIENT_IP
    )


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
