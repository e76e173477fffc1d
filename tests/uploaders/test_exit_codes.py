"""Every documented exit code, under dash, bash and Python: permanent errors end within
seconds with a one-line message that never shows the whole token; transient answers are
retried; a finished upload is reported, and only a server-confirmed one exits 0."""

from __future__ import annotations

import base64
import contextlib
import re
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urljoin

import pytest
import requests

from tests.uploaders.conftest import (
    KINDS,
    PY,
    SH,
    Customer,
    Server,
    command,
    sha256_of,
    write_file,
)
from tests.uploaders.stub_server import StubTusServer

PROMPT_WAIT = 15.0  # seconds a prompt may take to appear before the test gives up


def fake_token() -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyz234567"
    prefix = "".join(secrets.choice(alphabet) for _ in range(8))
    return f"tlu_{prefix}_{secrets.token_urlsafe(32)}"


def assert_fails(
    result: object, code: int, token: str | None = None, *, retried: bool = False
) -> None:
    from tests.uploaders.conftest import Result

    assert isinstance(result, Result)
    assert result.returncode == code, result.output[-2000:]
    if not retried:  # gave up at once: these are not worth retrying
        assert "retrying in" not in result.output
    errors = [line for line in result.stderr.splitlines() if ": error: " in line]
    assert len(errors) == 1, result.stderr
    if token is not None:
        assert token not in result.output
        assert token[13:] not in result.output


@pytest.fixture
def small_file(tmp_path: Path) -> Path:
    return write_file(tmp_path / "small logs ü.tar.gz", 300_000)


@pytest.fixture(scope="module")
def stub() -> Iterator[StubTusServer]:
    server = StubTusServer().start()
    yield server
    server.stop()


# ------------------------------------------------------------------------ help and usage
def exit_codes(text: str) -> list[int]:
    section = text.split("Exit codes", 1)[1]
    return [int(m) for m in re.findall(r"^\s*\|?\s*(\d{1,3})(?:\D|$)", section, re.M)]


@pytest.mark.parametrize("kind", KINDS)
def test_help_documents_options_and_exit_codes(kind: str, customer: Customer) -> None:
    result = customer.run(kind, "--help")
    assert result.returncode == 0
    for option in (
        "--chunk-size",
        "--retries",
        "--timeout",
        "--cacert",
        "--insecure",
        "--quiet",
        "--version",
        "--token-file",
        "--name",
        "HOST",
        "TOKEN",
        "FILE",
        "DIR",
        "XDG_STATE_HOME",
    ):
        assert option in result.stdout, option
    assert "DOMAIN" not in result.stdout  # the README and the usage say HOST
    assert exit_codes(result.stdout) == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 130, 143]
    version = customer.run(kind, "--version")
    assert version.returncode == 0 and "0.1.0" in version.stdout


def test_docs_list_the_same_exit_codes() -> None:
    from tests.uploaders.test_customer_docs import customer_section

    docs = customer_section()
    table = docs.split("Exit codes", 1)[1]
    codes = [int(c) for c in re.findall(r"^\| (\d+)", table, re.M)] + [143]
    assert codes == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 130, 143]
    assert "| 130, 143 |" in table
    sh_help = subprocess.run(["sh", str(SH), "--help"], capture_output=True, text=True).stdout
    py_help = subprocess.run([*command("python"), "--help"], capture_output=True, text=True).stdout
    # The two scripts describe each code in the same words (3 names different tools).
    sh_codes = sh_help.split("Exit codes", 1)[1].replace("tuspy, tqdm", "")
    py_codes = py_help.split("Exit codes", 1)[1].replace("tuspy, tqdm", "")
    assert [ln for ln in sh_codes.splitlines() if not ln.lstrip().startswith("3 ")][2:] == [
        ln for ln in py_codes.splitlines() if not ln.lstrip().startswith("3 ")
    ][2:]


