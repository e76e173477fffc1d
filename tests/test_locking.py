"""One writer per upload, across processes: a stale PATCH lets go fast, bytes never mix.

A client whose connection died silently reconnects while its old PATCH is still open on the
server. What is said: the new request (HEAD, then PATCH from the offset HEAD reported) is
answered within ~2 s, on whichever process it lands; the stale PATCH is told 423 with the
offset it kept; when the holder cannot be made to let go, a fast 423 with Retry-After.
What is kept: every byte the stale PATCH received, nothing it sent after it was released
(it sends junk then, so any interleaving would show), and the final file equals the source.
"""

import asyncio
import contextlib
import fcntl
import hashlib
import logging
import os
import signal
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from tests import tus
from tests.conftest import (
    Issued,
    LiveServer,
    free_port,
    issue_token,
    make_settings,
    server_env,
    start_server,
)
from tests.fakes import data_path, lock_files
from tuslog.app import create_app
from tuslog.errors import TuslogError
from tuslog.keys import ENGINE, SETTINGS
from tuslog.settings import Settings
from tuslog.storage import locks as locks_module
from tuslog.storage.locks import UploadLocks

MiB = 1024 * 1024
HANG_GUARD = 30  # seconds: a request that takes this long hangs (not a speed test)
_PIECE = 64 * 1024


class StalledPatch:
    """A PATCH that sends ``first``, then holds its connection open sending nothing (a
    client whose network died) until ``finish()``, then sends junk for the rest of the
    declared Content-Length."""

    def __init__(
        self, http: Any, url: str, auth: dict[str, str], offset: int, first: bytes, total: int
    ) -> None:
        self.sent = asyncio.Event()
        self._go = asyncio.Event()
        self._first = first
        self._rest = total - len(first)
        headers = {
            **auth,
            "Upload-Offset": str(offset),
            "Content-Type": tus.OCTET,
            "Content-Length": str(total),
        }
        self.task = asyncio.create_task(self._run(http, url, headers))

    async def _body(self) -> AsyncIterator[bytes]:
        for start in range(0, len(self._first), _PIECE):
            yield self._first[start : start + _PIECE]
        self.sent.set()
        await self._go.wait()
        remaining = self._rest
        while remaining > 0:
            piece = min(_PIECE, remaining)
            yield b"J" * piece
            remaining -= piece

    async def _run(self, http: Any, url: str, headers: dict[str, str]) -> tuple[int, Any, str]:
        async with http.patch(url, data=self._body(), headers=headers) as response:
            return response.status, response.headers, await response.text()

    async def response(self) -> tuple[int, Any, str]:
        return await asyncio.wait_for(asyncio.shield(self.task), 10)

    async def finish(self) -> None:
        """Let the stale client send the rest (junk) and close; errors are expected."""
        self._go.set()
        done, _ = await asyncio.wait([self.task], timeout=10)
        if not done:
            self.task.cancel()
        elif not self.task.cancelled():
            self.task.exception()  # retrieved: a cut connection is fine here


async def _head(http: Any, url: str, auth: dict[str, str]) -> tuple[int, Any]:
    async with http.head(url, headers=auth) as response:
        return response.status, response.headers


async def _create(http: Any, url: str, auth: dict[str, str], data: bytes) -> str:
    headers = {
        **auth,
        "Upload-Length": str(len(data)),
        "Upload-Metadata": tus.metadata(sha256=hashlib.sha256(data).hexdigest()),
    }
    async with http.post(url, headers=headers) as response:
        assert response.status == 201, await response.text()
        return str(response.headers["Location"]).rsplit("/", 1)[1]


def _stored(settings: Settings, upload_id: str) -> bytes:
    return data_path(settings.storage_dir, upload_id).read_bytes()


