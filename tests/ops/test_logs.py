"""Logs: one access line per request with the real client, lifecycle events of their own,
JSON or text, a client's mistake at most one quiet line, repeated conditions throttled."""

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tests import tus
from tests.conftest import Issued, free_port, make_settings
from tests.test_admission import filling_store
from tuslog.app import create_app
from tuslog.cli.workers import app_factory
from tuslog.logs import config as log_config
from tuslog.logs import secrets as secrets_module
from tuslog.logs.repeats import RepeatFilter
from tuslog.logs.secrets import MASK, scrub
from tuslog.settings import Settings


class Lines:
    """What tuslog's own handler wrote (the configuration ``tuslog serve`` installs)."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self._capsys = capsys
        self.text = ""

    def read(self) -> list[str]:
        self.text += self._capsys.readouterr().err
        return self.text.splitlines()


@pytest.fixture
def configured(capsys: pytest.CaptureFixture[str]) -> Iterator[Any]:
    """``configure(level, format)`` for the test; the root logger is put back after."""
    root = logging.getLogger()
    saved, level = list(root.handlers), root.level

    def configure(log_format: str = "text", level_name: str = "INFO") -> Lines:
        log_config.configure(level_name, log_format)  # type: ignore[arg-type]
        return Lines(capsys)

    yield configure
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in saved:
        root.addHandler(handler)
    root.setLevel(level)


def test_repeated_condition_is_one_line_then_a_count() -> None:
    now = [0.0]
    limiter = RepeatFilter(60, clock=lambda: now[0])

    def record(message: str = "socket.accept() out of system resource") -> logging.LogRecord:
        return logging.LogRecord("asyncio", logging.ERROR, __file__, 1, message, None, None)

    assert limiter.filter(record())
    assert not any(limiter.filter(record()) for _ in range(33_916))
    assert limiter.filter(record("another condition"))  # counted apart
    now[0] = 61.0
    later = record()
    assert limiter.filter(later)
    assert "33916 more like this in the last 61 s were not logged" in later.getMessage()
    info = logging.LogRecord("x", logging.INFO, __file__, 1, "a request", None, None)
    assert all(limiter.filter(info) for _ in range(5))  # only warnings and errors


def test_secrets_are_masked_whatever_the_message() -> None:
    token = "tlu_abcd2345_" + "S" * 43
    line = scrub(f"Authorization: Bearer {token} token={token} password=hunter2 Cookie: s=1")
    assert token not in line and "S" * 20 not in line
    assert "hunter2" not in line and "s=1" not in line
    # the prefix identifies a token and is no secret
    assert scrub(f"sent {token}.") == "sent tlu_abcd2345_[redacted]."


@pytest.mark.parametrize(
    "secret",
    [
        "tlk_ABCD2345_" + "s" * 20,
        "BEARER abc.def",
        "AUTHORIZATION=Basic dXNlcjpw",
        '"authorization": "Basic dXNlcjpw"',
        "PassWord=hunter2",
        "PA\u017fSWORD=hunter2",  # the long s (U+017F) matches s in the masks' (?i)
        "set-coo\u212aie: tuslog_session=abc",  # and so does the Kelvin sign K
        "passwd=hunter2",
        "Secret=x1",
        "totp=123456",
        "code=123456",
        "SESSION=abc",
        "api_key=abc",
        "token=abc",
        "set-cookie: tuslog_session=abc",
    ],
)
def test_the_quick_check_lets_every_secret_through_to_the_masks(secret: str) -> None:
    """``scrub`` skips lines without a clue; every pattern's match must contain one."""
    line = slow = f"x {secret} y"
    for pattern in secrets_module._PATTERNS:
        slow = pattern.sub(lambda match: match.group(1) + MASK, slow)
    assert MASK in slow
    assert scrub(line) == slow


async def test_access_line_names_the_real_client_behind_a_trusted_proxy(
    aiohttp_client: Any, database_url: str, tmp_path: Path, configured: Any
) -> None:
    lines = configured("json")
    settings = make_settings(database_url, tmp_path, trusted_proxies="127.0.0.1/32")
    client = await aiohttp_client(create_app(settings))
    response = await client.get(
        "/uploader.sh", headers={"X-Forwarded-For": "198.51.100.7", "X-Request-Id": "req-12345678"}
    )
    assert response.headers["X-Request-Id"] == "req-12345678"
    access = [json.loads(line) for line in lines.read() if '"tuslog.access"' in line]
    assert len(access) == 1
    entry = access[0]
    assert entry["client_ip"] == "198.51.100.7"
    assert entry["request_id"] == "req-12345678"
    assert (entry["method"], entry["path"], entry["status"]) == ("GET", "/uploader.sh", 200)
    assert entry["bytes_out"] > 0 and entry["duration"] >= 0 and entry["level"] == "INFO"


