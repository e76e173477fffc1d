"""A real `tuslog serve` killed with SIGKILL in the middle of a PATCH, then restarted on
the same database and storage.

What is kept: every byte up to the last durable checkpoint (the offset is checkpointed
during a long PATCH), and nothing past the recorded offset survives the next lock. What is
said: HEAD reports an offset that is > 0 (a checkpoint passed) and ≤ the bytes the client
sent; resuming from it gives a byte-identical, verified upload that used one attempt.
"""

import hashlib
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests import tus
from tests.conftest import Issued, LiveServer, free_port, issue_token, server_env, start_server
from tests.fakes import data_path
from tuslog.settings import Settings

pytestmark = pytest.mark.slow

MiB = 1024 * 1024
LENGTH = 40 * MiB
KILL_AFTER = 20 * MiB
SEND_PIECE = 256 * 1024


@pytest.fixture
async def token(settings: Settings) -> Issued:
    return await issue_token(settings)


@pytest.fixture
def servers() -> Iterator[list[LiveServer]]:
    """Every server a test starts; all are stopped at the end, whatever happened."""
    started: list[LiveServer] = []
    yield started
    for server in started:
        server.stop()


def _upload_row(server: LiveServer, upload_id: str) -> dict[str, object]:
    rows = json.loads(server.cli("upload", "list", "--json"))
    (row,) = [row for row in rows if row["id"] == upload_id]
    return dict(row)


def _stream_then_kill(server: LiveServer, path: str, token: Issued, data: bytes) -> int:
    """PATCH the whole upload from a raw socket, slowly; SIGKILL the server once
    ``KILL_AFTER`` bytes are sent. Returns how many body bytes were sent."""
    head = (
        f"PATCH {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
        f"Authorization: Bearer {token.token}\r\nTus-Resumable: 1.0.0\r\n"
        f"Upload-Offset: 0\r\nContent-Type: {tus.OCTET}\r\nContent-Length: {len(data)}\r\n\r\n"
    ).encode()
    sent = 0
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head)
        while sent < KILL_AFTER:
            sock.sendall(data[sent : sent + SEND_PIECE])
            sent += SEND_PIECE
            time.sleep(0.01)  # ~1 s in all: several 0.2 s checkpoints pass
        server.kill()
    return sent


def test_sigkill_mid_patch_then_restart_and_resume(
    settings: Settings, token: Issued, servers: list[LiveServer], tmp_path: Path
) -> None:
    env = server_env(settings, TUSLOG_CHECKPOINT_SECONDS="0.2")
    first = start_server(env, free_port(), tmp_path / "first.log")
    servers.append(first)
    data = os.urandom(LENGTH)
    sha256 = hashlib.sha256(data).hexdigest()
    created = requests.post(
        f"{first.url}/files/",
        headers={
            **token.auth,
            "Upload-Length": str(LENGTH),
            "Upload-Metadata": tus.metadata(filename="crash.tar", sha256=sha256),
        },
        timeout=10,
    )
    assert created.status_code == 201, created.text
    upload_id = created.headers["Location"].rsplit("/", 1)[1]
    data_file = data_path(settings.storage_dir, upload_id)

    sent = _stream_then_kill(first, f"/files/{upload_id}", token, data)
    assert first.process.returncode == -9

    # While the server is down: the recorded offset is covered by synced bytes on disk.
    recorded = int(_upload_row(first, upload_id)["offset"])  # type: ignore[call-overload]
    assert 0 < recorded <= sent, f"no checkpoint recorded ({recorded} of {sent} sent)"
    on_disk = data_file.stat().st_size
    assert on_disk >= recorded
    assert data_file.read_bytes()[:recorded] == data[:recorded]
    # Bytes past the recorded offset were never acknowledged: a torn tail (made certain
    # here, whatever the kill left) must be cut off when the upload is next locked.
    with data_file.open("ab") as handle:
        handle.write(b"\xff" * (MiB + 17))

    second = start_server(env, free_port(), tmp_path / "second.log")
    servers.append(second)
    head = requests.head(f"{second.url}/files/{upload_id}", headers=token.auth, timeout=10)
    assert head.status_code == 200, head.text
    offset = int(head.headers["Upload-Offset"])
    assert offset == recorded
    assert head.headers["Tuslog-Upload-State"] == "receiving"
    assert data_file.stat().st_size == offset  # cut back to the recorded offset
    assert data_file.read_bytes() == data[:offset]

    resumed = requests.patch(
        f"{second.url}/files/{upload_id}",
        headers={**token.auth, "Upload-Offset": str(offset), "Content-Type": tus.OCTET},
        data=data[offset:],
        timeout=60,
    )
    assert resumed.status_code == 204, resumed.text
    assert resumed.headers["Upload-Offset"] == str(LENGTH)
    # This process never saw the first bytes: it hashes the file after answering.
    assert resumed.headers["Tuslog-Upload-State"] == "verifying"
    assert _settled_state(second.url, upload_id, token.auth) == "verified"
    assert data_file.read_bytes() == data
    row = _upload_row(second, upload_id)
    assert (row["state"], row["sha256"]) == ("verified", sha256)
    tokens = json.loads(second.cli("token", "list", "--json"))
    assert [t["uses"] for t in tokens if t["prefix"] == token.prefix] == [1]


def test_sigterm_mid_patch_saves_everything_received(
    settings: Settings, token: Issued, servers: list[LiveServer], tmp_path: Path
) -> None:
    """A graceful stop is not a crash: the open PATCH saves every byte that reached the
    server and answers before the process exits."""
    env = server_env(settings, TUSLOG_CHECKPOINT_SECONDS="60", TUSLOG_CHECKPOINT_BYTES="1G")
    server = start_server(env, free_port(), tmp_path / "server.log")
    servers.append(server)
    data = os.urandom(8 * MiB)
    created = requests.post(
        f"{server.url}/files/",
        headers={**token.auth, "Upload-Length": str(len(data))},
        timeout=10,
    )
    upload_id = created.headers["Location"].rsplit("/", 1)[1]
    head = (
        f"PATCH /files/{upload_id} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
        f"Authorization: Bearer {token.token}\r\nTus-Resumable: 1.0.0\r\n"
        f"Upload-Offset: 0\r\nContent-Type: {tus.OCTET}\r\nContent-Length: {len(data)}\r\n\r\n"
    ).encode()
    sent = 3 * MiB + 12345
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head + data[:sent])
        time.sleep(0.5)  # all of it has reached the server; no checkpoint is due
        server.process.terminate()
        answer = sock.recv(4096)
    server.process.wait(timeout=20)
    assert answer.startswith(b"HTTP/1.1 503"), answer[:200]
    assert b"Retry-After: 5" in answer and b"restarting" in answer
    assert f"Upload-Offset: {sent}".encode() in answer
    assert int(_upload_row(server, upload_id)["offset"]) == sent  # type: ignore[call-overload]
    data_file = data_path(settings.storage_dir, upload_id)
    assert data_file.read_bytes() == data[:sent]


def _settled_state(base_url: str, upload_id: str, auth: dict[str, str]) -> str:
    deadline = time.monotonic() + 30
    while True:
        head = requests.head(f"{base_url}/files/{upload_id}", headers=auth, timeout=10)
        state = head.headers["Tuslog-Upload-State"]
        if state != "verifying" or time.monotonic() > deadline:
            return state
        time.sleep(0.05)
