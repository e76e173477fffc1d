"""Fixtures for the customer uploader tests: a real `tuslog serve` process (SQLite, or a
fresh PostgreSQL database when TUSLOG_TEST_DATABASE_URL is set), the `tuslog` CLI for
tickets and tokens, a customer environment (own HOME and state directory) that runs
scripts/uploader.sh under dash and bash and scripts/uploader.py, and test files."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import start_server as start_live_server

ROOT = Path(__file__).resolve().parents[2]
SH = ROOT / "scripts" / "uploader.sh"
PY = ROOT / "scripts" / "uploader.py"
KINDS = ["dash", "bash", "python"]
BIG_SIZE = 200 * 1024 * 1024
BIG_NAME = "big log 2024 ü 日本.bin"
_tickets = itertools.count(1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def write_file(path: Path, size: int, seed: int = 0) -> Path:
    """Incompressible, quickly made: one random MiB, each copy stamped with a counter."""
    block = bytearray(os.urandom(1 << 20))
    with open(path, "wb") as handle:
        for index in range(0, size, len(block)):
            block[:16] = (index + seed).to_bytes(16, "big")
            handle.write(block[: min(len(block), size - index)])
    return path


# ----------------------------------------------------------------------------- database
class Database:
    """SQLite in the temp dir, or a fresh PostgreSQL database for this test session."""

    def __init__(self, tmp: Path) -> None:
        base = os.environ.get("TUSLOG_TEST_DATABASE_URL", "").strip()
        self.pg_name: str | None = None
        self._admin: str | None = None
        if base.startswith("postgresql"):
            from sqlalchemy.engine import make_url

            url = make_url(base)
            self.pg_name = f"tuslog_uploaders_{secrets.token_hex(4)}"
            self._admin = (
                url.set(drivername="postgresql", database=url.database or "postgres")
            ).render_as_string(hide_password=False)
            asyncio.run(self._execute(f'CREATE DATABASE "{self.pg_name}"'))
            self.url = url.set(database=self.pg_name).render_as_string(hide_password=False)
        else:
            self.url = f"sqlite+aiosqlite:///{tmp / 'db.sqlite3'}"

    async def _execute(self, sql: str) -> None:
        import asyncpg

        conn = await asyncpg.connect(self._admin)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    def drop(self) -> None:
        if self.pg_name:
            asyncio.run(self._execute(f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)'))


# ----------------------------------------------------------------------------- server
@dataclass
class Server:
    url: str
    env: dict[str, str]
    storage: Path
    process: subprocess.Popen[bytes]
    log: Path

    def cli(self, *args: str) -> Any:
        done = subprocess.run(
            [sys.executable, "-m", "tuslog", *args, "--json"],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    def ticket(self) -> str:
        number = f"UP-{os.getpid()}-{next(_tickets)}"
        self.cli("ticket", "create", number, "--title", "uploader test")
        return number

    def token(self, ticket: str, *extra: str) -> str:
        token = self.cli("token", "issue", ticket, "--uploads", "1", *extra)["token"]
        assert isinstance(token, str)
        return token

    def uploads(self, ticket: str) -> list[dict[str, Any]]:
        result = self.cli("upload", "list", ticket)
        assert isinstance(result, list)
        return result

    def uses(self, ticket: str, token: str) -> int:
        prefix = token[:12]
        (entry,) = [t for t in self.cli("token", "list", ticket) if t["prefix"] == prefix]
        return int(entry["uses"])

    def stored(self, upload_id: str) -> Path:
        (path,) = [p for p in self.storage.rglob(upload_id) if ".locks" not in p.parts]
        return path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def start_server(tmp: Path, database: Database, **settings: str) -> Server:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TUSLOG_")}
    env.update(
        {
            "TUSLOG_DATABASE_URL": database.url,
            "TUSLOG_STORAGE_DIR": str(tmp / "uploads"),
            "TUSLOG_MIN_FREE_SPACE": "0",
            "TUSLOG_AUTH_FAILURE_LIMIT": "10000",
            **settings,
        }
    )
    log = tmp / "server.log"
    live = start_live_server(env, port, log)
    return Server(live.url, env, tmp / "uploads", live.process, log)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("uploader-server")
    database = Database(tmp)
    live = start_server(tmp, database)
    yield live
    live.stop()
    database.drop()


@pytest.fixture(scope="session")
def full_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server whose disk never has room: every creation gets 507."""
    tmp = tmp_path_factory.mktemp("uploader-full-server")
    database = Database(tmp)
    live = start_server(tmp, database, TUSLOG_MIN_FREE_SPACE="1000000G")
    yield live
    live.stop()
    database.drop()


