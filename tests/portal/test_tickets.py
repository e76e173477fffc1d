"""Tickets in the portal: create (and the errors that say what to fix), edit, resolve,
reopen, search, filters, sort and keyset pages, the ticket page with its tokens and
uploads, and deletion that names what goes and takes the bytes off the disk."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from tests.conftest import sessions
from tests.portal.conftest import Account, Browser, People, issue_token, tus_upload
from tuslog.db.models import AuditEvent, Ticket, TicketStatus, UploadToken, utcnow

NUMBERS_ON_PAGE = re.compile(r'<th scope="row"><a href="[^"]+"><bdi>([^<]+)</bdi></a></th>')


async def test_create_edit_resolve_reopen(people: People, staff: tuple[Account, Browser]) -> None:
    account, browser = staff
    empty = await browser.get("/staff/tickets")
    assert "No tickets yet." in empty.text and "Create the first ticket" in empty.text
    await browser.get("/staff/tickets/new")
    created = await browser.post(
        "/staff/tickets/new", {"number": " SR-1234 ", "title": "Backup\tfails", "platform": "Linux"}
    )
    assert created.status == 303
    assert created.location == "/staff/tickets/SR-1234?done=ticket-created"
    page = await browser.get(created.location)
    assert "Ticket created." in page.text and "Backup fails" in page.text

    duplicate = await browser.post("/staff/tickets/new", {"number": "sr-1234"})
    assert duplicate.status == 422
    assert "Ticket SR-1234 already exists (ticket numbers ignore case)." in duplicate.text
    assert 'value="sr-1234"' in duplicate.text  # what was typed stays in the form
    bad = await browser.post("/staff/tickets/new", {"number": "has space"})
    assert bad.status == 422 and "1-64 printable characters, no spaces" in bad.text

    await browser.get("/staff/tickets/SR-1234/edit")
    saved = await browser.post(
        "/staff/tickets/sr-1234/edit", {"title": "Backup fails nightly", "platform": "Linux"}
    )
    assert saved.location == "/staff/tickets/SR-1234?done=ticket-updated"
    resolved = await browser.post("/staff/tickets/SR-1234/resolve")
    page = await browser.get(resolved.location)
    assert "Ticket resolved." in page.text and "Reopen it to issue new tokens" in page.text
    assert 'action="/staff/tickets/SR-1234/tokens"' not in page.text
    reopened = await browser.post("/staff/tickets/SR-1234/reopen")
    assert "Ticket reopened." in (await browser.get(reopened.location)).text

    async with sessions(people.settings)() as session:
        events = list(
            await session.scalars(select(AuditEvent).where(AuditEvent.subject == "SR-1234"))
        )
    assert [e.action for e in events] == [
        "ticket.created",
        "ticket.updated",
        "ticket.resolved",
        "ticket.reopened",
    ]
    assert {(e.actor, e.client_ip) for e in events} == {(account.email, "127.0.0.1")}
    assert (await browser.get("/staff/tickets/SR-404")).status == 404


async def _many_tickets(people: People, count: int) -> None:
    start = utcnow() - timedelta(days=1)
    async with sessions(people.settings).begin() as session:
        for n in range(count):
            session.add(
                Ticket(
                    number=f"SR-{n:03}",
                    number_key=f"sr-{n:03}",
                    title=f"{'Backup' if n % 2 else 'Disk'} problem {n}",
                    platform="Windows" if n % 3 == 0 else "Linux",
                    status=TicketStatus.RESOLVED if n % 5 == 0 else TicketStatus.OPEN,
                    created_at=start + timedelta(minutes=n),
                )
            )


async def _walk(browser: Browser, url: str) -> list[str]:
    seen: list[str] = []
    while url:
        page = await browser.get(url)
        assert page.status == 200
        seen += NUMBERS_ON_PAGE.findall(page.text)
        found = re.search(r'href="([^"]+)" rel="next"', page.text)
        url = found.group(1).replace("&amp;", "&") if found else ""
    return seen


async def test_search_filter_sort_and_pages(people: People, staff: tuple[Account, Browser]) -> None:
    _, browser = staff
    await _many_tickets(people, 130)
    newest = await _walk(browser, "/staff/tickets")
    assert newest == [f"SR-{n:03}" for n in reversed(range(130))]  # 3 pages, none twice
    oldest = await _walk(browser, "/staff/tickets?sort=oldest")
    assert oldest == [f"SR-{n:03}" for n in range(130)]
    backups = await _walk(browser, "/staff/tickets?q=backup&status=open&platform=linux")
    expected = [n for n in range(130) if n % 2 and n % 5 and n % 3]
    assert backups == [f"SR-{n:03}" for n in reversed(expected)]
    exact = await browser.get("/staff/tickets?q=sr-007")
    assert "has exactly this number" in exact.text and NUMBERS_ON_PAGE.findall(exact.text) == [
        "SR-007"
    ]
    nothing = await browser.get("/staff/tickets?q=zzz")
    assert "No ticket matches this search." in nothing.text
    stale = await browser.get("/staff/tickets?after=not-a-cursor")
    assert stale.status == 200 and "That page link is out of date" in stale.text
    assert NUMBERS_ON_PAGE.findall(stale.text)[0] == "SR-129"
    literal = await browser.get("/staff/tickets?q=%25")  # LIKE wildcards are literal
    assert NUMBERS_ON_PAGE.findall(literal.text) == []


async def test_token_issue_revoke_and_update(
    people: People, staff: tuple[Account, Browser]
) -> None:
    _, browser = staff
    await browser.post("/staff/tickets/new", {"number": "SR-T"})
    page = await browser.get("/staff/tickets/SR-T")
    assert "No token yet." in page.text and 'value="7d"' in page.text  # the setting's default
    for form, message in (
        ({"uploads": "0"}, "A token allows 1 to 1000000 uploads, not 0."),
        ({"uploads": "two"}, "Enter a whole number, for example 1."),
        ({"expires": "soon"}, "Enter a duration like 30m, 12h, 7d or 2w."),
        ({"max_bytes": "lots"}, "Enter a size like 500M, 50G or 2T"),
    ):
        refused = await browser.post("/staff/tickets/SR-T/tokens", form)
        assert refused.status == 422 and message in refused.text, form
        assert 'id="token-value"' not in refused.text  # no token was issued
    token = await issue_token(browser, "SR-T", uploads="3", expires="2d", max_bytes="5G")
    issued = browser.last
    assert issued is not None and "only now" in issued.text
    for needle in (
        f"sh uploader.sh http://127.0.0.1:{browser.client.port} {token} FILE",
        f"python3 uploader.py http://127.0.0.1:{browser.client.port} {token} FILE",
        f"/upload#{token}",
        "Upload-Length: $(wc -c &lt; &#34;$F&#34;",
        "3 uploads",
        "at most 5.0 GiB in all",
    ):
        assert needle in issued.text, needle
    prefix = token[: len("tlu_") + 8]
    page = await browser.get("/staff/tickets/SR-T")
    assert prefix in page.text and token not in page.text  # the secret is never shown again
    assert "0 of 3" in page.text and "never" in page.text

    await tus_upload(browser.client, token, b"first upload")
    page = await browser.get("/staff/tickets/SR-T")
    assert "1 of 3" in page.text and "127.0.0.1" in page.text  # last use and its address

    updated = await browser.post(
        f"/staff/tokens/{prefix}/update", {"uploads": "5", "expires": "30d"}
    )
    assert updated.location == "/staff/tickets/SR-T?done=token-updated"
    async with sessions(people.settings)() as session:
        record = await session.scalar(select(UploadToken).where(UploadToken.prefix == prefix))
    assert record is not None and record.max_uses == 5
    assert timedelta(days=29) < record.expires_at - utcnow() <= timedelta(days=30)
    fewer = await browser.post(f"/staff/tokens/{prefix}/update", {"uploads": "0"})
    assert fewer.status == 422 and "A token allows 1 to" in fewer.text

    revoked = await browser.post(f"/staff/tokens/{prefix}/revoke")
    assert revoked.location == "/staff/tickets/SR-T?done=token-revoked"
    again = await browser.post(f"/staff/tokens/{prefix}/revoke")
    assert again.location == "/staff/tickets/SR-T?done=token-already-revoked"
    page = await browser.get("/staff/tickets/SR-T")
    assert ">revoked</span>" in page.text
    response = await browser.client.head(
        "/files/x", headers={"Tus-Resumable": "1.0.0", "Authorization": f"Bearer {token}"}
    )
    assert response.status in (401, 404)  # the token no longer opens anything
    unknown = await browser.post("/staff/tokens/tlu_zzzzzzzz/revoke")
    assert unknown.status == 404


async def test_deleting_a_ticket_names_what_goes_and_removes_the_bytes(
    people: People, staff: tuple[Account, Browser]
) -> None:
    _, browser = staff
    token = await issue_token(browser, "SR-DEL", uploads="2")
    first = await tus_upload(browser.client, token, b"a" * 2048)
    second = await tus_upload(browser.client, token, b"b" * 1000, send=100)
    stored = [
        people.settings.storage_dir / upload_id[:2] / upload_id for upload_id in (first, second)
    ]
    assert all(path.exists() for path in stored)
    confirm = await browser.get("/staff/tickets/SR-DEL/delete")
    assert confirm.status == 200
    summary = re.search(r'id="delete-summary">([^<]+)<', confirm.text)
    assert summary and summary.group(1) == "2 archives (2.1 KiB, 2,148 bytes)"
    done = await browser.post("/staff/tickets/SR-DEL/delete")
    assert done.location == "/staff/tickets?done=ticket-deleted"
    assert not any(path.exists() for path in stored)
    assert (await browser.get("/staff/tickets/SR-DEL")).status == 404
    uploads = await browser.get("/staff/uploads?state=deleted")
    assert uploads.text.count(">deleted</span>") >= 2  # tombstones stay listed


async def test_exact_numbers_win_over_case_folded_ones(
    people: People, staff: tuple[Account, Browser]
) -> None:
    """tickets.find asks the indexed key first and the exact number only when needed (the
    portal's ticket page at 100,000 tickets): tickets that differed only in case before
    numbers ignored case (migration 0002 gave them keys like ``sr-1#…``) stay reachable."""
    _, browser = staff
    async with sessions(people.settings).begin() as session:
        session.add(Ticket(number="SR-1", number_key="sr-1", title="the new one"))
        session.add(Ticket(number="sr-1", number_key="sr-1#2", title="the legacy one"))
    for typed, title in (
        ("SR-1", "the new one"),
        ("sr-1", "the legacy one"),
        ("Sr-1", "the new one"),
    ):
        page = await browser.get(f"/staff/tickets/{typed}")
        assert page.status == 200 and title in page.text, typed
    assert (await browser.get("/staff/tickets/SR-2")).status == 404