async def test_forged_forwarded_for_from_an_untrusted_peer_is_ignored(
    client: Any, configured: Any
) -> None:
    lines = configured("text")
    response = await client.get(
        "/uploader.sh", headers={"X-Forwarded-For": "198.51.100.7", "X-Request-Id": "forged-id-1"}
    )
    assert response.headers["X-Request-Id"] != "forged-id-1"  # ids only from a trusted proxy
    (line,) = [line for line in lines.read() if "tuslog.access" in line]
    assert "198.51.100.7" not in line and " 127.0.0.1 " in line


async def test_garbage_gzip_body_is_one_quiet_line(client: Any, configured: Any) -> None:
    """aiohttp never inflates a body here (tuslog.app), so a garbage gzip body is an
    ordinary request with a body nobody reads: one access line each, no error."""
    lines = configured("text")
    statuses = []
    for path in (b"/healthz", b"/files/", b"/no-such-page"):
        reader, writer = await asyncio.open_connection(client.host, client.port)
        writer.write(
            b"POST " + path + b" HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\n"
            b"Tus-Resumable: 1.0.0\r\nContent-Length: 20\r\nConnection: close\r\n\r\n"
            + b"\x1f\x8b"
            + b"x" * 18
        )
        await writer.drain()
        statuses.append(int((await asyncio.wait_for(reader.readline(), 10)).split()[1]))
        writer.close()
    await asyncio.sleep(0.2)
    written = lines.read()
    assert not [line for line in written if " ERROR " in line or "Traceback" in line], written
    assert all(status < 500 for status in statuses), statuses
    assert statuses[1] == 415  # the tus endpoint says to send the bytes as they are


@pytest.fixture
async def served(settings: Settings) -> AsyncIterator[str]:
    """The app run as each gunicorn worker runs it (no handler cancellation); its URL."""
    runner = await app_factory(settings)()
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def test_patch_cut_by_the_client_is_logged_as_such(
    served: str, issued: Issued, configured: Any
) -> None:
    lines = configured("text")
    async with aiohttp.ClientSession() as http:
        created = await http.post(
            f"{served}/files/", headers={**issued.auth, "Upload-Length": "1000"}
        )
        assert created.status == 201
        path = tus.path_of(created.headers["Location"])
    port = int(served.rsplit(":", 1)[1])
    _reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(tus.raw_patch_head(path, issued.auth, 0, Content_Length=1000) + b"a" * 400)
    await writer.drain()
    await asyncio.sleep(0.3)
    writer.close()
    for _ in range(100):
        patch = [line for line in lines.read() if '"PATCH ' in line]
        if patch:
            break
        await asyncio.sleep(0.05)
    assert len(patch) == 1
    assert " 499 " in patch[0] and "(client closed, 400 bytes kept)" in patch[0]
    assert " 400 in=" not in patch[0]


async def test_disk_full_during_a_patch_is_a_warning(
    aiohttp_client: Any, settings: Settings, issued: Issued, configured: Any
) -> None:
    lines = configured("text")
    store, capacity = filling_store(settings.storage_dir)
    client = await aiohttp_client(create_app(settings, store=store))
    path = await tus.create_path(client, issued.auth, 100_000)
    upload_id = path.rsplit("/", 1)[1]
    capacity[0] = 30_000
    for _ in range(3):  # the same condition again: one line
        offset = 30_000 if _ else 0
        body = b"d" * (100_000 - offset)
        response = await tus.patch(client, path, issued.auth, offset, body)
        assert response.status in (503, 409), await response.text()
    warnings = [line for line in lines.read() if "storage full while receiving" in line]
    assert len(warnings) == 1, warnings
    assert " WARNING " in warnings[0] and upload_id in warnings[0]
    assert "30000 bytes kept" in warnings[0] and "bytes free" in warnings[0]


async def test_lifecycle_events_are_lines_of_their_own(
    client: Any, issued: Issued, settings: Settings, configured: Any
) -> None:
    from tuslog.db.database import Database
    from tuslog.services import tokens

    lines = configured("json")
    path = await tus.create_path(
        client,
        issued.auth,
        4,
        Upload_Metadata=tus.metadata(
            sha256="88d4266fd4e6338d13b845fcf289579d209c897823b9217da3e161936f031589"
        ),
    )
    assert (await tus.patch(client, path, issued.auth, 0, b"abcd")).status == 204
    database = Database(settings.database_url)
    try:
        async with database.begin() as session:
            await tokens.revoke(session, issued.prefix, actor="alice@example.com")
    finally:
        await database.dispose()
    events = [json.loads(line) for line in lines.read() if '"tuslog.events"' in line]
    names = [event["event"] for event in events]
    assert names[:2] == ["upload.created", "upload.verified"], names
    assert "token.revoked" in names
    completed = events[1]
    assert completed["detail_state"] == "verified" and completed["subject"] == path[-32:]
    revoked = events[names.index("token.revoked")]
    assert revoked["actor"] == "alice@example.com" and revoked["subject"] == issued.prefix
