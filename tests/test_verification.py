"""Background verification: the last bytes of an upload arrive in a process that does not
hold its running hash (another worker received the first ones). Hashing the whole file
there and then would hold the upload's lock for minutes on a big archive; instead the
PATCH is answered at once ("verifying") and the file is hashed in the background."""

import asyncio
import hashlib
import os
import threading
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select, update

from tests import tus
from tests.conftest import Issued
from tests.fakes import FaultyStore, data_path, lock_files
from tuslog.app import create_app
from tuslog.db.models import AuditEvent, Upload, UploadState
from tuslog.keys import DATABASE, ENGINE
from tuslog.settings import Settings

HALF = 300_000
# asyncio's default thread pool (ThreadPoolExecutor's own default size)
_DEFAULT_POOL_THREADS = min(32, (os.cpu_count() or 1) + 4)


async def _two_processes(aiohttp_client: Any, settings: Settings) -> tuple[TestClient, TestClient]:
    """Two apps on one database and one storage directory: two workers, as far as the
    running hash is concerned (each app keeps its own)."""
    return await aiohttp_client(create_app(settings)), await aiohttp_client(create_app(settings))


async def _upload_across(
    first: TestClient, second: TestClient, issued: Issued, data: bytes, declared: str
) -> tuple[str, Any]:
    path = await tus.create_path(
        first, issued.auth, len(data), Upload_Metadata=tus.metadata(sha256=declared)
    )
    response = await tus.patch(first, path, issued.auth, 0, data[:HALF])
    assert response.status == 204, await response.text()
    last = await tus.patch(second, path, issued.auth, HALF, data[HALF:])
    assert last.status == 204, await last.text()
    return path, last


async def _janitor_pass(client: TestClient) -> None:
    """One janitor sweep in this process, and the verifications it started."""
    engine = client.app[ENGINE]
    await engine.janitor.sweep()
    await engine.verifier.wait()


async def _audit(client: TestClient, upload_id: str) -> list[tuple[str, str]]:
    async with client.app[DATABASE].session() as session:
        rows = await session.execute(
            select(AuditEvent.action, AuditEvent.actor).where(AuditEvent.subject == upload_id)
        )
        return [(action, actor) for action, actor in rows]


async def test_last_bytes_elsewhere_are_verified_in_the_background(
    aiohttp_client: Any, settings: Settings, issued: Issued
) -> None:
    first, second = await _two_processes(aiohttp_client, settings)
    data = os.urandom(2 * HALF + 123)
    sha256 = hashlib.sha256(data).hexdigest()
    path, last = await _upload_across(first, second, issued, data, sha256)
    assert last.headers["Upload-Offset"] == str(len(data))
    assert last.headers["Tuslog-Upload-State"] == "verifying"
    assert "Tuslog-Sha256" not in last.headers
    assert "Upload-Expires" not in last.headers  # every byte is here: nothing expires

    settled = await tus.settled_head(first, path, issued.auth)
    assert settled.headers["Tuslog-Upload-State"] == "verified"
    assert settled.headers["Tuslog-Sha256"] == sha256
    upload_id = path.rsplit("/", 1)[1]
    assert ("upload.verified", "server") in await _audit(first, upload_id)
    assert lock_files(settings.storage_dir) == []


async def test_background_verification_finds_a_corrupt_upload(
    aiohttp_client: Any, settings: Settings, issued: Issued
) -> None:
    first, second = await _two_processes(aiohttp_client, settings)
    data = os.urandom(2 * HALF)
    declared = hashlib.sha256(data[::-1]).hexdigest()  # not what is sent
    path, last = await _upload_across(first, second, issued, data, declared)
    assert last.headers["Tuslog-Upload-State"] == "verifying"
    settled = await tus.settled_head(second, path, issued.auth)
    assert settled.headers["Tuslog-Upload-State"] == "corrupt"
    assert settled.headers["Tuslog-Sha256"] == hashlib.sha256(data).hexdigest()
    assert ("upload.corrupt", "server") in await _audit(first, path.rsplit("/", 1)[1])


