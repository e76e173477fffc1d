"""Bad input on an existing upload (see ``tests.tus.bad``): malformed PATCH headers, bad
tokens on HEAD and DELETE, near-miss upload URLs; the upload stays as it was and still
works afterwards.
"""

import base64
import hashlib
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from multidict import CIMultiDict

from tests import tus
from tests.conftest import Issued
from tests.tus.bad import (
    INT64_MAX,
    NOT_UINT,
    TOKEN_MESSAGE,
    Bad,
    assert_clear_4xx,
    merged,
    raw_request,
    table,
    token_rows,
)
from tests.tus.state import data_files, stored
from tuslog.settings import Settings


async def test_repeated_upload_offset_on_patch_is_400(
    client: TestClient, issued: Issued, settings: Settings
) -> None:
    path = await tus.create_path(client, issued.auth, 10)
    headers = CIMultiDict({**issued.auth, "Content-Type": tus.OCTET})
    headers.add("Upload-Offset", "0")
    headers.add("Upload-Offset", "4")
    response = await client.patch(path, headers=headers, data=b"0123")
    assert response.status == 400
    assert "Upload-Offset header only once" in await response.text()
    assert data_files(settings) == {path.rsplit("/", 1)[1]: b""}


def offset(value: str | None) -> dict[str, str | None]:
    return {"Upload-Offset": value}


def checksum(value: str) -> dict[str, str | None]:
    return {"Upload-Checksum": value}


NOT_OFFSET = "Upload-Offset must be a non-negative integer"
SHA1_OF_456 = "sha1 " + base64.b64encode(hashlib.sha1(b"456").digest()).decode()
ON_UPLOAD = (
    Bad("offset-non-numeric", offset("four"), says=(NOT_OFFSET,)),
    Bad("offset-negative", offset("-4"), says=(NOT_OFFSET,)),
    Bad("offset-signed", offset("+4"), says=(NOT_OFFSET,)),
    Bad("offset-float", offset("4.0"), says=(NOT_OFFSET,)),
    Bad("offset-hex", offset("0x4"), says=(NOT_OFFSET,)),
    Bad("offset-empty", offset(""), says=(NOT_OFFSET,)),
    Bad("offset-two-values", offset("4, 4"), says=(NOT_OFFSET,)),
    Bad("offset-int64-plus-1", offset(str(INT64_MAX + 1)), says=(NOT_OFFSET,)),
    Bad("offset-2-pow-64", offset(str(2**64)), says=(NOT_OFFSET,)),
    Bad("offset-huge", offset("9" * 400), says=(NOT_OFFSET,)),
    Bad("offset-missing", offset(None), says=("needs an Upload-Offset",)),
    Bad("offset-int64-max", offset(str(INT64_MAX)), status=409, says=("server has 4",)),
    Bad(
        "checksum-unknown-algorithm",
        checksum("sha512 " + tus.b64(b"x" * 64)),
        says=("Unsupported Upload-Checksum algorithm",),
    ),
    Bad("checksum-crc32c", checksum("crc32c AAAAAA=="), says=("Unsupported",)),
    Bad("checksum-no-digest", checksum("sha1"), says=("'<algorithm> <base64 digest>'",)),
    Bad(
        "checksum-two-spaces",
        checksum(SHA1_OF_456.replace(" ", "  ")),
        says=("'<algorithm> <base64 digest>'",),
    ),
    Bad(
        "checksum-extra-part", checksum(SHA1_OF_456 + " x"), says=("'<algorithm> <base64 digest>'",)
    ),
    Bad("checksum-bad-base64", checksum("sha1 !!!notbase64!!!"), says=("not valid base64",)),
    Bad("checksum-bad-padding", checksum("sha1 YWJjZA"), says=("not valid base64",)),
    Bad("checksum-hex-digest", checksum("sha1 " + "0" * 40 + "z"), says=("not valid base64",)),
    Bad("checksum-non-ascii", checksum("sha1 ÿÿÿÿ"), says=("not valid base64",)),
    Bad("length-negative", {"Upload-Length": "-10"}, says=(NOT_UINT,)),
    Bad("length-huge", {"Upload-Length": "9" * 30}, says=(NOT_UINT,)),
    Bad(
        "content-type-text",
        {"Content-Type": "text/plain"},
        status=415,
        says=("application/offset+octet-stream",),
    ),
    Bad(
        "content-type-form",
        {"Content-Type": "application/x-www-form-urlencoded"},
        status=415,
        says=("application/offset+octet-stream",),
    ),
    *(
        Bad(f"token-{b.id}", b.headers, b.status, b.says)
        for b in token_rows("tlu_abcdefgh_x")
        if b.id in ("missing", "bearer-only", "basic", "unknown-prefix", "non-ascii")
    ),
)


