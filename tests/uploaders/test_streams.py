"""Issue 16: a directory (packed on the fly) or standard input is uploaded with a deferred
length, keeping only the chunk in flight, surviving dropped connections, and checked
end to end by SHA-256: under dash, bash and Python, against the real server.

A stream longer than one chunk declares its SHA-256 with its length, on its last PATCH
(``Tuslog-Sha256``), and the server verifies it like any other upload ("verified"). A
stream that fits in one chunk is sent like a file and verified the same way."""

from __future__ import annotations

import hashlib
import os
import pty
import shlex
import shutil
import signal
import subprocess
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.flaky_proxy import FlakyProxy
from tests.uploaders.conftest import KINDS, Customer, Result, Server, command, sha256_of
from tests.uploaders.stub_server import StubTusServer
from tests.uploaders.test_exit_codes import PROMPT_WAIT, fake_token

VERIFIED = "server:   verified"
TREE_BYTES = 200 * 1024 * 1024


# ----------------------------------------------------------------------------- trees
def make_tree(root: Path, total: int, seed: int) -> Path:
    """Log-like text and incompressible files in nested directories, an empty file and
    directory, a symlink, names with spaces and non-ASCII letters."""
    block = bytearray(os.urandom(1 << 20))
    written = index = 0
    while written < total:
        folder = root / f"service {index % 7}" / f"day-{index % 4}"
        folder.mkdir(parents=True, exist_ok=True)
        size = min(200_000 + (index * 7919 + seed) % 800_000, total - written)
        path = folder / f"log-{index:04d}-ü.txt" if index % 3 == 0 else folder / f"{index}.bin"
        if index % 3 == 0:
            line = f"2024-05-01T12:{index % 60:02d}:00 host app[{index}]: request ok\n".encode()
            path.write_bytes((line * (size // len(line) + 1))[:size])
        else:
            block[:16] = (index + seed).to_bytes(16, "big")
            path.write_bytes(bytes(block[:size]))
        written += size
        index += 1
    (root / "empty.log").write_bytes(b"")
    (root / "empty dir").mkdir()
    (root / "latest").symlink_to("service 0")
    return root


def manifest_of_tree(root: Path) -> dict[str, str]:
    """Relative path -> SHA-256 of a file, 'dir', or 'link:TARGET', under the root's name."""
    entries = {root.name: "dir"}
    for path in sorted(root.rglob("*")):
        name = f"{root.name}/{path.relative_to(root)}"
        if path.is_symlink():
            entries[name] = f"link:{os.readlink(path)}"
        elif path.is_dir():
            entries[name] = "dir"
        else:
            entries[name] = sha256_of(path)
    return entries


def manifest_of_archive(path: Path) -> dict[str, str]:
    entries = {}
    with tarfile.open(path, "r:gz") as archive:
        for member in archive:
            name = member.name.removeprefix("./").rstrip("/")
            if member.issym():
                entries[name] = f"link:{member.linkname}"
            elif member.isdir():
                entries[name] = "dir"
            else:
                handle = archive.extractfile(member)
                assert handle is not None
                digest = hashlib.sha256()
                while block := handle.read(1 << 20):
                    digest.update(block)
                entries[name] = digest.hexdigest()
    return entries


@pytest.fixture(scope="session")
def small_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tree(tmp_path_factory.mktemp("small") / "myapp logs", 600_000, seed=1)


@pytest.fixture(scope="session")
def big_tree(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    root = make_tree(tmp_path_factory.mktemp("big-tree") / "myapp", TREE_BYTES, seed=2)
    files = [p for p in root.rglob("*") if p.is_file() and not p.is_symlink()]
    assert len(files) >= 200 and sum(p.stat().st_size for p in files) >= TREE_BYTES
    return root, manifest_of_tree(root)


# ----------------------------------------------------------------------------- helpers
@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    return tmp_path / "token.txt"


def issue(server: Server, path: Path) -> tuple[str, str, Path]:
    """A ticket and a one-upload token, kept in a file as support would tell the customer
    to (standard input carries the data)."""
    ticket = server.ticket()
    token = server.token(ticket)
    path.write_text(token + "\n")
    path.chmod(0o600)
    return ticket, token, path


def receipt_value(result: Result, key: str) -> str:
    (line,) = [line for line in result.stdout.splitlines() if line.startswith(f"{key}:")]
    return line.split(":", 1)[1].strip()


def assert_streamed(
    server: Server, ticket: str, token: str, result: Result, sha256: str, size: int
) -> dict[str, object]:
    """One upload, verified by the server against the SHA-256 the stream declared."""
    assert result.returncode == 0, result.output[-3000:]
    assert VERIFIED in result.stdout, result.stdout
    assert receipt_value(result, "sha256") == sha256
    assert receipt_value(result, "size").startswith(f"{size} bytes")
    (upload,) = server.uploads(ticket)
    assert upload["state"] == "verified"
    assert upload["sha256"] == upload["declared_sha256"] == sha256
    assert upload["length"] == upload["offset"] == size
    assert sha256_of(server.stored(upload["id"])) == sha256
    assert server.uses(ticket, token) == 1
    assert token not in result.output
    return upload


# ----------------------------------------------------------------------------- quick
@pytest.mark.parametrize("kind", KINDS)
def test_small_stream_is_sent_like_a_file_and_verified(
    kind: str, server: Server, customer: Customer, token_file: Path, tmp_path: Path
) -> None:
    ticket, token, path = issue(server, token_file)
    data = tmp_path / "report.txt"
    data.write_bytes(b"disk usage report\n" * 1000)
    result = customer.pipe(
        ["cat", str(data)], kind, "--token-file", str(path), server.url, "-", "--name", "r.txt"
    )
    assert result.returncode == 0, result.output
    assert "server:   verified" in result.stdout
    assert "source:   standard input" in result.stdout
    (upload,) = server.uploads(ticket)
    assert upload["filename"] == "r.txt" and upload["state"] == "verified"
    assert upload["sha256"] == sha256_of(data)
    assert server.uses(ticket, token) == 1 and token not in result.output
    assert customer.state_files() == []  # a stream leaves nothing to resume


@pytest.mark.parametrize("extra", [0, 1000], ids=["ends-on-a-chunk", "ends-inside-a-chunk"])
@pytest.mark.parametrize("kind", KINDS)
def test_stream_longer_than_a_chunk(
    kind: str,
    extra: int,
    server: Server,
    customer: Customer,
    token_file: Path,
    tmp_path: Path,
) -> None:
    """Deferred length: a stream that ends exactly on a chunk boundary declares its length
    with an empty last PATCH, one that ends inside a chunk with that chunk."""
    ticket, token, path = issue(server, token_file)
    data = tmp_path / "stream.bin"
    data.write_bytes(os.urandom(3 * 65536 + extra))
    result = customer.pipe(
        ["cat", str(data)], kind, "--chunk-size", "64K", "--token-file", str(path), server.url, "-"
    )
    upload = assert_streamed(server, ticket, token, result, sha256_of(data), data.stat().st_size)
    assert str(upload["filename"]).startswith("stdin-")
    assert customer.state_files() == []


@pytest.mark.parametrize("kind", KINDS)
def test_directory_is_packed_on_the_fly(
    kind: str, server: Server, customer: Customer, small_tree: Path
) -> None:
    ticket = server.ticket()
    token = server.token(ticket)
    result = customer.run(kind, "--chunk-size", "64K", server.url, token, str(small_tree))
    assert result.returncode == 0, result.output
    assert f"source:   directory {small_tree}" in result.stdout
    assert receipt_value(result, "file") == "myapp logs.tar.gz"
    upload = assert_streamed(
        server,
        ticket,
        token,
        result,
        receipt_value(result, "sha256"),
        int(receipt_value(result, "size").split()[0]),
    )
    stored = server.stored(str(upload["id"]))
    assert manifest_of_archive(stored) == manifest_of_tree(small_tree)


@pytest.mark.parametrize("kind", KINDS)
def test_stream_usage_errors(kind: str, customer: Customer, small_tree: Path) -> None:
    token = "tlu_abcdefgh_" + "A" * 43
    host = "http://127.0.0.1:9"
    both = customer.run(kind, host, "-", "-", stdin=token + "\n")
    assert both.returncode == 2 and "--token-file" in both.stderr, both.output
    whole = customer.run(kind, "--chunk-size", "0", host, token, str(small_tree))
    assert whole.returncode == 2 and "--chunk-size 0" in whole.stderr, whole.output
    slash = customer.run(kind, "--name", "a/b.tgz", host, token, str(small_tree))
    assert slash.returncode == 2 and "--name" in slash.stderr, slash.output
    extra = customer.run(kind, "--token-file", "/etc/hostname", host, token, "-")
    assert extra.returncode == 2 and "--token-file" in extra.stderr, extra.output
    for result in (both, whole, slash, extra):
        assert "retrying in" not in result.output


@pytest.mark.parametrize("kind", KINDS)
def test_terminal_as_standard_input_is_refused(kind: str, customer: Customer) -> None:
    """`uploader HOST TOKEN -` typed without a pipe would wait for the keyboard forever."""
    leader, follower = pty.openpty()
    try:
        done = subprocess.run(
            [*command(kind), "http://127.0.0.1:9", "tlu_abcdefgh_" + "A" * 43, "-"],
            env=customer.env,
            stdin=follower,
            capture_output=True,
            text=True,
            timeout=PROMPT_WAIT,
        )
    finally:
        os.close(leader)
        os.close(follower)
    assert done.returncode == 2, done.stderr
    assert "standard input is a terminal" in done.stderr


@pytest.mark.parametrize("kind", KINDS)
def test_the_streams_sha256_is_declared_for_the_server_to_verify(
    kind: str, customer: Customer, tmp_path: Path
) -> None:
    """The last PATCH declares the length and the stream's SHA-256 (`Tuslog-Sha256`). A
    server that takes it (the proposed change; here the stub) verifies the upload: the
    receipt says verified, and a hash that does not match ends in exit 11."""
    stub = StubTusServer(takes_stream_sha256=True).start()
    try:
        token = stub.add_token(fake_token(), attempts=2)
        token_path = tmp_path / "token.txt"
        token_path.write_text(token)
        data = tmp_path / "stream.bin"
        data.write_bytes(os.urandom(200_000))
        args = ["--chunk-size", "64K", "--token-file", str(token_path), stub.base_url, "-"]
        good = customer.pipe(["cat", str(data)], kind, *args)
        assert good.returncode == 0, good.output
        assert "server:   verified" in good.stdout
        assert stub.declared == [sha256_of(data)]
        stub.corrupt_next_upload = True
        bad = customer.pipe(["cat", str(data)], kind, *args)
    finally:
        stub.stop()
    assert bad.returncode == 11, bad.output
    assert "server:   corrupt" in bad.stdout


# ----------------------------------------------------------------------------- heavy
@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_directory_through_a_cutting_proxy(
    kind: str, server: Server, customer: Customer, big_tree: tuple[Path, dict[str, str]]
) -> None:
    root, manifest = big_tree
    ticket = server.ticket()
    token = server.token(ticket)
    port = int(server.url.rsplit(":", 1)[1])
    with FlakyProxy(port, mode="cut", every=(3 << 20, 6 << 20), seed=11) as proxy:
        result = customer.run(kind, "--timeout", "5", proxy.url, token, str(root), timeout=600)
    assert result.returncode == 0, result.output[-3000:]
    assert proxy.stats.cuts >= 10, proxy.stats
    sha256 = receipt_value(result, "sha256")
    upload = assert_streamed(
        server, ticket, token, result, sha256, int(receipt_value(result, "size").split()[0])
    )
    assert upload["filename"] == "myapp.tar.gz"
    assert manifest_of_archive(server.stored(str(upload["id"]))) == manifest


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_pipe_through_a_cutting_proxy(
    kind: str, server: Server, customer: Customer, big_file: Path, token_file: Path
) -> None:
    ticket, token, path = issue(server, token_file)
    port = int(server.url.rsplit(":", 1)[1])
    with FlakyProxy(port, mode="cut", every=(3 << 20, 6 << 20), seed=12) as proxy:
        result = customer.pipe(
            ["cat", str(big_file)],
            kind,
            "--timeout",
            "5",
            "--token-file",
            str(path),
            proxy.url,
            "-",
            "--name",
            "big.bin",
        )
    assert proxy.stats.cuts >= 20, proxy.stats
    upload = assert_streamed(
        server, ticket, token, result, sha256_of(big_file), big_file.stat().st_size
    )
    assert upload["filename"] == "big.bin"


# ----------------------------------------------------------------------------- full disk
@pytest.fixture
def nearly_full_disk(tmp_path: Path) -> Iterator[Path]:
    """A 40 MiB tmpfs with 20 MiB free: the uploader's TMPDIR, HOME and working
    directory. A 16 MiB chunk fits; a packed copy of the logs would not."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=40m,mode=0755", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs (needs root): {done.stderr.strip()}")
    try:
        (mount / "filler").write_bytes(b"\0" * (20 << 20))
        (mount / "home").mkdir()
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def free_bytes(path: Path) -> int:
    return shutil.disk_usage(path).free


def on_disk(customer: Customer, disk: Path) -> None:
    customer.env.update(
        TMPDIR=str(disk), HOME=str(disk / "home"), XDG_STATE_HOME=str(disk / "home" / "state")
    )


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_nearly_full_disk(
    kind: str,
    server: Server,
    customer: Customer,
    big_tree: tuple[Path, dict[str, str]],
    nearly_full_disk: Path,
) -> None:
    """200 MiB of logs from a machine with 20 MiB free: no room for `tar czf` first, but
    streaming needs only the chunk in flight."""
    root, manifest = big_tree
    on_disk(customer, nearly_full_disk)
    before = free_bytes(nearly_full_disk)
    assert before < 21 << 20
    ticket = server.ticket()
    token = server.token(ticket)
    result = customer.shell(
        shlex.join([*command(kind), server.url, token, str(root)]),
        cwd=nearly_full_disk,
        timeout=600,
    )
    upload = assert_streamed(
        server,
        ticket,
        token,
        result,
        receipt_value(result, "sha256"),
        int(receipt_value(result, "size").split()[0]),
    )
    assert manifest_of_archive(server.stored(str(upload["id"]))) == manifest
    assert free_bytes(nearly_full_disk) == before  # nothing left behind


@pytest.mark.parametrize("kind", ["dash", "bash"])
def test_sh_without_room_for_a_chunk_says_what_to_do(
    kind: str, server: Server, customer: Customer, small_tree: Path, nearly_full_disk: Path
) -> None:
    """uploader.sh keeps the chunk in flight in TMPDIR: when even that does not fit, it
    says so before it sends anything (uploader.py keeps it in memory)."""
    on_disk(customer, nearly_full_disk)
    (nearly_full_disk / "more").write_bytes(b"\0" * (15 << 20))
    ticket = server.ticket()
    token = server.token(ticket)
    result = customer.run(kind, server.url, token, str(small_tree))
    assert result.returncode == 4, result.output
    assert "retrying in" not in result.output
    assert "--chunk-size" in result.stderr and "TMPDIR" in result.stderr
    assert server.uploads(ticket) == [] and server.uses(ticket, token) == 0
    smaller = customer.run(kind, "--chunk-size", "256K", server.url, token, str(small_tree))
    assert smaller.returncode == 0, smaller.output


# ----------------------------------------------------------------------------- Ctrl-C
def wait_for_bytes(proxy: FlakyProxy, at_least: int) -> None:
    deadline = time.monotonic() + 60
    while proxy.stats.bytes_up < at_least:
        assert time.monotonic() < deadline, "the upload never got going"
        time.sleep(0.02)


def group_gone(pgid: int, within: float = 15) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    left = subprocess.run(["ps", "-o", "pid,stat,args", "-g", str(pgid)], capture_output=True)
    print(left.stdout.decode())
    return False


@pytest.mark.slow
@pytest.mark.parametrize("source", ["pipe", "directory"])
@pytest.mark.parametrize("kind", KINDS)
def test_ctrl_c_during_a_stream(
    kind: str,
    source: str,
    server: Server,
    customer: Customer,
    big_file: Path,
    big_tree: tuple[Path, dict[str, str]],
    token_file: Path,
) -> None:
    """The pipe is gone with the uploader: it says that this cannot be resumed, exits 130,
    and leaves the partial upload to expire on the server as usual."""
    ticket, token, path = issue(server, token_file)
    port = int(server.url.rsplit(":", 1)[1])
    with FlakyProxy(port, mode="pass", rate=20 << 20) as proxy:
        args = ["--timeout", "10", "--token-file", str(path), proxy.url]
        if source == "pipe":
            feed, uploader = customer.start_pipeline(
                ["cat", str(big_file)], kind, *args, "-", "--name", "big.bin"
            )
        else:
            feed, uploader = customer.start_pipeline(
                ["sleep", "600"], kind, *args, str(big_tree[0])
            )
        wait_for_bytes(proxy, 24 << 20)
        os.killpg(feed.pid, signal.SIGINT)  # Ctrl-C in the terminal: the whole pipeline
        _, stderr = uploader.communicate(timeout=30)
    assert uploader.returncode == 130, stderr[-2000:]
    errors = [line for line in stderr.splitlines() if "interrupted" in line]
    assert len(errors) == 1, stderr
    assert "cannot be resumed" in errors[0] and "another use of the token" in errors[0]
    assert "expires on the server" in errors[0]
    feed.wait(timeout=10)  # reaped: a zombie would still count as a member of the group
    assert group_gone(feed.pid), "a process of the pipeline (tar, curl, sha256sum) lives on"
    (upload,) = server.uploads(ticket)
    assert upload["state"] == "receiving" and int(upload["offset"]) > 0, upload
    assert server.uses(ticket, token) == 1
    assert customer.state_files() == []
