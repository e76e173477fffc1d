"""Shared fixtures: a migrated database per test (SQLite, or PostgreSQL when
TUSLOG_TEST_DATABASE_URL is set), settings, the app under aiohttp's test client, tokens,
and a real `tuslog serve` process for end-to-end tests."""

import asyncio
import os
import resource
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tests import dbs
from tuslog.app import create_app
from tuslog.db.engine import create_engine, session_factory
from tuslog.services import tickets, tokens
from tuslog.settings import Settings, load_settings


@pytest.fixture(scope="session")
def postgres() -> Iterator[dbs.PostgresDatabases | None]:
    base = dbs.pg_base_url()
    if base is None:
        yield None
        return
    databases = dbs.PostgresDatabases(base)
    asyncio.run(databases.setup())
    yield databases
    asyncio.run(databases.teardown())


@pytest.fixture
async def database_url(postgres: dbs.PostgresDatabases | None, tmp_path: Path) -> str:
    if postgres is not None:
        return await postgres.new()
    return await dbs.new_sqlite(tmp_path)


def make_settings(database_url: str, tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "storage_dir": tmp_path / "uploads",
        "min_free_space": 0,
        "janitor_interval": 3600,
        "checkpoint_seconds": 0.5,
        "checkpoint_bytes": 8 * 1024 * 1024,
    }
    values.update(overrides)
    return load_settings(**values)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path)


_ENGINES: dict[str, AsyncEngine] = {}


@pytest.fixture
async def assertion_db(database_url: str) -> AsyncIterator[None]:
    """One engine per test for a test's own queries (a new one per query is slow)."""
    engine = create_engine(database_url)
    _ENGINES[database_url] = engine
    yield
    del _ENGINES[database_url]
    await engine.dispose()


def sessions(settings: Settings) -> async_sessionmaker[AsyncSession]:
    """Sessions on the test's database; needs the ``assertion_db`` fixture."""
    return session_factory(_ENGINES[settings.database_url])


@pytest.fixture
async def client(aiohttp_client: Any, settings: Settings) -> TestClient:
    return await aiohttp_client(create_app(settings))


@dataclass
class Issued:
    token: str
    prefix: str
    ticket: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Tus-Resumable": "1.0.0"}


async def issue_token(
    settings: Settings, ticket: str = "SR-1", uploads: int = 1, **kwargs: Any
) -> Issued:
    engine = create_engine(settings.database_url)
    try:
        async with session_factory(engine).begin() as session:
            try:
                await tickets.get(session, ticket)
            except Exception:
                await tickets.create(session, ticket, title="test", actor="test")
            issued = await tokens.issue(
                session,
                ticket,
                uploads=uploads,
                ttl=kwargs.pop("ttl", settings.token_ttl),
                max_bytes=kwargs.pop("max_bytes", None),
                actor="test",
            )
    finally:
        await engine.dispose()
    return Issued(issued.token, issued.record.prefix, ticket)


@pytest.fixture
async def issued(settings: Settings) -> Issued:
    return await issue_token(settings)


# --- real server processes ------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    url: str
    port: int
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    log_path: Path

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "tuslog", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return done.stdout

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


def start_server(
    env: dict[str, str], port: int, log_path: Path, *extra: str, open_files: int | None = None
) -> LiveServer:
    """``tuslog serve``; ``open_files``: its (hard) limit of open file descriptors."""

    def limit_files() -> None:
        if open_files is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, open_files))

    log = open(log_path, "ab")  # noqa: SIM115 - lives as long as the process
    process = subprocess.Popen(
        [sys.executable, "-m", "tuslog", "serve", "--port", str(port), *extra],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=limit_files,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"tuslog serve exited: {log_path.read_text()[-2000:]}")
        try:
            if requests.get(f"{url}/healthz", timeout=1).status_code == 200:
                return LiveServer(url, port, env, process, log_path)
        except requests.RequestException:  # refused, or accepted before a worker is up
            pass
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"tuslog serve did not start: {log_path.read_text()[-2000:]}")


def server_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TUSLOG_")}
    env.update(
        {
            "TUSLOG_DATABASE_URL": settings.database_url,
            "TUSLOG_STORAGE_DIR": str(settings.storage_dir),
            "TUSLOG_MIN_FREE_SPACE": "0",
            "TUSLOG_LOG_LEVEL": "INFO",
        }
    )
    env.update(extra)
    return env


@pytest.fixture
def live_server(settings: Settings, tmp_path: Path) -> Iterator[LiveServer]:
    server = start_server(server_env(settings), free_port(), tmp_path / "server.log")
    yield server
    server.stop()


@pytest.fixture
async def live_token(live_server: LiveServer, settings: Settings) -> AsyncIterator[Issued]:
    yield await issue_token(settings)
