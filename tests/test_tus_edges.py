"""Edges found in review: Expect on OPTIONS and unknown expectations, a length sent again
to a finished upload, the messages of refused and cut-short requests, and the failed-token
rate limit for tokens that are known but used up."""

import asyncio
import base64
import hashlib
import os
import threading
from pathlib import Path
from typing import Any

from tests import tus
from tests.conftest import issue_token, make_settings
from tests.fakes import FaultyStore, data_path
from tuslog.app import create_app


async def _raw(client: Any, request: bytes) -> list[bytes]:
    """Send a request by hand; the status line and header lines of the (last) answer."""
    reader, writer = await asyncio.open_connection(client.host, client.port)
    try:
        writer.write(request)
        await writer.drain()
        while True:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            lines = head.split(b"\r\n")
            if not lines[0].split()[1].startswith(b"1"):  # skip 100 Continue
                return lines
    finally:
        writer.close()


async def test_options_with_expect_continue_is_still_answered(client: Any) -> None:
    lines = await _raw(
        client, b"OPTIONS /files/ HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n"
    )
    assert lines[0].split()[1] == b"204", lines
    assert b"Tus-Version: 1.0.0" in lines


async def test_unknown_expectation_is_a_tus_answer(client: Any, issued: Any) -> None:
    auth = issued.auth["Authorization"].encode()
    lines = await _raw(
        client,
        b"POST /files/ HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nAuthorization: "
        + auth
        + b"\r\nUpload-Length: 1\r\nExpect: foo\r\nContent-Length: 0\r\n\r\n",
    )
    assert lines[0].split()[1] == b"417", lines
    assert b"Tus-Resumable: 1.0.0" in lines


async def test_a_finished_upload_refuses_another_length(client: Any, issued: Any) -> None:
    path = await tus.create_path(client, issued.auth, 2)
    assert (await tus.patch(client, path, issued.auth, 0, b"ab")).status == 204
    changed = await tus.patch(client, path, issued.auth, 2, b"", Upload_Length=5)
    assert changed.status == 400, await changed.text()
    assert "(2) and cannot change" in await changed.text()
    same = await tus.patch(client, path, issued.auth, 2, b"", Upload_Length=2)
    assert same.status == 204


async def test_deferred_length_over_the_maximum_names_the_limit(
    aiohttp_client: Any, database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(database_url, tmp_path, max_upload_size=1000)
    client = await aiohttp_client(create_app(settings))
    issued = await issue_token(settings)
    path = await tus.create_path(client, issued.auth, None, Upload_Defer_Length=1)
    response = await tus.patch(client, path, issued.auth, 0, b"", Upload_Length=5000)
    assert response.status == 413
    assert "5000" in await response.text() and "1000 bytes" in await response.text()
    assert response.headers["Upload-Offset"] == "0"


async def test_used_up_token_failures_are_rate_limited(
    aiohttp_client: Any, database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(database_url, tmp_path, auth_failure_limit=3)
    client = await aiohttp_client(create_app(settings))
    issued = await issue_token(settings, uploads=1)
    assert (await tus.create(client, issued.auth, 1)).status == 201
    statuses = [(await tus.create(client, issued.auth, 1)).status for _ in range(4)]
    assert statuses == [401, 401, 401, 429], statuses


async def test_cut_short_checksummed_chunk_says_it_was_discarded(
    aiohttp_client: Any, database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(database_url, tmp_path, read_timeout=1)
    client = await aiohttp_client(create_app(settings))
    issued = await issue_token(settings)
    body = b"x" * 100
    digest = base64.b64encode(hashlib.sha1(body).digest()).decode()
    path = await tus.create_path(client, issued.auth, 100)
    head = tus.raw_patch_head(
        path, issued.auth, 0, Content_Length=100, Upload_Checksum=f"sha1 {digest}"
    )
    reader, writer = await asyncio.open_connection(client.host, client.port)
    try:
        writer.write(head + body[:40])  # ... and then nothing
        answer = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    assert answer.split()[1] == b"408", answer
    assert b"the chunk was discarded" in answer and b"was kept" not in answer
    assert b"Upload-Offset: 0" in answer


async def test_unparsable_request_is_one_quiet_log_line(client: Any, caplog: Any) -> None:
    caplog.set_level("INFO", logger="aiohttp.server")
    lines = await _raw(client, b"POST /files/ HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n")
    assert lines[0].split()[1] == b"400", lines
    await asyncio.sleep(0.1)
    server_records = [r for r in caplog.records if r.name == "aiohttp.server"]
    assert [r.levelname for r in server_records] == ["INFO"], server_records
    assert server_records[0].exc_info is None
    assert "malformed request from" in server_records[0].getMessage()


def held_first_write(root: Path) -> tuple[FaultyStore, threading.Event, threading.Event]:
    """The storage seam: the first write of an upload waits until the test lets it go."""
    store = FaultyStore(root)
    started, go_on = threading.Event(), threading.Event()

    def write_at(real: Any, data: Any, position: int) -> None:
        if position == 0:
            started.set()
            assert go_on.wait(30), "the test never let the write go on"
        real(data, position)

    store.intercept("writer.write_at", write_at)
    return store, started, go_on


async def test_bytes_that_arrived_before_a_hang_up_are_kept_even_if_not_yet_read(
    aiohttp_client: Any, database_url: str, tmp_path: Path
) -> None:
    """The client hangs up while the server waits for its disk: the last bytes sit in
    aiohttp's buffer, unread, and aiohttp drops them with the connection (and cancels
    the handler: its test server does). They reached the server, so the upload keeps
    them (DESIGN §2.2)."""
    mib = 1024 * 1024
    # A checkpoint is due at exactly 8 MiB (never earlier): there the reader waits for the
    # held write, with all 8 MiB read.
    settings = make_settings(
        database_url, tmp_path, checkpoint_bytes=8 * mib, checkpoint_seconds=60
    )
    store, started, go_on = held_first_write(settings.storage_dir)
    client = await aiohttp_client(create_app(settings, store))
    issued = await issue_token(settings)
    path = await tus.create_path(client, issued.auth, 16 * mib)
    body = os.urandom(8 * mib + 50_000)

    _, writer = await asyncio.open_connection(client.host, client.port)
    try:
        writer.write(tus.raw_patch_head(path, issued.auth, 0, Content_Length=16 * mib))
        writer.write(body[: 8 * mib])
        await writer.drain()
        assert await asyncio.to_thread(started.wait, 10)
        await asyncio.sleep(1)  # the reader now waits for the held write, at 8 MiB
        writer.write(body[8 * mib :])
        await writer.drain()
        writer.close()
        await asyncio.sleep(0.5)  # the server sees the hang-up; the tail waits, unread
    finally:
        go_on.set()

    deadline = asyncio.get_running_loop().time() + 15
    offset = "0"
    while offset != str(len(body)):
        assert asyncio.get_running_loop().time() < deadline, f"offset stays at {offset}"
        await asyncio.sleep(0.1)
        offset = (await client.head(path, headers=issued.auth)).headers["Upload-Offset"]
    upload_id = path.rsplit("/", 1)[1]
    assert data_path(settings.storage_dir, upload_id).read_bytes() == body