async def _reconnect_scenario(
    settings: Settings,
    token: Issued,
    *,
    http: Any,
    stale_base: str,
    new_base: str,
    last_answer: set[str],
) -> None:
    """Stale PATCH on ``stale_base``; the reconnecting client HEADs and PATCHes on
    ``new_base``. ``*_base`` are URL prefixes of ``/files/``. ``last_answer``: the states
    the last PATCH may report ("verifying" when another process holds the running hash)."""
    data = os.urandom(6 * MiB + 77)
    part = MiB + 333
    upload_id = await _create(http, f"{stale_base}/files/", token.auth, data)
    stale = StalledPatch(
        http, f"{stale_base}/files/{upload_id}", token.auth, 0, data[:part], len(data)
    )
    try:
        await asyncio.wait_for(stale.sent.wait(), 10)
        await asyncio.sleep(1.0)  # the server has read what was sent; the client is silent

        # 200, not 423: the stale PATCH let go within TUSLOG_LOCK_RELEASE_TIMEOUT.
        status, headers = await _head(http, f"{new_base}/files/{upload_id}", token.auth)
        assert status == 200
        assert int(headers["Upload-Offset"]) == part  # the stale PATCH's bytes were saved

        stale_status, stale_headers, stale_text = await stale.response()
        assert stale_status == 423, stale_text
        assert stale_headers["Upload-Offset"] == str(part)
        assert "newer request" in stale_text

        async with http.patch(
            f"{new_base}/files/{upload_id}",
            data=data[part:],
            headers={**token.auth, "Upload-Offset": str(part), "Content-Type": tus.OCTET},
        ) as response:
            assert response.status == 204, await response.text()
            assert response.headers["Upload-Offset"] == str(len(data))
            assert response.headers["Tuslog-Upload-State"] in last_answer
    finally:
        await stale.finish()  # the stale client wakes up and sends junk: none may land
    await asyncio.sleep(0.3)
    assert _stored(settings, upload_id) == data
    for _ in range(300):
        status, headers = await _head(http, f"{new_base}/files/{upload_id}", token.auth)
        if headers["Tuslog-Upload-State"] != "verifying":
            break
        await asyncio.sleep(0.1)
    assert (status, headers["Tuslog-Upload-State"]) == (200, "verified")


# --- fixtures ----------------------------------------------------------------------------
def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _stop_all(servers: list[LiveServer]) -> None:
    for server in servers:
        workers = _children(server.process.pid)
        server.stop()  # a supervisor that exits normally has waited for its workers
        for pid in workers:  # one that had to be killed must not leave them behind
            with contextlib.suppress(OSError):
                if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    os.kill(pid, signal.SIGKILL)


@pytest.fixture
def two_servers(settings: Settings, tmp_path: Path) -> Iterator[tuple[LiveServer, LiveServer]]:
    """Two `tuslog serve` processes on different ports sharing database and storage."""
    started: list[LiveServer] = []
    try:
        env = server_env(settings)
        started.append(start_server(env, free_port(), tmp_path / "a.log"))
        started.append(start_server(env, free_port(), tmp_path / "b.log"))
        yield started[0], started[1]
    finally:
        _stop_all(started)


@pytest.fixture
def workers_server(settings: Settings, tmp_path: Path) -> Iterator[LiveServer]:
    started: list[LiveServer] = []
    try:
        env = server_env(settings)
        started.append(start_server(env, free_port(), tmp_path / "w.log", "--workers", "2"))
        yield started[0]
    finally:
        _stop_all(started)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        yield session


# --- tests -------------------------------------------------------------------------------
@pytest.mark.slow
async def test_stale_patch_on_another_process_is_released(
    two_servers: tuple[LiveServer, LiveServer],
    http: aiohttp.ClientSession,
    settings: Settings,
) -> None:
    first, second = two_servers
    token = await issue_token(settings)
    await _reconnect_scenario(
        settings,
        token,
        http=http,
        stale_base=first.url,
        new_base=second.url,
        last_answer={"verifying"},  # the first process holds the running hash
    )


@pytest.mark.slow
async def test_stale_patch_released_with_two_workers_on_one_port(
    workers_server: LiveServer, http: aiohttp.ClientSession, settings: Settings
) -> None:
    """Smoke run: whichever worker each connection lands on, the rules hold."""
    token = await issue_token(settings, uploads=2)
    for _ in range(2):
        await _reconnect_scenario(
            settings,
            token,
            http=http,
            stale_base=workers_server.url,
            new_base=workers_server.url,
            last_answer={"verified", "verifying"},
        )


