"""Signing in over HTTP: the two steps, enrolment, cookies and their flags, the session id
rotated at every step, rate limits under concurrency (with Retry-After), a TOTP code
that two workers cannot both accept, recovery codes, sign-out, the other sessions, and
an administrator taking access away."""

from __future__ import annotations

import asyncio
import re
from http.cookies import SimpleCookie

import pyotp

from tests.portal.conftest import Account, Browser, People, PeopleFactory, totp_now

COOKIE = "tuslog_session"


def set_cookie(page_headers: object, name: str = COOKIE) -> str:
    """The Set-Cookie header line for ``name``."""
    lines = [
        line
        for line in page_headers.getall("Set-Cookie", [])  # type: ignore[attr-defined]
        if line.startswith(f"{name}=")
    ]
    assert len(lines) == 1, lines
    return str(lines[0])


def cookie_value(line: str) -> str:
    parsed = SimpleCookie()
    parsed.load(line)
    [morsel] = parsed.values()
    return morsel.value


async def test_first_sign_in_enrols_totp_and_shows_recovery_codes_once(people: People) -> None:
    account = await people.create("new@example.com")
    browser = await people.browser()
    first = await people.password_step(browser, account)
    assert first.status == 303 and first.location == "/staff/signin/enrol"
    pending_cookie = set_cookie(first.response.headers)
    for flag in ("HttpOnly", "SameSite=Strict", "Path=/"):
        assert flag in pending_cookie
    assert "Secure" not in pending_cookie  # plain http here; see the https test
    enrol = await browser.get("/staff/signin/enrol")
    assert enrol.status == 200 and "<svg" in enrol.text and "otpauth://totp/" in enrol.text
    secret = re.search(r'data-secret="([A-Z2-7]{32})"', enrol.text).group(1)  # type: ignore[union-attr]
    grouped = " ".join(secret[i : i + 4] for i in range(0, 32, 4))
    assert grouped in enrol.text  # the key as text, for typing in
    again = await browser.get("/staff/signin/enrol")
    assert secret in again.text  # a reload shows the same secret

    wrong = await browser.post("/staff/signin/enrol", {"code": "000000"})
    assert wrong.status == 422 and "That code is wrong" in wrong.text
    done = await browser.post("/staff/signin/enrol", {"code": pyotp.TOTP(secret).now()})
    assert done.status == 200
    codes = re.findall(r"<li>([a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4})</li>", done.text)
    assert len(set(codes)) == 10
    assert done.response.headers["Cache-Control"] == "no-store"
    signed_cookie = cookie_value(set_cookie(done.response.headers))
    assert signed_cookie != cookie_value(pending_cookie)  # rotated
    dashboard = await browser.get("/staff/")
    assert dashboard.status == 200 and "new@example.com" in dashboard.text
    assert not any(code in dashboard.text for code in codes)  # shown once


async def test_the_session_id_changes_at_each_step_and_old_ids_die(people: People) -> None:
    account = await people.create("rot@example.com")
    await people.sign_in(account)
    browser = await people.browser()
    first = await people.password_step(browser, account)
    pending_id = cookie_value(set_cookie(first.response.headers))
    await people.forget_last_code(account)
    await browser.get("/staff/signin/verify")
    done = await browser.post("/staff/signin/verify", {"code": totp_now(account.secret)})
    assert done.status == 303 and done.location == "/staff/"
    signed_id = cookie_value(set_cookie(done.response.headers))
    assert signed_id != pending_id
    # The pending id no longer opens anything.
    stale = await people.browser()
    response = await stale.client.get(
        "/staff/signin/verify", headers={"Cookie": f"{COOKIE}={pending_id}"}, allow_redirects=False
    )
    assert response.status == 303 and response.headers["Location"] == "/staff/signin"
    # A new sign-in in the same browser replaces the old session (no fixation).
    again = await people.password_step(browser, account)
    assert cookie_value(set_cookie(again.response.headers)) not in (pending_id, signed_id)
    old = await stale.client.get(
        "/staff/", headers={"Cookie": f"{COOKIE}={signed_id}"}, allow_redirects=False
    )
    assert old.status == 303


async def test_over_https_the_cookie_is_secure_and_hsts_is_sent(
    make_people: PeopleFactory,
) -> None:
    people = await make_people(trusted_proxies="127.0.0.1/32")
    account = await people.create("tls@example.com")
    browser = await people.browser()
    https = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.9"}
    host = browser.origin.removeprefix("http://")
    form = await browser.client.get("/staff/signin", headers=https)
    assert form.headers["Strict-Transport-Security"].startswith("max-age=")
    response = await browser.client.post(
        "/staff/signin",
        data={"email": account.email, "password": account.password},
        headers={**https, "Origin": f"https://{host}"},
        allow_redirects=False,
    )
    assert response.status == 303
    line = set_cookie(response.headers, "__Host-tuslog_session")
    for flag in ("Secure", "HttpOnly", "SameSite=Strict", "Path=/"):
        assert flag in line
    assert "Domain" not in line
    # The same sign-in from an http origin is refused as cross-site.
    refused = await browser.client.post(
        "/staff/signin",
        data={"email": account.email, "password": account.password},
        headers={**https, "Origin": f"http://{host}"},
        allow_redirects=False,
    )
    assert refused.status == 403


