"""Streams (directories packed on the fly, pipes): the length and the SHA-256 are known
only at the end. The PATCH that declares ``Upload-Length`` may declare ``Tuslog-Sha256``
too, and the upload is then verified like any other; a creation asked again after a lost
201 gets its upload back by the stream's id."""

import hashlib
import os

import pytest
from aiohttp.test_utils import TestClient

from tests import tus
from tests.conftest import Issued, issue_token
from tuslog.settings import Settings

DATA = os.urandom(300_000)


async def _stream(client: TestClient, auth: dict[str, str], declared: str) -> str:
    path = await tus.create_path(client, auth, None, Upload_Defer_Length=1)
    first = await tus.patch(client, path, auth, 0, DATA[:100_000])
    assert first.status == 204, await first.text()
    last = await tus.patch(
        client, path, auth, 100_000, DATA[100_000:], Upload_Length=len(DATA), Tuslog_Sha256=declared
    )
    assert last.status == 204, await last.text()
    return str(last.headers["Tuslog-Upload-State"])


@pytest.mark.parametrize(
    ("declared", "state"),
    [(hashlib.sha256(DATA).hexdigest(), "verified"), ("0" * 64, "corrupt")],
    ids=["matching", "different"],
)
async def test_a_stream_declares_its_sha256_with_its_length(
    client: TestClient, issued: Issued, declared: str, state: str
) -> None:
    assert await _stream(client, issued.auth, declared.upper()) == state


async def test_the_sha256_goes_with_the_length(client: TestClient, issued: Issued) -> None:
    path = await tus.create_path(client, issued.auth, None, Upload_Defer_Length=1)
    alone = await tus.patch(client, path, issued.auth, 0, b"abc", Tuslog_Sha256="0" * 64)
    assert alone.status == 400 and "Upload-Length" in await alone.text()
    bad = await tus.patch(
        client, path, issued.auth, 0, b"abc", Upload_Length=3, Tuslog_Sha256="xyz"
    )
    assert bad.status == 400 and "64 hexadecimal" in await bad.text()
    head = await client.head(path, headers=issued.auth)
    assert (head.headers["Upload-Offset"], "Upload-Length" in head.headers) == ("0", False)


async def test_a_lost_201_of_a_stream_costs_no_second_attempt(
    client: TestClient, settings: Settings
) -> None:
    issued = await issue_token(settings, uploads=1)
    meta = tus.metadata(filename="logs.tar.gz", stream_id="a1b2c3d4e5f6a7b8")
    first = await tus.create(client, issued.auth, None, Upload_Defer_Length=1, Upload_Metadata=meta)
    assert first.status == 201
    again = await tus.create(client, issued.auth, None, Upload_Defer_Length=1, Upload_Metadata=meta)
    assert again.status == 201, await again.text()
    assert again.headers["Location"] == first.headers["Location"]
    other = tus.metadata(filename="logs.tar.gz", stream_id="ffffffffffffffff")
    refused = await tus.create(
        client, issued.auth, None, Upload_Defer_Length=1, Upload_Metadata=other
    )
    assert refused.status == 401  # another stream: a new upload, and the one attempt is used