async def test_stale_patch_in_process_released_by_head(
    client: TestClient, settings: Settings, issued: Issued
) -> None:
    await _reconnect_scenario(
        settings, issued, http=client, stale_base="", new_base="", last_answer={"verified"}
    )


async def test_lock_that_will_not_be_released_gives_fast_423(
    client: TestClient, settings: Settings, issued: Issued
) -> None:
    """A holder that ignores release requests (here: this test holding the flock itself)."""
    path = await tus.create_path(client, issued.auth, 1000)
    upload_id = path.rsplit("/", 1)[1]
    response = await tus.patch(client, path, issued.auth, 0, b"k" * 100)
    assert response.status == 204
    locks = settings.storage_dir / ".locks"
    fd = os.open(locks / f"{upload_id}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        for method, send in (
            ("HEAD", lambda: client.head(path, headers=issued.auth)),
            ("PATCH", lambda: tus.patch(client, path, issued.auth, 100, b"x" * 50)),
        ):
            response = await asyncio.wait_for(send(), HANG_GUARD)
            assert response.status == 423, method
            assert int(response.headers["Retry-After"]) > 0
            assert response.headers["Tus-Resumable"] == "1.0.0"
            assert _stored(settings, upload_id) == b"k" * 100  # nothing written meanwhile
            assert not (locks / "queue" / upload_id).exists()  # it withdrew its ticket
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    response = await client.head(path, headers=issued.auth)
    assert (response.status, response.headers["Upload-Offset"]) == (200, "100")
    response = await tus.patch(client, path, issued.auth, 100, b"x" * 900)
    assert (response.status, response.headers["Upload-Offset"]) == (204, "1000")
    assert _stored(settings, upload_id) == b"k" * 100 + b"x" * 900


@pytest.mark.parametrize("stop", ["released", "idle"])
async def test_a_stopped_patch_logs_no_unhandled_exception(
    stop: str, aiohttp_client: Any, database_url: str, tmp_path: Path, caplog: Any
) -> None:
    settings = make_settings(database_url, tmp_path, read_timeout=1)
    client = await aiohttp_client(create_app(settings))
    issued = await issue_token(settings)
    data = os.urandom(MiB)
    upload_id = await _create(client, "/files/", issued.auth, data)
    path = f"/files/{upload_id}"
    stale = StalledPatch(client, path, issued.auth, 0, data[:1000], len(data))
    try:
        await asyncio.wait_for(stale.sent.wait(), 10)
        if stop == "released":
            # The PATCH holds the lock (a HEAD before that finds nothing to take over: CI
            # under load saw offset 0 after a fixed 0.3 s), then reads what was sent.
            locks = client.server.app[ENGINE].parts.locks
            for _ in range(200):
                if locks.is_held_here(upload_id):
                    break
                await asyncio.sleep(0.05)
            assert locks.is_held_here(upload_id)
            await asyncio.sleep(0.3)
            status, headers = await _head(client, path, issued.auth)
            assert (status, headers["Upload-Offset"]) == (200, "1000")
        status, headers, _ = await stale.response()
        assert (status, headers["Upload-Offset"]) == ({"released": 423, "idle": 408}[stop], "1000")
    finally:
        await stale.finish()
    await asyncio.sleep(0.2)
    logged = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert logged == []


async def test_a_finished_upload_leaves_no_lock_files(client: Any, issued: Issued) -> None:
    """One inode per finished archive would add up: completion removes the lock files, and
    HEADs of a finished upload take no lock (so they do not create them again)."""
    settings = client.server.app[SETTINGS]
    data = os.urandom(300_000)
    path = await tus.create_path(client, issued.auth, len(data))
    for start in (0, 100_000, 200_000):
        response = await tus.patch(client, path, issued.auth, start, data[start : start + 100_000])
        assert response.status == 204, await response.text()
    head = await client.head(path, headers=issued.auth)
    assert head.status == 200
    assert head.headers["Upload-Offset"] == str(len(data))
    assert head.headers["Tuslog-Sha256"] == hashlib.sha256(data).hexdigest()
    assert lock_files(settings.storage_dir) == []