def test_scripts_pass_shellcheck_and_are_plain_posix() -> None:
    shellcheck = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "shellcheck"
    exe = str(shellcheck) if shellcheck.exists() else "shellcheck"
    try:
        done = subprocess.run([exe, "-s", "sh", str(SH)], capture_output=True, text=True)
    except FileNotFoundError:
        pytest.skip("shellcheck is not installed")
    assert done.returncode == 0, done.stdout
    assert PY.read_text().startswith("#!/usr/bin/env python3\n# /// script\n")


@pytest.mark.parametrize("shell", ["dash", "bash"])
def test_sh_without_curl_exits_3(shell: str, customer: Customer, small_file: Path) -> None:
    import shutil

    customer.env["PATH"] = str(small_file.parent / "empty-bin")
    exe = shutil.which(shell)
    assert exe is not None
    result = customer.run(exe, "example.com", fake_token(), str(small_file))
    assert_fails(result, 3)
    assert "curl" in result.stderr


def test_python_without_tuspy_exits_3(customer: Customer, small_file: Path) -> None:
    import sys

    done = subprocess.run(
        [sys.executable, "-S", str(PY), "example.com", fake_token(), str(small_file)],
        capture_output=True,
        text=True,
        env=customer.env,
    )
    assert done.returncode == 3, done.stderr
    assert "pip install --user tuspy tqdm" in done.stderr


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "args",
    [
        [],
        ["host", "tlu_x"],
        ["--bogus", "host", "TOKEN", "FILE"],
        ["--chunk-size", "lots", "host", "TOKEN", "FILE"],
        ["--retries"],
        ["example.com", "not-a-token", "FILE"],
        ["ftp://example.com", "TOKEN", "FILE"],
    ],
)
def test_bad_usage_exits_2(kind: str, args: list[str], customer: Customer) -> None:
    token = fake_token()
    args = [token if a == "TOKEN" else a for a in args]
    result = customer.run(kind, *args)
    assert result.returncode == 2, result.output
    assert "retrying in" not in result.output
    assert token not in result.output


@pytest.mark.parametrize("kind", ["dash", "bash"])
def test_sh_malformed_address_exits_2_at_once(
    kind: str, customer: Customer, small_file: Path
) -> None:
    """An IPv6 address without brackets is no URL for curl (its error 3): retrying cannot
    help, so the customer is told what to fix."""
    token = fake_token()
    result = customer.run(kind, "http://::1:8082", token, str(small_file))
    assert_fails(result, 2, token)
    assert "http://[::1]:8080" in result.stderr


# ------------------------------------------------------------------------ real server
@pytest.mark.parametrize("kind", KINDS)
def test_small_upload_with_spaces_and_unicode(
    kind: str, server: Server, customer: Customer, small_file: Path
) -> None:
    ticket = server.ticket()
    token = server.token(ticket)
    # A customer's ~/.curlrc must not change what the uploader's curl does.
    (customer.home / ".curlrc").write_text("fail\nlocation\noutput = /dev/null\nhead\n")
    result = customer.run(kind, "--chunk-size", "64K", server.url, token, str(small_file))
    assert result.returncode == 0, result.output
    assert token not in result.output
    assert "server:   verified" in result.stdout
    (upload,) = server.uploads(ticket)
    assert upload["filename"] == "small logs ü.tar.gz"
    assert upload["state"] == "verified"
    assert upload["sha256"] == sha256_of(small_file)
    assert sha256_of(server.stored(upload["id"])) == upload["sha256"]
    (state,) = customer.state_files()
    assert state.stat().st_mode & 0o777 == 0o600
    assert state.parent.stat().st_mode & 0o777 == 0o700
    assert token not in state.read_text() and token not in state.name

    # Running the same command again only prints the receipt: no new upload, no attempt.
    again = customer.run(kind, server.url, token, str(small_file))
    assert again.returncode == 0, again.output
    assert "server:   verified" in again.stdout
    assert len(server.uploads(ticket)) == 1
    assert server.uses(ticket, token) == 1


