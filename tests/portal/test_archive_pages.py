"""Looking inside an upload from the portal: the upload page with the manifest as a tree
(folders, breadcrumbs, filter, pages), previews (escaped, line numbers, binary entries,
page by page), the streamed search (results, a bad pattern, the budget, stopping when the
browser leaves), one entry's download, hostile names, errors as 4xx pages, and the audit
rows. Real archives, built here, uploaded over tus to the app under test."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import os
import re
import tarfile
from html import unescape
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from tests.conftest import make_settings, sessions
from tests.fakes import FaultyStore
from tests.inspection.support import SYSLOG, SlowReads, settled
from tests.portal.conftest import Account, Browser, People, issue_token, tus_upload
from tuslog.app import create_app
from tuslog.db.models import AuditEvent
from tuslog.keys import ENGINE
from tuslog.uploads import manifests

MTIME = 1_700_000_000
SCRIPT_NAME = "notes/<script>alert(1)</script>.txt"
RTL_NAME = "notes/invoice\u202etxt.exe"
UNICODE_NAME = "var/log/Überblick — 2026.log"
FILES: dict[str, bytes] = {
    "var/log/syslog": SYSLOG,
    "var/log/app/app.log": b"start\nERROR disk full on /data\nstop\n",
    "etc/hostname": b"host1\n",
    "bin/tool": b"\x7fELF\x00\x00binary\x00" * 100,
    SCRIPT_NAME: b'<script>alert("text")</script>\nplain line\n',
    RTL_NAME: b"not really an exe\n",
    "../escape.txt": b"climbs out\n",
    UNICODE_NAME: "Grüße\nERROR zweite Zeile\n".encode(),
    **{f"many/file{n:03d}.txt": b"x\n" for n in range(250)},
}


def tar_gz(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT) as archive:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(content), MTIME
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


async def upload_archive(
    browser: Browser, data: bytes, filename: str = "bundle.tar.gz", ticket: str = "SR-ARC"
) -> str:
    token = await issue_token(browser, ticket)
    sha = hashlib.sha256(data).hexdigest()
    upload_id = await tus_upload(browser.client, token, data, filename=filename, sha256=sha)
    await settled(browser.client.app[ENGINE])
    return upload_id


@pytest.fixture
async def archive(staff: tuple[Account, Browser]) -> tuple[Browser, str]:
    _, browser = staff
    return browser, await upload_archive(browser, tar_gz(FILES))


def rows(text: str, kind: str = "entry") -> list[str]:
    return re.findall(rf'<tr data-{kind}="([^"]*)"', text)


async def index_of(browser: Browser, upload_id: str, text: str) -> int:
    """The entry number of the one entry the filter ``text`` finds."""
    page = await browser.get(f"/staff/uploads/{upload_id}", params={"q": text})
    found = rows(page.text)
    assert len(found) == 1, (text, found)
    return int(found[0])


async def audit_rows(people: People, action: str) -> list[AuditEvent]:
    async with sessions(people.settings)() as session:
        found = await session.scalars(select(AuditEvent).where(AuditEvent.action == action))
        return list(found)


# --- the tree -------------------------------------------------------------------------------
async def test_the_tree_opens_folder_by_folder(archive: tuple[Browser, str]) -> None:
    browser, upload_id = archive
    page = await browser.get(f"/staff/uploads/{upload_id}")
    assert page.status == 200
    assert 'data-state="done"' in page.text
    assert rows(page.text, "folder") == ["..", "bin", "etc", "many", "notes", "var"]
    assert "258 entries (258 files, 0 folders)" in page.text
    var = await browser.get(f"/staff/uploads/{upload_id}", params={"dir": "var"})
    assert rows(var.text, "folder") == ["var/log"]
    log = await browser.get(f"/staff/uploads/{upload_id}", params={"dir": "var/log/"})
    assert rows(log.text, "folder") == ["var/log/app"]
    assert ">syslog<" in log.text and "Überblick — 2026.log" in log.text
    crumbs = log.text.split('id="folder-crumbs"')[1].split("</ol>")[0]
    assert f'href="/staff/uploads/{upload_id}?dir=var"' in crumbs  # a way back up
    assert 'aria-current="location"><bdi>log</bdi>' in crumbs
    assert "1 January 1970" not in log.text and "2023-11-14 22:13 UTC" in log.text  # mtime


async def test_filter_by_substring_and_glob(archive: tuple[Browser, str]) -> None:
    browser, upload_id = archive
    url = f"/staff/uploads/{upload_id}"
    found = await browser.get(url, params={"q": "APP.LOG"})  # case ignored
    assert len(rows(found.text)) == 1 and "var/log/app/app.log" in found.text
    logs = await browser.get(url, params={"q": "*.log"})
    assert len(rows(logs.text)) == 2  # app.log and Überblick — 2026.log
    rotated = await browser.get(url, params={"q": "sys*"})  # a glob on the name alone
    assert len(rows(rotated.text)) == 1 and "var/log/syslog" in rotated.text
    within = await browser.get(url, params={"q": "file1", "dir": "many"})
    assert len(rows(within.text)) == 100  # file100 … file199
    none = await browser.get(url, params={"q": "nothing-like-this"})
    assert none.status == 200 and "No entry matches" in none.text


async def test_large_folders_come_in_pages(archive: tuple[Browser, str]) -> None:
    browser, upload_id = archive
    url = f"/staff/uploads/{upload_id}"
    first = await browser.get(url, params={"dir": "many"})
    assert len(rows(first.text)) == 100 and "1\u2013100 of 250" in first.text
    following = re.search(r'href="([^"]+)" rel="next"', first.text)
    assert following is not None
    next_url = unescape(following.group(1))
    second = await browser.get(next_url)
    assert "101\u2013200 of 250" in second.text and 'rel="prev"' in second.text
    last = await browser.get(url, params={"dir": "many", "offset": "200"})
    assert len(rows(last.text)) == 50 and 'rel="next"' not in last.text
    beyond = await browser.get(url, params={"dir": "many", "offset": "9999"})
    assert beyond.status == 200 and "No more items" in beyond.text
    odd = await browser.get(url, params={"dir": "many", "offset": "-5x"})  # ignored
    assert len(rows(odd.text)) == 100


# --- previews -------------------------------------------------------------------------------
async def test_preview_escapes_text_and_names(archive: tuple[Browser, str]) -> None:
    browser, upload_id = archive
    index = await index_of(browser, upload_id, "alert(1)")
    page = await browser.get(f"/staff/uploads/{upload_id}/entries/{index}")
    assert page.status == 200
    assert "<script>alert" not in page.text
    assert "&lt;script&gt;alert(&#34;text&#34;)&lt;/script&gt;" in page.text
    assert "notes/&lt;script&gt;alert(1)&lt;/script&gt;.txt" in page.text
    assert 'data-line="1"' in page.text and 'data-line="2"' in page.text
    assert "style=" not in page.text  # the CSP allows no inline style
    tree = await browser.get(f"/staff/uploads/{upload_id}", params={"dir": "notes"})
    assert "<script>alert" not in tree.text and "&lt;script&gt;alert(1)" in tree.text


async def test_hostile_names_are_shown_inert(archive: tuple[Browser, str]) -> None:
    browser, upload_id = archive
    notes = await browser.get(f"/staff/uploads/{upload_id}", params={"dir": "notes"})
    assert "\u202e" not in notes.text
    assert "invoice\\u202etxt.exe" in notes.text and "escaped name" in notes.text
    climbing = await browser.get(f"/staff/uploads/{upload_id}", params={"q": "escape.txt"})
    assert "../escape.txt" in climbing.text and "unsafe path" in climbing.text
    index = await index_of(browser, upload_id, "invoice")
    preview = await browser.get(f"/staff/uploads/{upload_id}/entries/{index}")
    assert preview.status == 200 and "\u202e" not in preview.text


async def test_first_and_last_lines_and_page_by_page(archive: tuple[Browser, str]) -> None:
    browser, upload_id = archive
    index = await index_of(browser, upload_id, "syslog")
    url = f"/staff/uploads/{upload_id}/entries/{index}"
    small = await browser.get(url, params={"kib": "16"})
    assert 'id="preview-tail"' in small.text and "3,000 lines in all" in small.text
    assert 'data-line="3000"' in small.text and 'data-line="1500"' not in small.text
    page = await browser.get(url, params={"line": "2990"})
    lines = re.findall(r'data-line="(\d+)"', page.text)
    assert lines[0] == "2990" and lines[-1] == "3000"
    assert "End of the entry." in page.text and "Lines 2,490\u2013" in page.text
    hit = await browser.get(url, params={"line": "1", "at": "7"})
    assert 'class="code-line is-hit" id="L7"' in hit.text


async def test_a_binary_entry_says_so(archive: tuple[Browser, str]) -> None:
    browser, upload_id = archive
    index = await index_of(browser, upload_id, "bin/tool")
    page = await browser.get(f"/staff/uploads/{upload_id}/entries/{index}")
    assert page.status == 200 and 'id="binary-note"' in page.text
    assert f"/staff/uploads/{upload_id}/entries/{index}/download" in page.text
    assert "ELF" not in page.text


# --- search ---------------------------------------------------------------------------------
async def test_search_streams_matches_with_context(
    archive: tuple[Browser, str], people: People
) -> None:
    browser, upload_id = archive
    url = f"/staff/uploads/{upload_id}/search"
    form = await browser.get(url)
    assert form.status == 200 and 'id="pattern"' in form.text and "search-hit" not in form.text
    found = await browser.get(url, params={"pattern": "error", "case": "ignore", "context": "1"})
    assert found.status == 200
    assert "<bdi>var/log/app/app.log</bdi>:2</a>" in found.text
    assert "<bdi>var/log/Überblick — 2026.log</bdi>:2</a>" in found.text
    assert 'data-line="1"' in found.text and 'data-line="3"' in found.text  # context
    assert "2 matches in" in found.text and 'id="search-end"' in found.text
    strict = await browser.get(url, params={"pattern": "error"})  # case matters by default
    assert 'id="no-hits"' in strict.text
    regex = await browser.get(url, params={"pattern": r"line 29\d\d$", "mode": "regex"})
    assert len(re.findall(r'class="search-hit"', regex.text)) == 100
    globbed = await browser.get(url, params={"pattern": "ERROR", "paths": "var/log/app/*"})
    assert len(re.findall(r'class="search-hit"', globbed.text)) == 1
    [*_, event] = await audit_rows(people, "archive.searched")
    assert event.actor == "staff@example.com" and event.client_ip == "127.0.0.1"
    assert event.subject == upload_id and event.details["pattern"] == "ERROR"
    escaped = await browser.get(url, params={"pattern": "<script>"})
    assert "<script>alert" not in escaped.text and "&lt;script&gt;alert" in escaped.text


async def test_a_bad_regular_expression_is_a_400_with_the_form(
    archive: tuple[Browser, str], people: People
) -> None:
    browser, upload_id = archive
    before = len(await audit_rows(people, "archive.searched"))
    page = await browser.get(
        f"/staff/uploads/{upload_id}/search", params={"pattern": "(unclosed", "mode": "regex"}
    )
    assert page.status == 400
    assert 'id="pattern-error"' in page.text and "regular expression" in page.text
    assert 'value="(unclosed"' in page.text  # the form keeps what was typed
    assert len(await audit_rows(people, "archive.searched")) == before  # nothing searched
    fixed = await browser.get(f"/staff/uploads/{upload_id}/search", params={"pattern": "(unclosed"})
    assert fixed.status == 200 and 'id="no-hits"' in fixed.text


async def test_the_search_budget_is_said_plainly(make_people: Any) -> None:
    people = await make_people(archive_search_max_bytes=64 * 1024)
    account = await people.create("staff@example.com")
    browser = await people.sign_in(account)
    upload_id = await upload_archive(browser, tar_gz({"a.log": SYSLOG, "b.log": SYSLOG}))
    page = await browser.get(f"/staff/uploads/{upload_id}/search", params={"pattern": "line"})
    assert page.status == 200 and 'id="search-stopped"' in page.text
    assert "could not search fully" in page.text and 'data-complete="false"' in page.text


class ServedLikeTuslog(TestServer):
    """As `tuslog serve` runs the app: a lost connection does not cancel its handler
    (aiohttp's test server cancels them), so the search page must notice by itself."""

    async def _make_runner(self, **kwargs: Any) -> web.AppRunner:
        return web.AppRunner(self.app, **{**kwargs, "handler_cancellation": False})


async def test_leaving_the_page_stops_the_search(
    aiohttp_client: Any, database_url: str, tmp_path: Path, assertion_db: None
) -> None:
    store = FaultyStore(tmp_path / "uploads")
    settings = make_settings(database_url, tmp_path)
    client = await aiohttp_client(ServedLikeTuslog(create_app(settings, store)))

    async def same_client() -> TestClient:
        return client

    people = People(settings, same_client)
    browser = await people.sign_in(await people.create("staff@example.com"))
    text = base64.encodebytes(os.urandom(150_000))  # does not compress: slow to read
    data = tar_gz({f"log{n}.txt": text for n in range(6)})
    upload_id = await upload_archive(browser, data)
    slow = SlowReads(store)
    background = client.app[ENGINE].parts.pools.background
    url = client.make_url(f"/staff/uploads/{upload_id}/search?pattern=never-there")
    async with aiohttp.ClientSession(cookie_jar=client.session.cookie_jar) as other:
        response = await other.get(url)
        assert response.status == 200
        assert b'id="searching"' in await response.content.read(8192)  # the top arrived
        await asyncio.to_thread(slow.started.wait, 30)
        response.close()  # the browser leaves
    for _ in range(400):  # the run forgets its cancel event when it has stopped
        if not background._cancels:
            break
        await asyncio.sleep(0.05)
    assert not background._cancels
    stopped_at = slow.bytes_read
    await asyncio.sleep(0.2)
    assert slow.bytes_read == stopped_at < len(data) // 2  # no more reading once stopped


# --- download -------------------------------------------------------------------------------
async def test_one_entry_downloads_byte_for_byte(
    archive: tuple[Browser, str], people: People
) -> None:
    browser, upload_id = archive
    index = await index_of(browser, upload_id, "Überblick")
    response = await browser.client.get(f"/staff/uploads/{upload_id}/entries/{index}/download")
    assert response.status == 200
    assert await response.read() == FILES[UNICODE_NAME]
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="_berblick _ 2026.log"; '
        "filename*=UTF-8''%C3%9Cberblick%20_%202026.log"
    )
    assert response.headers["Content-Length"] == str(len(FILES[UNICODE_NAME]))
    [event] = await audit_rows(people, "archive.entry_downloaded")
    assert event.actor == "staff@example.com" and event.client_ip == "127.0.0.1"
    assert event.details == {"entry": index, "path": UNICODE_NAME}
    hostile = await index_of(browser, upload_id, "alert(1)")
    named = await browser.client.get(f"/staff/uploads/{upload_id}/entries/{hostile}/download")
    assert await named.read() == FILES[SCRIPT_NAME]
    disposition = named.headers["Content-Disposition"]
    assert "/" not in disposition and "<" not in disposition.split("filename*=")[0]
    previews = await audit_rows(people, "archive.previewed")
    assert previews == []  # a download is not a preview