# ----------------------------------------------------------------------------- customer
@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str
    elapsed: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def command(kind: str) -> list[str]:
    if kind == "python":
        return [sys.executable, str(PY)]
    return [kind, str(SH)]


def _default_signals() -> None:
    """A terminal's program gets SIGINT/SIGTERM as usual, even when these tests run under
    a non-interactive shell that started them in the background (which ignores SIGINT, and
    the child would inherit that; a shell cannot trap a signal ignored on entry)."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)


class Customer:
    """One customer machine: its own HOME and state directory, no proxy settings."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.state_dir = home / "state" / "tuslog"
        env = {
            k: v
            for k, v in os.environ.items()
            if "proxy" not in k.lower() and not k.startswith("TUSLOG_")
        }
        env.update(
            HOME=str(home),
            XDG_STATE_HOME=str(home / "state"),
            LC_ALL="C.UTF-8",
            PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        )
        self.env = env
        self._running: list[subprocess.Popen[str]] = []
        self._groups: list[subprocess.Popen[bytes]] = []

    def run(self, kind: str, *args: str, timeout: float = 120, stdin: str | None = None) -> Result:
        started = time.monotonic()
        done = subprocess.run(
            [*command(kind), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            input=stdin,
            stdin=None if stdin is not None else subprocess.DEVNULL,
        )
        return Result(done.returncode, done.stdout, done.stderr, time.monotonic() - started)

    def shell(
        self, script: str, cwd: Path, timeout: float = 120, stdin: str | None = None
    ) -> Result:
        started = time.monotonic()
        done = subprocess.run(
            ["sh", "-c", script],
            env=self.env,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            input=stdin,
            stdin=None if stdin is not None else subprocess.DEVNULL,
        )
        return Result(done.returncode, done.stdout, done.stderr, time.monotonic() - started)

    def start(self, kind: str, *args: str) -> subprocess.Popen[str]:
        """In its own session (process group), like a program in a terminal."""
        process = subprocess.Popen(
            [*command(kind), *args],
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
            preexec_fn=_default_signals,
        )
        self._running.append(process)
        return process

    def pipe(
        self,
        producer: list[str],
        kind: str,
        *args: str,
        cwd: Path | None = None,
        timeout: float = 300,
    ) -> Result:
        """``producer | uploader ARGS``: the uploader reads a real pipe."""
        started = time.monotonic()
        feed = subprocess.Popen(producer, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        assert feed.stdout is not None
        try:
            done = subprocess.run(
                [*command(kind), *args],
                env=self.env,
                cwd=cwd,
                stdin=feed.stdout,
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        finally:
            feed.stdout.close()
            feed.kill()
            feed.wait(timeout=10)
        return Result(done.returncode, done.stdout, done.stderr, time.monotonic() - started)

    def start_pipeline(
        self, producer: list[str], kind: str, *args: str
    ) -> tuple[subprocess.Popen[bytes], subprocess.Popen[str]]:
        """``producer | uploader ARGS`` in one new process group, as a shell in a terminal
        runs a pipeline: a Ctrl-C (SIGINT to the group) reaches both."""
        feed = subprocess.Popen(
            producer,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            process_group=0,  # a new group in this session, which the uploader can join
            preexec_fn=_default_signals,
        )
        assert feed.stdout is not None
        uploader = subprocess.Popen(
            [*command(kind), *args],
            env=self.env,
            stdin=feed.stdout,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            process_group=feed.pid,
            preexec_fn=_default_signals,
        )
        feed.stdout.close()
        self._running.append(uploader)
        self._groups.append(feed)
        return feed, uploader

    def state_files(self) -> list[Path]:
        return sorted(self.state_dir.glob("*.upload")) if self.state_dir.exists() else []

    def state_key(self, base_url: str, token: str, sha256: str) -> Path:
        """Where both uploaders keep the upload URL for (server, token, file)."""
        key = hashlib.sha256(
            f"tuslog-upload-v1\n{base_url}/files/\n{token}\n{sha256}\n".encode()
        ).hexdigest()
        return self.state_dir / f"{key}.upload"

    def cleanup(self) -> None:
        for leader in self._groups:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(leader.pid, signal.SIGKILL)
            leader.wait(timeout=10)
        for process in self._running:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(os.getpgid(process.pid), signal.SIGKILL)
                process.wait(timeout=10)
            for stream in (process.stdout, process.stderr):
                if stream is not None:
                    stream.close()


@pytest.fixture
def customer(tmp_path: Path) -> Iterator[Customer]:
    home = tmp_path / "home"
    home.mkdir()
    person = Customer(home)
    yield person
    person.cleanup()


@pytest.fixture(scope="session")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_file(tmp_path_factory.mktemp("big") / BIG_NAME, BIG_SIZE)
