"""Browser fixtures: Debian's Chromium driven by Playwright (never `playwright install`),
a real `tuslog serve` process (tests/conftest.py) on SQLite or PostgreSQL, and
screenshots under artifacts/screenshots/ (git-ignored) for people to look at.

Without /usr/bin/chromium the browser tests are skipped on a developer's machine and fail
in CI (CI=true), where .ci/run installs it."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import LiveServer

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
def open_page(browser: Any) -> Iterator[Callable[..., Any]]:
    """open_page(viewport=DESKTOP, locale="en-US") → a fresh page in its own context; at
    the end, the test fails if any page hit a script error or a CSP violation."""
    watches: list[PageWatch] = []
    contexts: list[Any] = []

    def open_(viewport: dict[str, int] | None = None, locale: str = "en-US") -> Any:
        context = browser.new_context(viewport=viewport or DESKTOP, locale=locale)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(30_000)
        watch = PageWatch()
        page.on("console", watch.console)
        page.on("pageerror", watch.page_error)
        page.on("dialog", lambda dialog: dialog.accept())  # "leave this page?" on reload
        watches.append(watch)
        return page

    yield open_
    for context in contexts:
        context.close()
    problems = [problem for watch in watches for problem in watch.problems]
    assert not problems, problems


def screenshot(page: Any, name: str) -> Path:
    """artifacts/screenshots/<name>-<width>.png, the whole page."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}-{page.viewport_size['width']}.png"
    page.screenshot(path=path, full_page=True)
    return path


# ----------------------------------------------------------------------------- the server
_tickets = iter(range(1, 10_000))


def new_token(server: LiveServer, *args: str) -> str:
    ticket = f"SR-W{next(_tickets)}"
    server.cli("ticket", "create", ticket, "--title", "browser test")
    issued = json.loads(server.cli("token", "issue", ticket, "--json", *args))
    return str(issued["token"])


def token_record(server: LiveServer, token: str) -> dict[str, Any]:
    prefix = "_".join(token.split("_")[:2])
    records = json.loads(server.cli("token", "list", "--json"))
    return next(record for record in records if record["prefix"] == prefix)


def uploads_of(server: LiveServer, ticket: str) -> list[dict[str, Any]]:
    return list(json.loads(server.cli("upload", "list", ticket, "--json")))


def ticket_of(server: LiveServer, token: str) -> str:
    return str(token_record(server, token)["ticket"])


def make_file(path: Path, size: int) -> Path:
    """Incompressible content, quickly made (one random MiB, each copy stamped)."""
    block = bytearray(os.urandom(1 << 20))
    with open(path, "wb") as handle:
        for index in range(0, size, len(block)):
            block[:8] = index.to_bytes(8, "big")
            handle.write(block[: min(len(block), size - index)])
    return path


def status_kind(page: Any) -> str:
    return str(page.get_attribute("#status", "data-kind") or "")


SECONDS_RE = re.compile(r"(\d+)\s*s\b")
