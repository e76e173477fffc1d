"""The services the surfaces use: the manifest as a tree and a filtered list, finding an
entry, previews and pages, searches, one entry's download; each audited."""

import asyncio
import gzip
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.archives.build import tar_bytes, tar_file
from tests.fakes import FaultyStore
from tests.inspection.support import (
    BUNDLE,
    BUNDLE_DIRS,
    SYSLOG,
    SlowReads,
    running,
    settled,
    tar_gz,
    upload,
)
from tuslog import errors
from tuslog.archives import SearchQuery
from tuslog.db.models import AuditEvent
from tuslog.services import audit
from tuslog.settings import Settings
from tuslog.uploads.archive_reading import ArchiveReading
from tuslog.uploads.archive_streams import safe_filename
from tuslog.uploads.engine import UploadEngine
from tuslog.uploads.manifest_tree import Folder

STAFF = "alice@example.com"
IP = "198.51.100.9"


@dataclass
class Ready:
    engine: UploadEngine
    reading: ArchiveReading
    upload_id: str

    async def index(self, path: str) -> int:
        return (await self.reading.find(self.upload_id, path)).index

    async def audit(self, action: str) -> list[AuditEvent]:
        async with self.engine.parts.db.session() as session:
            page = await audit.events(session, audit.AuditFilter(actions=[action]))
        return page.items


@pytest.fixture
async def ready(settings: Settings) -> AsyncIterator[Ready]:
    """The bundle uploaded and listed."""
    files = {**BUNDLE, "var/log/syslog.2.gz": gzip.compress(b"rotated ERROR old\n" * 3)}
    async with running(settings) as engine:
        done = await upload(engine, tar_gz(files, BUNDLE_DIRS))
        await settled(engine)
        yield Ready(engine, ArchiveReading(engine.parts), done.id)


def _names(items: list[Any]) -> list[str]:
    return [item.name + "/" if isinstance(item, Folder) else item.path for item in items]


async def test_the_tree_one_folder_at_a_time(ready: Ready) -> None:
    top = await ready.reading.listing(ready.upload_id)
    assert _names(top.items) == ["bin/", "etc/", "var/"]
    assert (top.total, top.next_offset) == (3, None)
    var = top.items[2]
    assert isinstance(var, Folder) and var.path == "var" and var.index is not None
    assert var.entries == 5  # log/, log/app/, syslog, syslog.2.gz, app.log
    assert var.size == sum(len(v) for k, v in BUNDLE.items() if k.startswith("var/")) + len(
        gzip.compress(b"rotated ERROR old\n" * 3)
    )

    logs = await ready.reading.listing(ready.upload_id, prefix="./var/log/")
    assert logs.prefix == "var/log"
    assert _names(logs.items) == ["app/", "var/log/syslog", "var/log/syslog.2.gz"]

    first = await ready.reading.listing(ready.upload_id, prefix="var/log", limit=2)
    second = await ready.reading.listing(ready.upload_id, prefix="var/log", offset=2, limit=2)
    assert (first.total, first.next_offset, second.next_offset) == (3, 2, None)
    assert _names(first.items + second.items) == _names(logs.items)


async def test_the_filter_finds_entries_at_any_depth(ready: Ready) -> None:
    found = await ready.reading.listing(ready.upload_id, text="LOG")
    assert _names(found.items) == [
        "var/log",
        "var/log/app",
        "var/log/syslog",
        "var/log/app/app.log",
        "var/log/syslog.2.gz",
    ]
    within = await ready.reading.listing(ready.upload_id, text="log", prefix="var/log/app")
    assert _names(within.items) == ["var/log/app/app.log"]
    nothing = await ready.reading.listing(ready.upload_id, text="%_*")  # no wildcards
    assert (nothing.items, nothing.total) == ([], 0)


@pytest.mark.parametrize(
    ("values", "named"),
    [({"limit": 0}, "limit"), ({"limit": 1001}, "limit"), ({"offset": -1}, "offset")],
)
async def test_bad_pages_are_refused(ready: Ready, values: dict[str, int], named: str) -> None:
    with pytest.raises(errors.TuslogError) as refused:
        await ready.reading.listing(ready.upload_id, **values)
    assert refused.value.code == errors.INVALID_VALUE.code
    assert refused.value.message.startswith(f"{named}:")


async def test_finding_entries(settings: Settings) -> None:
    twice = [tar_file("./a.log", b"first\n"), tar_file("b.log"), tar_file("./a.log", b"second\n")]
    async with running(settings) as engine:
        done = await upload(engine, tar_bytes(twice), filename="twice.tar")
        await settled(engine)
        reading = ArchiveReading(engine.parts)
        last = await reading.find(done.id, "./a.log")  # extracting leaves the second one
        normalised = await reading.find(done.id, "a.log")
        numbered = await reading.find(done.id, "#0")
        with pytest.raises(errors.TuslogError) as missing:
            await reading.find(done.id, "c.log")
        with pytest.raises(errors.TuslogError) as out_of_range:
            await reading.find(done.id, "#3")
    assert (last.index, normalised.index, numbered.index) == (2, 2, 0)
    assert missing.value.code == out_of_range.value.code == errors.ARCHIVE_ENTRY_NOT_FOUND.code
    assert "'c.log'" in missing.value.message