async def test_janitor_resumes_a_verification_a_stop_cut_short(
    aiohttp_client: Any, settings: Settings, issued: Issued
) -> None:
    first, second = await _two_processes(aiohttp_client, settings)
    await second.app[ENGINE].verifier.stop()  # as if the process stopped before it could hash
    data = os.urandom(2 * HALF + 1)
    sha256 = hashlib.sha256(data).hexdigest()
    path, last = await _upload_across(first, second, issued, data, sha256)
    assert last.headers["Tuslog-Upload-State"] == "verifying"
    head = await first.head(path, headers=issued.auth)  # no lock taken, no 423
    assert (head.status, head.headers["Tuslog-Upload-State"]) == (200, "verifying")
    upload_id = path.rsplit("/", 1)[1]
    async with first.app[DATABASE].session() as session:
        row = await session.get(Upload, upload_id)
        assert row is not None and (row.state, row.sha256) == (UploadState.COMPLETE, None)

    await _janitor_pass(first)
    head = await first.head(path, headers=issued.auth)
    assert head.headers["Tuslog-Upload-State"] == "verified"
    assert head.headers["Tuslog-Sha256"] == sha256


async def test_a_busy_upload_is_left_to_whoever_verifies_it(
    aiohttp_client: Any, settings: Settings, issued: Issued
) -> None:
    """Two processes never hash the same upload: the janitor's attempt finds the lock
    taken and leaves the upload alone (the holder records the result)."""
    first, second = await _two_processes(aiohttp_client, settings)
    await second.app[ENGINE].verifier.stop()
    data = os.urandom(2 * HALF)
    path, _ = await _upload_across(first, second, issued, data, hashlib.sha256(data).hexdigest())
    upload_id = path.rsplit("/", 1)[1]
    held = second.app[ENGINE].parts.locks.try_acquire(upload_id)  # someone else is verifying it
    assert held is not None
    try:
        await _janitor_pass(first)
        head = await first.head(path, headers=issued.auth)
        assert head.headers["Tuslog-Upload-State"] == "verifying"
    finally:
        held.release()


async def test_an_impatient_start_does_not_swallow_the_patient_one(
    client: TestClient, settings: Settings, issued: Issued
) -> None:
    """The janitor may see the received row before the completing request lets go of the
    lock: its impatient attempt fails, and the request's own (patient) start must still
    verify the upload, not be dropped as a duplicate."""
    data = os.urandom(1000)
    path = await tus.create_path(client, issued.auth, len(data))
    upload_id = path.rsplit("/", 1)[1]
    held = client.app[ENGINE].parts.locks.try_acquire(upload_id)  # the completing request
    assert held is not None
    async with client.app[DATABASE].begin() as session:
        await session.execute(
            update(Upload)
            .where(Upload.id == upload_id)
            .values(offset=len(data), state=UploadState.COMPLETE)
        )
    data_path(settings.storage_dir, upload_id).write_bytes(data)
    verifier = client.app[ENGINE].verifier
    verifier.start(upload_id, patient=False)  # the janitor's sweep
    await asyncio.sleep(0)  # ...finds the lock taken and gives up (its task just ended)
    verifier.start(upload_id)  # the request's own start
    await asyncio.sleep(0.3)
    held.release()  # the request answers and lets go
    await verifier.wait()
    head = await client.head(path, headers=issued.auth)
    assert head.headers["Tuslog-Upload-State"] == "complete"
    assert head.headers["Tuslog-Sha256"] == hashlib.sha256(data).hexdigest()


def stuck_reads(root: Path) -> tuple[FaultyStore, threading.Event]:
    """Reading an upload back takes until the event is set (multi-GB archives on a busy
    volume)."""
    store = FaultyStore(root)
    moving = threading.Event()

    def open_reader(real: Any, upload_id: str) -> Any:
        moving.wait(30)
        return real(upload_id)

    store.intercept("open_reader", open_reader)
    return store, moving


