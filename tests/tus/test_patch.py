"""PATCH: appending bytes (C14-C21, D2, D4, E2), declaring a deferred length, and bytes that
arrive as the client hangs up. Malformed PATCH headers are in ``test_bad_input_on_upload``.
"""

import asyncio
import os
import threading
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from tests import tus
from tests.conftest import Issued, issue_token, make_settings, sessions
from tests.fakes import FaultyStore, data_path
from tests.tus.state import db_uploads, upload_id_of
from tests.tus.table import BODY, HTTP_DATE, MAX, UNCHANGED_PARTIAL, Row, patch_at, rows, run_row
from tuslog.app import create_app
from tuslog.db.models import AuditEvent
from tuslog.settings import Settings


@rows(
    Row(
        "first-chunk",
        "PATCH",
        target="fresh",
        headers=patch_at(0),
        body=b"0123",
        status=204,
        expect={"Upload-Offset": "4", "Upload-Expires": HTTP_DATE},
        after={"offset": 4, "data": b"0123", "state": "receiving"},
    ),
    Row(
        "last-chunk-completes",
        "PATCH",
        target="partial",
        headers=patch_at(4),
        body=b"456789",
        status=204,
        expect={"Upload-Offset": "10", "Tuslog-Upload-State": "complete"},
        forbid=("Upload-Expires",),
        after={"offset": 10, "data": BODY, "state": "complete"},
    ),
    Row(
        "empty-body",
        "PATCH",
        target="partial",
        headers=patch_at(4),
        body=b"",
        status=204,
        expect={"Upload-Offset": "4", "Upload-Expires": HTTP_DATE},
        after=UNCHANGED_PARTIAL,
    ),
    Row(
        "wrong-content-type-415",
        "PATCH",
        target="partial",
        headers=patch_at(4, **{"Content-Type": "application/octet-stream"}),
        body=b"456",
        status=415,
        after=UNCHANGED_PARTIAL,
    ),
    Row(
        "no-content-type-415",
        "PATCH",
        target="partial",
        headers=patch_at(4, **{"Content-Type": None}),
        status=415,
        after=UNCHANGED_PARTIAL,
    ),
    Row(
        "offset-behind-409-reports-real-offset",
        "PATCH",
        target="partial",
        headers=patch_at(2),
        body=b"23",
        status=409,
        expect={"Upload-Offset": "4"},
        after=UNCHANGED_PARTIAL,
    ),
    Row(
        "offset-ahead-409",
        "PATCH",
        target="partial",
        headers=patch_at(6),
        body=b"67",
        status=409,
        expect={"Upload-Offset": "4"},
        after=UNCHANGED_PARTIAL,
    ),
    Row(
        "restart-from-0-409",
        "PATCH",
        target="partial",
        headers=patch_at(0),
        body=b"abcd",
        status=409,
        expect={"Upload-Offset": "4"},
        after=UNCHANGED_PARTIAL,
    ),
    Row(
        "missing-offset-400",
        "PATCH",
        target="partial",
        headers=patch_at(4, **{"Upload-Offset": None}),
        body=b"456",
        status=400,
        after=UNCHANGED_PARTIAL,
    ),
    Row(
        "past-length-413",
        "PATCH",
        target="fresh",
        headers=patch_at(0),
        body=BODY + b"X",
        status=413,
        after={"offset": 0, "data": b""},
    ),
    Row(
        "past-length-from-middle-413",
        "PATCH",
        target="partial",
        headers=patch_at(4),
        body=b"4567890",
        status=413,
        expect={"Upload-Offset": "4"},
        after=UNCHANGED_PARTIAL,
    ),
    Row(
        "deferred-length-set-and-finished",
        "PATCH",
        target="deferred",
        headers=patch_at(0, **{"Upload-Length": "6"}),
        body=b"abcdef",
        status=204,
        expect={"Upload-Offset": "6", "Upload-Length": "6", "Tuslog-Upload-State": "complete"},
        forbid=("Upload-Defer-Length",),
        after={"offset": 6, "length": 6, "state": "complete", "data": b"abcdef"},
    ),
    Row(
        "deferred-length-set-midway",
        "PATCH",
        target="deferred-partial",
        headers=patch_at(4, **{"Upload-Length": "10"}),
        body=b"45",
        status=204,
        expect={"Upload-Offset": "6", "Upload-Length": "10", "Upload-Expires": HTTP_DATE},
        forbid=("Upload-Defer-Length",),
        after={"offset": 6, "length": 10, "state": "receiving", "data": b"012345"},
    ),
    Row(
        "deferred-length-still-unknown",
        "PATCH",
        target="deferred",
        headers=patch_at(0),
        body=b"0123",
        status=204,
        expect={"Upload-Offset": "4", "Upload-Defer-Length": "1"},
        after={"offset": 4, "length": None, "data": b"0123"},
    ),
    Row(
        "deferred-length-below-offset-400",
        "PATCH",
        target="deferred-partial",
        headers=patch_at(4, **{"Upload-Length": "3"}),
        status=400,
        after={"offset": 4, "length": None, "data": b"0123"},
    ),
    Row(
        "deferred-length-over-max-413",
        "PATCH",
        target="deferred",
        headers=patch_at(0, **{"Upload-Length": str(MAX + 1)}),
        body=b"0123",
        status=413,
        after={"offset": 0, "length": None, "data": b""},
    ),
    Row(
        "deferred-body-past-declared-length-413",
        "PATCH",
        target="deferred",
        headers=patch_at(0, **{"Upload-Length": "3"}),
        body=b"0123",
        status=413,
        after={"offset": 0, "data": b""},
    ),
    Row(
        "length-cannot-change-400",
        "PATCH",
        target="partial",
        headers=patch_at(4, **{"Upload-Length": "12"}),
        body=b"45",
        status=400,
        after=UNCHANGED_PARTIAL,
    ),
    Row(
        "same-length-repeated-ok",
        "PATCH",
        target="partial",
        headers=patch_at(4, **{"Upload-Length": "10"}),
        body=b"45",
        status=204,
        expect={"Upload-Offset": "6"},
        after={"offset": 6, "length": 10, "data": b"012345"},
    ),
    Row(
        "complete-upload-takes-no-more-bytes",
        "PATCH",
        target="complete",
        headers=patch_at(10),
        body=b"X",
        status=413,
        after={"offset": 10, "state": "complete", "data": BODY},
    ),
    Row("unknown-404", "PATCH", target="unknown", headers=patch_at(0), body=b"x", status=404),
    Row("terminated-410", "PATCH", target="terminated", headers=patch_at(4), status=410),
)
async def test_patch(client: TestClient, issued: Issued, settings: Settings, row: Row) -> None:
    await run_row(client, issued, settings, row)


