"""Webhooks against a local receiver: Standard Webhooks signatures checked with the
reference library, retries after 500s, a dropped connection and a timeout, one slow
receiver not delaying another, event filters, re-sending, SSRF targets refused."""

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import standardwebhooks

from tests.api.conftest import ApiClient, Keys, issued_token, problem_of, upload_via_tus
from tests.api.receiver import Receiver
from tests.conftest import make_settings
from tuslog.app import create_app
from tuslog.http.webhook_client import WebhookClient
from tuslog.services import webhook_delivery
from tuslog.settings import Settings


@pytest.fixture(autouse=True)
def fast_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(webhook_delivery, "POLL_SECONDS", 0.05)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(
        database_url,
        tmp_path,
        api_auth_failure_limit=1000,
        webhook_allowed_networks="127.0.0.0/8",
        webhook_retry_base=0.1,
        webhook_timeout=1,
    )


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver().start()
    yield found
    found.stop()


async def _hook(api: ApiClient, keys: Keys, url: str, **fields: Any) -> dict[str, Any]:
    response = await api.with_key(keys.admin).post("webhooks", json={"url": url, **fields})
    assert response.status == 201, await response.text()
    found: dict[str, Any] = await response.json()
    assert found["secret"].startswith("whsec_")
    return found


async def _wait(receiver: Receiver, count: int) -> list[Any]:
    return await asyncio.to_thread(receiver.wait_for, count)


async def test_events_arrive_signed_with_ticket_and_upload_and_no_token(
    api: ApiClient, keys: Keys, receiver: Receiver
) -> None:
    hook = await _hook(api, keys, receiver.url)
    issued = await issued_token(api, "SR-42")
    data = b"log line\n" * 1000
    upload_id = await upload_via_tus(api, issued["token"], data)
    await api.post("tickets/SR-42/resolve")
    await api.delete("tickets/SR-42")
    got = await _wait(receiver, 6)
    assert [r.event["type"] for r in got] == [  # one endpoint's deliveries go in order
        "upload.created",
        "upload.completed",
        "upload.verified",
        "ticket.resolved",
        "upload.deleted",
        "ticket.deleted",
    ]
    verifier = standardwebhooks.Webhook(hook["secret"])
    for delivery in got:
        verifier.verify(delivery.body, delivery.headers)  # raises if the signature is wrong
        assert delivery.headers["webhook-id"].startswith("msg_")
        text = delivery.body.decode()
        assert issued["token"] not in text and issued["prefix"] not in text
        assert delivery.event["data"]["ticket"] == "SR-42"
        assert delivery.event["timestamp"].endswith("Z")
    completed = next(r.event for r in got if r.event["type"] == "upload.completed")
    assert completed["data"]["upload"]["id"] == upload_id
    assert completed["data"]["upload"]["length"] == len(data)
    assert completed["data"]["upload"]["state"] == "verified"
    assert len({r.headers["webhook-id"] for r in got}) == len(got)
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        standardwebhooks.Webhook("whsec_" + "A" * 32).verify(got[0].body, got[0].headers)


async def test_only_the_events_an_endpoint_wants(
    api: ApiClient, keys: Keys, receiver: Receiver
) -> None:
    everything = Receiver().start()
    try:
        await _hook(api, keys, receiver.url, events=["ticket.resolved"])
        await _hook(api, keys, everything.url)
        await issued_token(api, "SR-1")
        await api.post("tickets/SR-1/resolve")
        await asyncio.to_thread(everything.wait_for, 1)
        await _wait(receiver, 1)
        assert everything.types() == ["ticket.resolved"] and receiver.types() == ["ticket.resolved"]
        await api.post("tickets/SR-1/reopen")
        await api.post("tickets/SR-1/resolve")
        await _wait(receiver, 2)
        assert receiver.types() == ["ticket.resolved", "ticket.resolved"]
    finally:
        everything.stop()


async def test_events_before_any_endpoint_are_dispatched_to_nobody(
    api: ApiClient, keys: Keys, receiver: Receiver, settings: Settings
) -> None:
    """With no endpoint, the outbox is emptied by one UPDATE (no row loaded, no payload
    built); an endpoint added afterwards gets only what happens after it."""
    from sqlalchemy import func, select

    from tuslog.db.database import Database
    from tuslog.db.models import WebhookDelivery, WebhookEvent

    token = await issued_token(api, "SR-1")
    await upload_via_tus(api, token["token"], b"log lines\n" * 100)
    db = Database(settings.database_url)
    try:
        for _ in range(200):
            async with db.session() as session:
                events = list(await session.scalars(select(WebhookEvent)))
            if events and all(event.dispatched_at is not None for event in events):
                break
            await asyncio.sleep(0.05)
        assert {event.type for event in events} >= {"upload.created", "upload.completed"}
        assert all(event.dispatched_at is not None for event in events)
        assert [event.payload for event in events] == [None] * len(events)
        await _hook(api, keys, receiver.url)
        await api.post("tickets/SR-1/resolve")
        await _wait(receiver, 1)
        await asyncio.sleep(0.3)  # a late, wrong delivery of the old events would be here
        assert receiver.types() == ["ticket.resolved"]
        async with db.session() as session:
            assert await session.scalar(select(func.count()).select_from(WebhookDelivery)) == 1
    finally:
        await db.dispose()