async def test_verifications_do_not_hold_up_requests(
    aiohttp_client: Any, settings: Settings, issued: Issued
) -> None:
    """Many verifications waiting (after a restart, or finals of many partials) run one at
    a time on a thread of their own; requests still get the threads they need."""
    first = await aiohttp_client(create_app(settings))
    stuck, moving = stuck_reads(settings.storage_dir)
    second = await aiohttp_client(create_app(settings, store=stuck))
    paths: list[str] = []

    async def verifications_then_other_requests() -> None:
        for _ in range(_DEFAULT_POOL_THREADS + 1):  # one more than the default thread pool
            path = await tus.create_path(first, issued.auth, 2, Upload_Concat="partial")
            assert (await tus.patch(first, path, issued.auth, 0, b"a")).status == 204
            last = await tus.patch(second, path, issued.auth, 1, b"b")
            assert last.headers["Tuslog-Upload-State"] == "verifying"
            paths.append(path)
        await asyncio.sleep(0.5)  # the verifications have started and are stuck reading
        other = await tus.create_path(second, issued.auth, 10, Upload_Concat="partial")
        assert (await tus.patch(second, other, issued.auth, 0, b"0123456789")).status == 204
        head = await second.head(paths[-1], headers=issued.auth)
        assert head.headers["Tuslog-Upload-State"] == "verifying"

    try:
        # Neither the uploads that start the verifications nor the requests after them may
        # wait for a stuck verification (which would wait 30 s).
        await asyncio.wait_for(verifications_then_other_requests(), 10)
    finally:
        moving.set()
    await second.app[ENGINE].verifier.wait()
    for path in paths:
        head = await second.head(path, headers=issued.auth)
        assert head.headers["Tuslog-Sha256"] == hashlib.sha256(b"ab").hexdigest()


async def test_a_replayed_last_patch_takes_no_lock(
    client: TestClient, settings: Settings, issued: Issued
) -> None:
    """The 204 of the last PATCH was lost and the client sends it again: 409 with the real
    offset, answered from the row, and no lock file comes back for the archive."""
    data = os.urandom(5000)
    path = await tus.create_path(client, issued.auth, len(data))
    assert (await tus.patch(client, path, issued.auth, 0, data[:2000])).status == 204
    assert (await tus.patch(client, path, issued.auth, 2000, data[2000:])).status == 204
    again = await tus.patch(client, path, issued.auth, 2000, data[2000:])
    assert (again.status, again.headers["Upload-Offset"]) == (409, str(len(data)))
    at_end = await tus.patch(client, path, issued.auth, len(data), b"")
    assert (at_end.status, at_end.headers["Tuslog-Upload-State"]) == (204, "complete")
    past_end = await tus.patch(client, path, issued.auth, len(data), b"x")
    assert past_end.status == 413
    assert lock_files(settings.storage_dir) == []


async def test_small_patches_after_big_ones_keep_the_running_hash_in_order(
    aiohttp_client: Any, settings: Settings, issued: Issued
) -> None:
    """A small PATCH is hashed right on the loop, but only once the upload's hash thread
    has caught up with the big PATCH before it (whose answer did not wait for its hash):
    the running hash stays in byte order, and the upload is verified, not corrupt."""
    client = await aiohttp_client(create_app(settings))
    pieces = [os.urandom(n) for _ in range(24) for n in (2 * 1024 * 1024 + 1000, 1000)]
    data = b"".join(pieces)
    sha256 = hashlib.sha256(data).hexdigest()
    path = await tus.create_path(
        client, issued.auth, len(data), Upload_Metadata=tus.metadata(sha256=sha256)
    )
    offset = 0
    for piece in pieces:
        response = await tus.patch(client, path, issued.auth, offset, piece)
        assert response.status == 204, await response.text()
        offset += len(piece)
    assert response.headers["Tuslog-Upload-State"] == "verified"
    assert response.headers["Tuslog-Sha256"] == sha256