async def test_wrong_passwords_are_limited_under_concurrency(make_people: PeopleFactory) -> None:
    people = await make_people(signin_failure_limit=4)
    account = await people.create("target@example.com")
    browsers = [await people.browser() for _ in range(10)]

    async def attempt(browser: Browser) -> tuple[int, str | None, str]:
        page = await browser.post(
            "/staff/signin", {"email": account.email, "password": "wrong " * 3}, csrf=False
        )
        return page.status, page.response.headers.get("Retry-After"), page.text

    results = await asyncio.gather(*(attempt(browser) for browser in browsers))
    statuses = sorted(status for status, _, _ in results)
    assert statuses == [422] * 4 + [429] * 6
    for status, retry_after, text in results:
        if status == 422:
            assert "Wrong email or password." in text and retry_after is None
        else:
            assert retry_after is not None and 800 < int(retry_after) <= 901  # 15 min, rounded up
            assert re.search(r"Too many failed attempts; try again in 1[56] minutes\.", text)
    # Locked means locked: the right password is refused too, with the same message.
    right = await people.password_step(browsers[0], account)
    assert right.status == 429 and right.response.headers["Retry-After"]


async def test_one_address_is_limited_across_accounts(make_people: PeopleFactory) -> None:
    people = await make_people(signin_ip_failure_limit=3)
    browsers = [await people.browser() for _ in range(5)]
    pages = await asyncio.gather(
        *(
            browser.post(
                "/staff/signin",
                {"email": f"guess{n}@example.com", "password": "wrong wrong wrong"},
                csrf=False,
            )
            for n, browser in enumerate(browsers)
        )
    )
    assert sorted(page.status for page in pages) == [422, 422, 422, 429, 429]
    assert all(page.response.headers.get("Retry-After") for page in pages if page.status == 429)


async def test_an_unknown_email_looks_like_a_wrong_password(people: People) -> None:
    await people.create("real@example.com")
    browser = await people.browser()
    unknown = await browser.post(
        "/staff/signin", {"email": "ghost@example.com", "password": "whatever 1234"}, csrf=False
    )
    wrong = await browser.post(
        "/staff/signin", {"email": "real@example.com", "password": "whatever 1234"}, csrf=False
    )
    assert unknown.status == wrong.status == 422
    assert "Wrong email or password." in unknown.text and "Wrong email or password." in wrong.text
    assert 'value="ghost@example.com"' in unknown.text  # kept for correcting a typo
    assert "whatever 1234" not in unknown.text  # the password never comes back


async def test_wrong_codes_are_limited(make_people: PeopleFactory) -> None:
    people = await make_people(second_factor_failure_limit=3)
    account = await people.create("codes@example.com")
    await people.sign_in(account)
    browser = await people.browser()
    await people.password_step(browser, account)
    await browser.get("/staff/signin/verify")
    statuses = []
    for _ in range(4):
        page = await browser.post("/staff/signin/verify", {"code": "123456"})
        statuses.append(page.status)
    assert statuses == [422, 422, 422, 429]
    assert page.response.headers["Retry-After"]


async def test_a_code_is_accepted_once_across_two_workers(make_people: PeopleFactory) -> None:
    worker_a, worker_b = await make_people(), await make_people()
    account = await worker_a.create("replay@example.com")
    await worker_a.sign_in(account)
    await worker_a.forget_last_code(account)
    browsers = [await worker_a.browser(), await worker_b.browser()]
    for people, browser in zip((worker_a, worker_b), browsers, strict=True):
        assert (await people.password_step(browser, account)).status == 303
        await browser.get("/staff/signin/verify")
    code = totp_now(account.secret)
    pages = await asyncio.gather(
        *(browser.post("/staff/signin/verify", {"code": code}) for browser in browsers)
    )
    assert sorted(page.status for page in pages) == [303, 422]
    [refused] = [page for page in pages if page.status == 422]
    assert "already used" in refused.text
    # Sequentially too: a third session cannot reuse the code either.
    third = await worker_b.browser()
    await worker_b.password_step(third, account)
    await third.get("/staff/signin/verify")
    assert (await third.post("/staff/signin/verify", {"code": code})).status == 422


