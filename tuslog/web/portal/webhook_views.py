"""Webhook endpoints for administrators: the list, add and change (URL, event filter,
description, enabled; the signing secret is made by the server and shown once, also after
a rotation), delete after a confirmation, and an endpoint's page with its recent
deliveries, each of which can be sent again.

Everything goes through tuslog.services.webhooks as the REST API does (tuslog.api.webhooks):
the same URL check on creation and change (``check_url`` inside the service, then
``check_resolves`` before the commit), the same audit events."""

from typing import Any

from aiohttp import web

from tuslog import errors
from tuslog.db.models import WebhookEndpoint
from tuslog.http.client import client_ip
from tuslog.keys import AUTH, DATABASE, SETTINGS
from tuslog.services import paging, webhooks
from tuslog.services.outbox import EVENT_TYPES
from tuslog.services.totp_cipher import TotpCipher
from tuslog.services.webhook_targets import check_resolves
from tuslog.web.portal import forms
from tuslog.web.portal.guard import LINKS, signed_in
from tuslog.web.portal.render import portal_page, redirect

PAGE_SIZE = 25
URL_LIMIT = forms.FIELD_LIMIT - 1  # a longer value was cut by read_form: refuse, not cut
DESCRIPTION_LIMIT = 200
_FIELDS = ("url", "events", "description")


def _cipher(request: web.Request) -> TotpCipher:
    """The sealing of secrets at rest: TUSLOG_TOTP_KEYS, as for TOTP secrets."""
    return request.config_dict[AUTH].cipher


def _id(request: web.Request, name: str = "webhook_id") -> int:
    value = int(request.match_info[name])  # the route allows digits only
    if not 0 < value <= paging.MAX_ID:
        raise (errors.WEBHOOK_NOT_FOUND if name == "webhook_id" else errors.DELIVERY_NOT_FOUND)()
    return value


def _values(form: dict[str, str]) -> dict[str, Any]:
    return {
        "url": form.get("url", "").strip(),
        "description": form.get("description", ""),
        "events": [event for event in EVENT_TYPES if form.get(f"event_{event}")],
        "enabled": bool(form.get("enabled")),
        "rotate": bool(form.get("rotate_secret")),
    }


def _check(values: dict[str, Any]) -> None:
    if not values["url"]:
        raise forms.FormError("url", "Enter the URL that receives the events (https://…).")
    if not values["url"].isprintable():
        raise forms.FormError(
            "url", "Remove the invisible or control characters (percent-encode them if meant)."
        )
    if len(values["url"]) > URL_LIMIT:
        raise forms.FormError("url", f"This URL is too long: at most {URL_LIMIT} characters.")
    if len(values["description"]) > DESCRIPTION_LIMIT:
        raise forms.FormError(
            "description", f"Shorten the description to {DESCRIPTION_LIMIT} characters."
        )


def _form_page(
    request: web.Request,
    values: dict[str, Any],
    *,
    endpoint: WebhookEndpoint | None = None,
    status: int = 200,
    error: str | None = None,
) -> web.StreamResponse:
    field = None
    if error is not None:
        head = error.split(":", 1)[0]
        field = head if head in _FIELDS else None
    return portal_page(
        request,
        "webhook_form.html",
        status=status,
        nav="webhooks",
        endpoint=endpoint,
        values=values,
        event_types=EVENT_TYPES,
        error=error,
        field=field,
    )


def _secret_page(
    request: web.Request, endpoint: WebhookEndpoint, secret: str, *, rotated: bool
) -> web.StreamResponse:
    return portal_page(
        request,
        "webhook_secret.html",
        nav="webhooks",
        endpoint=endpoint,
        secret=secret,
        rotated=rotated,
    )


async def hook_list(request: web.Request) -> web.StreamResponse:
    async with request.config_dict[DATABASE].session() as session:
        found = await webhooks.list_endpoints(session)
    return portal_page(request, "webhooks.html", nav="webhooks", endpoints=found)


async def new_form(request: web.Request) -> web.StreamResponse:
    values = {"url": "", "description": "", "events": [], "enabled": True}
    return _form_page(request, values)