async def test_a_truncated_archive_lists_what_it_could_and_cuts_downloads(
    staff: tuple[Account, Browser],
) -> None:
    _, browser = staff
    big = bytes(range(256)) * (3 * 4096)  # 3 MiB
    whole = io.BytesIO()
    with tarfile.open(fileobj=whole, mode="w") as archive:
        for name, content in (("first.txt", b"first\n"), ("big.bin", big)):
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(content), MTIME
            archive.addfile(info, io.BytesIO(content))
    cut = whole.getvalue()[: 2048 + 2 * 1024 * 1024 + 512]  # in the middle of big.bin
    upload_id = await upload_archive(browser, cut, filename="cut.tar")
    page = await browser.get(f"/staff/uploads/{upload_id}")
    assert page.status == 200 and 'id="manifest-problem"' in page.text
    assert "Could not read fully" in page.text and "partial" in page.text
    index = await index_of(browser, upload_id, "big.bin")
    response = await browser.client.get(f"/staff/uploads/{upload_id}/entries/{index}/download")
    if response.status == 200:  # the headers went out before the damage: the body is cut
        with pytest.raises(aiohttp.ClientPayloadError):
            await response.read()
    else:
        assert response.status == 422 and "could not be read" in await response.text()


# --- errors and links -----------------------------------------------------------------------
async def test_mistakes_are_clear_4xx_pages(archive: tuple[Browser, str], people: People) -> None:
    browser, upload_id = archive
    base = f"/staff/uploads/{upload_id}"
    unknown = await browser.get(f"{base}/entries/99999")
    assert unknown.status == 404 and "no entry" in unknown.text
    folderish = await browser.get(f"/staff/uploads/{'0' * 32}")
    assert folderish.status == 404 and "No such upload" in folderish.text
    plain = await upload_archive(browser, b"just some text, not an archive\n" * 10, "notes.txt")
    page = await browser.get(f"/staff/uploads/{plain}")
    assert page.status == 200 and 'data-state="not_an_archive"' in page.text
    assert (await browser.get(f"/staff/uploads/{plain}/entries/0")).status == 422
    assert (await browser.get(f"/staff/uploads/{plain}/search?pattern=x")).status == 422
    async with sessions(people.settings).begin() as session:
        await manifests.forget(session, upload_id)  # as before the job ran
    waiting = await browser.get(f"{base}/entries/0")
    assert waiting.status == 409 and "still being made" in waiting.text
    listed = await browser.get(base)
    assert listed.status == 200 and 'data-state="pending"' in listed.text


async def test_the_ticket_page_links_to_the_upload_page(archive: tuple[Browser, str]) -> None:
    browser, upload_id = archive
    ticket = await browser.get("/staff/tickets/SR-ARC")
    assert f'href="/staff/uploads/{upload_id}"' in ticket.text
    assert "Look inside" in ticket.text
    listed = await browser.get("/staff/uploads")
    assert f'href="/staff/uploads/{upload_id}"' in listed.text