def test_a_waiter_on_a_removed_lock_file_does_not_lock_an_orphan(tmp_path: Path) -> None:
    """Between a waiter's open() and flock() the holder may finish and remove the file;
    the flock then succeeds on a file nobody else will ever open. The waiter must see that
    and lock the file that is at the path now, as any later request will."""
    holder_locks = UploadLocks(tmp_path, release_timeout=0.1)
    waiter_locks = UploadLocks(tmp_path, release_timeout=0.1)
    upload_id = "ab" * 16
    held = holder_locks.try_acquire(upload_id)
    assert held is not None
    stale_fd = os.open(holder_locks.lock_path(upload_id), os.O_RDWR)  # the waiter's open()
    try:
        holder_locks.discard(upload_id)
        held.release()
        fcntl.flock(stale_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # an orphan lock: it "works"
        assert not locks_module._same_file(stale_fd, holder_locks.lock_path(upload_id))
    finally:
        os.close(stale_fd)
    again = waiter_locks.try_acquire(upload_id)
    assert again is not None
    assert holder_locks.try_acquire(upload_id) is None  # the new file really excludes
    again.release()


async def test_waiters_get_the_lock_in_the_order_they_asked(tmp_path: Path) -> None:
    """B (another process) waits for A's lock; C comes later, when A has just let go. C
    must not jump the queue: B gets the lock next, and C after B."""
    a, b, c = (UploadLocks(tmp_path, release_timeout=2.0) for _ in range(3))
    a.prepare()
    upload_id = "ef" * 16
    held_by_a = a.try_acquire(upload_id)
    assert held_by_a is not None
    b_waits = asyncio.create_task(b.acquire(upload_id))
    await asyncio.sleep(0.1)
    assert a.waiting(upload_id)  # B asked
    held_by_a.release()
    assert c.try_acquire(upload_id) is None  # the free lock is B's turn, not C's
    c_waits = asyncio.create_task(c.acquire(upload_id))
    held_by_b = await asyncio.wait_for(b_waits, 5)
    await asyncio.sleep(0.1)
    assert not c_waits.done()
    held_by_b.release()
    held_by_c = await asyncio.wait_for(c_waits, 5)
    held_by_c.release()
    assert not a.waiting(upload_id)


async def test_a_waiter_that_gives_up_leaves_no_ticket(tmp_path: Path) -> None:
    a, b = (UploadLocks(tmp_path, release_timeout=0.3) for _ in range(2))
    a.prepare()
    upload_id = "ee" * 16
    held = a.try_acquire(upload_id)
    assert held is not None
    with pytest.raises(TuslogError) as raised:
        await b.acquire(upload_id)  # A never lets go
    assert raised.value.status == 423
    assert not b.waiting(upload_id) and not b.queue_path(upload_id).exists()
    held.release()


def test_a_ticket_survives_another_process_removing_the_empty_queue(tmp_path: Path) -> None:
    """A waiter that withdraws its ticket removes the queue folder if it looks empty; a
    newcomer may have just made that folder and not yet written its ticket (seen in CI:
    a 500 for the HEAD of a client that came straight back). The newcomer makes the
    folder again."""
    ours, theirs = (UploadLocks(tmp_path, release_timeout=1.0) for _ in range(2))
    ours.prepare()
    upload_id = "cd" * 16
    stop = threading.Event()

    def withdrawing() -> None:  # another process's waiters, giving up one after another
        while not stop.is_set():
            theirs._withdraw(upload_id, "gone-0-0")
            time.sleep(0.0001)

    other = threading.Thread(target=withdrawing)
    other.start()
    try:
        for _ in range(3000):
            ticket = ours._enqueue(upload_id, "takeover")
            assert (ours.queue_path(upload_id) / ticket).read_text() == "takeover"
            ours._withdraw(upload_id, ticket)
    finally:
        stop.set()
        other.join()
