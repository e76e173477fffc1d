"""The checksum extension (K1-K4): on PATCH, on creation-with-upload, and on a cut-short chunk."""

import asyncio
import base64
import hashlib
import zlib
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests import tus
from tests.conftest import Issued, issue_token, make_settings
from tests.tus.state import data_of, db_token, db_uploads
from tests.tus.table import BODY, UNCHANGED_PARTIAL, Row, patch_at, rows, run_row
from tuslog.app import create_app
from tuslog.settings import Settings


def checksum(algorithm: str, data: bytes) -> str:
    if algorithm == "crc32":
        digest = zlib.crc32(data).to_bytes(4, "big")
    else:
        digest = hashlib.new(algorithm, data).digest()
    return f"{algorithm} {base64.b64encode(digest).decode()}"


ALGORITHMS = ("sha1", "sha256", "md5", "crc32")


@rows(
    *[
        Row(
            f"{algorithm}-right",
            "PATCH",
            target="fresh",
            headers=patch_at(0, **{"Upload-Checksum": checksum(algorithm, b"0123")}),
            body=b"0123",
            status=204,
            expect={"Upload-Offset": "4"},
            after={"offset": 4, "data": b"0123"},
        )
        for algorithm in ALGORITHMS
    ],
    *[
        Row(
            f"{algorithm}-wrong-460-chunk-discarded",
            "PATCH",
            target="fresh",
            headers=patch_at(0, **{"Upload-Checksum": checksum(algorithm, b"0124")}),
            body=b"0123",
            status=460,
            expect={"Upload-Offset": "0"},
            after={"offset": 0, "state": "receiving", "data": b""},
        )
        for algorithm in ALGORITHMS
    ],
    Row(
        "wrong-in-the-middle-keeps-earlier-bytes",
        "PATCH",
        target="partial",
        headers=patch_at(4, **{"Upload-Checksum": checksum("sha1", b"XYZ")}),
        body=b"456",
        status=460,
        expect={"Upload-Offset": "4"},
        after=UNCHANGED_PARTIAL,
    ),
    Row(
        "wrong-on-last-chunk-does-not-complete",
        "PATCH",
        target="partial",
        headers=patch_at(4, **{"Upload-Checksum": checksum("sha256", b"nope")}),
        body=b"456789",
        status=460,
        expect={"Upload-Offset": "4"},
        after=UNCHANGED_PARTIAL,
    ),
    Row(
        "right-on-last-chunk-completes",
        "PATCH",
        target="partial",
        headers=patch_at(4, **{"Upload-Checksum": checksum("sha256", b"456789")}),
        body=b"456789",
        status=204,
        expect={"Upload-Offset": "10", "Tuslog-Upload-State": "complete"},
        after={"offset": 10, "state": "complete", "data": BODY},
    ),
    Row(
        "unknown-algorithm-400",
        "PATCH",
        target="partial",
        headers=patch_at(4, **{"Upload-Checksum": checksum("sha512", b"456")}),
        body=b"456",
        status=400,
        after=UNCHANGED_PARTIAL,
    ),
    Row(
        "algorithm-without-digest-400",
        "PATCH",
        target="partial",
        headers=patch_at(4, **{"Upload-Checksum": "sha1"}),
        body=b"456",
        status=400,
        after=UNCHANGED_PARTIAL,
    ),
)
async def test_checksum(client: TestClient, issued: Issued, settings: Settings, row: Row) -> None:
    await run_row(client, issued, settings, row)


async def test_creation_with_upload_verifies_checksum(
    client: TestClient, issued: Issued, settings: Settings
) -> None:
    headers = {
        **issued.auth,
        "Upload-Length": "4",
        "Content-Type": tus.OCTET,
        "Upload-Checksum": checksum("sha1", b"XXXX"),
    }
    response = await client.post("/files/", headers=headers, data=b"0123")
    assert response.status in (201, 460), await response.text()
    upload = next(iter((await db_uploads(settings)).values()))
    assert (upload.offset, upload.state) == (0, "receiving")
    assert data_of(settings, upload.id) == b""


@pytest.mark.parametrize("value", ["sha512 AAAA", "sha1", "sha1 !!!"])
async def test_creation_with_upload_rejects_bad_checksum_header(
    client: TestClient, issued: Issued, settings: Settings, value: str
) -> None:
    headers = {
        **issued.auth,
        "Upload-Length": "4",
        "Content-Type": tus.OCTET,
        "Upload-Checksum": value,
    }
    response = await client.post("/files/", headers=headers, data=b"0123")
    assert response.status == 400, await response.text()
    assert await db_uploads(settings) == {}
    assert (await db_token(settings, issued.prefix)).uses == 0


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