async def test_an_event_nobody_wants_is_dispatched_without_a_payload(
    api: ApiClient, keys: Keys, receiver: Receiver, settings: Settings
) -> None:
    """Its payload is only built for a delivery: a ticket's other events are marked
    dispatched and cost no more queries."""
    from sqlalchemy import select

    from tuslog.db.database import Database
    from tuslog.db.models import WebhookDelivery, WebhookEvent

    await _hook(api, keys, receiver.url, events=["ticket.resolved"])
    token = await issued_token(api, "SR-1")
    await upload_via_tus(api, token["token"], b"log lines\n" * 100)
    await api.post("tickets/SR-1/resolve")
    await _wait(receiver, 1)
    db = Database(settings.database_url)
    try:
        async with db.session() as session:
            events = list(await session.scalars(select(WebhookEvent).order_by(WebhookEvent.id)))
            delivered = set(await session.scalars(select(WebhookDelivery.event_id)))
    finally:
        await db.dispose()
    assert all(event.dispatched_at is not None for event in events)
    wanted = [event for event in events if event.type == "ticket.resolved"]
    others = [event for event in events if event.type != "ticket.resolved"]
    assert len(wanted) == 1 and others, [event.type for event in events]
    assert wanted[0].payload is not None and delivered == {wanted[0].id}
    assert [event.payload for event in others] == [None] * len(others)


async def test_retries_after_500_drop_and_timeout(
    api: ApiClient, keys: Keys, receiver: Receiver
) -> None:
    receiver.script = [500, "drop", "hang", 503]
    receiver.hang_seconds = 3
    hook = await _hook(api, keys, receiver.url, events=["ticket.resolved"])
    await issued_token(api, "SR-1")
    await api.post("tickets/SR-1/resolve")
    (delivered,) = await _wait(receiver, 1)
    assert receiver.attempts == 5
    deliveries = await (
        await api.with_key(keys.admin).get(f"webhooks/{hook['id']}/deliveries")
    ).json()
    (record,) = deliveries["items"]
    assert record["status"] == "delivered" and record["attempts"] == 5
    assert record["last_status"] == 200 and record["last_error"] == ""
    assert record["message_id"] == delivered.headers["webhook-id"]
    standardwebhooks.Webhook(hook["secret"]).verify(delivered.body, delivered.headers)


async def test_failures_are_recorded_where_the_admin_sees_them(
    api: ApiClient, keys: Keys, receiver: Receiver
) -> None:
    receiver.script = [500] * 1000
    hook = await _hook(api, keys, receiver.url, events=["ticket.resolved"])
    await issued_token(api, "SR-1")
    await api.post("tickets/SR-1/resolve")
    admin = api.with_key(keys.admin)
    for _ in range(200):
        page = await (await admin.get(f"webhooks/{hook['id']}/deliveries")).json()
        if page["items"] and page["items"][0]["attempts"] >= 2:
            break
        await asyncio.sleep(0.05)
    record = page["items"][0]
    assert record["status"] == "pending" and record["last_status"] == 500
    assert record["last_error"] == "ok" and record["last_response_ms"] is not None
    assert record["next_attempt_at"] is not None
    receiver.script = []
    redo = await admin.post(f"webhooks/{hook['id']}/deliveries/{record['id']}/redeliver")
    assert redo.status == 202
    (got,) = await _wait(receiver, 1)
    assert got.headers["webhook-id"] == record["message_id"]
    again = await admin.post(f"webhooks/{hook['id']}/deliveries/{record['id']}/redeliver")
    assert (await again.json())["status"] == "pending"
    second = await _wait(receiver, 2)
    assert second[1].headers["webhook-id"] == record["message_id"]  # the same message


async def test_a_slow_receiver_does_not_delay_another(
    api: ApiClient, keys: Keys, receiver: Receiver
) -> None:
    slow = Receiver(script=["hang"] * 10, hang_seconds=5).start()  # beyond the 1 s timeout
    try:
        await _hook(api, keys, slow.url, events=["ticket.resolved"])
        await _hook(api, keys, receiver.url, events=["ticket.resolved"])
        await issued_token(api, "SR-1")
        for _ in range(3):
            await api.post("tickets/SR-1/resolve")
            await api.post("tickets/SR-1/reopen")
        await _wait(receiver, 3)  # all three while the slow one still hangs on its first
        assert slow.received == [] and slow.attempts >= 1
    finally:
        slow.stop()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hook",
        "http://localhost:9/hook",
        "http://[::1]:9/",
        "http://169.254.169.254/latest/meta-data",
        "http://10.0.0.1/",
        "http://192.168.1.1/",
        "http://[::ffff:127.0.0.1]/",
        "http://0.0.0.0/",
        "ftp://example.com/",
        "http://user:pw@example.com/",
        "not a url",
    ],
)
async def test_ssrf_targets_are_refused_when_configured(
    aiohttp_client: Any, database_url: str, tmp_path: Path, keys: Keys, url: str
) -> None:
    settings = make_settings(database_url, tmp_path)
    api = ApiClient(await aiohttp_client(create_app(settings)), keys.admin)
    response = await api.post("webhooks", json={"url": url})
    problem_of(await response.json(), 422, "webhook_target_refused")
    assert (await (await api.get("webhooks")).json())["items"] == []


