"""The error catalogue rendered by the portal (DESIGN §1: once per surface): every error a
service may raise becomes an HTML page with its status and its message as text, with
Retry-After where the error has one; an ended session leads to sign-in instead. And the
portal behind a path prefix (TUSLOG_PUBLIC_URL with a path) links under that prefix."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web
from markupsafe import escape

from tests.conftest import make_settings
from tests.portal.conftest import PeopleFactory
from tuslog import errors
from tuslog.app import create_app
from tuslog.settings import Settings, SettingsError
from tuslog.web.portal import routes
from tuslog.web.portal.guard import ACCESS, Access


async def boom(request: web.Request) -> web.Response:
    raise errors.CATALOGUE[request.match_info["code"]]()


@pytest.fixture
def raising_route(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """One more public portal route, raising the error named in its path."""
    extra = routes.Route("GET", "/raise/{code}", boom, "test.boom", Access.PUBLIC)
    monkeypatch.setattr(routes, "ROUTES", (*routes.ROUTES, extra))
    yield
    ACCESS.pop("test.boom", None)


async def test_every_catalogued_error_is_an_html_page(
    aiohttp_client: Any, settings: Settings, raising_route: None
) -> None:
    client = await aiohttp_client(create_app(settings))
    for code, definition in sorted(errors.CATALOGUE.items()):
        response = await client.get(f"/staff/raise/{code}", allow_redirects=False)
        text = await response.text()
        if code == errors.SESSION_INVALID.code:
            assert response.status == 303 and response.headers["Location"] == "/staff/signin"
            continue
        assert response.status == definition.status, code
        assert response.content_type == "text/html", code
        assert escape(definition.message) in text, code
        assert f"HTTP {definition.status}" in text
        if definition.retry_after is not None:
            assert response.headers["Retry-After"] == str(definition.retry_after), code
        assert "WWW-Authenticate" not in response.headers  # a page, not a challenge
        assert response.headers["Cache-Control"] == "no-store"


async def test_behind_a_path_prefix(make_people: PeopleFactory) -> None:
    people = await make_people(public_url="https://logs.example.com/tuslog")
    account = await people.create("prefix@example.com")
    browser = await people.browser()
    first = await browser.client.get("/staff/", allow_redirects=False)
    assert first.headers["Location"] == "/tuslog/staff/signin"
    root = await browser.client.get("/", allow_redirects=False)
    assert root.headers["Location"] == "/tuslog/staff/"
    form = await browser.get("/staff/signin")
    assert 'action="/tuslog/staff/signin"' in form.text and '"/tuslog/static/' in form.text
    https = {"Sec-Fetch-Site": "same-origin"}
    response = await browser.client.post(
        "/staff/signin",
        data={"email": account.email, "password": account.password},
        headers=https,
        allow_redirects=False,
    )
    assert response.headers["Location"] == "/tuslog/staff/signin/enrol"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("__Host-tuslog_session=") and "Secure" in cookie
    wrong_site = await browser.client.post(
        "/staff/signin",
        data={"email": account.email, "password": account.password},
        headers={"Origin": "https://other.example.com"},
        allow_redirects=False,
    )
    assert wrong_site.status == 403
    assert (await browser.client.get("/staff/signin")).headers["Strict-Transport-Security"]


def test_settings_refuse_a_warning_above_danger(tmp_path: Any) -> None:
    with pytest.raises(SettingsError, match="TUSLOG_STORAGE_WARNING_PERCENT must not be above"):
        make_settings("sqlite+aiosqlite:///x.db", tmp_path, storage_warning_percent=95)
