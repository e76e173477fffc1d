"""Accounts in the portal: administrators manage users (create with a typed or a made
password, deactivate, reactivate, reset two-factor; the last administrator stays), and
everyone manages their own: password change (current password and a fresh code),
new recovery codes, sessions."""

from __future__ import annotations

import re

from tests.portal.conftest import PASSWORD, Account, Browser, People, totp_now


async def test_an_admin_creates_users(people: People, admin: tuple[Account, Browser]) -> None:
    _, browser = admin
    page = await browser.get("/staff/users")
    assert "admin@example.com" in page.text and ">you</span>" in page.text
    made = await browser.post("/staff/users", {"email": "Made@Example.com"})
    assert made.status == 200 and "Created staff <strong>made@example.com</strong>" in made.text
    password = re.search(r'id="created-password">([a-z2-9-]+)<', made.text).group(1)  # type: ignore[union-attr]
    assert len(password) == 23  # 4 groups of 5, dashes between
    newcomer = Account("made@example.com", password)
    await people.sign_in(newcomer)  # the made password works; TOTP is set up on the way

    typed = await browser.post(
        "/staff/users", {"email": "boss2@example.com", "password": PASSWORD, "admin": "1"}
    )
    assert "Created admin" in typed.text and 'id="created-password"' not in typed.text
    for form, message in (
        ({"email": "made@example.com"}, "A user made@example.com already exists."),
        ({"email": "not-an-email"}, "An email address looks like name@example.com."),
        ({"email": "weak@example.com", "password": "password123"}, "Use at least 12 characters."),
    ):
        refused = await browser.post("/staff/users", form)
        assert refused.status == 422 and message in refused.text, form
    listing = await browser.get("/staff/users")
    assert listing.text.count("<tr data-user=") == 3
    assert "on · 10 recovery codes" in listing.text and "not set up yet" in listing.text


async def test_deactivate_reactivate_and_the_last_admin(
    people: People, admin: tuple[Account, Browser], staff: tuple[Account, Browser]
) -> None:
    admin_account, browser = admin
    staff_account, staff_browser = staff
    await browser.get("/staff/users")
    last = await browser.post(f"/staff/users/{admin_account.email}/deactivate")
    assert last.status == 409 and "This is the last active administrator" in last.text
    done = await browser.post(f"/staff/users/{staff_account.email}/deactivate")
    assert done.location == "/staff/users?done=user-deactivated"
    assert (await staff_browser.get("/staff/")).location == "/staff/signin"
    page = await browser.get(done.location)
    assert ">deactivated</span>" in page.text and "User deactivated" in page.text
    back = await browser.post(f"/staff/users/{staff_account.email}/reactivate")
    assert back.location == "/staff/users?done=user-reactivated"
    await people.sign_in(staff_account, await people.browser())
    missing = await browser.post("/staff/users/ghost@example.com/deactivate")
    assert missing.status == 404


async def test_changing_the_password_needs_the_old_one_and_a_fresh_code(
    people: People, staff: tuple[Account, Browser]
) -> None:
    account, browser = staff
    other = await people.sign_in(account, await people.browser())
    await browser.get("/staff/profile")
    new = "copper lantern 93 meadow"
    base = {"current_password": PASSWORD, "new_password": new, "new_password_again": new}
    await people.forget_last_code(account)
    for form, message in (
        ({**base, "new_password_again": "x"}, "The two new passwords differ"),
        ({**base, "current_password": "wrong password 1"}, "The current password is wrong."),
        ({**base, "code": "000000"}, "That code is wrong, expired or already used"),
        ({**base, "new_password": "short", "new_password_again": "short"}, "at least 12"),
    ):
        form.setdefault("code", totp_now(account.secret))
        page = await browser.post("/staff/profile/password", form)
        assert page.status == 422 and message in page.text, form
    changed = await browser.post(
        "/staff/profile/password", {**base, "code": totp_now(account.secret)}
    )
    assert changed.location == "/staff/profile?done=password-changed"
    assert "Set-Cookie" in changed.response.headers  # a new session id
    assert (await browser.get(changed.location)).status == 200
    assert (await other.get("/staff/")).location == "/staff/signin"  # the other session ended
    account.password = new
    await people.sign_in(account, await people.browser())


async def test_new_recovery_codes_replace_the_old(
    people: People, staff: tuple[Account, Browser]
) -> None:
    account, browser = staff
    await browser.get("/staff/profile")
    wrong = await browser.post("/staff/profile/recovery-codes", {"password": "nope nope nope"})
    assert wrong.status == 422 and "The password is wrong." in wrong.text
    page = await browser.post("/staff/profile/recovery-codes", {"password": PASSWORD})
    assert page.status == 200 and page.response.headers["Cache-Control"] == "no-store"
    codes = re.findall(r"<li>([a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4})</li>", page.text)
    assert len(codes) == 10 and not set(codes) & set(account.recovery_codes)
    old = await people.browser()
    await people.password_step(old, account)
    await old.get("/staff/signin/verify")
    refused = await old.post("/staff/signin/verify", {"code": account.recovery_codes[0]})
    assert refused.status == 422
    accepted = await old.post("/staff/signin/verify", {"code": codes[0]})
    assert accepted.status == 303
