"""Bodies are stored exactly as sent: a compressed body is refused before a byte is read
or written (a decompression bomb, and stored bytes that differ from what the client
hashed), with a message that says what to do; a transfer coding other than chunked is
501. Nothing is stored and the offset does not move."""

import asyncio
import gzip
import zlib
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests import tus
from tests.conftest import Issued
from tests.fakes import data_path
from tuslog.settings import Settings

PAYLOAD = b"\0" * (4 * 1024 * 1024)  # inflates from a few KiB
ENCODED = {
    "gzip": gzip.compress(PAYLOAD),
    "deflate": zlib.compress(PAYLOAD),
    "br": b"\x1b\xff\xff\x03\x00",  # not even valid: it must not be looked at
}


def _stored(settings: Settings, path: str) -> bytes:
    return data_path(settings.storage_dir, path.rsplit("/", 1)[1]).read_bytes()


@pytest.mark.parametrize("coding", sorted(ENCODED))
async def test_an_encoded_patch_is_refused_and_stores_nothing(
    client: TestClient, settings: Settings, issued: Issued, coding: str
) -> None:
    path = await tus.create_path(client, issued.auth, len(PAYLOAD))
    assert (await tus.patch(client, path, issued.auth, 0, b"plain")).status == 204
    body = ENCODED[coding]
    response = await tus.patch(client, path, issued.auth, 5, body, Content_Encoding=coding)
    text = await response.text()
    assert response.status == 415, text
    assert "as they are" in text and response.headers["Accept-Encoding"] == "identity"
    assert response.headers["Tus-Resumable"] == "1.0.0"
    head = await client.head(path, headers=issued.auth)
    assert head.headers["Upload-Offset"] == "5"
    assert _stored(settings, path) == b"plain"


@pytest.mark.parametrize("coding", sorted(ENCODED))
async def test_an_encoded_creation_with_upload_is_refused_before_the_upload_exists(
    client: TestClient, settings: Settings, issued: Issued, coding: str
) -> None:
    headers = {
        **issued.auth,
        "Upload-Length": str(len(PAYLOAD)),
        "Content-Type": tus.OCTET,
        "Content-Encoding": coding,
    }
    response = await client.post("/files/", headers=headers, data=ENCODED[coding])
    assert response.status == 415, await response.text()
    assert "Location" not in response.headers
    assert list(settings.storage_dir.glob("??/*")) == []  # no upload, no data file
    assert (await tus.create(client, issued.auth, 10)).status == 201  # the attempt is left


async def test_identity_is_fine(client: TestClient, settings: Settings, issued: Issued) -> None:
    path = await tus.create_path(client, issued.auth, 5)
    response = await tus.patch(client, path, issued.auth, 0, b"plain", Content_Encoding="identity")
    assert response.status == 204, await response.text()
    assert _stored(settings, path) == b"plain"


async def _raw(client: TestClient, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(client.host, client.port)
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.read(65536), 10)
    finally:
        writer.close()


async def test_an_encoded_body_gets_no_100_continue(client: TestClient, issued: Issued) -> None:
    """curl asks before sending a large body: the refusal comes before the body does."""
    path = await tus.create_path(client, issued.auth, 100)
    head = tus.raw_patch_head(
        path, issued.auth, 0, Content_Length=100, Content_Encoding="gzip", Expect="100-continue"
    )
    answer = await _raw(client, head)
    assert answer.startswith(b"HTTP/1.1 415"), answer[:200]
    assert b"100 Continue" not in answer


async def test_a_transfer_coding_other_than_chunked_is_501(
    client: TestClient, settings: Settings, issued: Issued
) -> None:
    path = await tus.create_path(client, issued.auth, 100)
    head = tus.raw_patch_head(path, issued.auth, 0, Transfer_Encoding="gzip, chunked")
    answer = await _raw(client, head + b"5\r\nhello\r\n0\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 501"), answer[:300]
    assert b"Only 'Transfer-Encoding: chunked'" in answer
    assert _stored(settings, path) == b""


async def test_garbage_gzip_to_any_url_is_refused_quietly(client: TestClient, caplog: Any) -> None:
    caplog.set_level("INFO")
    for url in ("/files/", "/files/" + "ab" * 16, "/healthz", "/nowhere"):
        response = await client.post(
            url,
            headers={"Content-Encoding": "gzip", "Tus-Resumable": "1.0.0"},
            data=b"\x1f\x8b" + b"garbage" * 1000,
        )
        assert response.status < 500, url
    errors = [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]
    assert errors == [], [r.getMessage() for r in errors]
    assert not any(r.exc_info for r in caplog.records)