def test_python_json_receipt_and_token_from_stdin(
    server: Server, customer: Customer, small_file: Path
) -> None:
    import json

    ticket = server.ticket()
    token = server.token(ticket)
    result = customer.run(
        "python", "--json", "--quiet", server.url, "-", str(small_file), stdin=token + "\n"
    )
    assert result.returncode == 0, result.output
    receipt = json.loads(result.stdout)
    assert receipt["ok"] is True and receipt["exit_code"] == 0
    assert receipt["verification"] == "verified"
    assert receipt["ticket"] == ticket
    assert receipt["size"] == small_file.stat().st_size
    assert receipt["sha256"] == receipt["server_sha256"] == sha256_of(small_file)
    assert result.stderr == ""

    failed = customer.run("python", "--json", server.url, fake_token(), str(small_file))
    assert failed.returncode == 5
    assert json.loads(failed.stdout) == {
        "ok": False,
        "exit_code": 5,
        "error": json.loads(failed.stdout)["error"],
    }


@pytest.mark.parametrize("kind", ["dash", "bash"])
def test_sh_token_from_stdin(
    kind: str, server: Server, customer: Customer, small_file: Path
) -> None:
    ticket = server.ticket()
    token = server.token(ticket)
    result = customer.run(kind, "--quiet", server.url, "-", str(small_file), stdin=token)
    assert result.returncode == 0, result.output
    assert result.stderr == ""
    assert "server:   verified" in result.stdout


@pytest.mark.parametrize("kind", KINDS)
def test_unknown_token_exits_5(
    kind: str, server: Server, customer: Customer, small_file: Path
) -> None:
    token = fake_token()
    result = customer.run(kind, server.url, token, str(small_file))
    assert_fails(result, 5, token)
    # One explanation: the server's own 401 text is not repeated after ours.
    assert result.stderr.count("ask support") == 1, result.stderr
    assert "(401)" in result.stderr


@pytest.mark.parametrize("kind", KINDS)
def test_used_up_token_exits_5(
    kind: str, server: Server, customer: Customer, small_file: Path, tmp_path: Path
) -> None:
    ticket = server.ticket()
    token = server.token(ticket)
    first = customer.run(kind, server.url, token, str(small_file))
    assert first.returncode == 0, first.output
    other = write_file(tmp_path / "other.bin", 1000, seed=1)
    assert_fails(customer.run(kind, server.url, token, str(other)), 5, token)
    assert server.uses(ticket, token) == 1


@pytest.mark.parametrize("kind", KINDS)
def test_missing_or_unusable_file_exits_4(
    kind: str, server: Server, customer: Customer, tmp_path: Path
) -> None:
    token = fake_token()
    assert_fails(customer.run(kind, server.url, token, str(tmp_path / "nope.tgz")), 4, token)
    assert_fails(customer.run(kind, server.url, token, "/dev/null"), 4, token)


@pytest.mark.parametrize("kind", KINDS)
def test_over_quota_exits_8(
    kind: str, server: Server, customer: Customer, small_file: Path
) -> None:
    ticket = server.ticket()
    token = server.token(ticket, "--max-bytes", "1K")
    assert_fails(customer.run(kind, server.url, token, str(small_file)), 8, token)


@pytest.mark.parametrize("kind", KINDS)
def test_no_space_on_server_exits_9(
    kind: str, full_server: Server, customer: Customer, small_file: Path
) -> None:
    ticket = full_server.ticket()
    token = full_server.token(ticket)
    assert_fails(customer.run(kind, full_server.url, token, str(small_file)), 9, token)
    assert server_uses_after_refusal(full_server, ticket, token) == 0


def server_uses_after_refusal(server: Server, ticket: str, token: str) -> int:
    return server.uses(ticket, token)


def create_upload(server: Server, token: str, path: Path) -> str:
    """A creation as an earlier run of the uploader would have made it."""
    digest = sha256_of(path)
    meta = ",".join(
        f"{k} {base64.b64encode(v.encode()).decode()}"
        for k, v in (("filename", path.name), ("sha256", digest))
    )
    resp = requests.post(
        f"{server.url}/files/",
        headers={
            "Authorization": f"Bearer {token}",
            "Tus-Resumable": "1.0.0",
            "Upload-Length": str(path.stat().st_size),
            "Upload-Metadata": meta,
        },
        timeout=10,
    )
    assert resp.status_code == 201, resp.text
    return urljoin(f"{server.url}/files/", resp.headers["Location"])


