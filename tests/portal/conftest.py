"""Portal fixtures: the app under aiohttp's test client (real HTTP), a `Browser` that keeps
cookies and posts forms with the CSRF token of the page it last saw (as a browser does),
users signed in through the real pages (password, then TOTP enrolment or a code), and
argon2 with cheap parameters (tests/accounts checks the real ones)."""

from __future__ import annotations

import base64
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pyotp
import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient
from argon2 import PasswordHasher
from sqlalchemy import update

from tests.conftest import make_settings
from tests.conftest import sessions as db_sessions
from tuslog.app import create_app
from tuslog.db.models import User, UserRole
from tuslog.services import accounts, passwords
from tuslog.settings import Settings

PASSWORD = "violet kettle 47 harbour"
ORIGIN_HEADER = "Origin"
_CSRF = re.compile(r'name="csrf" value="([^"]*)"')
_SECRET = re.compile(r'data-secret="([A-Z2-7]+)"')


@pytest.fixture(autouse=True)
def cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        passwords, "HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )


@dataclass
class Page:
    response: ClientResponse
    text: str

    @property
    def status(self) -> int:
        return self.response.status

    @property
    def location(self) -> str:
        return self.response.headers.get("Location", "")

    def csrf(self) -> str:
        found = _CSRF.search(self.text)
        assert found, f"no CSRF field on the page ({self.status}): {self.text[:300]}"
        return unescape(found.group(1))


@dataclass
class Browser:
    """One browser: its own cookie jar; unsafe requests carry Origin like a browser's."""

    client: TestClient
    csrf: str = ""
    last: Page | None = None
    origin: str = field(init=False)

    def __post_init__(self) -> None:
        self.origin = str(self.client.make_url("/")).rstrip("/")

    async def get(self, path: str, **kwargs: Any) -> Page:
        response = await self.client.get(path, allow_redirects=False, **kwargs)
        page = Page(response, await response.text())
        found = _CSRF.search(page.text)
        if found:
            self.csrf = unescape(found.group(1))
        self.last = page
        return page

    async def post(
        self, path: str, data: dict[str, str] | None = None, *, csrf: bool = True, **kwargs: Any
    ) -> Page:
        form = dict(data or {})
        if csrf and "csrf" not in form:
            form["csrf"] = self.csrf
        headers = {ORIGIN_HEADER: self.origin, **kwargs.pop("headers", {})}
        response = await self.client.post(
            path, data=form, headers=headers, allow_redirects=False, **kwargs
        )
        page = Page(response, await response.text())
        found = _CSRF.search(page.text)
        if found:
            self.csrf = unescape(found.group(1))
        self.last = page
        return page


@dataclass
class Account:
    email: str
    password: str = PASSWORD
    secret: str = ""
    recovery_codes: list[str] = field(default_factory=list)


def totp_now(secret: str) -> str:
    return pyotp.TOTP(secret).now()


class People:
    """Creates users in the test's database and signs them in through the pages."""

    def __init__(self, settings: Settings, client_factory: Callable[[], Awaitable[TestClient]]):
        self.settings = settings
        self._client = client_factory

    async def create(self, email: str, *, admin: bool = False) -> Account:
        role = UserRole.ADMIN if admin else UserRole.STAFF
        async with db_sessions(self.settings).begin() as session:
            await accounts.create_user(session, email, PASSWORD, role=role, actor="test")
        return Account(email)

    async def forget_last_code(self, account: Account) -> None:
        """Let the current TOTP step be used again (instead of waiting 30 s for the next
        one): the replay rule itself is tested where it matters."""
        async with db_sessions(self.settings).begin() as session:
            await session.execute(
                update(User).where(User.email == account.email).values(totp_last_step=None)
            )

    async def browser(self) -> Browser:
        return Browser(await self._client())

    async def password_step(self, browser: Browser, account: Account) -> Page:
        await browser.get("/staff/signin")
        return await browser.post(
            "/staff/signin", {"email": account.email, "password": account.password}, csrf=False
        )

    async def sign_in(self, account: Account, browser: Browser | None = None) -> Browser:
        """Both factors through the pages; enrols TOTP at the first sign-in."""
        browser = browser or await self.browser()
        first = await self.password_step(browser, account)
        assert first.status == 303, first.text[:500]
        if "/signin/enrol" in first.location:
            page = await browser.get(first.location)
            account.secret = _SECRET.search(page.text).group(1)  # type: ignore[union-attr]
            done = await browser.post("/staff/signin/enrol", {"code": totp_now(account.secret)})
            assert done.status == 200, done.text[:500]
            account.recovery_codes = re.findall(r"<li>([a-z2-9-]{19})</li>", done.text)
        else:
            await self.forget_last_code(account)
            await browser.get(first.location)
            done = await browser.post("/staff/signin/verify", {"code": totp_now(account.secret)})
            assert done.status == 303, done.text[:500]
        page = await browser.get("/staff/")
        assert page.status == 200, page.text[:500]
        return browser