async def test_preview_and_pages_are_numbered_and_audited(ready: Ready) -> None:
    index = await ready.index("var/log/syslog")
    preview = await ready.reading.preview(
        ready.upload_id, index, actor=STAFF, client_ip=IP, head_bytes=100, tail_bytes=100
    )
    lines = SYSLOG.decode().splitlines()
    assert [(line.number, line.text) for line in preview.head] == [
        (n + 1, text) for n, text in enumerate(lines[: len(preview.head)])
    ]
    assert preview.tail[-1].number == preview.total_lines == len(lines)
    assert preview.tail[-1].text == lines[-1]

    page = await ready.reading.page(
        ready.upload_id, index, actor=STAFF, client_ip=IP, first_line=2999, max_lines=10
    )
    assert [(line.number, line.text) for line in page.lines] == [
        (2999, lines[2998]),
        (3000, lines[2999]),
    ]
    assert page.next_line is None

    rotated = await ready.reading.preview(
        ready.upload_id, await ready.index("var/log/syslog.2.gz"), actor=STAFF
    )
    assert rotated.compression == "gzip" and rotated.head[0].text == "rotated ERROR old"

    binary = await ready.reading.preview(
        ready.upload_id, await ready.index("bin/tool"), actor=STAFF
    )
    assert binary.binary and binary.head == []

    events = await ready.audit("archive.previewed")  # newest first
    assert [(e.actor, e.client_ip, e.subject) for e in events] == [
        (STAFF, None, ready.upload_id),
        (STAFF, None, ready.upload_id),
        (STAFF, IP, ready.upload_id),
        (STAFF, IP, ready.upload_id),
    ]
    assert [e.details for e in events] == [
        {"entry": await ready.index("bin/tool"), "path": "bin/tool"},
        {"entry": await ready.index("var/log/syslog.2.gz"), "path": "var/log/syslog.2.gz"},
        {"entry": index, "path": "var/log/syslog", "first_line": 2999},
        {"entry": index, "path": "var/log/syslog"},
    ]


async def test_entries_without_content_and_bad_numbers(ready: Ready) -> None:
    folder = await ready.index("var/log")
    for index, code in (
        (folder, errors.ARCHIVE_ENTRY_UNAVAILABLE),
        (99, errors.ARCHIVE_ENTRY_UNAVAILABLE),
    ):
        with pytest.raises(errors.TuslogError) as refused:
            await ready.reading.preview(ready.upload_id, index, actor=STAFF)
        assert refused.value.code == code.code
    with pytest.raises(errors.TuslogError) as bad:
        await ready.reading.page(ready.upload_id, 0, actor=STAFF, first_line=0)
    assert bad.value.code == errors.INVALID_VALUE.code
    assert await ready.audit("archive.previewed") == []  # nothing was shown


async def test_search_streams_hits_with_context_and_is_audited(ready: Ready) -> None:
    query = SearchQuery("error", ignore_case=True, context=1)
    async with await ready.reading.search(ready.upload_id, query, actor=STAFF, client_ip=IP) as run:
        hits = [hit async for hit in run.hits()]
    assert [(hit.path, hit.line.number, hit.line.text) for hit in hits] == [
        ("var/log/app/app.log", 2, "ERROR disk full on /data"),
        ("var/log/syslog.2.gz", 1, "rotated ERROR old"),
        ("var/log/syslog.2.gz", 2, "rotated ERROR old"),
        ("var/log/syslog.2.gz", 3, "rotated ERROR old"),
    ]
    assert [line.text for line in hits[0].before + hits[0].after] == ["start", "stop"]
    assert run.summary is not None and run.summary.complete and run.summary.hits == 4
    assert run.summary.entries_binary == 1
    (event,) = await ready.audit("archive.searched")
    assert (event.actor, event.client_ip, event.subject) == (STAFF, IP, ready.upload_id)
    assert event.details == {"pattern": "error", "fixed": False, "ignore_case": True, "paths": None}


async def test_a_bad_pattern_is_refused_before_anything_is_read(ready: Ready) -> None:
    with pytest.raises(errors.TuslogError) as refused:
        await ready.reading.search(ready.upload_id, SearchQuery("(a"), actor=STAFF)
    assert refused.value.code == errors.ARCHIVE_PATTERN_INVALID.code
    assert "RE2 syntax" in refused.value.message
    with pytest.raises(errors.TuslogError):
        await ready.reading.search(ready.upload_id, SearchQuery("(a)\\1"), actor=STAFF)
    assert await ready.audit("archive.searched") == []


async def test_a_closed_search_stops(ready: Ready) -> None:
    run = await ready.reading.search(ready.upload_id, SearchQuery("line"), actor=STAFF)
    hits = run.hits()
    first = await anext(hits)
    await run.close()
    assert first.path == "var/log/syslog"
    assert [hit async for hit in hits] == []  # nothing more after close
    assert run.summary is None  # it never finished


