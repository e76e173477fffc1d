"""API keys in the portal: a staff member signed in with both factors makes a key, sees
it once, uses it against /api/v1 and revokes it (then it is refused); staff see and
revoke only their own keys and cannot grant the admin scope; administrators see
everyone's; every change is audited, needs the CSRF token, and a hostile name is text."""

from __future__ import annotations

import logging
import re

import pytest
from sqlalchemy import func, select

from tests.conftest import sessions as db_sessions
from tests.portal.conftest import Account, Browser, People
from tests.portal.test_hostile_text import TITLE, assert_inert
from tuslog.db.models import ApiKey, AuditEvent

KEYS = "/staff/api-keys"
_KEY_ON_PAGE = re.compile(r'id="api-key-value">(tlk_[a-z2-7]{8}_[A-Za-z0-9_-]+)<')


async def make_key(browser: Browser, **form: str) -> str:
    await browser.get(KEYS)
    page = await browser.post(KEYS, {"name": "connector", "scope_read": "1", **form})
    assert page.status == 200, page.text[:1000]
    found = _KEY_ON_PAGE.search(page.text)
    assert found, page.text[:1000]
    return found.group(1)


async def api_status(browser: Browser, key: str, path: str = "tickets") -> int:
    response = await browser.client.get(
        f"/api/v1/{path}", headers={"Authorization": f"Bearer {key}"}
    )
    await response.read()
    return response.status


async def count_keys(people: People) -> int:
    async with db_sessions(people.settings)() as session:
        return int(await session.scalar(select(func.count()).select_from(ApiKey)) or 0)


async def audit_of(people: People, action: str) -> list[AuditEvent]:
    async with db_sessions(people.settings)() as session:
        query = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        return list(await session.scalars(query))