def write_state(customer: Customer, base: str, token: str, path: Path, url: str) -> None:
    state = customer.state_key(base, token, sha256_of(path))
    state.parent.mkdir(parents=True, exist_ok=True)
    state.write_text(f"url={url}\n")


@pytest.mark.parametrize("kind", KINDS)
def test_upload_gone_and_token_used_exits_7(
    kind: str, server: Server, customer: Customer, small_file: Path
) -> None:
    ticket = server.ticket()
    token = server.token(ticket)
    url = create_upload(server, token, small_file)
    write_state(customer, server.url, token, small_file, url)
    auth = {"Authorization": f"Bearer {token}", "Tus-Resumable": "1.0.0"}
    assert requests.delete(url, headers=auth, timeout=10).status_code == 204
    result = customer.run(kind, server.url, token, str(small_file))
    assert_fails(result, 7, token)
    assert "gone" in result.stderr
    assert customer.state_files() == []


@pytest.mark.parametrize("kind", KINDS)
def test_gone_upload_starts_over_when_the_token_allows(
    kind: str, server: Server, customer: Customer, small_file: Path
) -> None:
    ticket = server.ticket()
    token = server.cli("token", "issue", ticket, "--uploads", "2")["token"]
    url = create_upload(server, token, small_file)
    write_state(customer, server.url, token, small_file, url)
    auth = {"Authorization": f"Bearer {token}", "Tus-Resumable": "1.0.0"}
    assert requests.delete(url, headers=auth, timeout=10).status_code == 204
    result = customer.run(kind, server.url, token, str(small_file))
    assert result.returncode == 0, result.output
    assert server.uses(ticket, token) == 2
    assert [u["state"] for u in server.uploads(ticket) if u["state"] == "verified"] == ["verified"]


@pytest.mark.parametrize("kind", KINDS)
def test_upload_of_another_token_exits_6(
    kind: str, server: Server, customer: Customer, small_file: Path
) -> None:
    ticket = server.ticket()
    owner = server.token(ticket)
    intruder = server.token(ticket)
    url = create_upload(server, owner, small_file)
    write_state(customer, server.url, intruder, small_file, url)
    assert_fails(customer.run(kind, server.url, intruder, str(small_file)), 6, intruder)
    assert server.uses(ticket, intruder) == 0


@pytest.mark.parametrize("kind", KINDS)
def test_wrong_address_exits_13(
    kind: str, server: Server, customer: Customer, small_file: Path
) -> None:
    token = fake_token()
    result = customer.run(kind, server.url + "/nothing-here", token, str(small_file))
    assert_fails(result, 13, token)


@pytest.mark.parametrize("kind", KINDS)
def test_unreachable_server_with_an_upload_to_resume_is_retried_patiently(
    kind: str, customer: Customer, small_file: Path
) -> None:
    """A server that accepted this file's upload before may only be down for a while:
    the usual retries, then exit 10 with the way to resume (not the quick exit 13 of a
    server that was never reached)."""
    import socket

    with socket.socket() as sock:  # a port that is certainly closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    token = fake_token()
    base = f"http://127.0.0.1:{port}"
    write_state(customer, base, token, small_file, f"{base}/files/{'0' * 32}")
    result = customer.run(kind, "--retries", "2", base, token, str(small_file))
    assert_fails(result, 10, token, retried=True)
    assert "run the same command again" in result.stderr.lower()
    assert result.stderr.count("retrying in") == 2


# ------------------------------------------------------------------------ stub server
@pytest.mark.parametrize("kind", KINDS)
def test_corrupt_upload_exits_11(
    kind: str, stub: StubTusServer, customer: Customer, small_file: Path
) -> None:
    token = stub.add_token(fake_token())
    stub.corrupt_next_upload = True
    result = customer.run(kind, stub.base_url, token, str(small_file))
    assert_fails(result, 11, token)
    assert "server:   corrupt" in result.stdout


