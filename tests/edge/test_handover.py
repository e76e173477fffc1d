"""A client reconnects (to another worker) while its old PATCH is still open: the old
PATCH is stopped and saves its bytes, and the newcomer gets the upload next — also when
the stopped connection's client comes straight back with a HEAD of its own (it used to
win that race and leave the newcomer a 423). No bytes interleave."""

import asyncio
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests import tus
from tests.conftest import LiveServer, free_port, issue_token, server_env, start_server
from tests.fakes import data_path
from tuslog.settings import Settings

MiB = 1024 * 1024


@pytest.fixture
def two_workers(settings: Settings, tmp_path: Path) -> Iterator[tuple[LiveServer, LiveServer]]:
    """Two server processes on one database and one storage: two workers, each a port."""
    env = server_env(settings)
    first = start_server(env, free_port(), tmp_path / "first.log")
    second = start_server(env, free_port(), tmp_path / "second.log")
    yield first, second
    first.stop()
    second.stop()


async def _trickle(base: str, path: str, auth: dict[str, str], data: bytes, offset: int) -> int:
    """PATCH from ``offset``, slowly (a client on a dying link), on a raw connection whose
    answer is read the moment it comes (an HTTP client library would first finish sending
    the body); the answer's status."""
    host, port = base.rsplit("//", 1)[1].split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(tus.raw_patch_head(path, auth, offset, Content_Length=len(data) - offset))

    async def send() -> None:
        for start in range(offset, len(data), 64 * 1024):
            writer.write(data[start : start + 64 * 1024])
            await writer.drain()
            await asyncio.sleep(0.05)

    sending = asyncio.create_task(send())
    try:
        status_line = await asyncio.wait_for(reader.readline(), 60)
        return int(status_line.split()[1])
    finally:
        sending.cancel()
        writer.close()


async def _stale_client(
    http: aiohttp.ClientSession, url: str, auth: dict[str, str], data: bytes
) -> list[int]:
    """Told that a newer request took over, it comes straight back: HEAD, then PATCH on
    from there (what a stopped uploader does). What it was answered, in order."""
    base, path = url.split("/files/")
    answers = [await _trickle(base, f"/files/{path}", auth, data, 0)]
    async with http.head(url, headers=auth) as again:
        answers.append(again.status)
        offset = int(again.headers["Upload-Offset"])
    answers.append(await _trickle(base, f"/files/{path}", auth, data, offset))
    return answers


async def test_the_newcomer_gets_the_upload_next(
    two_workers: tuple[LiveServer, LiveServer], settings: Settings
) -> None:
    first, second = two_workers
    issued = await issue_token(settings)
    data = os.urandom(8 * MiB)
    meta = tus.metadata(sha256=hashlib.sha256(data).hexdigest())
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{first.url}/files/",
            headers={**issued.auth, "Upload-Length": str(len(data)), "Upload-Metadata": meta},
        ) as created:
            assert created.status == 201
            path = tus.path_of(created.headers["Location"])
        stale = asyncio.create_task(_stale_client(http, first.url + path, issued.auth, data))
        await asyncio.sleep(1.0)  # the stale PATCH has sent some of it

        # The newcomer, on the other worker: HEAD, then PATCH the rest; never a 423,
        # although the stale client comes back at once with a HEAD and a PATCH.
        async with http.head(second.url + path, headers=issued.auth) as head:
            assert head.status == 200, await head.text()
            offset = int(head.headers["Upload-Offset"])
        assert 0 < offset < len(data)
        await asyncio.sleep(0.3)  # the stale client is back, PATCHing again
        rest_status = 409
        while rest_status == 409:  # it moved the offset meanwhile: HEAD and go on
            async with http.head(second.url + path, headers=issued.auth) as head:
                assert head.status == 200, await head.text()
                offset = int(head.headers["Upload-Offset"])
            headers = {**issued.auth, "Upload-Offset": str(offset), "Content-Type": tus.OCTET}
            async with http.patch(second.url + path, data=data[offset:], headers=headers) as rest:
                rest_status = rest.status
                assert rest_status in (204, 409), await rest.text()
        assert rest.headers["Upload-Offset"] == str(len(data))
        stale_answers = await asyncio.wait_for(stale, 30)
        assert stale_answers[:2] == [423, 200], stale_answers  # stopped, then its turn
        state: Any = None
        for _ in range(200):
            async with http.head(second.url + path, headers=issued.auth) as head:
                state = head.headers["Tuslog-Upload-State"]
            if state != "verifying":
                break
            await asyncio.sleep(0.1)
    assert state == "verified"
    assert data_path(settings.storage_dir, path.rsplit("/", 1)[1]).read_bytes() == data
