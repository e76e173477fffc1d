"""Webhook endpoints and their deliveries (admin scope)."""

from typing import Any

from tuslog import errors
from tuslog.api import schemas
from tuslog.api.routing import Call, Operation, Reply
from tuslog.db.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint, WebhookEvent
from tuslog.services import paging, webhooks
from tuslog.services.apikeys import ADMIN
from tuslog.services.totp_cipher import TotpCipher
from tuslog.services.webhook_targets import check_resolves


def _cipher(call: Call[Any, Any]) -> TotpCipher:
    return TotpCipher([key.get_secret_value() for key in call.settings.totp_keys])


def _id(call: Call[Any, Any], name: str) -> int:
    value = call.path(name)
    if not value.isascii() or not value.isdigit() or not 0 < int(value) <= paging.MAX_ID:
        raise (errors.WEBHOOK_NOT_FOUND if name == "webhook_id" else errors.DELIVERY_NOT_FOUND)()
    return int(value)


def webhook_out(endpoint: WebhookEndpoint, secret: str | None = None) -> schemas.Webhook:
    return schemas.Webhook(
        id=endpoint.id,
        url=endpoint.url,
        events=list(endpoint.events),
        description=endpoint.description,
        enabled=endpoint.enabled,
        created_at=endpoint.created_at,
        updated_at=endpoint.updated_at,
        secret=secret,
    )


def delivery_out(delivery: WebhookDelivery, event: WebhookEvent) -> schemas.Delivery:
    return schemas.Delivery(
        id=delivery.id,
        webhook_id=delivery.endpoint_id,
        message_id=event.message_id,
        event_type=event.type,
        status=delivery.status.value,
        attempts=delivery.attempts,
        next_attempt_at=delivery.next_attempt_at,
        last_attempt_at=delivery.last_attempt_at,
        last_status=delivery.last_status,
        last_error=delivery.last_error,
        last_response_ms=delivery.last_response_ms,
        created_at=delivery.created_at,
        delivered_at=delivery.delivered_at,
    )


async def create_webhook(call: Call[None, schemas.WebhookCreate]) -> Reply:
    body, allowed = call.body, call.settings.webhook_allowed_networks
    async with call.db.begin() as session:
        endpoint, secret = await webhooks.create_endpoint(
            session,
            _cipher(call),
            url=body.url,
            events=body.events,
            description=body.description,
            enabled=body.enabled,
            allowed=allowed,
            actor=call.caller.actor,
            client_ip=call.ip,
        )
        await check_resolves(endpoint.url, allowed)  # before the commit: refused, not kept
    headers = {"Location": f"/api/v1/webhooks/{endpoint.id}"}
    return Reply(webhook_out(endpoint, secret), 201, headers)


async def list_webhooks(call: Call[None, None]) -> Reply:
    async with call.db.session() as session:
        found = await webhooks.list_endpoints(session)
    return Reply(schemas.WebhookList(items=[webhook_out(endpoint) for endpoint in found]))


async def get_webhook(call: Call[None, None]) -> Reply:
    async with call.db.session() as session:
        endpoint = await webhooks.get_endpoint(session, _id(call, "webhook_id"))
    return Reply(webhook_out(endpoint))


async def update_webhook(call: Call[None, schemas.WebhookPatch]) -> Reply:
    body, allowed = call.body, call.settings.webhook_allowed_networks
    async with call.db.begin() as session:
        endpoint, secret = await webhooks.update_endpoint(
            session,
            _cipher(call),
            _id(call, "webhook_id"),
            url=body.url,
            events=body.events,
            description=body.description,
            enabled=body.enabled,
            rotate_secret=body.rotate_secret,
            allowed=allowed,
            actor=call.caller.actor,
            client_ip=call.ip,
        )
        if body.url is not None:
            await check_resolves(endpoint.url, allowed)
    return Reply(webhook_out(endpoint, secret))


async def delete_webhook(call: Call[None, None]) -> Reply:
    async with call.db.begin() as session:
        await webhooks.delete_endpoint(
            session, _id(call, "webhook_id"), actor=call.caller.actor, client_ip=call.ip
        )
    return Reply(None, 204)


async def list_deliveries(call: Call[schemas.DeliveryQuery, None]) -> Reply:
    query = call.query
    async with call.db.session() as session:
        page = await webhooks.deliveries(
            session,
            _id(call, "webhook_id"),
            status=DeliveryStatus(query.status) if query.status else None,
            limit=query.limit,
            cursor=query.cursor,
            with_total=query.total,
        )
    items = [delivery_out(delivery, event) for delivery, event in page.items]
    return Reply(schemas.DeliveryList(items=items, next_cursor=page.next_cursor, total=page.total))


async def redeliver(call: Call[None, None]) -> Reply:
    async with call.db.begin() as session:
        delivery, event = await webhooks.redeliver(
            session,
            _id(call, "webhook_id"),
            _id(call, "delivery_id"),
            actor=call.caller.actor,
            client_ip=call.ip,
        )
    return Reply(delivery_out(delivery, event), 202)


_ERRORS = (401, 403, 404, 429)
OPERATIONS = [
    Operation(
        "GET",
        "/webhooks",
        list_webhooks,
        "List webhook endpoints",
        ADMIN,
        "Webhooks",
        response=schemas.WebhookList,
        errors=(401, 403, 429),
    ),
    Operation(
        "POST",
        "/webhooks",
        create_webhook,
        "Add a webhook endpoint",
        ADMIN,
        "Webhooks",
        body=schemas.WebhookCreate,
        response=schemas.Webhook,
        status=201,
        errors=(400, 401, 403, 415, 422, 429),
        description="The answer holds the signing secret (only here and after a rotation). "
        "Deliveries are signed as Standard Webhooks specifies; verify them with any of its "
        "libraries.",
    ),
    Operation(
        "GET",
        "/webhooks/{webhook_id}",
        get_webhook,
        "Get a webhook endpoint",
        ADMIN,
        "Webhooks",
        response=schemas.Webhook,
        errors=_ERRORS,
    ),
    Operation(
        "PATCH",
        "/webhooks/{webhook_id}",
        update_webhook,
        "Change a webhook endpoint",
        ADMIN,
        "Webhooks",
        body=schemas.WebhookPatch,
        response=schemas.Webhook,
        errors=(*_ERRORS, 400, 415, 422),
    ),
    Operation(
        "DELETE",
        "/webhooks/{webhook_id}",
        delete_webhook,
        "Delete a webhook endpoint",
        ADMIN,
        "Webhooks",
        status=204,
        errors=_ERRORS,
    ),
    Operation(
        "GET",
        "/webhooks/{webhook_id}/deliveries",
        list_deliveries,
        "List an endpoint's deliveries",
        ADMIN,
        "Webhooks",
        query=schemas.DeliveryQuery,
        response=schemas.DeliveryList,
        errors=(*_ERRORS, 422),
    ),
    Operation(
        "POST",
        "/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver",
        redeliver,
        "Send a delivery again",
        ADMIN,
        "Webhooks",
        response=schemas.Delivery,
        status=202,
        errors=_ERRORS,
    ),
]
