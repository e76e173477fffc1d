"""Webhook endpoints (URL, signing secret, event filter) and their deliveries, for the
REST API and the portal (admins only: the callers check that).

Secrets are Standard Webhooks secrets (``whsec_`` + base64 of 24 random bytes), shown
when made and sealed at rest like TOTP secrets (``TUSLOG_TOTP_KEYS``), because the
server needs them to sign."""

import base64
import secrets
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tuslog import errors
from tuslog.db.models import (
    DeliveryStatus,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
    utcnow,
)
from tuslog.services import audit, paging
from tuslog.services.outbox import EVENT_TYPES
from tuslog.services.totp_cipher import TotpCipher
from tuslog.services.webhook_targets import check_url
from tuslog.settings import Network

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's marker, not a secret


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def signing_key(cipher: TotpCipher, endpoint: WebhookEndpoint) -> bytes:
    return base64.b64decode(cipher.open(endpoint.secret).removeprefix(SECRET_PREFIX))


def _events(events: Sequence[str]) -> list[str]:
    unknown = sorted(set(events) - set(EVENT_TYPES))
    if unknown:
        raise errors.INVALID_VALUE(f"events: unknown {', '.join(unknown)[:100]}.")
    return sorted(set(events))


async def create_endpoint(
    session: AsyncSession,
    cipher: TotpCipher,
    *,
    url: str,
    events: Sequence[str],
    description: str,
    enabled: bool,
    allowed: Sequence[Network],
    actor: str,
    client_ip: str | None = None,
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its secret (shown once)."""
    secret = new_secret()
    endpoint = WebhookEndpoint(
        url=check_url(url, allowed),
        secret=cipher.seal(secret),
        events=_events(events),
        description=" ".join(description.split()),
        enabled=enabled,
        created_by=actor,
    )
    session.add(endpoint)
    await session.flush()
    audit.record(session, actor, "webhook.created", str(endpoint.id), client_ip, url=endpoint.url)
    return endpoint, secret


async def get_endpoint(session: AsyncSession, endpoint_id: int) -> WebhookEndpoint:
    endpoint = await session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None:
        raise errors.WEBHOOK_NOT_FOUND(f"No webhook endpoint {endpoint_id}.")
    return endpoint


async def list_endpoints(session: AsyncSession) -> list[WebhookEndpoint]:
    return list(await session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id)))


async def update_endpoint(
    session: AsyncSession,
    cipher: TotpCipher,
    endpoint_id: int,
    *,
    url: str | None = None,
    events: Sequence[str] | None = None,
    description: str | None = None,
    enabled: bool | None = None,
    rotate_secret: bool = False,
    allowed: Sequence[Network],
    actor: str,
    client_ip: str | None = None,
) -> tuple[WebhookEndpoint, str | None]:
    """Change an endpoint; with ``rotate_secret`` it gets a new secret (returned)."""
    endpoint = await get_endpoint(session, endpoint_id)
    changed: list[str] = []
    if url is not None:
        endpoint.url = check_url(url, allowed)
        changed.append("url")
    if events is not None:
        endpoint.events = _events(events)
        changed.append("events")
    if description is not None:
        endpoint.description = " ".join(description.split())
        changed.append("description")
    if enabled is not None:
        endpoint.enabled = enabled
        changed.append("enabled")
    secret = None
    if rotate_secret:
        secret = new_secret()
        endpoint.secret = cipher.seal(secret)
        changed.append("secret")
    if changed:
        endpoint.updated_at = utcnow()
        audit.record(
            session, actor, "webhook.updated", str(endpoint.id), client_ip, changed=changed
        )
    await session.flush()
    return endpoint, secret


async def delete_endpoint(
    session: AsyncSession, endpoint_id: int, *, actor: str, client_ip: str | None = None
) -> None:
    """Delete an endpoint with its delivery records (its pending deliveries are dropped)."""
    endpoint = await get_endpoint(session, endpoint_id)
    await session.delete(endpoint)
    audit.record(session, actor, "webhook.deleted", str(endpoint_id), client_ip, url=endpoint.url)


async def deliveries(
    session: AsyncSession,
    endpoint_id: int,
    *,
    status: DeliveryStatus | None = None,
    limit: int = paging.DEFAULT_LIMIT,
    cursor: str | None = None,
    with_total: bool = False,
) -> paging.Page[tuple[WebhookDelivery, WebhookEvent]]:
    """An endpoint's deliveries with their events, newest first."""
    await get_endpoint(session, endpoint_id)
    conditions = [WebhookDelivery.endpoint_id == endpoint_id]
    if status is not None:
        conditions.append(WebhookDelivery.status == status)
    rows, next_cursor, total = await paging.fetch(
        session,
        select(WebhookDelivery, WebhookEvent).join(WebhookEvent),
        conditions,
        (WebhookDelivery.created_at, WebhookDelivery.id),
        after=paging.decode(cursor, int),
        limit=paging.check_limit(limit),
        with_total=with_total,
    )
    return paging.Page([(row[0], row[1]) for row in rows], next_cursor, total)


async def redeliver(
    session: AsyncSession,
    endpoint_id: int,
    delivery_id: int,
    *,
    actor: str,
    client_ip: str | None = None,
) -> tuple[WebhookDelivery, WebhookEvent]:
    """Send a delivery again (delivered or failed ones too): it is pending from now on,
    with a fresh retry period."""
    row = (
        await session.execute(
            select(WebhookDelivery, WebhookEvent)
            .join(WebhookEvent)
            .where(WebhookDelivery.id == delivery_id, WebhookDelivery.endpoint_id == endpoint_id)
        )
    ).first()
    if row is None:
        raise errors.DELIVERY_NOT_FOUND(f"No delivery {delivery_id} of webhook {endpoint_id}.")
    delivery, event = row
    now = utcnow()
    delivery.status = DeliveryStatus.PENDING
    delivery.next_attempt_at = now
    delivery.created_at = now  # the retry period counts from here
    audit.record(
        session, actor, "webhook.redelivered", str(delivery.id), client_ip, message=event.message_id
    )
    await session.flush()
    return delivery, event