async def test_a_key_is_shown_once_works_and_stops_after_revoke(
    people: People, staff: tuple[Account, Browser], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    account, browser = staff
    empty = await browser.get(KEYS)
    assert empty.status == 200 and "No API keys yet." in empty.text
    assert 'aria-current="page">API keys<' in empty.text  # the menu entry, marked
    assert 'name="scope_admin"' not in empty.text  # not offered to staff

    key = await make_key(browser, scope_download="1", expires="30d")
    issued = browser.last
    assert issued is not None
    assert issued.response.headers["Cache-Control"] == "no-store"
    assert "shown <strong>only now</strong>" in issued.text
    prefix = key[:12]
    assert await api_status(browser, key) == 200
    assert await api_status(browser, key, "webhooks") == 403  # no admin scope

    listed = await browser.get(KEYS)
    assert prefix in listed.text and key not in listed.text  # never again
    row = listed.text.split(f'data-key="{prefix}"')[1].split("</tr>")[0]
    assert "download" in row and "read" in row and "write" not in row and "active" in row
    assert "in 29 days" in row or "in 30 days" in row

    confirm = await browser.get(f"{KEYS}/{prefix}/revoke")
    assert confirm.status == 200 and "Revoke API key" in confirm.text and key not in confirm.text
    revoked = await browser.post(f"{KEYS}/{prefix}/revoke")
    assert revoked.status == 303 and revoked.location == f"{KEYS}?done=apikey-revoked"
    after = await browser.get(revoked.location)
    row = after.text.split(f'data-key="{prefix}"')[1].split("</tr>")[0]
    assert "API key revoked" in after.text and ">revoked<" in row and "Revoke" not in row
    assert await api_status(browser, key) == 401
    again = await browser.post(f"{KEYS}/{prefix}/revoke")
    assert again.location == f"{KEYS}?done=apikey-already-revoked"

    [created] = await audit_of(people, "apikey.created")
    assert (created.actor, created.subject) == (account.email, prefix)
    assert created.client_ip and created.details["owner"] == account.email
    [gone] = await audit_of(people, "apikey.revoked")
    assert (gone.actor, gone.subject) == (account.email, prefix)
    assert key not in caplog.text and key[13:] not in caplog.text  # never logged


async def test_form_errors_say_what_to_fix_and_make_no_key(
    people: People, staff: tuple[Account, Browser]
) -> None:
    _, browser = staff
    await browser.get(KEYS)
    cases = {
        "only administrators may grant the admin scope": {"scope_admin": "1", "scope_read": "1"},
        "Tick at least one scope": {"name": "nothing ticked"},
        "Enter a duration like 30m, 12h, 7d or 2w.": {"scope_read": "1", "expires": "soon"},
        "expires: 1 second to 3650 days.": {"scope_read": "1", "expires": "9999d"},
    }
    for message, form in cases.items():
        page = await browser.post(KEYS, form)
        assert page.status == 422, (form, page.text[:500])
        assert message in page.text, (form, page.text[:3000])
        assert 'class="invalid-feedback d-block"' in page.text  # beside the field
        assert "tlk_" not in page.text
    # What was typed stays in the form.
    page = await browser.post(KEYS, {"name": "keep me", "scope_write": "1", "expires": "x"})
    assert 'value="keep me"' in page.text and 'name="scope_write" value="1"' in page.text
    assert await count_keys(people) == 0


async def test_staff_see_and_revoke_only_their_own_keys(
    people: People, staff: tuple[Account, Browser], admin: tuple[Account, Browser]
) -> None:
    staff_account, staff_browser = staff
    admin_account, admin_browser = admin
    admin_key = await make_key(admin_browser, name="admin robot", scope_admin="1")
    staff_key = await make_key(staff_browser, name="staff robot")
    assert await api_status(admin_browser, admin_key, "webhooks") == 200

    mine = await staff_browser.get(KEYS)
    assert staff_key[:12] in mine.text and admin_key[:12] not in mine.text
    assert "admin robot" not in mine.text and "Your keys" in mine.text
    for method in ("get", "post"):
        refused = await getattr(staff_browser, method)(f"{KEYS}/{admin_key[:12]}/revoke")
        assert refused.status == 404, refused.text[:300]
    assert await api_status(staff_browser, admin_key, "webhooks") == 200

    everyone = await admin_browser.get(KEYS)
    assert "All keys" in everyone.text and 'name="scope_admin"' in everyone.text
    for key, owner in ((staff_key, staff_account), (admin_key, admin_account)):
        row = everyone.text.split(f'data-key="{key[:12]}"')[1].split("</tr>")[0]
        assert owner.email in row
    await admin_browser.get(f"{KEYS}/{staff_key[:12]}/revoke")
    done = await admin_browser.post(f"{KEYS}/{staff_key[:12]}/revoke")
    assert done.status == 303
    assert await api_status(staff_browser, staff_key) == 401
    [event] = await audit_of(people, "apikey.revoked")
    assert event.actor == admin_account.email


async def test_changes_need_the_csrf_token(people: People, staff: tuple[Account, Browser]) -> None:
    _, browser = staff
    key = await make_key(browser)
    await browser.get(KEYS)
    for path in (KEYS, f"{KEYS}/{key[:12]}/revoke"):
        for token in ("", "forged"):
            page = await browser.post(path, {"csrf": token, "scope_read": "1"})
            assert page.status == 403, (path, token, page.status)
    assert await count_keys(people) == 1
    assert await api_status(browser, key) == 200  # not revoked


async def test_a_hostile_name_is_text(staff: tuple[Account, Browser]) -> None:
    _, browser = staff
    key = await make_key(browser, name=TITLE)
    assert browser.last is not None
    assert_inert(browser.last.text, "key shown once")
    listed = await browser.get(KEYS)
    assert "gpj.exe" in listed.text  # the name is shown, as text
    assert_inert(listed.text, "key list")
    assert_inert((await browser.get(f"{KEYS}/{key[:12]}/revoke")).text, "revoke page")
