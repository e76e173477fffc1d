"""`tuslog serve` on gunicorn: a reload (SIGHUP) and a stop (SIGTERM) while a PATCH
streams. The old worker's PATCH saves every byte that reached it and answers 503 with
Retry-After and its offset; nothing acknowledged is lost; the upload then completes."""

import asyncio
import hashlib
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests import tus
from tests.conftest import Issued, LiveServer, free_port, issue_token, server_env, start_server
from tests.fakes import data_path
from tuslog.settings import Settings

pytestmark = pytest.mark.slow
MiB = 1024 * 1024


def _children(pid: int) -> set[int]:
    try:
        return {int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}
    except OSError:
        return set()


def _create(server: LiveServer, token: Issued, data: bytes) -> str:
    created = requests.post(
        f"{server.url}/files/",
        headers={
            **token.auth,
            "Upload-Length": str(len(data)),
            "Upload-Metadata": tus.metadata(sha256=hashlib.sha256(data).hexdigest()),
        },
        timeout=10,
    )
    assert created.status_code == 201, created.text
    return tus.path_of(created.headers["Location"])


def _patch_then_signal(
    server: LiveServer, path: str, token: Issued, data: bytes, sent: int, signum: int
) -> bytes:
    """Stream ``sent`` bytes of a PATCH for all of ``data``, signal the master, and return
    the answer the open PATCH gets."""
    head = tus.raw_patch_head(path, token.auth, 0, Content_Length=len(data))
    with socket.create_connection(("127.0.0.1", server.port), timeout=20) as sock:
        sock.sendall(head + data[:sent])
        time.sleep(0.5)  # all of it reached the server; no checkpoint is due
        os.kill(server.process.pid, signum)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    return answer


def _assert_saved(answer: bytes, sent: int) -> None:
    assert answer.startswith(b"HTTP/1.1 503"), answer[:300]
    assert b"Retry-After: 5" in answer
    assert f"Upload-Offset: {sent}".encode() in answer


def _finish(server: LiveServer, path: str, token: Issued, data: bytes, sent: int) -> None:
    head = requests.head(f"{server.url}{path}", headers=token.auth, timeout=10)
    assert int(head.headers["Upload-Offset"]) == sent
    resumed = requests.patch(
        f"{server.url}{path}",
        data=data[sent:],
        headers={**token.auth, "Upload-Offset": str(sent), "Content-Type": tus.OCTET},
        timeout=60,
    )
    assert resumed.status_code == 204, resumed.text
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        state = requests.head(f"{server.url}{path}", headers=token.auth, timeout=10).headers
        if state["Tuslog-Upload-State"] != "verifying":
            break
        time.sleep(0.1)
    assert state["Tuslog-Upload-State"] == "verified"


def _env(settings: Settings) -> dict[str, str]:
    return server_env(settings, TUSLOG_CHECKPOINT_SECONDS="60", TUSLOG_CHECKPOINT_BYTES="1G")


def test_reload_lets_the_open_patch_save_and_new_workers_take_over(
    settings: Settings, tmp_path: Path
) -> None:
    server = start_server(_env(settings), free_port(), tmp_path / "s.log", "--workers", "2")
    try:
        token = asyncio.run(issue_token(settings))
        data = os.urandom(8 * MiB)
        path = _create(server, token, data)
        before = _children(server.process.pid)
        sent = 3 * MiB + 4321
        _assert_saved(_patch_then_signal(server, path, token, data, sent, signal.SIGHUP), sent)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            now = _children(server.process.pid)
            if len(now) == 2 and not now & before:
                break
            time.sleep(0.1)
        assert len(now) == 2 and not now & before, (before, now)  # all workers replaced
        assert server.process.poll() is None  # the master stays
        _finish(server, path, token, data, sent)
        stored = data_path(settings.storage_dir, path.rsplit("/", 1)[1]).read_bytes()
        assert stored == data
    finally:
        server.stop()
    log = (tmp_path / "s.log").read_text()
    assert "Traceback" not in log and "Handling signal: hup" in log


def test_stop_with_two_workers_saves_the_open_patch(settings: Settings, tmp_path: Path) -> None:
    env = _env(settings)
    server = start_server(env, free_port(), tmp_path / "a.log", "--workers", "2")
    try:
        token = asyncio.run(issue_token(settings))
        data = os.urandom(6 * MiB)
        path = _create(server, token, data)
        workers = _children(server.process.pid)
        sent = 2 * MiB + 99
        answer = _patch_then_signal(server, path, token, data, sent, signal.SIGTERM)
        _assert_saved(answer, sent)
        assert server.process.wait(timeout=40) == 0
        assert not any(Path(f"/proc/{pid}").exists() for pid in workers)
    finally:
        server.stop()
    assert data_path(settings.storage_dir, path.rsplit("/", 1)[1]).read_bytes() == data[:sent]
    again = start_server(env, free_port(), tmp_path / "b.log", "--workers", "2")
    try:
        _finish(again, path, token, data, sent)
    finally:
        again.stop()


def test_a_killed_master_takes_its_workers_along(settings: Settings, tmp_path: Path) -> None:
    """SIGKILL (the OOM killer, kill -9): orphaned workers would keep the port."""
    port = free_port()
    server = start_server(server_env(settings), port, tmp_path / "k.log", "--workers", "2")
    workers = _children(server.process.pid)
    assert len(workers) == 2
    server.kill()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(Path(f"/proc/{p}").exists() for p in workers):
        time.sleep(0.05)
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers)
    again = start_server(server_env(settings), port, tmp_path / "k2.log")  # the port is free
    again.stop()


def test_listen_backlog_reaches_the_socket(settings: Settings, tmp_path: Path) -> None:
    """The kernel shows a listening socket's backlog as its send queue (ss -lnt)."""
    ss = shutil.which("ss")
    if ss is None:
        pytest.skip("ss (iproute2) is not installed")
    env = server_env(settings, TUSLOG_LISTEN_BACKLOG="777")
    port = free_port()
    server = start_server(env, port, tmp_path / "b.log")
    try:
        listed = [ss, "-lnt", f"sport = :{port}"]
        shown = subprocess.run(listed, capture_output=True, text=True, check=True).stdout
    finally:
        server.stop()
    assert " 777 " in shown, shown


def test_running_out_of_file_descriptors_is_one_line(settings: Settings, tmp_path: Path) -> None:
    """asyncio logs every failed accept() as an ERROR with a traceback (once a second per
    listening socket, and again at once for each connection waiting): out of file
    descriptors, that floods the log. tuslog writes it once and counts the rest."""
    port = free_port()
    log_path = tmp_path / "fd.log"
    limit = 120

    def low_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "tuslog", "serve", "--port", str(port)],
            env=server_env(settings),
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=low_limit,
        )
    server = LiveServer(f"http://127.0.0.1:{port}", port, {}, process, log_path)
    held: list[socket.socket] = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{server.url}/healthz", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        for _ in range(limit + 40):  # more connections than the worker has descriptors
            held.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        time.sleep(4)  # a few retries of accept() later
    finally:
        for sock in held:
            sock.close()
        server.stop()
    text = log_path.read_text()
    failures = [line for line in text.splitlines() if "accept" in line and "ERROR" in line]
    assert len(failures) == 1, failures  # asyncio retries every second: 4+ unthrottled
