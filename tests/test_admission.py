"""Admission and the failures a PATCH meets on the way: the last attempt of a token raced
by two creations, a disk that fills mid-PATCH (faked at the Store seam only), a client
that stops sending.

Each test asserts what was said (status, Retry-After, Upload-Offset, HEAD) and what was
kept (the bytes on disk, the token's attempts, the upload records).
"""

import asyncio
import errno
import hashlib
import os
import time
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from tests import tus
from tests.conftest import Issued, issue_token, make_settings
from tests.fakes import FaultyStore, data_path
from tuslog.app import create_app
from tuslog.db.models import Upload, UploadToken
from tuslog.keys import DATABASE
from tuslog.settings import Settings
from tuslog.storage.store import StorageFullError

MiB = 1024 * 1024


def _upload_id(path: str) -> str:
    return path.rsplit("/", 1)[1]


def _stored(settings: Settings, upload_id: str) -> bytes:
    return data_path(settings.storage_dir, upload_id).read_bytes()


def _data_files(settings: Settings) -> list[Path]:
    return [p for p in settings.storage_dir.glob("*/*") if p.parent.name != ".locks"]


async def _head(client: TestClient, path: str, auth: dict[str, str]) -> Any:
    response = await client.head(path, headers=auth)
    assert response.status == 200
    return response.headers


# --- one attempt, two creations ------------------------------------------------------------
async def test_concurrent_creations_on_a_one_upload_token(
    client: TestClient, settings: Settings
) -> None:
    database = client.app[DATABASE]
    for round_ in range(5):
        issued = await issue_token(settings, ticket=f"SR-R{round_}", uploads=1)
        responses = await asyncio.gather(
            *(tus.create(client, issued.auth, 1000 + n) for n in range(3))
        )
        statuses = sorted(r.status for r in responses)
        assert statuses == [201, 401, 401], [await r.text() for r in responses]
        for response in responses:
            if response.status == 401:
                assert response.headers["WWW-Authenticate"].startswith("Bearer")
                assert "Location" not in response.headers
        async with database.session() as session:
            token = await session.scalar(
                select(UploadToken).where(UploadToken.prefix == issued.prefix)
            )
            assert token is not None
            assert (token.uses, token.max_uses) == (1, 1)
            count = await session.scalar(
                select(func.count()).select_from(Upload).where(Upload.token_id == token.id)
            )
        assert count == 1
    assert len(_data_files(settings)) == 5  # losers left no data file behind


# --- disk full ---------------------------------------------------------------------------
def filling_store(root: Path) -> tuple[FaultyStore, list[int | None]]:
    """The real store, except that a data file cannot grow past ``capacity[0]`` bytes (the
    disk "fills"); ``None`` is "space was freed"."""
    store = FaultyStore(root)
    capacity: list[int | None] = [None]

    def write_at(real: Any, data: bytes | bytearray | memoryview, position: int) -> None:
        limit = capacity[0]
        if limit is not None and position + len(data) > limit:
            fits = max(0, limit - position)
            real(memoryview(data)[:fits], position)
            raise StorageFullError(fits)
        real(data, position)

    store.intercept("writer.write_at", write_at)
    return store, capacity


