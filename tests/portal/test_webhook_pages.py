"""Webhook endpoints in the portal (administrators only): add with the secret shown once,
change (and rotate the secret), delete after a confirmation; SSRF targets refused with a
form error by the API's own checks; an endpoint's deliveries listed and sent again; a
real receiver gets the events; hostile URLs and descriptions are text."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.api.receiver import Receiver
from tests.conftest import sessions as db_sessions
from tests.portal.conftest import Account, Browser, People, PeopleFactory
from tests.portal.test_hostile_text import TITLE, assert_inert
from tuslog.db.models import (
    AuditEvent,
    DeliveryStatus,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
    utcnow,
)
from tuslog.services import webhook_delivery

HOOKS = "/staff/webhooks"
LOCAL = "http://127.0.0.1:9/hook"
HOSTILE_URL = 'http://127.0.0.1:9/"><script>alert(1)</script>?x=gpj.exe'


@pytest.fixture(autouse=True)
def fast_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(webhook_delivery, "POLL_SECONDS", 0.05)


@pytest.fixture
async def people(make_people: PeopleFactory) -> People:
    """Loopback is allowed (the test receiver); private and link-local stay refused."""
    return await make_people(webhook_allowed_networks="127.0.0.0/8", webhook_retry_base=0.1)


@pytest.fixture
def idle_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """The delivery worker does nothing: what a test writes stays as written."""

    async def nothing(self: webhook_delivery.WebhookWorker) -> None:
        return None

    monkeypatch.setattr(webhook_delivery.WebhookWorker, "pass_once", nothing)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver().start()
    yield found
    found.stop()


async def add_hook(browser: Browser, url: str = LOCAL, **form: str) -> tuple[int, str]:
    await browser.get(f"{HOOKS}/new")
    page = await browser.post(f"{HOOKS}/new", {"url": url, "enabled": "1", **form})
    assert page.status == 200, page.text[:2000]
    secret = page.text.split('id="webhook-secret">')[1].split("<")[0]
    assert secret.startswith("whsec_")
    hook_id = int(page.text.split(f'href="{HOOKS}/')[2].split('"')[0])
    return hook_id, secret


async def endpoints(people: People) -> list[WebhookEndpoint]:
    async with db_sessions(people.settings)() as session:
        return list(await session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id)))


async def actions(people: People, prefix: str) -> list[tuple[str, str]]:
    async with db_sessions(people.settings)() as session:
        query = select(AuditEvent.action, AuditEvent.actor).where(
            AuditEvent.action.startswith(prefix)
        )
        return [(action, actor) for action, actor in await session.execute(query)]


async def test_staff_cannot_reach_webhooks(people: People, staff: tuple[Account, Browser]) -> None:
    _, browser = staff
    assert (await browser.get(HOOKS)).status == 403
    refused = await browser.post(f"{HOOKS}/new", {"url": LOCAL, "enabled": "1"})
    assert refused.status == 403 and "Only administrators" in refused.text
    assert await endpoints(people) == []


async def test_add_change_rotate_and_delete(
    people: People, admin: tuple[Account, Browser], idle_worker: None
) -> None:
    account, browser = admin
    empty = await browser.get(HOOKS)
    assert "No webhook endpoints yet." in empty.text
    assert 'aria-current="page">Webhooks<' in empty.text
    form = {"event_upload.completed": "1", "event_ticket.resolved": "1", "description": "desk"}
    hook_id, secret = await add_hook(browser, **form)
    shown = browser.last
    assert shown is not None and shown.response.headers["Cache-Control"] == "no-store"
    [stored] = await endpoints(people)
    assert stored.events == ["ticket.resolved", "upload.completed"] and stored.enabled

    page = await browser.get(f"{HOOKS}/{hook_id}")
    assert page.status == 200 and secret not in page.text and "No deliveries yet." in page.text
    assert "ticket.resolved" in page.text and LOCAL in page.text
    assert LOCAL in (await browser.get(HOOKS)).text

    edit = await browser.get(f"{HOOKS}/{hook_id}/edit")
    assert 'name="event_ticket.resolved" value="1" id="event-ticket-resolved" checked' in edit.text
    saved = await browser.post(f"{HOOKS}/{hook_id}/edit", {"url": LOCAL, "description": "x"})
    assert saved.status == 303 and saved.location == f"{HOOKS}/{hook_id}?done=webhook-saved"
    [stored] = await endpoints(people)
    assert (stored.enabled, stored.events, stored.description) == (False, [], "x")
    after = await browser.get(saved.location)
    assert "Webhook endpoint saved." in after.text and "disabled" in after.text

    await browser.get(f"{HOOKS}/{hook_id}/edit")
    rotated = await browser.post(
        f"{HOOKS}/{hook_id}/edit", {"url": LOCAL, "enabled": "1", "rotate_secret": "1"}
    )
    assert rotated.status == 200 and "New signing secret" in rotated.text
    new_secret = rotated.text.split('id="webhook-secret">')[1].split("<")[0]
    assert new_secret.startswith("whsec_") and new_secret != secret

    confirm = await browser.get(f"{HOOKS}/{hook_id}/delete")
    assert "0 delivery records" in confirm.text
    deleted = await browser.post(f"{HOOKS}/{hook_id}/delete")
    assert deleted.status == 303 and deleted.location == f"{HOOKS}?done=webhook-deleted"
    assert await endpoints(people) == []
    assert (await browser.get(f"{HOOKS}/{hook_id}")).status == 404
    assert await actions(people, "webhook.") == [
        ("webhook.created", account.email),
        ("webhook.updated", account.email),
        ("webhook.updated", account.email),
        ("webhook.deleted", account.email),
    ]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://169.254.169.254/latest/meta-data/", "private, loopback or link-local address"),
        ("http://10.0.0.1/hook", "private, loopback or link-local address"),
        ("http://[::ffff:192.168.0.1]/hook", "private, loopback or link-local address"),
        ("ftp://example.com/hook", "use an http:// or https:// URL with a host"),
        ("http://user:secret@example.com/hook", "no user or password in the URL"),
        ("https://no-such-host.invalid/hook", "does not resolve"),
        ("", "Enter the URL that receives the events"),
    ],
)
async def test_refused_targets_are_form_errors(
    people: People, admin: tuple[Account, Browser], url: str, message: str, idle_worker: None
) -> None:
    _, browser = admin
    await browser.get(f"{HOOKS}/new")
    page = await browser.post(
        f"{HOOKS}/new", {"url": url, "description": "kept", "event_storage.low": "1"}
    )
    assert page.status == 422 and message in page.text, page.text[:3000]
    assert 'id="url-error"' in page.text and 'aria-invalid="true"' in page.text
    assert 'value="kept"' in page.text and 'name="event_storage.low" value="1"' in page.text
    assert "whsec_" not in page.text
    assert await endpoints(people) == []
    # A change to such a URL is refused the same way and changes nothing.
    hook_id, _ = await add_hook(browser)
    await browser.get(f"{HOOKS}/{hook_id}/edit")
    changed = await browser.post(f"{HOOKS}/{hook_id}/edit", {"url": url, "enabled": "1"})
    assert changed.status == 422 and message in changed.text
    assert [hook.url for hook in await endpoints(people)] == [LOCAL]


async def _delivery(people: People, hook_id: int, error: str) -> int:
    async with db_sessions(people.settings).begin() as session:
        event = WebhookEvent(
            message_id="msg_test1", type="ticket.resolved", ticket="SR-9", details={}
        )
        session.add(event)
        await session.flush()
        delivery = WebhookDelivery(
            endpoint_id=hook_id,
            event_id=event.id,
            status=DeliveryStatus.FAILED,
            attempts=7,
            last_attempt_at=utcnow() - timedelta(hours=1),
            last_status=500,
            last_error=error,
            last_response_ms=321,
            created_at=utcnow() - timedelta(days=2),
        )
        session.add(delivery)
        await session.flush()
        return delivery.id


async def _state(people: People, delivery_id: int) -> WebhookDelivery:
    async with db_sessions(people.settings)() as session:
        found = await session.get(WebhookDelivery, delivery_id)
        assert found is not None
        return found


async def test_deliveries_are_listed_and_sent_again(
    people: People, admin: tuple[Account, Browser], idle_worker: None
) -> None:
    account, browser = admin
    hook_id, _ = await add_hook(browser)
    delivery_id = await _delivery(people, hook_id, "HTTP 500: <script>alert(1)</script>")
    page = await browser.get(f"{HOOKS}/{hook_id}")
    row = page.text.split(f'data-delivery="{delivery_id}"')[1].split("</tr>")[0]
    assert ">failed<" in row and ">7<" in row and "HTTP 500 in 321 ms" in row and "SR-9" in row
    assert_inert(page.text, "deliveries")

    resend = f"{HOOKS}/{hook_id}/deliveries/{delivery_id}/resend"
    assert (await browser.post(resend, {"csrf": "forged"})).status == 403
    assert (await _state(people, delivery_id)).status is DeliveryStatus.FAILED
    sent = await browser.post(resend)
    assert sent.status == 303 and sent.location == f"{HOOKS}/{hook_id}?done=delivery-resent"
    again = await _state(people, delivery_id)
    assert again.status is DeliveryStatus.PENDING
    assert again.next_attempt_at is not None and again.next_attempt_at <= utcnow()
    assert again.created_at > utcnow() - timedelta(minutes=5)  # a fresh retry period
    shown = await browser.get(sent.location)
    row = shown.text.split(f'data-delivery="{delivery_id}"')[1].split("</tr>")[0]
    assert "Delivery queued again" in shown.text and ">pending<" in row
    assert ("webhook.redelivered", account.email) in await actions(people, "webhook.")
    assert (await browser.post(f"{HOOKS}/{hook_id}/deliveries/999999/resend")).status == 404
    assert "1 delivery record<" in (await browser.get(f"{HOOKS}/{hook_id}/delete")).text


async def _wait_delivered(people: People, count: int) -> list[WebhookDelivery]:
    for _ in range(400):  # a bound on polls, not a time limit on the server
        async with db_sessions(people.settings)() as session:
            query = select(WebhookDelivery).where(
                WebhookDelivery.status == DeliveryStatus.DELIVERED
            )
            found = list(await session.scalars(query))
        if len(found) >= count:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError("no delivery arrived")


async def test_a_real_receiver_gets_events_and_a_resent_one(
    people: People, admin: tuple[Account, Browser], receiver: Receiver
) -> None:
    _, browser = admin
    hook_id, _ = await add_hook(browser, receiver.url, **{"event_ticket.resolved": "1"})
    created = await browser.post("/staff/tickets/new", {"number": "SR-77", "title": "t"})
    assert created.status == 303
    await browser.get(created.location)
    assert (await browser.post("/staff/tickets/SR-77/resolve")).status == 303
    [delivery] = await _wait_delivered(people, 1)
    got = await asyncio.to_thread(receiver.wait_for, 1)
    assert got[0].event["type"] == "ticket.resolved"
    page = await browser.get(f"{HOOKS}/{hook_id}")
    row = page.text.split(f'data-delivery="{delivery.id}"')[1].split("</tr>")[0]
    assert ">delivered<" in row and "HTTP 200 in " in row

    await browser.post(f"{HOOKS}/{hook_id}/deliveries/{delivery.id}/resend")
    got = await asyncio.to_thread(receiver.wait_for, 2)
    assert got[1].headers["webhook-id"] == got[0].headers["webhook-id"]  # the same message
    async with db_sessions(people.settings)() as session:
        total = await session.scalar(select(func.count()).select_from(WebhookDelivery))
    assert total == 1


async def test_hostile_url_and_description_are_text(
    people: People, admin: tuple[Account, Browser], idle_worker: None
) -> None:
    _, browser = admin
    await browser.get(f"{HOOKS}/new")
    refused = await browser.post(f"{HOOKS}/new", {"url": HOSTILE_URL + "\u202e"})
    assert refused.status == 422 and "invisible or control characters" in refused.text
    hook_id, _ = await add_hook(browser, HOSTILE_URL, description=TITLE)
    assert browser.last is not None
    assert_inert(browser.last.text, "secret page")
    async with db_sessions(people.settings).begin() as session:  # as the API may store it
        stored = await session.get(WebhookEndpoint, hook_id)
        assert stored is not None
        stored.url = HOSTILE_URL + "\u202e"
    paths = (HOOKS, f"{HOOKS}/{hook_id}", f"{HOOKS}/{hook_id}/edit", f"{HOOKS}/{hook_id}/delete")
    for path in paths:
        page = await browser.get(path)
        assert page.status == 200 and "gpj.exe" in page.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
        assert_inert(page.text, path)
