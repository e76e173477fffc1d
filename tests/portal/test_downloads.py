"""Downloads through the portal (tuslog.http.downloads): whole files, one range, several
ranges as multipart/byteranges, If-Range, If-None-Match, 416, HEAD, the headers that make
them safe and checkable (ETag, Repr-Digest, Content-Disposition), audit, the states that
cannot be downloaded, and curl's own resume (``curl -C -``)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import shutil
from collections.abc import Mapping
from email import message_from_bytes
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.conftest import sessions
from tests.portal.conftest import Account, Browser, People, issue_token, tus_upload
from tuslog.db.models import AuditEvent

DATA = os.urandom(300_000)
SHA = hashlib.sha256(DATA).hexdigest()
NAME = "Überblick 2026 — logs.tar.gz"


@pytest.fixture
async def archive(staff: tuple[Account, Browser]) -> tuple[Browser, str]:
    _, browser = staff
    token = await issue_token(browser, "SR-DL")
    upload_id = await tus_upload(browser.client, token, DATA, filename=NAME, sha256=SHA)
    return browser, f"/staff/uploads/{upload_id}/download"


async def get(browser: Browser, url: str, **headers: str) -> tuple[int, Mapping[str, str], bytes]:
    """Status, headers (case-insensitive) and body of a GET."""
    response = await browser.client.get(url, headers=headers, allow_redirects=False)
    return response.status, response.headers, await response.read()


async def test_the_whole_file_with_its_checks(archive: tuple[Browser, str], people: People) -> None:
    browser, url = archive
    status, headers, body = await get(browser, url)
    assert status == 200 and body == DATA
    assert headers["Content-Type"] == "application/octet-stream"
    assert headers["Content-Length"] == str(len(DATA))
    assert headers["Accept-Ranges"] == "bytes"
    assert headers["ETag"] == f'"sha256-{SHA}"'
    assert headers["Repr-Digest"] == f"sha-256=:{base64.b64encode(bytes.fromhex(SHA)).decode()}:"
    assert headers["Content-Disposition"] == (
        'attachment; filename="_berblick 2026 _ logs.tar.gz"; '
        "filename*=UTF-8''%C3%9Cberblick%202026%20%E2%80%94%20logs.tar.gz"
    )
    assert headers["Last-Modified"].endswith(" GMT")
    assert headers["Cache-Control"] == "private, no-store"
    assert headers["X-Content-Type-Options"] == "nosniff"
    async with sessions(people.settings)() as session:
        [event] = await session.scalars(
            select(AuditEvent).where(AuditEvent.action == "upload.downloaded")
        )
    assert event.actor == "staff@example.com" and event.client_ip == "127.0.0.1"
    assert event.details == {"start": 0, "end": len(DATA)}


ONE_RANGE = [
    ("bytes=10-99", 10, 100),
    ("bytes=299000-", 299000, 300000),
    ("bytes=-500", 299500, 300000),
    ("bytes=0-0", 0, 1),
    ("bytes=299999-999999999", 299999, 300000),
    ("bytes=-999999", 0, 300000),
    ("BYTES = 5-9", 5, 10),
    ("bytes=0-9, 5-19", 0, 20),  # overlapping ranges are merged
    ("bytes=0-9,10-19", 0, 20),  # so are adjacent ones
    ("bytes=10-19,999999-", 10, 20),  # an unsatisfiable part is dropped
]
MALFORMED = [
    "bytes=abc",
    "items=0-5",
    "bytes=9-3",
    "bytes=",
    "bytes=1-2,x",
    "bytes=--5",
    "bytes=0-1;x",
]


async def test_one_range(archive: tuple[Browser, str]) -> None:
    browser, url = archive
    for header, start, end in ONE_RANGE:
        status, headers, body = await get(browser, url, Range=header)
        assert status == 206, header
        assert headers["Content-Range"] == f"bytes {start}-{end - 1}/{len(DATA)}", header
        assert headers["Content-Length"] == str(end - start)
        assert body == DATA[start:end], header
        assert headers["ETag"] == f'"sha256-{SHA}"' and headers["Repr-Digest"]  # of the whole file


async def test_several_ranges_as_multipart(archive: tuple[Browser, str]) -> None:
    browser, url = archive
    status, headers, body = await get(browser, url, Range="bytes=-5,0-9,20-29")
    assert status == 206
    assert headers["Content-Length"] == str(len(body))
    content_type = headers["Content-Type"]
    assert content_type.startswith("multipart/byteranges; boundary=")
    message = message_from_bytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    parts = [
        (part["Content-Range"], part["Content-Type"], part.get_payload(decode=True))
        for part in message.get_payload()  # type: ignore[union-attr]
    ]
    size = len(DATA)
    assert (
        parts
        == [  # in ascending order
            (f"bytes 0-9/{size}", "application/octet-stream", DATA[0:10]),
            (f"bytes 20-29/{size}", "application/octet-stream", DATA[20:30]),
            (f"bytes {size - 5}-{size - 1}/{size}", "application/octet-stream", DATA[-5:]),
        ]
    )


async def test_a_malformed_range_gets_the_whole_file(archive: tuple[Browser, str]) -> None:
    browser, url = archive
    for header in MALFORMED:
        status, headers, body = await get(browser, url, Range=header)
        assert status == 200 and body == DATA and "Content-Range" not in headers, header


async def test_too_many_ranges_get_the_whole_file(archive: tuple[Browser, str]) -> None:
    browser, url = archive
    many = ",".join(f"{i * 100}-{i * 100 + 10}" for i in range(40))
    status, _, body = await get(browser, url, Range=f"bytes={many}")
    assert status == 200 and body == DATA


async def test_a_range_beyond_the_end_is_416(archive: tuple[Browser, str]) -> None:
    browser, url = archive
    status, headers, body = await get(browser, url, Range="bytes=300000-")
    assert status == 416
    assert headers["Content-Range"] == f"bytes */{len(DATA)}"
    assert b"the range asks for none of them" in body


async def test_if_range(archive: tuple[Browser, str]) -> None:
    browser, url = archive
    _, headers, _ = await get(browser, url)
    etag, modified = headers["ETag"], headers["Last-Modified"]
    for validator, expected in (
        (etag, 206),
        (modified, 206),
        ('"0000"', 200),  # the file changed: the whole new one
        (f"W/{etag}", 200),  # weak tags never match for ranges
        ("Mon, 01 Jan 2001 00:00:00 GMT", 200),
        ("garbage", 200),
    ):
        status, _, body = await get(browser, url, Range="bytes=100-199", **{"If-Range": validator})
        assert status == expected, validator
        assert body == (DATA[100:200] if expected == 206 else DATA)


async def test_if_none_match_and_head(archive: tuple[Browser, str], people: People) -> None:
    browser, url = archive
    status, headers, body = await get(browser, url, **{"If-None-Match": f'"sha256-{SHA}"'})
    assert status == 304 and body == b"" and headers["ETag"] == f'"sha256-{SHA}"'
    head = await browser.client.head(url, headers={"Range": "bytes=0-9"})
    assert head.status == 206 and head.headers["Content-Length"] == "10"
    assert await head.read() == b""
    async with sessions(people.settings)() as session:
        downloads = list(
            await session.scalars(
                select(AuditEvent).where(AuditEvent.action == "upload.downloaded")
            )
        )
    assert downloads == []  # neither a 304 nor a HEAD is a download


async def test_what_cannot_be_downloaded(staff: tuple[Account, Browser]) -> None:
    _, browser = staff
    token = await issue_token(browser, "SR-NOT", uploads="3")
    unfinished = await tus_upload(browser.client, token, DATA, send=1000)
    page = await browser.get(f"/staff/uploads/{unfinished}/download")
    assert page.status == 409 and "unfinished (1000 of 300000 bytes received)" in page.text
    forced = await browser.get(f"/staff/uploads/{unfinished}/download?force=1")
    assert forced.status == 409  # bytes still arriving are no archive, even when asked
    corrupt = await tus_upload(browser.client, token, DATA, sha256="0" * 64)
    page = await browser.get(f"/staff/uploads/{corrupt}/download")
    assert page.status == 409 and "does not match the SHA-256" in page.text
    status, _, body = await get(browser, f"/staff/uploads/{corrupt}/download?force=1")
    assert status == 200 and body == DATA
    await browser.get(f"/staff/uploads/{corrupt}/delete")
    assert (await browser.post(f"/staff/uploads/{corrupt}/delete")).status == 303
    gone = await browser.get(f"/staff/uploads/{corrupt}/download?force=1")
    assert gone.status == 410
    missing = await browser.get(f"/staff/uploads/{'f' * 32}/download")
    assert missing.status == 404


async def test_a_dangerous_file_name_is_made_harmless(staff: tuple[Account, Browser]) -> None:
    _, browser = staff
    token = await issue_token(browser, "SR-NAME")
    name = 'in\u202egpj.exe "quoted"; x=1 %41'
    upload_id = await tus_upload(browser.client, token, b"x" * 10, filename=name)
    _, headers, _ = await get(browser, f"/staff/uploads/{upload_id}/download")
    disposition = headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="in_gpj.exe _quoted__ x=1 _41"; ')
    assert disposition.endswith("filename*=UTF-8''in_gpj.exe%20%22quoted%22%3B%20x%3D1%20%2541")
    assert "\u202e" not in disposition


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
async def test_curl_continues_an_interrupted_download(
    archive: tuple[Browser, str], tmp_path: Path
) -> None:
    browser, url = archive
    jar = browser.client.session.cookie_jar.filter_cookies(browser.client.make_url("/"))
    cookie = "; ".join(f"{name}={morsel.value}" for name, morsel in jar.items())
    target = tmp_path / "download.bin"
    target.write_bytes(DATA[:123_457])  # what an interrupted download left
    # The server runs in this event loop: curl must not block it.
    curl = await asyncio.create_subprocess_exec(
        "curl",
        "-fsS",
        "-C",
        "-",
        "-o",
        str(target),
        "-H",
        f"Cookie: {cookie}",
        str(browser.client.make_url(url)),
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(curl.communicate(), 60)
    assert curl.returncode == 0, stderr
    assert target.read_bytes() == DATA