async def test_empty_patch_on_finished_upload_changes_nothing(
    client: TestClient, issued: Issued, settings: Settings
) -> None:
    path = await tus.create_path(client, issued.auth, 10)
    assert (await tus.patch(client, path, issued.auth, 0, BODY)).status == 204
    completed_at = (await db_uploads(settings))[upload_id_of(path)].completed_at
    again = await tus.patch(client, path, issued.auth, 10, b"")
    assert (again.status, again.headers["Upload-Offset"]) == (204, "10")
    assert (await db_uploads(settings))[upload_id_of(path)].completed_at == completed_at
    async with sessions(settings)() as session:
        actions = list(await session.scalars(select(AuditEvent.action)))
    assert actions.count("upload.completed") == 1, actions


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


def _open_data_files(settings: Settings, upload_id: str) -> int:
    """How many descriptors of this process point at the upload's data file."""
    target = str(data_path(settings.storage_dir, upload_id))
    count = 0
    for fd in Path("/proc/self/fd").iterdir():
        try:
            count += os.readlink(fd) == target
        except OSError:
            continue
    return count


async def test_refused_patches_leave_no_data_file_open(
    client: TestClient, issued: Issued, settings: Settings
) -> None:
    """A PATCH opens the data file together with the re-read under the lock; whatever
    refuses it afterwards (wrong offset, too long, a length that cannot change) closes it."""
    path = await tus.create_path(client, issued.auth, 10)
    upload_id = upload_id_of(path)
    assert (await tus.patch(client, path, issued.auth, 0, b"0123")).status == 204
    for _ in range(5):
        assert (await tus.patch(client, path, issued.auth, 2, b"xx")).status == 409
        assert (await tus.patch(client, path, issued.auth, 4, b"x" * 7)).status == 413
        changed = await tus.patch(client, path, issued.auth, 4, b"45", Upload_Length=12)
        assert changed.status == 400, await changed.text()
    assert _open_data_files(settings, upload_id) == 0
    assert (await tus.patch(client, path, issued.auth, 4, b"45")).status == 204
    assert _open_data_files(settings, upload_id) == 0
    # The completing PATCH is left out of the count: the archive's manifest job, started
    # by completion in this same process, opens the file to read it.
    assert (await tus.patch(client, path, issued.auth, 6, b"6789")).status == 204
    assert data_path(settings.storage_dir, upload_id).read_bytes() == b"0123456789"
