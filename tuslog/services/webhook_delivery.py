"""The webhook delivery worker: one active per deployment (a database lease), started by
the app beside the upload engine. It

1. dispatches new outbox rows (``tuslog.services.outbox``): builds each event's payload
   and a delivery for every enabled endpoint that wants the event, in one transaction;
2. sends due deliveries, at most one at a time per endpoint (a slow or dead receiver
   only delays its own deliveries) and ``_MAX_IN_FLIGHT`` in all, each signed as the
   Standard Webhooks specification says (``webhook-id``, ``webhook-timestamp``,
   ``webhook-signature: v1,<base64 HMAC-SHA256>``), with a timeout, no redirects, a
   capped response read, and only to allowed addresses (``webhook_targets``);
3. records each attempt (status, error, response time) and retries failures with
   exponential back-off until TUSLOG_WEBHOOK_RETRY_FOR has passed;
4. watches the storage and fires ``storage.low`` when it turns low or full.

Nothing here runs on the upload path: an upload only writes its outbox row. Everything
is in the database, so deliveries survive restarts; a delivery cut by a crash is sent
again (receivers deduplicate by ``webhook-id``).
"""

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import logging
import os
import random
import secrets
import socket
import time
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy import delete, func, select, update

from tuslog.db.availability import log_failure
from tuslog.db.database import Database
from tuslog.db.models import (
    DeliveryStatus,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
    utcnow,
)
from tuslog.services import audit, leases, space, webhook_payloads
from tuslog.services.totp_cipher import TotpCipher
from tuslog.services.webhooks import signing_key
from tuslog.settings import Settings

log = logging.getLogger(__name__)
LEASE_NAME = "webhooks"
POLL_SECONDS = 1.0
STORAGE_CHECK_SECONDS = 60.0
MAX_BACKOFF = timedelta(hours=1)
KEEP_EVENTS = timedelta(days=30)  # events and delivery records are kept this long
LEASE_DURATION = timedelta(seconds=30)  # another process takes over this long after a crash
_MAX_IN_FLIGHT = 16
_DISPATCH_BATCH = 200


