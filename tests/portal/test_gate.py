"""The gate: every portal route, discovered from the router (not from the table that
declares them), answers nothing but a redirect to sign-in without a session, and
nothing but a redirect to the code check with only the password; only the routes listed
here are reachable earlier. Administrators' routes refuse staff. A route added later
without an access level is covered by the same walk."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web
from aiohttp.web_urldispatcher import PrefixedSubAppResource

from tests.portal.conftest import Account, Browser, People
from tuslog.web.portal.routes import ROUTES

SAMPLES = {
    "number": "SR-1",
    "upload_id": "0123456789abcdef0123456789abcdef",
    "prefix": "tlu_abcdefgh",
    "email": "someone@example.com",
    "key": "tlk_abcdefgh",
    "webhook_id": "1",
    "delivery_id": "1",
    "entry": "0",
}
# (method, path) that a browser reaches before both factors; nothing else.
OPEN_BEFORE_SIGN_IN = {
    ("GET", "/staff/signin"),
    ("HEAD", "/staff/signin"),
    ("POST", "/staff/signin"),
}
OPEN_WITH_PASSWORD_ONLY = {
    ("GET", "/staff/signin/enrol"),
    ("HEAD", "/staff/signin/enrol"),
    ("POST", "/staff/signin/enrol"),
    ("GET", "/staff/signin/verify"),
    ("HEAD", "/staff/signin/verify"),
    ("POST", "/staff/signin/verify"),
    ("POST", "/staff/signout"),
}
ADMIN_ONLY_PREFIXES = ("/staff/users", "/staff/webhooks")


def portal_route_objects(app: web.Application) -> list[tuple[str, Any]]:
    [portal] = [
        resource.get_info()["app"]
        for resource in app.router.resources()
        if isinstance(resource, PrefixedSubAppResource)
        and resource.get_info()["prefix"] == "/staff"
    ]
    return [(route.method, route) for route in portal.router.routes()]


def portal_routes(app: web.Application) -> list[tuple[str, str]]:
    """(method, concrete path) of every route of the portal sub-app, from its router."""
    found = []
    for method, route in portal_route_objects(app):
        info: dict[str, Any] = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info["formatter"].format(**SAMPLES)
        found.append((method, path))
    return found


async def send(browser: Browser, method: str, path: str) -> int | str:
    """The answer's status, or "→ location" for a redirect."""
    headers = {"Origin": browser.origin}
    response = await browser.client.request(
        method, path, data={"csrf": browser.csrf}, headers=headers, allow_redirects=False
    )
    await response.read()
    if response.status in (301, 302, 303, 307, 308):
        return "→ " + response.headers["Location"].split("?")[0]
    return response.status


async def test_the_walk_covers_every_declared_route(people: People) -> None:
    """The walk is not vacuous: it meets every route of the table, and HEAD beside GET."""
    browser = await people.browser()
    routes = portal_routes(browser.client.app)
    declared = {
        (route.method, "/staff" + re.sub(r"\{(\w+):.*?\}(?=/|$)", r"{\1}", route.path))
        for route in ROUTES
    }
    walked = {
        (method, "/staff" + route.resource.canonical.removeprefix("/staff"))
        for method, route in portal_route_objects(browser.client.app)
        if method != "HEAD" and route.resource is not None
    }
    assert walked == declared
    assert len(routes) > 40 and {method for method, _ in routes} == {"GET", "HEAD", "POST"}


async def test_without_a_session_everything_leads_to_sign_in(people: People) -> None:
    browser = await people.browser()
    answers = {}
    for method, path in portal_routes(browser.client.app):
        if (method, path) not in OPEN_BEFORE_SIGN_IN:
            answers[(method, path)] = await send(browser, method, path)
    assert answers and set(answers.values()) == {"→ /staff/signin"}, answers
    # The open ones are the sign-in form itself.
    assert (await browser.get("/staff/signin")).status == 200
    # Also paths that match no route: no hint of what exists.
    for path in ("/staff/nothing-here", "/staff/tickets/SR-1/nothing", "/staff/users/x/y"):
        assert await send(browser, "GET", path) == "→ /staff/signin"


async def test_with_the_password_only_everything_leads_to_the_code(people: People) -> None:
    for enrolled in (False, True):
        account = await people.create(f"pending{int(enrolled)}@example.com")
        if enrolled:
            await people.sign_in(account)  # enrols; a new browser below is only pending
        browser = await people.browser()
        first = await people.password_step(browser, account)
        assert first.status == 303
        step = "/staff/signin/verify" if enrolled else "/staff/signin/enrol"
        assert first.location == step
        await browser.get(step)  # the page of the pending session: its CSRF token
        answers = {}
        for method, path in portal_routes(browser.client.app):
            if (method, path) in OPEN_BEFORE_SIGN_IN | OPEN_WITH_PASSWORD_ONLY:
                continue
            answers[(method, path)] = await send(browser, method, path)
        assert answers and set(answers.values()) == {"→ /staff/signin/verify"}, answers
        # The second factor is the way on: verify sends a session without TOTP to enrol.
        assert await send(browser, "GET", "/staff/signin/verify") == (
            200 if enrolled else "→ /staff/signin/enrol"
        )


async def test_a_signed_in_user_is_not_sent_back_to_the_steps(
    staff: tuple[Account, Browser],
) -> None:
    _, browser = staff
    for path in ("/staff/signin/enrol", "/staff/signin/verify"):
        assert await send(browser, "GET", path) == "→ /staff/"
    assert (await browser.get("/staff/signin")).status == 303


async def test_admin_routes_refuse_staff(
    people: People, staff: tuple[Account, Browser], admin: tuple[Account, Browser]
) -> None:
    _, staff_browser = staff
    _, admin_browser = admin
    admin_routes = [
        (method, path)
        for method, path in portal_routes(staff_browser.client.app)
        if path.startswith(ADMIN_ONLY_PREFIXES)
    ]
    assert len(admin_routes) >= 14
    for method, path in admin_routes:
        assert await send(staff_browser, method, path) == 403, (method, path)
    page = await staff_browser.get("/staff/users")
    assert page.status == 403 and "Only administrators can do this." in page.text
    dashboard = (await staff_browser.get("/staff/")).text
    assert "/staff/users" not in dashboard and "/staff/webhooks" not in dashboard  # no menu
    assert (await admin_browser.get("/staff/users")).status == 200
    assert (await admin_browser.get("/staff/webhooks")).status == 200


async def test_unknown_pages_of_a_signed_in_user_are_404_pages(
    staff: tuple[Account, Browser],
) -> None:
    _, browser = staff
    page = await browser.get("/staff/nothing-here")
    assert page.status == 404 and "This page does not exist" in page.text
    assert page.response.headers["Content-Type"].startswith("text/html")
    wrong_method = await browser.client.put("/staff/tickets", allow_redirects=False)
    assert wrong_method.status == 405


async def test_root_and_bare_mount_lead_to_the_portal(people: People) -> None:
    browser = await people.browser()
    for path in ("/", "/staff"):
        response = await browser.client.get(path, allow_redirects=False)
        assert response.status == 302 and response.headers["Location"] == "/staff/"
