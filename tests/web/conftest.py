"""Browser fixtures: Debian's Chromium driven by Playwright (never `playwright install`),
a real `tuslog serve` process (tests/conftest.py) on SQLite or PostgreSQL, and
screenshots under artifacts/screenshots/ (git-ignored) for people to look at.

Without /usr/bin/chromium the browser tests are skipped on a developer's machine and fail
in CI (CI=true), where .ci/run installs it."""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests import dbs
from tests.conftest import LiveServer, free_port, make_settings, server_env, start_server
from tuslog.db.engine import create_engine, session_factory
from tuslog.db.models import Upload, UploadToken
from tuslog.services import tickets, tokens
from tuslog.settings import Settings
from tuslog.uploads import records

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM = os.environ.get("TUSLOG_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


def _require_chromium() -> None:
    if shutil.which(CHROMIUM) or Path(CHROMIUM).is_file():
        return
    message = f"{CHROMIUM} is missing: apt-get install -y chromium (or set TUSLOG_CHROMIUM)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@dataclass
class PageWatch:
    """What a page said that a customer would never see but a test must: script errors
    and Content-Security-Policy violations."""

    problems: list[str] = field(default_factory=list)

    def console(self, message: Any) -> None:
        if "Content Security Policy" in message.text or "Refused to" in message.text:
            self.problems.append(f"console: {message.text}")

    def page_error(self, error: Any) -> None:
        self.problems.append(f"page error: {error}")


@pytest.fixture
def playwright() -> Iterator[Any]:
    _require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as instance:
        yield instance


def watch_page(page: Any) -> PageWatch:
    watch = PageWatch()
    page.set_default_timeout(30_000)
    page.on("console", watch.console)
    page.on("pageerror", watch.page_error)
    page.on("dialog", lambda dialog: dialog.accept())  # "leave this page?" on reload
    return watch


@pytest.fixture
def browser() -> Iterator[Any]:
    """One Chromium per test: the sync Playwright API keeps its own event loop, which
    must not outlive the test next to pytest-asyncio's."""
    _require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def open_page(browser: Any) -> Iterator[Callable[..., Any]]:
    """open_page(viewport=DESKTOP, locale="en-US") → a fresh page in its own context; at
    the end, the test fails if any page hit a script error or a CSP violation."""
    watches: list[PageWatch] = []
    contexts: list[Any] = []

    def open_(viewport: dict[str, int] | None = None, locale: str = "en-US") -> Any:
        phone = viewport is PHONE
        context = browser.new_context(
            viewport=viewport or DESKTOP, locale=locale, is_mobile=phone, has_touch=phone
        )
        contexts.append(context)
        page = context.new_page()
        watches.append(watch_page(page))
        return page

    yield open_
    for context in contexts:
        context.close()
    problems = [problem for watch in watches for problem in watch.problems]
    assert not problems, problems


def screenshot(page: Any, name: str) -> Path:
    """artifacts/screenshots/<name>-<width>.png, the whole page. The viewport is made as
    tall as the page instead of Playwright's full_page, which drops the phone's touch
    emulation while it shoots (and with it the page's touch-screen layout)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    size = dict(page.viewport_size)
    path = SCREENSHOTS / f"{name}-{size['width']}.png"
    height = page.evaluate("() => document.documentElement.scrollHeight")
    page.set_viewport_size({"width": size["width"], "height": max(height, size["height"])})
    try:
        page.screenshot(path=path)
    finally:
        page.set_viewport_size(size)
    return path


# ----------------------------------------------------------------------------- staff side
@dataclass
class Issued:
    token: str
    prefix: str
    ticket: str


class Staff:
    """What support staff do, through the same services as the `tuslog` command, on the
    test server's database (a command-line process per step would cost a second each)."""

    _tickets = itertools.count(1)

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def _run(self, work: Callable[[AsyncSession], Awaitable[Any]]) -> Any:
        async def main() -> Any:
            engine = create_engine(self.settings.database_url)
            try:
                async with session_factory(engine).begin() as session:
                    return await work(session)
            finally:
                await engine.dispose()

        # A thread of its own: Playwright's sync API keeps an event loop running here.
        return _in_thread(main())

    def issue(self, uploads: int = 1, ttl: timedelta = timedelta(days=1)) -> Issued:
        ticket = f"SR-W{next(self._tickets)}"

        async def work(session: AsyncSession) -> Issued:
            await tickets.create(session, ticket, title="browser test", actor="test")
            issued = await tokens.issue(
                session, ticket, uploads=uploads, ttl=ttl, max_bytes=None, actor="test"
            )
            return Issued(issued.token, issued.record.prefix, ticket)

        return cast(Issued, self._run(work))

    def revoke(self, issued: Issued) -> None:
        self._run(lambda session: tokens.revoke(session, issued.prefix, actor="test"))

    def token(self, issued: Issued) -> UploadToken:
        async def work(session: AsyncSession) -> UploadToken | None:
            query = select(UploadToken).where(UploadToken.prefix == issued.prefix)
            return await session.scalar(query)

        return cast(UploadToken, self._run(work))

    def uploads(self, issued: Issued) -> list[Upload]:
        async def work(session: AsyncSession) -> list[Upload]:
            ticket = await tickets.get(session, issued.ticket)
            return [upload for upload, _ in await records.list_for(session, ticket.id)]

        return cast(list[Upload], self._run(work))


def _in_thread(work: Awaitable[Any]) -> Any:
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, work).result(timeout=120)  # type: ignore[arg-type]


@dataclass
class WebServer:
    server: LiveServer
    settings: Settings

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def port(self) -> int:
        return self.server.port

    def log_since(self, mark: int) -> str:
        return self.server.log_path.read_text()[mark:]

    def log_mark(self) -> int:
        return len(self.server.log_path.read_text())


@pytest.fixture(scope="module")
def web_server(
    postgres: dbs.PostgresDatabases | None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WebServer]:
    """One `tuslog serve` per test module (starting one costs seconds); every test makes
    its own ticket and token. The failed-token limit is raised: the tests of refused
    tokens would otherwise add up to the real limit of one client address."""
    tmp = tmp_path_factory.mktemp("web")
    url = _in_thread(postgres.new() if postgres is not None else dbs.new_sqlite(tmp))
    settings = make_settings(url, tmp)
    env = server_env(settings, TUSLOG_AUTH_FAILURE_LIMIT="1000")
    server = start_server(env, free_port(), tmp / "server.log")
    yield WebServer(server, settings)
    server.stop()


@pytest.fixture
def staff(web_server: WebServer) -> Staff:
    return Staff(web_server.settings)


def make_file(path: Path, size: int) -> Path:
    """Incompressible content, quickly made (one random MiB, each copy stamped)."""
    block = bytearray(os.urandom(1 << 20))
    with open(path, "wb") as handle:
        for index in range(0, size, len(block)):
            block[:8] = index.to_bytes(8, "big")
            handle.write(block[: min(len(block), size - index)])
    return path