@table(*ON_UPLOAD)
async def test_bad_patch_changes_nothing(
    client: TestClient, issued: Issued, settings: Settings, row: Bad
) -> None:
    path = await tus.create_path(client, issued.auth, 10)
    assert (await tus.patch(client, path, issued.auth, 0, b"0123")).status == 204
    upload_id = path.rsplit("/", 1)[1]
    base = {**issued.auth, "Content-Type": tus.OCTET, "Upload-Offset": "4"}
    response = await client.patch(path, headers=merged(base, row), data=b"456")
    assert_clear_4xx(response.status, response.content_type, await response.text(), row)
    assert response.headers["Tus-Resumable"] == "1.0.0"
    uploads, uses = await stored(settings, issued.prefix)
    assert list(uploads) == [upload_id]
    upload = uploads[upload_id]
    assert (upload.offset, upload.length, upload.state) == (4, 10, "receiving")
    assert uses == 1
    assert data_files(settings) == {upload_id: b"0123"}
    # and the upload still works afterwards
    done = await tus.patch(client, path, issued.auth, 4, b"456789")
    assert (done.status, done.headers["Upload-Offset"]) == (204, "10")


@pytest.mark.parametrize(
    "authorization", [None, "Bearer", "Basic Zm9vOmJhcg==", "Bearer tlu_aaaaaaaa_bad"]
)
async def test_bad_token_on_head_and_delete(
    client: TestClient, issued: Issued, settings: Settings, authorization: str | None
) -> None:
    path = await tus.create_path(client, issued.auth, 10)
    headers = {"Tus-Resumable": "1.0.0"}
    if authorization is not None:
        headers["Authorization"] = authorization
    head = await client.head(path, headers=headers)
    assert head.status == 401
    assert "Upload-Offset" not in head.headers
    deleted = await client.delete(path, headers=headers)
    assert deleted.status == 401
    assert await deleted.text() == TOKEN_MESSAGE + "\n"
    uploads, _ = await stored(settings, issued.prefix)
    assert uploads[path.rsplit("/", 1)[1]].state == "receiving"
    assert data_files(settings) == {path.rsplit("/", 1)[1]: b""}


@pytest.mark.parametrize(
    "mangle",
    [str.upper, lambda i: i + "0", lambda i: i[:-1], lambda i: i[:-1] + "g", lambda i: i + ".."],
    ids=["uppercase", "longer", "shorter", "not-hex", "dots"],
)
async def test_near_miss_upload_urls_are_404(
    client: TestClient, issued: Issued, settings: Settings, mangle: Any
) -> None:
    path = await tus.create_path(client, issued.auth, 10)
    upload_id = path.rsplit("/", 1)[1]
    wrong = f"/files/{mangle(upload_id)}"
    head = await client.head(wrong, headers=issued.auth)
    assert head.status == 404
    assert "Upload-Offset" not in head.headers
    patched = await tus.patch(client, wrong, issued.auth, 0, b"0123")
    assert patched.status == 404
    assert "No such upload" in await patched.text()
    assert (await client.delete(wrong, headers=issued.auth)).status == 404
    assert data_files(settings) == {upload_id: b""}


async def test_non_utf8_checksum_on_patch(
    client: TestClient, issued: Issued, settings: Settings
) -> None:
    path = await tus.create_path(client, issued.auth, 10)
    head = b"\r\n".join(
        [
            f"PATCH {path} HTTP/1.1".encode(),
            b"Host: localhost",
            b"Tus-Resumable: 1.0.0",
            b"Authorization: Bearer " + issued.token.encode(),
            b"Content-Type: application/offset+octet-stream",
            b"Upload-Offset: 0",
            b"Upload-Checksum: sha1 \xff\xfe\xfd",
        ]
    )
    response = await raw_request(client, head + b"\r\n", b"0123")
    assert response.status == 400, response.text
    assert "not valid base64" in response.text
    assert data_files(settings) == {path.rsplit("/", 1)[1]: b""}
