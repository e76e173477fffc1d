"""What every tus request goes through, whatever its verb: Tus-Resumable and 412 (C1, C2),
methods and routes (405, 404, the collection without a trailing slash),
X-HTTP-Method-Override (C6), Expect: 100-continue, requests that cannot be parsed, and a
server error that is still a tus answer.
"""

import asyncio
import errno
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from tests import tus
from tests.conftest import Issued, issue_token, make_settings
from tests.fakes import FaultyStore
from tests.tus.state import db_uploads, upload_id_of
from tests.tus.table import (
    GONE,
    ORIGIN,
    UNCHANGED_PARTIAL,
    Has,
    Row,
    assert_common,
    patch_at,
    rows,
    run_row,
)
from tuslog.app import create_app
from tuslog.settings import Settings

PATCH_0 = {"Content-Type": tus.OCTET, "Upload-Offset": "0"}


@rows(
    Row(
        "post-missing",
        "POST",
        headers={"Tus-Resumable": None, "Upload-Length": "10"},
        status=412,
        expect={"Tus-Version": "1.0.0"},
        forbid=("Location",),
        after={"uploads": 0},
    ),
    Row(
        "post-old-version",
        "POST",
        headers={"Tus-Resumable": "0.2.2", "Upload-Length": "10"},
        status=412,
        expect={"Tus-Version": "1.0.0"},
        after={"uploads": 0},
    ),
    Row(
        "post-not-exact",
        "POST",
        headers={"Tus-Resumable": "1.0", "Upload-Length": "10"},
        status=412,
        expect={"Tus-Version": "1.0.0"},
        after={"uploads": 0},
    ),
    Row(
        "missing-without-token-still-412",
        "POST",
        auth=False,
        headers={"Upload-Length": "10"},
        status=412,
        expect={"Tus-Version": "1.0.0"},
        after={"uploads": 0},
    ),
    Row(
        "head-missing",
        "HEAD",
        target="partial",
        headers={"Tus-Resumable": None},
        status=412,
        expect={"Tus-Version": "1.0.0"},
        forbid=("Upload-Offset",),
    ),
    Row(
        "patch-wrong-not-processed",
        "PATCH",
        target="fresh",
        headers={**PATCH_0, "Tus-Resumable": "2.0.0"},
        body=b"0123",
        status=412,
        expect={"Tus-Version": "1.0.0"},
        after={"offset": 0, "data": b""},
    ),
    Row(
        "delete-missing-not-processed",
        "DELETE",
        target="partial",
        headers={"Tus-Resumable": None},
        status=412,
        expect={"Tus-Version": "1.0.0"},
        after={"state": "receiving", "data": b"0123"},
    ),
    Row(
        "put-405",
        "PUT",
        headers={"Upload-Length": "10"},
        status=405,
        expect={"Allow": Has("POST", "OPTIONS")},
        after={"uploads": 0},
    ),
    Row(
        "get-upload-405",
        "GET",
        target="partial",
        status=405,
        expect={"Allow": Has("HEAD", "PATCH", "DELETE", "OPTIONS")},
    ),
    Row("unrouted-404", "GET", target="nested", status=404),
)
async def test_tus_resumable(
    client: TestClient, issued: Issued, settings: Settings, row: Row
) -> None:
    await run_row(client, issued, settings, row)


@rows(
    Row(
        "post-as-patch",
        "POST",
        target="partial",
        headers=patch_at(4, **{"X-HTTP-Method-Override": "PATCH"}),
        body=b"456",
        status=204,
        expect={"Upload-Offset": "7"},
        after={"offset": 7, "data": b"0123456"},
    ),
    Row(
        "post-as-patch-lowercase",
        "POST",
        target="partial",
        headers=patch_at(4, **{"X-HTTP-Method-Override": "patch"}),
        body=b"456",
        status=204,
        expect={"Upload-Offset": "7"},
        after={"offset": 7},
    ),
    Row(
        "post-as-head",
        "POST",
        target="partial",
        headers={"X-HTTP-Method-Override": "HEAD"},
        expect={"Upload-Offset": "4", "Upload-Length": "10", "Cache-Control": "no-store"},
        after=UNCHANGED_PARTIAL,
    ),
    Row(
        "get-as-head",
        "GET",
        target="partial",
        headers={"X-HTTP-Method-Override": "HEAD"},
        expect={"Upload-Offset": "4", "Cache-Control": "no-store"},
    ),
    Row(
        "post-as-delete",
        "POST",
        target="partial",
        headers={"X-HTTP-Method-Override": "DELETE"},
        status=204,
        after={"state": "terminated", "data": GONE},
    ),
    Row(
        "patch-as-delete",
        "PATCH",
        target="partial",
        headers={"X-HTTP-Method-Override": "DELETE"},
        status=204,
        after={"state": "terminated", "data": GONE},
    ),
    Row(
        "override-wins-over-real-method",
        "DELETE",
        target="partial",
        headers={"X-HTTP-Method-Override": "HEAD"},
        expect={"Upload-Offset": "4"},
        after=UNCHANGED_PARTIAL,
    ),
    Row(
        "override-to-unsupported-405",
        "POST",
        target="partial",
        headers={"X-HTTP-Method-Override": "PUT"},
        status=405,
        after=UNCHANGED_PARTIAL,
    ),
    Row(
        "override-still-needs-tus-resumable",
        "POST",
        target="partial",
        headers=patch_at(4, **{"X-HTTP-Method-Override": "PATCH", "Tus-Resumable": None}),
        body=b"456",
        status=412,
        after=UNCHANGED_PARTIAL,
    ),
)
async def test_method_override(
    client: TestClient, issued: Issued, settings: Settings, row: Row
) -> None:
    await run_row(client, issued, settings, row)