@pytest.mark.parametrize("kind", KINDS)
def test_transient_answers_are_retried(
    kind: str, stub: StubTusServer, customer: Customer, small_file: Path
) -> None:
    token = stub.add_token(fake_token())
    stub.push("POST", 429, "slow down", **{"Retry-After": "1"})
    stub.push("PATCH", 423, "locked", **{"Retry-After": "1"})
    stub.push("PATCH", 503, "maintenance")
    result = customer.run(kind, "--chunk-size", "100K", stub.base_url, token, str(small_file))
    assert result.returncode == 0, result.output
    assert "server:   verified" in result.stdout
    assert result.stderr.count("retrying in") >= 3
    assert stub.tokens[token] == 0  # exactly one creation


@pytest.mark.parametrize("kind", KINDS)
def test_redirect_is_reported_not_followed(
    kind: str, stub: StubTusServer, customer: Customer, small_file: Path
) -> None:
    token = stub.add_token(fake_token())
    stub.push("POST", 301, "moved", Location="https://elsewhere.example/files/")
    result = customer.run(kind, stub.base_url, token, str(small_file))
    assert_fails(result, 13, token)
    assert "https://elsewhere.example/files/" in result.stderr


@pytest.fixture(scope="module")
def tls_stub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[StubTusServer, Path]]:
    import ssl

    tmp = tmp_path_factory.mktemp("tls")
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server = StubTusServer(ssl_context=context).start()
    yield server, cert
    server.stop()


@pytest.mark.parametrize("kind", KINDS)
def test_untrusted_certificate_exits_12_and_cacert_or_insecure_work(
    kind: str, tls_stub: tuple[StubTusServer, Path], customer: Customer, small_file: Path
) -> None:
    stub, cert = tls_stub
    token = stub.add_token(fake_token(), attempts=2)
    host = stub.base_url.removeprefix("https://")
    assert_fails(customer.run(kind, host, token, str(small_file)), 12, token)
    trusted = customer.run(kind, "--cacert", str(cert), host, token, str(small_file))
    assert trusted.returncode == 0, trusted.output
    other = write_file(small_file.parent / "other.bin", 5000, seed=3)
    insecure = customer.run(kind, "--insecure", host, token, str(other))
    assert insecure.returncode == 0, insecure.output
    assert "warning: --insecure" in insecure.stderr


@pytest.mark.parametrize("kind", KINDS)
def test_token_dash_asks_on_a_terminal_without_echo(
    kind: str, server: Server, customer: Customer, small_file: Path
) -> None:
    """TOKEN "-" on a terminal: a prompt, and the pasted token is not echoed (it stays out
    of the process list, the shell history and the screen)."""
    import fcntl
    import os
    import pty
    import select
    import termios
    import time

    ticket = server.ticket()
    token = server.token(ticket)
    leader, follower = pty.openpty()

    def terminal() -> None:  # the pty becomes the controlling terminal, as in a shell
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    process = subprocess.Popen(
        [*command(kind), server.url, "-", str(small_file)],
        env=customer.env,
        stdin=follower,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=terminal,
    )
    os.close(follower)
    assert process.stderr is not None
    screen, stderr = b"", b""
    deadline = time.monotonic() + PROMPT_WAIT
    while b"paste the upload token" not in screen + stderr:  # sh: stderr; Python: the tty
        assert time.monotonic() < deadline, (screen, stderr)
        ready, _, _ = select.select([leader, process.stderr.fileno()], [], [], 0.5)
        if leader in ready:
            screen += os.read(leader, 4096)
        if process.stderr.fileno() in ready:
            stderr += os.read(process.stderr.fileno(), 4096)
    while termios.tcgetattr(leader)[3] & termios.ECHO:  # sh turns echo off after the prompt
        assert time.monotonic() < deadline, "echo stays on"
        time.sleep(0.01)
    os.write(leader, token.encode() + b"\n")
    stdout, rest = process.communicate(timeout=60)
    with contextlib.suppress(OSError):
        while select.select([leader], [], [], 0.2)[0]:
            screen += os.read(leader, 4096)
    os.close(leader)
    assert process.returncode == 0, (stdout, stderr + rest)
    assert b"server:   verified" in stdout
    assert token.encode() not in screen + stderr + rest + stdout
