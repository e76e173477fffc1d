"""A server that was never reached in this run, and holds no upload of this file, is most
likely a wrong address: the uploaders give up within about 30 seconds with exit 13 and a
line that names the address and the error (issue "customer edge" §7). Each case runs
under dash, bash and Python."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest

from tests.uploaders.conftest import KINDS, Customer, Result, Server, write_file
from tests.uploaders.foreign_server import ForeignServer
from tests.uploaders.stub_server import StubTusServer
from tests.uploaders.test_exit_codes import assert_fails, fake_token

# "Gives up within ~30 s", with room for a loaded CI machine. Not a speed test: without
# the fast give-up the uploaders retry for about five minutes.
NEVER_REACHED_LIMIT = 60.0


@pytest.fixture
def small_file(tmp_path: Path) -> Path:
    return write_file(tmp_path / "logs.tar.gz", 200_000)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_together(customer: Customer, jobs: list[tuple[str, list[str]]]) -> list[Result]:
    """Start every job at once (they mostly wait), each timed on its own."""
    results: list[Result | None] = [None] * len(jobs)

    def one(index: int, kind: str, args: list[str]) -> None:
        started = time.monotonic()
        process = customer.start(kind, *args)
        stdout, stderr = process.communicate(timeout=180)
        results[index] = Result(process.returncode, stdout, stderr, time.monotonic() - started)

    threads = [
        threading.Thread(target=one, args=(index, kind, args))
        for index, (kind, args) in enumerate(jobs)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(200)
    assert all(result is not None for result in results)
    return [result for result in results if result is not None]


def error_line(result: Result) -> str:
    (line,) = [line for line in result.stderr.splitlines() if ": error: " in line]
    return line


def test_never_reached_gives_up_within_30_seconds(customer: Customer, small_file: Path) -> None:
    """Connection refused (a wrong port), and a gateway answering 502 without being a tus
    server: a few quick retries, then exit 13. The gateway runs use --quiet, which still
    says once why it retries."""
    token = fake_token()
    refused = f"http://127.0.0.1:{closed_port()}"
    with ForeignServer(502) as gateway:
        jobs = [(kind, [refused, token, str(small_file)]) for kind in KINDS]
        jobs += [(kind, ["--quiet", gateway.url, token, str(small_file)]) for kind in KINDS]
        results = run_together(customer, jobs)
        assert gateway.requests >= 3 * len(KINDS)  # it was retried, briefly
    for (kind, args), result in zip(jobs, results, strict=True):
        assert result.returncode == 13, (kind, result.output[-2000:])
        assert result.elapsed < NEVER_REACHED_LIMIT, (kind, result.elapsed)
        assert token not in result.output
        line = error_line(result)
        if refused in args:
            assert refused in line and "connect" in line.lower(), line
            assert result.stderr.count("retrying in") >= 3, result.stderr
        else:
            assert gateway.url in line and "502" in line and "not as a tus server" in line, line
            # Quiet: the reason for retrying once (it gives up long before a minute).
            assert result.stderr.count("retrying in") == 1, result.stderr
        assert "nothing was uploaded" in line
        assert "run the same command again" not in result.stderr


@pytest.mark.parametrize("kind", KINDS)
def test_https_to_a_plain_http_server_says_use_http(
    kind: str, server: Server, customer: Customer, small_file: Path
) -> None:
    """`HOST` without a scheme means https; against a plain-http server the TLS handshake
    fails with "wrong version number". That is said plainly, at once."""
    token = fake_token()
    host = server.url.split("://", 1)[1]
    result = customer.run(kind, host, token, str(small_file))
    assert_fails(result, 13, token)
    line = error_line(result)
    assert "plain http" in line and f"use {server.url}" in line, line
    assert "retrying" not in result.stderr


@pytest.mark.parametrize("status", [501, 405, 200])
@pytest.mark.parametrize("kind", KINDS)
def test_a_server_that_is_not_tus_exits_13_at_once(
    kind: str, status: int, customer: Customer, small_file: Path
) -> None:
    token = fake_token()
    with ForeignServer(status) as foreign:
        result = customer.run(kind, foreign.url, token, str(small_file))
        assert foreign.requests == 1  # no retries
    assert_fails(result, 13, token)
    line = error_line(result)
    assert f"answered {status}, but not as a tus server" in line and "check HOST" in line, line


@pytest.mark.parametrize("kind", KINDS)
def test_quiet_still_says_why_it_retries(kind: str, customer: Customer, small_file: Path) -> None:
    """--quiet hides progress, not the reason an upload does not finish: the first retry
    is explained, later ones at most once a minute."""
    stub = StubTusServer().start()
    try:
        token = stub.add_token(fake_token())
        stub.push("POST", 503, "maintenance")
        stub.push("POST", 503, "maintenance")
        stub.push("POST", 503, "maintenance")
        result = customer.run(kind, "--quiet", stub.base_url, token, str(small_file))
    finally:
        stub.stop()
    assert result.returncode == 0, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr  # three retries within a minute: one line
    assert "503" in lines[0] and "maintenance" in lines[0] and "retrying in" in lines[0]
    assert "server:   verified" in result.stdout
