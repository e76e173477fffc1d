"""The janitor: unfinished uploads expire after inactivity, their bytes go, tombstones stay
(HEAD/PATCH → 410); finished uploads are never touched; one janitor per deployment.
"""

import asyncio
import fcntl
import os
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from tests import tus
from tests.conftest import issue_token, make_settings
from tests.fakes import FaultyStore, data_path
from tuslog.app import create_app
from tuslog.db.database import Database
from tuslog.db.models import AuditEvent, Upload, UploadState
from tuslog.keys import DATABASE, ENGINE
from tuslog.settings import Settings
from tuslog.storage.filestore import FileStore
from tuslog.storage.locks import UploadLocks
from tuslog.uploads.engine import UploadEngine
from tuslog.uploads.janitor import Janitor

EXPIRY = 1.0  # seconds of inactivity


def _janitor(client: TestClient) -> Janitor:
    """A new janitor in this process (its first pass also looks for leftover bytes)."""
    engine = client.app[ENGINE]
    return Janitor(engine.parts, engine.ending, engine.verifier)


def _data_path(settings: Settings, upload_id: str) -> Path:
    return data_path(settings.storage_dir, upload_id)


async def _state(client: TestClient, upload_id: str) -> UploadState:
    async with client.app[DATABASE].session() as session:
        upload = await session.get(Upload, upload_id)
        assert upload is not None
        return upload.state