async def test_disk_full_mid_patch_keeps_bytes_and_resumes(
    aiohttp_client: Any, settings: Settings, issued: Issued
) -> None:
    store, capacity = filling_store(settings.storage_dir)
    client = await aiohttp_client(create_app(settings, store=store))
    data = os.urandom(10 * MiB + 99)
    meta = tus.metadata(sha256=hashlib.sha256(data).hexdigest())
    path = await tus.create_path(client, issued.auth, len(data), Upload_Metadata=meta)
    upload_id = _upload_id(path)
    capacity[0] = full = 6 * MiB + 12345

    response = await tus.patch(client, path, issued.auth, 0, data)
    assert response.status == 503, await response.text()
    assert int(response.headers["Retry-After"]) > 0
    assert response.headers["Upload-Offset"] == str(full)
    assert "kept" in await response.text()
    assert (await _head(client, path, issued.auth))["Upload-Offset"] == str(full)
    assert _stored(settings, upload_id) == data[:full]

    # Still full: the retry is refused the same way and the offset does not move.
    response = await tus.patch(client, path, issued.auth, full, data[full:])
    assert (response.status, response.headers["Upload-Offset"]) == (503, str(full))
    assert _stored(settings, upload_id) == data[:full]

    capacity[0] = None  # space was freed
    headers = await _head(client, path, issued.auth)
    assert (headers["Upload-Offset"], headers["Tuslog-Upload-State"]) == (str(full), "receiving")
    response = await tus.patch(client, path, issued.auth, full, data[full:])
    assert response.status == 204, await response.text()
    assert response.headers["Upload-Offset"] == str(len(data))
    # The disk-full write cost the running hash: the file is hashed again, in the background.
    assert response.headers["Tuslog-Upload-State"] == "verifying"
    settled = await tus.settled_head(client, path, issued.auth)
    assert settled.headers["Tuslog-Upload-State"] == "verified"
    assert _stored(settings, upload_id) == data


async def test_disk_full_reported_by_fdatasync(
    aiohttp_client: Any, settings: Settings, issued: Issued
) -> None:
    """The disk fills as fdatasync reports it (NFS, quotas: fsync(2) lists ENOSPC and
    EDQUOT), not at write time."""
    store = FaultyStore(settings.storage_dir)
    client = await aiohttp_client(create_app(settings, store=store))
    data = os.urandom(3 * MiB)
    path = await tus.create_path(client, issued.auth, len(data))
    store.fail("writer.sync", OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))
    response = await tus.patch(client, path, issued.auth, 0, data)
    assert response.status == 503, await response.text()
    assert int(response.headers["Retry-After"]) > 0
    said = response.headers["Upload-Offset"]
    assert (await _head(client, path, issued.auth))["Upload-Offset"] == said
    store.fail("writer.sync", None)
    response = await tus.patch(client, path, issued.auth, int(said), data[int(said) :])
    assert (response.status, response.headers["Upload-Offset"]) == (204, str(len(data)))
    assert _stored(settings, _upload_id(path)) == data


async def test_a_failed_fdatasync_is_not_trusted_on_a_second_try(
    aiohttp_client: Any, settings: Settings, issued: Issued
) -> None:
    """The first fdatasync reports ENOSPC (the writeback failed); Linux reports such an
    error once per open file, so later ones "succeed" although the pages never landed."""
    store = FaultyStore(settings.storage_dir)
    syncs = []

    def sync(real: Any) -> None:
        syncs.append(1)
        if len(syncs) == 1:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real()

    store.intercept("writer.sync", sync)
    client = await aiohttp_client(create_app(settings, store=store))
    data = os.urandom(100_000)  # one write, which also syncs
    path = await tus.create_path(client, issued.auth, len(data))
    response = await tus.patch(client, path, issued.auth, 0, data)
    assert (response.status, response.headers["Upload-Offset"]) == (503, "0")
    assert (await _head(client, path, issued.auth))["Upload-Offset"] == "0"
    response = await tus.patch(client, path, issued.auth, 0, data)  # space came back
    assert (response.status, response.headers["Upload-Offset"]) == (204, str(len(data)))
    assert _stored(settings, _upload_id(path)) == data