async def create(request: web.Request) -> web.StreamResponse:
    values = _values(await forms.read_form(request))
    current = signed_in(request)
    allowed = request.config_dict[SETTINGS].webhook_allowed_networks
    try:
        _check(values)
        async with request.config_dict[DATABASE].begin() as session:
            endpoint, secret = await webhooks.create_endpoint(
                session,
                _cipher(request),
                url=values["url"],
                events=values["events"],
                description=values["description"],
                enabled=values["enabled"],
                allowed=allowed,
                actor=current.email,
                client_ip=client_ip(request),
            )
            await check_resolves(endpoint.url, allowed)  # before the commit: refused, not kept
    except forms.FormError as exc:
        return _form_page(request, values, status=422, error=f"{exc.field}: {exc.message}")
    except errors.TuslogError as exc:
        if exc.status != 422:
            raise
        return _form_page(request, values, status=422, error=exc.message)
    return _secret_page(request, endpoint, secret, rotated=False)


async def hook_page(request: web.Request) -> web.StreamResponse:
    after = request.query.get("after") or None
    error = None
    async with request.config_dict[DATABASE].session() as session:
        endpoint = await webhooks.get_endpoint(session, _id(request))
        try:
            page = await webhooks.deliveries(
                session, endpoint.id, limit=PAGE_SIZE, cursor=after, with_total=True
            )
        except errors.TuslogError as exc:
            if exc.status != 422:
                raise
            error = "That page link is out of date; start again from the first page."
            page = paging.Page([], None, None)
    links = request.app[LINKS]
    return portal_page(
        request,
        "webhook.html",
        status=422 if error else 200,
        nav="webhooks",
        endpoint=endpoint,
        deliveries=page.items,
        total=page.total,
        error=error,
        next_url=links("webhooks", endpoint.id, after=page.next_cursor)
        if page.next_cursor
        else None,
        first_url=links("webhooks", endpoint.id) if after else None,
    )


async def edit_form(request: web.Request) -> web.StreamResponse:
    async with request.config_dict[DATABASE].session() as session:
        endpoint = await webhooks.get_endpoint(session, _id(request))
    values = {
        "url": endpoint.url,
        "description": endpoint.description,
        "events": list(endpoint.events),
        "enabled": endpoint.enabled,
    }
    return _form_page(request, values, endpoint=endpoint)


async def edit(request: web.Request) -> web.StreamResponse:
    values = _values(await forms.read_form(request))
    current = signed_in(request)
    allowed = request.config_dict[SETTINGS].webhook_allowed_networks
    endpoint_id = _id(request)
    async with request.config_dict[DATABASE].session() as session:
        before = await webhooks.get_endpoint(session, endpoint_id)
    new_url = values["url"] != before.url  # unchanged: not checked again (as a PATCH)
    try:
        _check(values)
        async with request.config_dict[DATABASE].begin() as session:
            endpoint, secret = await webhooks.update_endpoint(
                session,
                _cipher(request),
                endpoint_id,
                url=values["url"] if new_url else None,
                events=values["events"],
                description=values["description"],
                enabled=values["enabled"],
                rotate_secret=values["rotate"],
                allowed=allowed,
                actor=current.email,
                client_ip=client_ip(request),
            )
            if new_url:
                await check_resolves(endpoint.url, allowed)
    except forms.FormError as exc:
        error = f"{exc.field}: {exc.message}"
        return _form_page(request, values, endpoint=before, status=422, error=error)
    except errors.TuslogError as exc:
        if exc.status != 422:
            raise
        return _form_page(request, values, endpoint=before, status=422, error=exc.message)
    if secret is not None:
        return _secret_page(request, endpoint, secret, rotated=True)
    return redirect(request.app[LINKS]("webhooks", endpoint.id, done="webhook-saved"))


async def delete_form(request: web.Request) -> web.StreamResponse:
    async with request.config_dict[DATABASE].session() as session:
        endpoint = await webhooks.get_endpoint(session, _id(request))
        page = await webhooks.deliveries(session, endpoint.id, limit=1, with_total=True)
    return portal_page(
        request, "webhook_delete.html", nav="webhooks", endpoint=endpoint, total=page.total
    )


async def delete(request: web.Request) -> web.StreamResponse:
    current = signed_in(request)
    async with request.config_dict[DATABASE].begin() as session:
        await webhooks.delete_endpoint(
            session, _id(request), actor=current.email, client_ip=client_ip(request)
        )
    return redirect(request.app[LINKS]("webhooks", done="webhook-deleted"))


async def resend(request: web.Request) -> web.StreamResponse:
    current = signed_in(request)
    endpoint_id = _id(request)
    async with request.config_dict[DATABASE].begin() as session:
        await webhooks.redeliver(
            session,
            endpoint_id,
            _id(request, "delivery_id"),
            actor=current.email,
            client_ip=client_ip(request),
        )
    return redirect(request.app[LINKS]("webhooks", endpoint_id, done="delivery-resent"))