PeopleFactory = Callable[..., Awaitable[People]]


@pytest.fixture
async def make_people(
    aiohttp_client: Any, database_url: str, tmp_path: Path, assertion_db: None
) -> AsyncIterator[PeopleFactory]:
    """``await make_people(store=None, **settings)``: an app (a worker) with these
    settings (and this Store) on the test's database, and people who use it. Each call is
    another app instance."""
    extra: list[TestClient] = []

    async def make(store: Any = None, **overrides: Any) -> People:
        settings = make_settings(database_url, tmp_path, **overrides)
        app = create_app(settings, store)
        first: list[TestClient] = []

        async def new_client() -> TestClient:
            if not first:
                first.append(await aiohttp_client(app))
                return first[0]
            # Another browser on the same server: a client with its own cookie jar.
            other = TestClient(first[0].server)
            await other.start_server()
            extra.append(other)
            return other

        return People(settings, new_client)

    yield make
    for client in extra:
        await client.close()


@pytest.fixture
async def people(make_people: PeopleFactory) -> People:
    return await make_people()


@pytest.fixture
async def admin(people: People) -> tuple[Account, Browser]:
    account = await people.create("admin@example.com", admin=True)
    return account, await people.sign_in(account)


@pytest.fixture
async def staff(people: People) -> tuple[Account, Browser]:
    account = await people.create("staff@example.com")
    return account, await people.sign_in(account)


# --- tickets, tokens and uploads through the portal and tus -----------------------------------
_TOKEN_ON_PAGE = re.compile(r'id="token-value">(tlu_[A-Za-z0-9_-]+)<')


async def issue_token(browser: Browser, number: str, **form: str) -> str:
    """Open the ticket if needed and issue a token on its page; the token shown once."""
    page = await browser.get(f"/staff/tickets/{quote(number, safe='')}")
    if page.status == 404:
        created = await browser.post("/staff/tickets/new", {"number": number, "title": "test"})
        assert created.status == 303, created.text[:500]
        await browser.get(created.location)
    issued = await browser.post(f"/staff/tickets/{quote(number, safe='')}/tokens", form)
    assert issued.status == 200, issued.text[:1000]
    found = _TOKEN_ON_PAGE.search(issued.text)
    assert found
    return found.group(1)


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


async def tus_upload(
    client: TestClient,
    token: str,
    data: bytes,
    *,
    filename: str = "logs.tar.gz",
    sha256: str | None = None,
    send: int | None = None,
) -> str:
    """A tus creation-with-upload of ``data`` (its first ``send`` bytes); the upload id."""
    metadata = f"filename {_b64(filename)}"
    if sha256 is not None:
        metadata += f",sha256 {_b64(sha256)}"
    body = data if send is None else data[:send]
    response = await client.post(
        "/files/",
        data=body,
        headers={
            "Tus-Resumable": "1.0.0",
            "Authorization": f"Bearer {token}",
            "Upload-Length": str(len(data)),
            "Upload-Metadata": metadata,
            "Content-Type": "application/offset+octet-stream",
        },
    )
    assert response.status == 201, await response.text()
    assert int(response.headers["Upload-Offset"]) == len(body)
    return response.headers["Location"].rstrip("/").rsplit("/", 1)[1]