# --- a client that stops sending -----------------------------------------------------------
async def _raw_stalled_patch(
    client: TestClient, path: str, auth: dict[str, str], first: bytes, total: int
) -> tuple[int, dict[str, str], bool]:
    """Send the head and ``first`` of a ``total``-byte PATCH, then nothing. Returns the
    status and headers the server sends, and whether it then closed the connection."""
    reader, writer = await asyncio.open_connection(client.host, client.port)
    try:
        writer.write(tus.raw_patch_head(path, auth, 0, Content_Length=total) + first)
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 15)
        headers: dict[str, str] = {}
        while (line := await asyncio.wait_for(reader.readline(), 5)) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            headers[name.strip().lower()] = value.strip()
        await asyncio.wait_for(reader.readexactly(int(headers.get("content-length", 0))), 5)
        closed = await asyncio.wait_for(reader.read(1), 5) == b""
        return int(status_line.split()[1]), headers, closed
    finally:
        writer.close()


async def test_idle_client_is_cut_and_partial_data_kept(
    aiohttp_client: Any, database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(database_url, tmp_path, read_timeout=1)
    client = await aiohttp_client(create_app(settings))
    issued = await issue_token(settings)
    data = os.urandom(2 * MiB)
    path = await tus.create_path(client, issued.auth, len(data))
    sent = 300_000 + 7

    status, headers, closed = await _raw_stalled_patch(
        client, path, issued.auth, data[:sent], len(data)
    )
    assert status == 408
    assert headers["upload-offset"] == str(sent)
    assert headers["connection"].lower() == "close"
    assert closed  # the server hung up instead of waiting for ever
    assert (await _head(client, path, issued.auth))["Upload-Offset"] == str(sent)
    assert _stored(settings, _upload_id(path)) == data[:sent]

    response = await tus.patch(client, path, issued.auth, sent, data[sent:])
    assert (response.status, response.headers["Upload-Offset"]) == (204, str(len(data)))
    assert _stored(settings, _upload_id(path)) == data


async def test_slow_disk_is_not_mistaken_for_an_idle_client(
    aiohttp_client: Any, database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(database_url, tmp_path, read_timeout=1)
    store = FaultyStore(settings.storage_dir)

    def slow_first_write(real: Any, data: bytes, position: int) -> None:
        if position == 0:
            time.sleep(1.6)  # one slow write (a busy volume), longer than READ_TIMEOUT
        real(data, position)

    store.intercept("writer.write_at", slow_first_write)
    client = await aiohttp_client(create_app(settings, store=store))
    issued = await issue_token(settings)
    data = os.urandom(12 * MiB)
    path = await tus.create_path(client, issued.auth, len(data))

    async def steady() -> Any:  # never more than ~10 ms between pieces
        for start in range(0, len(data), 256 * 1024):
            yield data[start : start + 256 * 1024]
            await asyncio.sleep(0.01)

    headers = {**issued.auth, "Upload-Offset": "0", "Content-Type": tus.OCTET}
    headers["Content-Length"] = str(len(data))
    response = await client.patch(path, data=steady(), headers=headers)
    assert response.status == 204, await response.text()
    assert _stored(settings, _upload_id(path)) == data


# --- a lost 201 ------------------------------------------------------------------------------
async def test_same_file_asked_again_gets_its_upload_back(
    client: TestClient, settings: Settings, issued: Issued
) -> None:
    """The answer to a creation was lost: asking again for the same file (length and
    declared sha256) returns the same upload and spends no second attempt."""
    data = os.urandom(MiB)
    meta = tus.metadata(filename="a.tgz", sha256=hashlib.sha256(data).hexdigest())
    first = await tus.create(client, issued.auth, len(data), Upload_Metadata=meta)
    assert first.status == 201
    assert (
        await tus.patch(client, tus.path_of(first.headers["Location"]), issued.auth, 0, data[:1000])
    ).status == 204
    again = await tus.create(client, issued.auth, len(data), Upload_Metadata=meta)
    assert again.status == 201, await again.text()
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["Upload-Offset"] == "1000"
    other = tus.metadata(filename="b.tgz", sha256=hashlib.sha256(b"other").hexdigest())
    refused = await tus.create(client, issued.auth, len(data), Upload_Metadata=other)
    assert refused.status == 401  # a different file still needs an attempt; none is left