async def test_a_recovery_code_signs_in_once(people: People) -> None:
    account = await people.create("lost@example.com")
    await people.sign_in(account)
    code = account.recovery_codes[3]
    browser = await people.browser()
    await people.password_step(browser, account)
    await browser.get("/staff/signin/verify")
    done = await browser.post("/staff/signin/verify", {"code": code.upper().replace("-", " ")})
    assert done.status == 303 and done.location == "/staff/profile?done=recovery-used"
    profile = await browser.get(done.location)
    assert "recovery code; it is now used up" in profile.text
    assert "<strong>9</strong> unused recovery codes" in profile.text
    other = await people.browser()
    await people.password_step(other, account)
    await other.get("/staff/signin/verify")
    assert (await other.post("/staff/signin/verify", {"code": code})).status == 422


async def test_sign_out_ends_the_session(staff: tuple[Account, Browser]) -> None:
    _, browser = staff
    cookie = browser.client.session.cookie_jar.filter_cookies(browser.client.make_url("/"))
    old_id = cookie[COOKIE].value
    done = await browser.post("/staff/signout")
    assert done.status == 303 and done.location == "/staff/signin?done=signed-out"
    assert re.search(
        rf"{COOKIE}=(\"\")?;.*(Max-Age=0|expires=Thu, 01 Jan 1970)",
        set_cookie(done.response.headers),
    )
    page = await browser.get("/staff/signin?done=signed-out")
    assert "You are signed out." in page.text
    response = await browser.client.get(
        "/staff/", headers={"Cookie": f"{COOKIE}={old_id}"}, allow_redirects=False
    )
    assert response.status == 303 and response.headers["Location"] == "/staff/signin"


async def test_signing_out_the_other_sessions(people: People) -> None:
    account = await people.create("two@example.com")
    laptop = await people.sign_in(account)
    phone = await people.sign_in(account, await people.browser())
    profile = await laptop.get("/staff/profile")
    assert profile.text.count("last seen") == 2 and "this browser" in profile.text
    done = await laptop.post("/staff/profile/sessions")
    assert done.status == 303
    assert (await laptop.get(done.location)).status == 200
    assert "Your other sessions were signed out." in laptop.last.text  # type: ignore[union-attr]
    assert (await phone.get("/staff/")).location == "/staff/signin"


async def test_an_administrator_takes_access_away(
    people: People, admin: tuple[Account, Browser], staff: tuple[Account, Browser]
) -> None:
    staff_account, staff_browser = staff
    _, admin_browser = admin
    await admin_browser.get("/staff/users")
    reset = await admin_browser.post(f"/staff/users/{staff_account.email}/reset-2fa")
    assert reset.status == 303
    assert (await staff_browser.get("/staff/")).location == "/staff/signin"
    # The next sign-in enrols a new authenticator.
    again = await people.browser()
    assert (await people.password_step(again, staff_account)).location == "/staff/signin/enrol"
    staff_account.secret = ""
    await people.sign_in(staff_account, await people.browser())
    await admin_browser.get("/staff/users")
    assert (
        await admin_browser.post(f"/staff/users/{staff_account.email}/deactivate")
    ).status == 303
    refused = await people.password_step(await people.browser(), staff_account)
    assert refused.status == 422 and "Wrong email or password." in refused.text


async def test_after_sign_in_the_browser_goes_where_it_wanted(people: People) -> None:
    account = await people.create("next@example.com")
    await people.sign_in(account)
    browser = await people.browser()
    bounced = await browser.get("/staff/tickets?status=open")
    assert bounced.location == "/staff/signin?next=%2Fstaff%2Ftickets%3Fstatus%3Dopen"
    form = await browser.get(bounced.location)
    assert 'name="next" value="/staff/tickets?status=open"' in form.text
    first = await browser.post(
        "/staff/signin",
        {
            "email": account.email,
            "password": account.password,
            "next": "/staff/tickets?status=open",
        },
        csrf=False,
    )
    assert first.location == "/staff/signin/verify?next=%2Fstaff%2Ftickets%3Fstatus%3Dopen"
    await people.forget_last_code(account)
    await browser.get(first.location)
    done = await browser.post(
        "/staff/signin/verify",
        {"code": totp_now(account.secret), "next": "/staff/tickets?status=open"},
    )
    assert done.location == "/staff/tickets?status=open"


async def test_next_never_leaves_the_portal(people: People) -> None:
    account = await people.create("evil@example.com")
    await people.sign_in(account)
    for hostile in (
        "//evil.example/x",
        "https://evil.example/staff/",
        "/\\evil.example",
        "javascript:alert(1)",
        "/upload",
        "/staff\\..\\x",
        "/staff/../upload",
    ):
        browser = await people.browser()
        first = await browser.post(
            "/staff/signin",
            {"email": account.email, "password": account.password, "next": hostile},
            csrf=False,
        )
        assert first.location == "/staff/signin/verify", hostile
        await people.forget_last_code(account)
        await browser.get(first.location)
        done = await browser.post(
            "/staff/signin/verify", {"code": totp_now(account.secret), "next": hostile}
        )
        assert done.location == "/staff/", hostile
