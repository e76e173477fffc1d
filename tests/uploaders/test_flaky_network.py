"""A 200 MiB file through a VPN that drops or hangs, and uploaders killed mid-way: the
file must arrive byte-identical, on one attempt of the token, in one upload."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import start_server as start_live_server
from tests.support.flaky_proxy import FlakyProxy
from tests.uploaders.conftest import BIG_NAME, KINDS, Customer, Server, free_port, sha256_of

pytestmark = pytest.mark.slow


_digests: dict[Path, str] = {}


def assert_arrived_once(server: Server, ticket: str, token: str, path: Path) -> dict[str, object]:
    (upload,) = server.uploads(ticket)
    digest = _digests.setdefault(path, sha256_of(path))
    assert upload["filename"] == path.name
    assert upload["length"] == upload["offset"] == path.stat().st_size
    assert upload["state"] == "verified"
    assert upload["sha256"] == digest
    assert sha256_of(server.stored(upload["id"])) == digest  # byte-identical on disk
    assert server.uses(ticket, token) == 1
    return upload


@pytest.mark.parametrize("kind", KINDS)
def test_connection_cut_every_few_mb(
    kind: str, server: Server, customer: Customer, big_file: Path
) -> None:
    ticket = server.ticket()
    token = server.token(ticket)
    port = int(server.url.rsplit(":", 1)[1])
    with FlakyProxy(port, mode="cut", every=(3 << 20, 6 << 20), seed=7) as proxy:
        result = customer.run(kind, "--timeout", "5", proxy.url, token, str(big_file))
    assert result.returncode == 0, result.output[-3000:]
    assert proxy.stats.cuts >= 30, proxy.stats
    assert "server:   verified" in result.stdout
    assert f"ticket:   {ticket}" in result.stdout
    assert_arrived_once(server, ticket, token, big_file)


@pytest.mark.parametrize("kind", KINDS)
def test_connection_stalls_without_closing(
    kind: str, server: Server, customer: Customer, big_file: Path
) -> None:
    ticket = server.ticket()
    token = server.token(ticket)
    port = int(server.url.rsplit(":", 1)[1])
    with FlakyProxy(port, mode="stall", every=(60 << 20, 90 << 20), stall_hold=60) as proxy:
        result = customer.run(kind, "--timeout", "2", proxy.url, token, str(big_file))
    assert result.returncode == 0, result.output[-3000:]
    assert proxy.stats.stalls >= 2, proxy.stats
    assert "stalled connection" in result.stderr
    assert_arrived_once(server, ticket, token, big_file)


def _server_offset(url: str, token: str) -> int:
    resp = requests.head(
        url, headers={"Authorization": f"Bearer {token}", "Tus-Resumable": "1.0.0"}, timeout=5
    )
    assert resp.status_code == 200, resp.text
    return int(resp.headers["Upload-Offset"])


def _wait_until_sent(proxy: FlakyProxy, customer: Customer, at_least: int) -> str:
    """Watch the bytes go by (a HEAD would interrupt the running PATCH), then return the
    upload URL from the customer's state file."""
    deadline = time.monotonic() + 60
    while proxy.stats.bytes_up < at_least:
        assert time.monotonic() < deadline, "the upload never got going"
        time.sleep(0.02)
    (state,) = customer.state_files()
    return state.read_text().split("url=", 1)[1].split("\n", 1)[0]


def _settled_offset(url: str, token: str) -> int:
    """After a kill the server may still be saving the last bytes: wait until it's stable."""
    last = -1
    for _ in range(50):
        offset = _server_offset(url, token)
        if offset == last:
            return offset
        last = offset
        time.sleep(0.2)
    return last


