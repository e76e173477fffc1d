"""Every unsafe portal request is checked: the session's CSRF token (missing, wrong, or
another session's is refused), the origin (cross-site Origin or Sec-Fetch-Site is
refused, also on the sign-in form, which has no session yet). And every portal page
leaves with a strict policy: no inline code or style, only our own files."""

from __future__ import annotations

from html.parser import HTMLParser

from tests.portal.conftest import Account, Browser, People
from tuslog.web.pages import PAGE_CSP


class Markup(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "script" and not values.get("src"):
            self.problems.append("inline script")
        if tag == "style":
            self.problems.append("style element")
        for name, value in attrs:
            if name == "style":
                self.problems.append(f"style attribute on {tag}")
            if name.startswith("on"):
                self.problems.append(f"{name} handler on {tag}")
            external = value and "://" in value and not value.startswith("otpauth://")
            if name in ("src", "href", "action") and external:
                self.problems.append(f"absolute URL {value}")
        if tag in ("script", "link", "img") and (values.get("src") or values.get("href")):
            self.urls.append(str(values.get("src") or values.get("href")))


async def test_a_form_without_the_token_is_refused(staff: tuple[Account, Browser]) -> None:
    _, browser = staff
    await browser.get("/staff/tickets/new")
    missing = await browser.post("/staff/tickets/new", {"number": "SR-1"}, csrf=False)
    assert missing.status == 403 and "reload the page and retry" in missing.text
    wrong = await browser.post("/staff/tickets/new", {"number": "SR-1", "csrf": "x" * 43})
    assert wrong.status == 403
    assert (await browser.get("/staff/tickets?q=SR-1")).text.count("SR-1</a>") == 0
    ok = await browser.post("/staff/tickets/new", {"number": "SR-1"})
    assert ok.status == 303


async def test_another_sessions_token_is_refused(people: People) -> None:
    alice, bob = await people.create("alice@example.com"), await people.create("bob@example.com")
    alice_browser = await people.sign_in(alice)
    bob_browser = await people.sign_in(bob)
    stolen = alice_browser.csrf
    assert stolen and stolen != bob_browser.csrf
    page = await bob_browser.post("/staff/tickets/new", {"number": "SR-2", "csrf": stolen})
    assert page.status == 403


async def test_the_token_also_works_as_a_header(staff: tuple[Account, Browser]) -> None:
    _, browser = staff
    response = await browser.client.post(
        "/staff/tickets/new",
        data={"number": "SR-3"},
        headers={"X-CSRF-Token": browser.csrf, "Origin": browser.origin},
        allow_redirects=False,
    )
    assert response.status == 303


async def test_cross_site_requests_are_refused_even_with_the_token(
    staff: tuple[Account, Browser],
) -> None:
    _, browser = staff
    for headers in (
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
    ):
        page = await browser.post("/staff/tickets/new", {"number": "SR-4"}, headers=headers)
        assert page.status == 403, headers
    # Chromium's same-origin form under a strict referrer policy: Origin null, and
    # Sec-Fetch-Site (which pages cannot forge) says same-origin.
    same = await browser.post(
        "/staff/tickets/new",
        {"number": "SR-4"},
        headers={"Sec-Fetch-Site": "same-origin", "Origin": "null"},
    )
    assert same.status == 303


async def test_the_sign_in_form_checks_where_it_was_posted_from(people: People) -> None:
    account = await people.create("origin@example.com")
    browser = await people.browser()
    form = {"email": account.email, "password": account.password}
    for headers in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        page = await browser.post("/staff/signin", form, csrf=False, headers=headers)
        assert page.status == 403 and "Set-Cookie" not in page.response.headers, headers
    assert (await browser.post("/staff/signin", form, csrf=False)).status == 303


async def test_a_pending_session_needs_its_token_too(people: People) -> None:
    account = await people.create("pending@example.com")
    await people.sign_in(account)
    browser = await people.browser()
    await people.password_step(browser, account)
    page = await browser.post("/staff/signin/verify", {"code": "123456"}, csrf=False)
    assert page.status == 403


async def test_every_page_has_strict_headers_and_no_inline_code(
    people: People, admin: tuple[Account, Browser]
) -> None:
    _, browser = admin
    anonymous = await people.browser()
    # A German browser: the portal is in English, and its pages say so.
    before = [await anonymous.get("/staff/signin", headers={"Accept-Language": "de"})]
    pending_account = await people.create("steps@example.com")
    pending = await people.browser()
    await people.password_step(pending, pending_account)
    before.append(await pending.get("/staff/signin/enrol"))
    await browser.post("/staff/tickets/new", {"number": "SR-9", "title": "headers"})
    issued = await browser.post("/staff/tickets/SR-9/tokens", {"uploads": "1"})
    assert issued.status == 200
    paths = [
        "/staff/",
        "/staff/tickets",
        "/staff/tickets/new",
        "/staff/tickets/SR-9",
        "/staff/tickets/SR-9/edit",
        "/staff/tickets/SR-9/delete",
        "/staff/uploads",
        "/staff/audit",
        "/staff/users",
        "/staff/profile",
        "/staff/nothing",
    ]
    pages = [*before, issued] + [await browser.get(path) for path in paths]
    for page in pages:
        headers = page.response.headers
        assert headers["Content-Security-Policy"] == PAGE_CSP
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "same-origin"
        assert headers["Cache-Control"] == "no-store"
        assert "Strict-Transport-Security" not in headers  # plain http here
        markup = Markup()
        markup.feed(page.text)
        assert not markup.problems, (page.response.url, markup.problems)
        assert markup.urls and all(url.startswith("/static/") for url in markup.urls)
        assert "<title>" in page.text and "· tuslog staff</title>" in page.text
        assert '<html lang="en">' in page.text and headers["Content-Language"] == "en"