def sign(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value (Standard Webhooks, v1: HMAC-SHA256)."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def backoff(attempts: int, base: timedelta) -> timedelta:
    """Wait after the ``attempts``-th failure: base, 2 x base, 4 x base … up to an hour,
    each +-20 % so that many deliveries that failed together do not retry together."""
    wait = min(base * (2 ** max(attempts - 1, 0)), MAX_BACKOFF)
    jittered: timedelta = wait * random.uniform(0.8, 1.2)
    return jittered


class Poster(Protocol):
    """Sends one signed request (``tuslog.http.webhook_client.WebhookClient``; tests may
    pass their own): (HTTP status or None, error text or "" for a 2xx)."""

    async def post(
        self, url: str, body: bytes, headers: Mapping[str, str]
    ) -> tuple[int | None, str]: ...


class WebhookWorker:
    def __init__(
        self, db: Database, settings: Settings, storage_report: Any, poster: Poster | None = None
    ) -> None:
        self._db = db
        self._settings = settings
        self._storage_report = storage_report  # () -> awaitable StorageReport
        self._cipher = TotpCipher([k.get_secret_value() for k in settings.totp_keys])
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self._busy: set[int] = set()  # endpoints with a delivery in flight
        self._tasks: set[asyncio.Task[None]] = set()
        self._storage_status: str | None = None
        self._next_storage_check = 0.0
        self._poster = poster
        self._renew_at = 0.0

    async def run_forever(self, stopping: asyncio.Event) -> None:
        try:
            await self._loop(stopping)
        finally:
            await self._stop()

    async def _holds_lease(self) -> bool:
        """Renew the lease only when a third of it is left: not a write per poll."""
        if time.monotonic() < self._renew_at:
            return True
        if not await leases.take(self._db, LEASE_NAME, self.holder, LEASE_DURATION):
            return False
        self._renew_at = time.monotonic() + LEASE_DURATION.total_seconds() * 2 / 3
        return True

    async def _loop(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            try:
                if await self._holds_lease():
                    await self.pass_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log_failure(log, "webhook worker pass failed; will retry", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), POLL_SECONDS)

    async def pass_once(self) -> None:
        """One round: storage check (now and then), dispatch, start due deliveries."""
        if time.monotonic() >= self._next_storage_check:
            self._next_storage_check = time.monotonic() + STORAGE_CHECK_SECONDS
            await self.check_storage()
            await self.prune()
        while await self.dispatch() == _DISPATCH_BATCH:
            pass
        await self.start_due()

    async def _stop(self) -> None:
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=self._settings.webhook_timeout.total_seconds())
        for task in self._tasks:
            task.cancel()
        with contextlib.suppress(Exception):
            await leases.release(self._db, LEASE_NAME, self.holder)

    # --- 1. dispatch --------------------------------------------------------------------
    async def dispatch(self) -> int:
        """Turn undispatched outbox rows into deliveries; returns how many rows it took.
        With no endpoint enabled, every such row is marked dispatched by one UPDATE, without
        loading it (most installations: two rows per upload)."""
        undispatched = WebhookEvent.dispatched_at.is_(None)
        async with self._db.begin() as session:
            first = await session.scalar(select(WebhookEvent.id).where(undispatched).limit(1))
            if first is None:
                return 0
            endpoints = list(
                await session.scalars(
                    select(WebhookEndpoint).where(WebhookEndpoint.enabled.is_(True))
                )
            )
            now = utcnow()
            if not endpoints:
                await session.execute(
                    update(WebhookEvent).where(undispatched).values(dispatched_at=now)
                )
                return 0
            events = list(
                await session.scalars(
                    select(WebhookEvent)
                    .where(undispatched)
                    .order_by(WebhookEvent.id)
                    .limit(_DISPATCH_BATCH)
                )
            )
            for event in events:
                event.dispatched_at = now
                wanted_by = [e for e in endpoints if not e.events or event.type in e.events]
                if not wanted_by:  # nobody to send it to: no payload to build
                    continue
                event.payload = await webhook_payloads.build(session, event)
                for endpoint in wanted_by:
                    session.add(
                        WebhookDelivery(
                            endpoint_id=endpoint.id,
                            event_id=event.id,
                            status=DeliveryStatus.PENDING,
                            next_attempt_at=now,
                            created_at=now,
                            last_error="",
                        )
                    )
        return len(events)

    # --- 2. send ------------------------------------------------------------------------
    async def start_due(self) -> None:
        """Start the oldest due delivery of each endpoint that has none in flight."""
        room = _MAX_IN_FLIGHT - len(self._tasks)
        if room <= 0:
            return
        async with self._db.session() as session:
            due = (
                await session.execute(
                    select(WebhookDelivery.endpoint_id, func.min(WebhookDelivery.id))
                    .join(WebhookEndpoint, WebhookDelivery.endpoint_id == WebhookEndpoint.id)
                    .where(
                        WebhookDelivery.status == DeliveryStatus.PENDING,
                        WebhookDelivery.next_attempt_at <= utcnow(),
                        WebhookEndpoint.enabled.is_(True),  # a disabled one keeps its queue
                    )
                    .group_by(WebhookDelivery.endpoint_id)
                )
            ).all()
        for endpoint_id, delivery_id in due:
            if endpoint_id in self._busy or room <= 0:
                continue
            room -= 1
            self._busy.add(endpoint_id)
            task = asyncio.create_task(self._attempt_guarded(endpoint_id, delivery_id))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _attempt_guarded(self, endpoint_id: int, delivery_id: int) -> None:
        try:
            await self.attempt(delivery_id)
        except Exception as exc:
            log_failure(log, "webhook delivery %d failed unexpectedly", exc, delivery_id)
        finally:
            self._busy.discard(endpoint_id)

    async def attempt(self, delivery_id: int) -> None:
        async with self._db.session() as session:
            row = (
                await session.execute(
                    select(WebhookDelivery, WebhookEvent, WebhookEndpoint)
                    .join(WebhookEvent, WebhookDelivery.event_id == WebhookEvent.id)
                    .join(WebhookEndpoint, WebhookDelivery.endpoint_id == WebhookEndpoint.id)
                    .where(WebhookDelivery.id == delivery_id)
                )
            ).first()
        if row is None:
            return
        delivery, event, endpoint = row
        if delivery.status is not DeliveryStatus.PENDING:
            return
        started = time.monotonic()
        status, error = await self._send(endpoint, event)
        elapsed_ms = int((time.monotonic() - started) * 1000)
        await self._record(delivery, status, error, elapsed_ms)

    async def _send(self, endpoint: WebhookEndpoint, event: WebhookEvent) -> tuple[int | None, str]:
        """POST the event; (HTTP status or None, error text or "")."""
        assert self._poster is not None, "a worker that sends needs a poster"
        body = json.dumps(event.payload, separators=(",", ":")).encode()
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "webhook-id": event.message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(
                signing_key(self._cipher, endpoint), event.message_id, timestamp, body
            ),
        }
        return await self._poster.post(endpoint.url, body, headers)

    async def _record(
        self, delivery: WebhookDelivery, status: int | None, error: str, elapsed_ms: int
    ) -> None:
        now = utcnow()
        attempts = delivery.attempts + 1
        values: dict[str, Any] = {
            "attempts": attempts,
            "last_attempt_at": now,
            "last_status": status,
            "last_error": error[:500],
            "last_response_ms": elapsed_ms,
        }
        if not error:
            values |= {"status": DeliveryStatus.DELIVERED, "delivered_at": now}
            values["next_attempt_at"] = None
        elif now - delivery.created_at >= self._settings.webhook_retry_for:
            values |= {"status": DeliveryStatus.FAILED, "next_attempt_at": None}
            log.warning("webhook delivery %d gave up: %s", delivery.id, error)
        else:
            values["next_attempt_at"] = now + backoff(attempts, self._settings.webhook_retry_base)
        async with self._db.begin() as session:
            await session.execute(
                update(WebhookDelivery)
                .where(
                    WebhookDelivery.id == delivery.id,
                    WebhookDelivery.status == DeliveryStatus.PENDING,
                    WebhookDelivery.attempts == delivery.attempts,  # not re-sent meanwhile
                )
                .values(**values)
            )

    async def prune(self) -> int:
        """Forget events (with their delivery records) older than ``KEEP_EVENTS`` that
        nothing waits for any more: the outbox must not grow forever."""
        cutoff = utcnow() - KEEP_EVENTS
        waiting = select(WebhookDelivery.event_id).where(
            WebhookDelivery.status == DeliveryStatus.PENDING
        )
        async with self._db.begin() as session:
            result = await session.execute(
                delete(WebhookEvent).where(
                    WebhookEvent.dispatched_at < cutoff, WebhookEvent.id.not_in(waiting)
                )
            )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    # --- 4. storage ---------------------------------------------------------------------
    async def check_storage(self) -> None:
        """Fire storage.low when the status turns low or full (once per turn; again at a
        start that finds it so: an operator should hear it after a restart too)."""
        report = await self._storage_report()
        threshold = self._settings.storage_low_space
        now_status = space.status(report.available, threshold)
        before, self._storage_status = self._storage_status, now_status
        if now_status == space.OK or before == now_status:
            return
        if before == space.FULL and now_status == space.LOW:
            return  # recovering: no new alarm
        async with self._db.begin() as session:
            audit.record(
                session,
                "server",
                "storage.low",
                now_status,
                None,
                available=report.available,
                free=report.free,
                total=report.total,
                threshold=threshold,
            )