async def test_ssrf_targets_are_refused_when_delivering(settings: Settings, tmp_path: Path) -> None:
    """A name that resolves to a loopback address at delivery time, and IP literals, are
    refused by the delivery client itself (not only when the endpoint was configured)."""
    strict = make_settings(settings.database_url, tmp_path)
    async with WebhookClient(strict) as client:
        for url in ("http://localhost:9/", "http://127.0.0.1:9/", "http://[::1]:9/"):
            status, error = await client.post(url, b"{}", {"webhook-id": "msg_x"})
            assert status is None and error.startswith("refused"), (url, error)


async def test_webhook_crud_and_secret_rotation(
    api: ApiClient, keys: Keys, receiver: Receiver
) -> None:
    admin = api.with_key(keys.admin)
    hook = await _hook(api, keys, receiver.url, events=["upload.completed"], description="Zendesk")
    listed = await (await admin.get("webhooks")).json()
    assert [h["id"] for h in listed["items"]] == [hook["id"]] and listed["items"][0][
        "secret"
    ] is None
    changed = await admin.patch(
        f"webhooks/{hook['id']}", json={"enabled": False, "rotate_secret": True}
    )
    body = await changed.json()
    assert (
        body["enabled"] is False
        and body["secret"].startswith("whsec_")
        and body["secret"] != hook["secret"]
    )
    bad = await admin.patch(f"webhooks/{hook['id']}", json={"events": ["upload.exploded"]})
    assert bad.status == 422
    assert (await admin.delete(f"webhooks/{hook['id']}")).status == 204
    problem_of(await (await admin.get(f"webhooks/{hook['id']}")).json(), 404, "webhook_not_found")
    problem_of(await (await admin.get("webhooks/abc")).json(), 404, "webhook_not_found")


async def test_storage_low_fires_once(
    aiohttp_client: Any, database_url: str, tmp_path: Path, receiver: Receiver, keys: Keys
) -> None:
    from tuslog.db.engine import create_engine, session_factory
    from tuslog.services import webhooks
    from tuslog.services.totp_cipher import TotpCipher

    settings = make_settings(
        database_url, tmp_path, webhook_allowed_networks="127.0.0.0/8", storage_low_space="1000T"
    )
    engine = create_engine(database_url)
    async with session_factory(engine).begin() as session:
        await webhooks.create_endpoint(
            session,
            TotpCipher([]),
            url=receiver.url,
            events=["storage.low"],
            description="",
            enabled=True,
            allowed=settings.webhook_allowed_networks,
            actor="test",
        )
    await engine.dispose()
    api = ApiClient(await aiohttp_client(create_app(settings)), keys.read)
    (got,) = await _wait(receiver, 1)
    assert got.event["type"] == "storage.low" and got.event["data"]["status"] == "low"
    assert got.event["data"]["threshold"] == 1000 * 1024**4
    storage = await (await api.get("storage")).json()
    assert storage["status"] == "low" and storage["low_space_threshold"] == 1000 * 1024**4
    assert storage["available"] == max(
        storage["free"] - storage["reserve"] - storage["promised"], 0
    )


async def test_old_events_are_pruned_unless_a_delivery_waits(settings: Settings) -> None:
    from datetime import timedelta

    from sqlalchemy import select

    from tuslog.db.database import Database
    from tuslog.db.models import (
        DeliveryStatus,
        WebhookDelivery,
        WebhookEndpoint,
        WebhookEvent,
        utcnow,
    )

    db = Database(settings.database_url)
    try:
        old = utcnow() - timedelta(days=31)
        async with db.begin() as session:
            endpoint = WebhookEndpoint(url="http://127.0.0.1:9/", secret="plain:whsec_x", events=[])
            session.add(endpoint)
            await session.flush()
            for n, status in enumerate(
                (DeliveryStatus.DELIVERED, DeliveryStatus.PENDING, DeliveryStatus.FAILED)
            ):
                event = WebhookEvent(
                    message_id=f"msg_{n}", type="ticket.resolved", dispatched_at=old, details={}
                )
                session.add(event)
                await session.flush()
                session.add(
                    WebhookDelivery(
                        endpoint_id=endpoint.id, event_id=event.id, status=status, last_error=""
                    )
                )
            session.add(
                WebhookEvent(
                    message_id="msg_new", type="ticket.resolved", dispatched_at=utcnow(), details={}
                )
            )
        worker = webhook_delivery.WebhookWorker(db, settings, None)
        assert await worker.prune() == 2
        async with db.session() as session:
            kept = sorted(await session.scalars(select(WebhookEvent.message_id)))
            deliveries = list(await session.scalars(select(WebhookDelivery.status)))
        assert kept == ["msg_1", "msg_new"] and deliveries == [DeliveryStatus.PENDING]
    finally:
        await db.dispose()