async def test_an_abandoned_search_task_stops_its_reading(ready: Ready) -> None:
    """A caller cancelled mid-search (a client that went away) leaves nothing running."""
    run = await ready.reading.search(ready.upload_id, SearchQuery("line"), actor=STAFF)

    first_hit, never = asyncio.Event(), asyncio.Event()

    async def consume() -> None:
        async with run:
            async for _hit in run.hits():
                first_hit.set()
                await never.wait()  # a slow client

    task = asyncio.create_task(consume())
    await first_hit.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert run.summary is None
    assert [hit async for hit in run.hits()] == []  # closed: it reads nothing more


async def test_one_entry_downloads_as_it_is_stored(ready: Ready) -> None:
    index = await ready.index("var/log/syslog")
    async with await ready.reading.open_entry(
        ready.upload_id, index, actor=STAFF, client_ip=IP
    ) as download:
        data = b"".join([chunk async for chunk in download.chunks()])
    assert data == SYSLOG
    assert (download.filename, download.size, download.sent) == ("syslog", len(SYSLOG), len(SYSLOG))
    (event,) = await ready.audit("archive.entry_downloaded")
    assert (event.actor, event.client_ip, event.details) == (
        STAFF,
        IP,
        {"entry": index, "path": "var/log/syslog"},
    )


async def test_a_corrupt_uploads_entry_needs_force(settings: Settings) -> None:
    async with running(settings) as engine:
        done = await upload(engine, tar_gz(BUNDLE), declared="0" * 64)
        await settled(engine)
        reading = ArchiveReading(engine.parts)
        status = await reading.status(done.id)
        index = (await reading.find(done.id, "etc/hostname")).index
        preview = await reading.preview(done.id, index, actor=STAFF)  # looking is allowed
        with pytest.raises(errors.TuslogError) as refused:
            await reading.open_entry(done.id, index, actor=STAFF)
        async with await reading.open_entry(done.id, index, actor=STAFF, force=True) as forced:
            data = b"".join([chunk async for chunk in forced.chunks()])
    assert status.upload_state == "corrupt" and preview.head[0].text == "host1"
    assert refused.value.code == errors.UPLOAD_CORRUPT.code
    assert data == BUNDLE["etc/hostname"]


async def test_unfinished_uploads_cannot_be_looked_into(settings: Settings) -> None:
    from tests.inspection.support import create, send

    data = tar_gz(BUNDLE)
    async with running(settings) as engine:
        created, token = await create(engine, data)
        await send(engine, created, token, data, 0, 100)
        with pytest.raises(errors.TuslogError) as refused:
            await ArchiveReading(engine.parts).status(created.id)
        with pytest.raises(errors.TuslogError) as unknown:
            await ArchiveReading(engine.parts).status("0" * 32)
    assert refused.value.code == errors.UPLOAD_NOT_READY.code
    assert unknown.value.code == errors.UPLOAD_NOT_FOUND.code


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("var/log/syslog", "syslog"),
        ("../../etc/passwd", "passwd"),
        ("/abs/.bashrc", "bashrc"),
        ("dir/..", "entry-7"),
        ("evil\\x1b[31m.txt", "evil_x1b[31m.txt"),
        ("C:\\\\Windows\\\\evil.exe", "C___Windows__evil.exe"),
        ("r\\u202etxt.exe", "r_u202etxt.exe"),
        ("dir/", "dir"),
        ("ünïcødé 名前.log", "ünïcødé 名前.log"),
        ("a/" + "x" * 300, "x" * 200),
        ("a/" + "é" * 150, "é" * 100),
        ("...", "entry-7"),
    ],
)
def test_the_file_name_of_an_entry_is_safe(path: str, expected: str) -> None:
    name = safe_filename(path, 7)
    assert name == expected
    assert "/" not in name and "\\" not in name and not name.startswith(".")
    assert len(name.encode()) <= 200


async def test_a_search_cancelled_while_it_reads_stops_at_the_next_chunk(
    settings: Settings,
) -> None:
    store = FaultyStore(settings.storage_dir)
    async with running(settings, store) as engine:
        data = tar_gz({f"logs/{n}.log": SYSLOG for n in range(20)})
        done = await upload(engine, data)
        await settled(engine)
        slow = SlowReads(store)  # from now on: 4 KiB per 20 ms
        run = await ArchiveReading(engine.parts).search(
            done.id, SearchQuery("never there"), actor=STAFF
        )

        async def consume() -> None:
            async with run:
                async for _hit in run.hits():
                    pass

        task = asyncio.create_task(consume())
        assert await asyncio.to_thread(slow.started.wait, 10)
        task.cancel()  # while a step runs in its thread
        with pytest.raises(asyncio.CancelledError):
            await task
        read_when_cancelled = slow.bytes_read
    assert run.summary is None
    assert read_when_cancelled < len(data) / 2
