"""Edges found in review: a body that carries every byte but never ends cleanly, a repeated
creation-with-upload, and a corrupt upload that must not block a clean retry."""

import asyncio
import hashlib
import os
from pathlib import Path
from typing import Any

from tests import tus
from tests.conftest import Issued, issue_token, make_settings
from tests.fakes import data_path
from tuslog.app import create_app
from tuslog.settings import Settings


async def test_all_bytes_then_cut_connection_completes(client: Any, issued: Issued) -> None:
    data = os.urandom(300_000)
    meta = tus.metadata(sha256=hashlib.sha256(data).hexdigest())
    path = await tus.create_path(client, issued.auth, len(data), Upload_Metadata=meta)
    _reader, writer = await asyncio.open_connection(client.host, client.port)
    writer.write(
        tus.raw_patch_head(path, issued.auth, 0, Transfer_Encoding="chunked")
        + f"{len(data):x}\r\n".encode()
        + data
        + b"\r\n"  # ... and never the final 0-length chunk: the link dies
    )
    await writer.drain()
    await asyncio.sleep(0.3)
    writer.close()
    await asyncio.sleep(0.3)
    response = await tus.settled_head(client, path, issued.auth)
    assert response.status == 200
    assert response.headers["Upload-Offset"] == str(len(data))
    assert response.headers["Tuslog-Upload-State"] == "verified"


async def test_repeated_creation_with_upload_does_not_append_again(
    client: Any, issued: Issued, settings: Settings
) -> None:
    data = os.urandom(64 * 1024)
    meta = tus.metadata(filename="x.tgz", sha256=hashlib.sha256(data).hexdigest())
    headers = {
        **issued.auth,
        "Upload-Length": str(len(data)),
        "Upload-Metadata": meta,
        "Content-Type": tus.OCTET,
    }
    first = await client.post("/files/", headers=headers, data=data[:1000])
    again = await client.post("/files/", headers=headers, data=data[:1000])  # 201 was lost
    assert first.status == again.status == 201
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["Upload-Offset"] == "1000"
    upload_id = tus.path_of(first.headers["Location"]).rsplit("/", 1)[1]
    assert data_path(settings.storage_dir, upload_id).read_bytes() == data[:1000]


async def test_corrupt_upload_does_not_block_a_retry(client: Any, settings: Settings) -> None:
    issued = await issue_token(settings, uploads=2)
    data = os.urandom(10_000)
    meta = tus.metadata(sha256=hashlib.sha256(data).hexdigest())
    first = await tus.create_path(client, issued.auth, len(data), Upload_Metadata=meta)
    flipped = bytes([data[0] ^ 1]) + data[1:]
    done = await tus.patch(client, first, issued.auth, 0, flipped)
    assert done.headers["Tuslog-Upload-State"] == "corrupt"
    second = await tus.create_path(client, issued.auth, len(data), Upload_Metadata=meta)
    assert second != first
    done = await tus.patch(client, second, issued.auth, 0, data)
    assert done.headers["Tuslog-Upload-State"] == "verified"


async def test_deferred_length_is_bounded_by_the_quota(client: Any, settings: Settings) -> None:
    issued = await issue_token(settings, max_bytes=1000)
    path = await tus.create_path(client, issued.auth, None, Upload_Defer_Length=1)
    response = await tus.patch(client, path, issued.auth, 0, os.urandom(3000))
    assert response.status == 413, await response.text()
    assert response.headers["Upload-Offset"] == "0"
    ok = await tus.patch(client, path, issued.auth, 0, os.urandom(1000))
    assert (ok.status, ok.headers["Upload-Offset"]) == (204, "1000")


async def test_two_finals_cannot_share_partials(client: Any, settings: Settings) -> None:
    issued = await issue_token(settings, uploads=2)
    parts = []
    for piece in (b"abc", b"def"):
        path = await tus.create_path(client, issued.auth, len(piece), Upload_Concat="partial")
        assert (await tus.patch(client, path, issued.auth, 0, piece)).status == 204
        parts.append(path)
    concat = "final;" + " ".join(parts)
    answers = await asyncio.gather(
        tus.create(client, issued.auth, None, Upload_Concat=concat),
        tus.create(client, issued.auth, None, Upload_Concat=concat),
    )
    assert sorted(a.status for a in answers) == [201, 400]


async def test_partial_uploads_per_token_are_capped(client: Any, settings: Settings) -> None:
    from tuslog.uploads.concat import MAX_OPEN_PARTIALS

    issued = await issue_token(settings)
    statuses = [
        (await tus.create(client, issued.auth, 1, Upload_Concat="partial")).status
        for _ in range(MAX_OPEN_PARTIALS + 1)
    ]
    assert statuses == [201] * MAX_OPEN_PARTIALS + [400]


async def _chunks(*parts: bytes) -> Any:
    for part in parts:
        yield part


async def test_finished_upload_takes_an_empty_chunked_patch(client: Any, issued: Issued) -> None:
    """A client that streams its PATCHes (Transfer-Encoding: chunked) and replays the last
    one after a lost answer sends an empty chunked body: that is no "too large"."""
    data = os.urandom(5_000)
    path = await tus.create_path(client, issued.auth, len(data))
    assert (await tus.patch(client, path, issued.auth, 0, data)).status == 204
    headers = {**issued.auth, "Upload-Offset": str(len(data)), "Content-Type": tus.OCTET}
    empty = await client.patch(path, headers=headers, data=_chunks())
    assert (empty.status, empty.headers["Upload-Offset"]) == (204, str(len(data)))
    more = await client.patch(path, headers=headers, data=_chunks(b"x"))
    assert more.status == 413, await more.text()
    assert more.headers["Upload-Offset"] == str(len(data))


async def test_stalled_chunked_patch_on_a_finished_upload_is_cut(
    aiohttp_client: Any, database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(database_url, tmp_path, read_timeout=1)
    client = await aiohttp_client(create_app(settings))
    issued = await issue_token(settings)
    path = await tus.create_path(client, issued.auth, 10)
    assert (await tus.patch(client, path, issued.auth, 0, b"0123456789")).status == 204
    reader, writer = await asyncio.open_connection(client.host, client.port)
    writer.write(tus.raw_patch_head(path, issued.auth, 10, Transfer_Encoding="chunked"))
    # ... and then nothing
    try:
        status_line = await asyncio.wait_for(reader.readline(), 5)
        assert status_line.split()[1] == b"408", status_line
        assert await asyncio.wait_for(reader.read(), 5)  # the rest, until the server hangs up
    finally:
        writer.close()
