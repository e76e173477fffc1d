"""Background verification: the last bytes of an upload arrive in a process that does not
hold its running hash (another worker received the first ones). Hashing the whole file
there and then would hold the upload's lock for minutes on a big archive; instead the
PATCH is answered at once ("verifying") and the file is hashed in the background."""

import hashlib
import os
from datetime import timedelta
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from tests import tus
from tests.conftest import Issued
from tuslog.db.models import AuditEvent, Upload, UploadState
from tuslog.janitor import Janitor
from tuslog.keys import LOCKS, SESSIONS, STORE, VERIFIER
from tuslog.server.app import create_app
from tuslog.settings import Settings

HALF = 300_000


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


async def _audit(client: TestClient, upload_id: str) -> list[tuple[str, str]]:
    async with client.app[SESSIONS]() as session:
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
    assert ("upload.completed", "server") in await _audit(first, upload_id)
    assert list((settings.storage_dir / ".locks").iterdir()) == []


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
    await second.app[VERIFIER].stop()  # as if the process stopped before it could hash
    data = os.urandom(2 * HALF + 1)
    sha256 = hashlib.sha256(data).hexdigest()
    path, last = await _upload_across(first, second, issued, data, sha256)
    assert last.headers["Tuslog-Upload-State"] == "verifying"
    head = await first.head(path, headers=issued.auth)  # no lock taken, no 423
    assert (head.status, head.headers["Tuslog-Upload-State"]) == (200, "verifying")
    upload_id = path.rsplit("/", 1)[1]
    async with first.app[SESSIONS]() as session:
        row = await session.get(Upload, upload_id)
        assert row is not None and (row.state, row.sha256) == (UploadState.COMPLETE, None)

    app = first.app
    janitor = Janitor(app[SESSIONS], app[STORE], app[LOCKS], timedelta(hours=1), app[VERIFIER])
    await janitor.sweep()
    await app[VERIFIER].wait()
    head = await first.head(path, headers=issued.auth)
    assert head.headers["Tuslog-Upload-State"] == "verified"
    assert head.headers["Tuslog-Sha256"] == sha256


async def test_a_busy_upload_is_left_to_whoever_verifies_it(
    aiohttp_client: Any, settings: Settings, issued: Issued
) -> None:
    """Two processes never hash the same upload: the janitor's attempt finds the lock
    taken and leaves the upload alone (the holder records the result)."""
    first, second = await _two_processes(aiohttp_client, settings)
    await second.app[VERIFIER].stop()
    data = os.urandom(2 * HALF)
    path, _ = await _upload_across(first, second, issued, data, hashlib.sha256(data).hexdigest())
    upload_id = path.rsplit("/", 1)[1]
    held = second.app[LOCKS].try_acquire(upload_id)  # someone else is verifying it
    assert held is not None
    try:
        app = first.app
        janitor = Janitor(app[SESSIONS], app[STORE], app[LOCKS], timedelta(hours=1), app[VERIFIER])
        await janitor.sweep()
        await app[VERIFIER].wait()
        head = await first.head(path, headers=issued.auth)
        assert head.headers["Tuslog-Upload-State"] == "verifying"
    finally:
        held.release()