async def test_sweep_expires_inactive_uploads_and_spares_finished_ones(
    aiohttp_client: Any, database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(database_url, tmp_path, upload_expiry=EXPIRY)
    client: TestClient = await aiohttp_client(create_app(settings))
    issued = await issue_token(settings, uploads=3)
    auth = issued.auth

    idle = await tus.create_path(client, auth, 1000)
    assert (await tus.patch(client, idle, auth, 0, b"i" * 400)).status == 204
    done = await tus.create_path(client, auth, 500, Upload_Metadata=tus.metadata(filename="ok"))
    assert (await tus.patch(client, done, auth, 0, b"d" * 500)).status == 204
    busy = await tus.create_path(client, auth, 1000)
    idle_id, done_id, busy_id = (p.rsplit("/", 1)[1] for p in (idle, done, busy))

    await asyncio.sleep(EXPIRY + 0.3)
    # Past its expiry an upload is gone for the client even before the janitor runs.
    assert (await client.head(idle, headers=auth)).status == 410

    # A request holding an upload (here: its flock, from outside) means it is not idle.
    fd = os.open(settings.storage_dir / ".locks" / f"{busy_id}.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert await _janitor(client).sweep() == 1
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    assert await _state(client, idle_id) is UploadState.EXPIRED
    assert not _data_path(settings, idle_id).exists()
    assert not (settings.storage_dir / ".locks" / f"{idle_id}.lock").exists()
    head = await client.head(idle, headers=auth)
    assert (head.status, head.headers["Tus-Resumable"]) == (410, "1.0.0")
    assert "Upload-Offset" not in head.headers
    patch = await tus.patch(client, idle, auth, 400, b"i" * 600)
    assert patch.status == 410
    assert "expired" in await patch.text()

    assert await _state(client, busy_id) is UploadState.RECEIVING
    assert _data_path(settings, busy_id).exists()

    assert await _state(client, done_id) is UploadState.COMPLETE
    assert _data_path(settings, done_id).read_bytes() == b"d" * 500
    head = await client.head(done, headers=auth)
    assert (head.status, head.headers["Tuslog-Upload-State"]) == (200, "complete")

    # Once the busy one is let go, the next sweep takes it; nothing else is due.
    assert await _janitor(client).sweep() == 1
    assert await _state(client, busy_id) is UploadState.EXPIRED
    assert await _janitor(client).sweep() == 0
    async with client.app[DATABASE].session() as session:
        expired = set(
            await session.scalars(
                select(AuditEvent.subject).where(
                    AuditEvent.action == "upload.expired", AuditEvent.actor == "janitor"
                )
            )
        )
    assert expired == {idle_id, busy_id}


async def test_only_one_janitor_holds_the_lease(database_url: str, tmp_path: Path) -> None:
    settings = make_settings(database_url, tmp_path, janitor_interval=0.3)
    database = Database(database_url)
    try:
        locks = UploadLocks(tmp_path / "uploads" / ".locks", 2.0)
        engine = UploadEngine.build(settings, database, FileStore(tmp_path / "uploads"), locks)
        interval = timedelta(seconds=0.3)  # the lease lasts 3 intervals
        one, two = (Janitor(engine.parts, engine.ending, engine.verifier) for _ in range(2))

        first = await asyncio.gather(one.take_lease(), two.take_lease())
        assert sorted(first) == [False, True]
        holder, other = (one, two) if first[0] else (two, one)
        for _ in range(3):
            assert await holder.take_lease()  # renews
            assert not await other.take_lease()

        await asyncio.sleep(interval.total_seconds() * 3 + 0.3)  # the holder stopped renewing
        assert await other.take_lease()  # takes over
        assert not await holder.take_lease()
    finally:
        engine.parts.pools.shutdown()
        await database.dispose()


async def test_sweep_expires_partials_that_no_final_claimed(
    aiohttp_client: Any, database_url: str, tmp_path: Path
) -> None:
    """A finished partial is no archive: left alone past the expiry it goes, like an
    unfinished upload; a final made in time keeps its bytes for good."""
    settings = make_settings(database_url, tmp_path, upload_expiry=EXPIRY)
    client: TestClient = await aiohttp_client(create_app(settings))
    auth = (await issue_token(settings, uploads=2)).auth
    paths = []
    for data in (b"left ", b"joined"):
        path = await tus.create_path(client, auth, len(data), Upload_Concat="partial")
        assert (await tus.patch(client, path, auth, 0, data)).status == 204
        paths.append(path)
    left, joined = paths
    head = await client.head(left, headers=auth)
    assert head.headers["Tuslog-Upload-State"] == "complete"
    assert "Upload-Expires" in head.headers  # the client is told how long it has
    final = await tus.create(client, auth, None, Upload_Concat=f"final;{joined}")
    assert final.status == 201, await final.text()
    final_id = final.headers["Location"].rsplit("/", 1)[1]

    await asyncio.sleep(EXPIRY + 0.3)
    assert await _janitor(client).sweep() == 1
    left_id = left.rsplit("/", 1)[1]
    assert await _state(client, left_id) is UploadState.EXPIRED
    assert not _data_path(settings, left_id).exists()
    assert (await client.head(left, headers=auth)).status == 410
    assert await _state(client, final_id) is UploadState.COMPLETE
    assert _data_path(settings, final_id).read_bytes() == b"joined"


async def test_bytes_left_by_a_failed_delete_are_removed_by_the_next_janitor(
    aiohttp_client: Any, database_url: str, tmp_path: Path
) -> None:
    """An upload is recorded as ended before its bytes go. When they cannot go, the
    client's request still succeeds, and a janitor's first pass removes them."""
    settings = make_settings(database_url, tmp_path, upload_expiry=EXPIRY)
    store = FaultyStore(settings.storage_dir)
    store.fail("delete", PermissionError(13, "Permission denied"))
    client: TestClient = await aiohttp_client(create_app(settings, store=store))
    issued = await issue_token(settings, uploads=6)
    terminated = await tus.create_path(client, issued.auth, 100)
    assert (await tus.patch(client, terminated, issued.auth, 0, b"t" * 40)).status == 204
    idle = await tus.create_path(client, issued.auth, 100)
    kept = await tus.create_path(client, issued.auth, 10)  # finished: never expires
    assert (await tus.patch(client, kept, issued.auth, 0, b"k" * 10)).status == 204
    terminated_id, idle_id, kept_id = (p.rsplit("/", 1)[1] for p in (terminated, idle, kept))

    deleted = await client.delete(terminated, headers={**issued.auth, "Tus-Resumable": "1.0.0"})
    assert deleted.status == 204, await deleted.text()
    assert (await client.head(terminated, headers=issued.auth)).status == 410
    await asyncio.sleep(EXPIRY + 0.3)
    assert await _janitor(client).sweep() == 1  # expires idle; its delete fails too
    assert await _state(client, idle_id) is UploadState.EXPIRED
    assert _data_path(settings, terminated_id).exists()
    assert _data_path(settings, idle_id).exists()

    # Uploads that live on must keep their bytes: a final and its partials, one receiving
    # (made last: on a loaded machine the requests before the pass may take longer than
    # EXPIRY, and an upload idle that long does expire).
    partial = await tus.finished_partial(client, issued.auth, b"part")
    final = await client.post(
        "/files/", headers={**issued.auth, "Upload-Concat": f"final;{partial} {partial}"}
    )
    assert final.status == 201, await final.text()
    final_id = final.headers["Location"].rsplit("/", 1)[1]
    live = await tus.create_path(client, issued.auth, 100)
    assert (await tus.patch(client, live, issued.auth, 0, b"l" * 30)).status == 204

    store.fail("delete", None)
    assert await _janitor(client).sweep() == 0  # a new janitor: its first pass looks
    assert not _data_path(settings, terminated_id).exists()
    assert not _data_path(settings, idle_id).exists()
    assert not (settings.storage_dir / ".locks" / f"{terminated_id}.lock").exists()
    assert _data_path(settings, kept_id).read_bytes() == b"k" * 10  # a finished one stays
    assert _data_path(settings, live.rsplit("/", 1)[1]).read_bytes() == b"l" * 30
    assert _data_path(settings, final_id).read_bytes() == b"partpart"
    assert not _data_path(settings, partial.rsplit("/", 1)[1]).exists()  # claimed
    head = await client.head(live, headers=issued.auth)
    assert head.headers["Upload-Offset"] == "30"


async def test_data_files_without_an_upload_row_are_left_alone(
    aiohttp_client: Any, database_url: str, tmp_path: Path, caplog: Any
) -> None:
    """A storage directory paired with the wrong database must lose nothing."""
    settings = make_settings(database_url, tmp_path)
    client: TestClient = await aiohttp_client(create_app(settings))
    old, fresh = (_data_path(settings, shard + "0" * 30) for shard in ("ab", "cd"))
    for stray in (old, fresh):
        stray.parent.mkdir(parents=True, exist_ok=True)
        stray.write_bytes(b"someone's archive")
    two_hours_ago = time.time() - 7200
    os.utime(old, (two_hours_ago, two_hours_ago))
    (old.parent / "notes.txt").write_text("not an upload")

    assert await _janitor(client).remove_leftovers() == 0
    assert old.read_bytes() == fresh.read_bytes() == b"someone's archive"
    assert (old.parent / "notes.txt").exists()
    # Only the old one is reported: a fresh one may be a creation not yet committed.
    assert "1 data file(s) in the storage" in caplog.text
    assert "belong to no upload in the database and were left alone" in caplog.text