async def test_collection_without_trailing_slash(client: TestClient, issued: Issued) -> None:
    response = await client.post("/files", headers={**issued.auth, "Upload-Length": "3"})
    assert response.status == 201, await response.text()
    assert "/files/" in response.headers["Location"]
    assert response.headers["Tus-Resumable"] == "1.0.0"
    options = await client.options("/files")
    assert (options.status, options.headers["Tus-Version"]) == (204, "1.0.0")


def failing_disk(root: Path) -> FaultyStore:
    """The Store seam: the disk answers reads of an upload's size with EIO (a HEAD asks
    the store, a PATCH the file it opened)."""
    store = FaultyStore(root)
    store.fail("size", OSError(errno.EIO, "Input/output error"))
    store.fail("writer.size", OSError(errno.EIO, "Input/output error"))
    return store


async def test_unexpected_error_is_still_a_tus_response(
    aiohttp_client: Any, database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(database_url, tmp_path, cors_origins=[ORIGIN])
    client = await aiohttp_client(create_app(settings, failing_disk(settings.storage_dir)))
    issued = await issue_token(settings)
    path = await tus.create_path(client, issued.auth, 10)
    response = await tus.patch(client, path, {**issued.auth, "Origin": ORIGIN}, 0, b"0123")
    text = await response.text()
    assert response.status == 500
    assert_common(response, "PATCH", text)
    assert "retry" in text
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "Upload-Offset" not in response.headers
    assert (await db_uploads(settings))[upload_id_of(path)].offset == 0


# --- Expect and requests written by hand -------------------------------------------------
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


async def _expect_exchange(client: TestClient, path: str, headers: dict[str, str]) -> bytes:
    """Send only the head of a request with Expect: 100-continue; return the first answer."""
    reader, writer = await asyncio.open_connection(client.host, client.port)
    try:
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        writer.write(
            f"PATCH {path} HTTP/1.1\r\nHost: x\r\n{head}Expect: 100-continue\r\n\r\n".encode()
        )
        await writer.drain()
        return await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    finally:
        writer.close()


async def test_expect_continue_only_for_a_good_token(client: TestClient, issued: Issued) -> None:
    path = await tus.create_path(client, issued.auth, 10)
    common = {"Upload-Offset": "0", "Content-Type": tus.OCTET, "Content-Length": "10"}
    good = await _expect_exchange(client, path, {**issued.auth, **common})
    assert good.startswith(b"HTTP/1.1 100 Continue")
    bad_auth = {"Authorization": "Bearer tlu_aaaaaaaa_nope", "Tus-Resumable": "1.0.0"}
    refused = await _expect_exchange(client, path, {**bad_auth, **common})
    assert refused.startswith(b"HTTP/1.1 401")
    assert b"Tus-Resumable: 1.0.0" in refused


async def test_unparsable_request_is_one_quiet_log_line(client: Any, caplog: Any) -> None:
    caplog.set_level("INFO", logger="aiohttp.server")
    lines = await _raw(client, b"POST /files/ HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n")
    assert lines[0].split()[1] == b"400", lines
    await asyncio.sleep(0.1)
    server_records = [r for r in caplog.records if r.name == "aiohttp.server"]
    assert [r.levelname for r in server_records] == ["INFO"], server_records
    assert server_records[0].exc_info is None
    assert "malformed request from" in server_records[0].getMessage()