@pytest.mark.parametrize(
    ("kind", "sig", "code"),
    [
        ("dash", signal.SIGKILL, -signal.SIGKILL),
        ("python", signal.SIGKILL, -signal.SIGKILL),
        ("bash", signal.SIGINT, 130),
        ("python", signal.SIGINT, 130),
        ("dash", signal.SIGTERM, 143),
    ],
)
def test_killed_and_started_again_resumes(
    kind: str, sig: signal.Signals, code: int, server: Server, customer: Customer, big_file: Path
) -> None:
    ticket = server.ticket()
    token = server.token(ticket)
    size = big_file.stat().st_size
    port = int(server.url.rsplit(":", 1)[1])
    with FlakyProxy(port, mode="pass", rate=40 << 20) as proxy:
        args = ("--timeout", "10", proxy.url, token, str(big_file))
        first = customer.start(kind, *args)
        url = _wait_until_sent(proxy, customer, size // 4)
        os.killpg(first.pid, sig)  # the whole process group, as a terminal or reboot does
        _, stderr = first.communicate(timeout=30)
        assert first.returncode == code, stderr[-2000:]
        if code > 0:
            assert "run the same command again to resume" in stderr
        kept = _settled_offset(url, token)
        assert 0 < kept < size

        proxy.rate = None
        before = proxy.stats.bytes_up
        second = customer.run(kind, *args)
        sent_again = proxy.stats.bytes_up - before
    assert second.returncode == 0, second.output[-3000:]
    assert "resuming the upload started earlier" in second.stderr
    # It went on from the server's offset: it did not send the first part again.
    assert sent_again < size - kept + (1 << 20), (sent_again, size, kept)
    assert len(customer.state_files()) == 1
    assert_arrived_once(server, ticket, token, big_file)


def test_python_resumes_what_sh_started(server: Server, customer: Customer, big_file: Path) -> None:
    """Both uploaders share the state file: a customer may switch tools mid-way."""
    ticket = server.ticket()
    token = server.token(ticket)
    size = big_file.stat().st_size
    port = int(server.url.rsplit(":", 1)[1])
    with FlakyProxy(port, mode="pass", rate=40 << 20) as proxy:
        first = customer.start("dash", proxy.url, token, str(big_file))
        url = _wait_until_sent(proxy, customer, size // 4)
        os.killpg(first.pid, signal.SIGKILL)
        first.communicate(timeout=30)
        assert 0 < _settled_offset(url, token) < size
        proxy.rate = None
        second = customer.run("python", "--json", proxy.url, token, str(big_file))
    assert second.returncode == 0, second.output[-3000:]
    assert "resuming the upload started earlier" in second.stderr
    upload = assert_arrived_once(server, ticket, token, big_file)
    assert upload["filename"] == BIG_NAME


@pytest.fixture(scope="module")
def twin(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A second tuslog process on the same database and storage: another worker, which
    does not hold the running hash of uploads the first one received."""
    log = tmp_path_factory.mktemp("twin") / "server.log"
    live = start_live_server(server.env, free_port(), log)
    yield Server(live.url, server.env, server.storage, live.process, log)
    Server(live.url, server.env, server.storage, live.process, log).stop()


@pytest.mark.parametrize("kind", ["dash", "python"])
def test_finished_by_another_worker_waits_for_its_verification(
    kind: str, server: Server, twin: Server, customer: Customer, big_file: Path
) -> None:
    """The rest of the file goes to another worker (a rerun, a balancer): that worker must
    hash the whole file again and answers "verifying" first. The uploader waits for the
    verdict and still prints a verified receipt, on one attempt of the token."""
    ticket = server.ticket()
    token = server.token(ticket)
    size = big_file.stat().st_size
    port = int(server.url.rsplit(":", 1)[1])
    with FlakyProxy(port, mode="pass", rate=40 << 20) as proxy:
        first = customer.start(kind, "--timeout", "10", proxy.url, token, str(big_file))
        url = _wait_until_sent(proxy, customer, size // 4)
        os.killpg(first.pid, signal.SIGKILL)
        first.communicate(timeout=30)
        assert 0 < _settled_offset(url, token) < size
    # Another server URL: no saved state; the server hands back the same upload.
    second = customer.run(kind, "--timeout", "10", twin.url, token, str(big_file))
    assert second.returncode == 0, second.output[-3000:]
    assert "the server is checking the SHA-256" in second.stderr
    assert "server:   verified" in second.stdout
    assert_arrived_once(server, ticket, token, big_file)
