"""API keys for the REST API, made by a staff member signed in with both factors: the list
(one's own keys; administrators see everyone's, with the owner), create (the key shown
once, on the answer to the form and never again) and revoke after a confirmation.

The rules (who may hold the admin scope, expiry limits, the audit events) are the
service's (tuslog.services.apikeys), shared with ``tuslog apikey`` and the API."""

from typing import Any

from aiohttp import web

from tuslog import errors
from tuslog.db.models import utcnow
from tuslog.http.client import base_url, client_ip
from tuslog.keys import DATABASE
from tuslog.services import apikeys
from tuslog.services.sessions import CurrentSession
from tuslog.web.portal import forms
from tuslog.web.portal.guard import LINKS, signed_in
from tuslog.web.portal.render import portal_page, redirect

DEFAULT_EXPIRY = "90d"
SCOPE_HELP = {
    apikeys.READ: "Read tickets, tokens, uploads and storage",
    apikeys.WRITE: "Create and change tickets and upload tokens, delete uploads",
    apikeys.DOWNLOAD: "Download archives",
    apikeys.ADMIN: "Everything, also webhooks and the audit log (administrators only)",
}
_FIELDS = ("name", "scopes", "expires")


def _owner_filter(current: CurrentSession) -> int | None:
    """Whose keys this person may see and revoke: an administrator's, anyone's."""
    return None if current.is_admin else current.user_id


def _offered(current: CurrentSession) -> list[tuple[str, str]]:
    return [
        (scope, SCOPE_HELP[scope])
        for scope in apikeys.SCOPES
        if scope != apikeys.ADMIN or current.is_admin
    ]


async def _keys_page(
    request: web.Request, *, status: int = 200, **extra: Any
) -> web.StreamResponse:
    current = signed_in(request)
    async with request.config_dict[DATABASE].session() as session:
        found = await apikeys.list_keys(session, None if current.is_admin else current.email)
    now = utcnow()
    extra.setdefault("values", {"expires": DEFAULT_EXPIRY, "scopes": [apikeys.READ]})
    extra.setdefault("error", None)
    extra.setdefault("field", None)
    return portal_page(
        request,
        "api_keys.html",
        status=status,
        nav="api-keys",
        keys=[(key, owner, apikeys.key_status(key, now)) for key, owner in found],
        offered=_offered(current),
        show_owner=current.is_admin,
        api_url=base_url(request) + "/api/v1",
        **extra,
    )


async def key_list(request: web.Request) -> web.StreamResponse:
    return await _keys_page(request)


def _field_of(message: str) -> str | None:
    """The form field a service message is about (they start ``scopes: …``)."""
    head = message.split(":", 1)[0]
    return head if head in _FIELDS else None


async def create(request: web.Request) -> web.StreamResponse:
    form = await forms.read_form(request)
    current = signed_in(request)
    name = form.get("name", "")
    scopes = [scope for scope in apikeys.SCOPES if form.get(f"scope_{scope}")]
    values = {"name": name, "scopes": scopes, "expires": form.get("expires", "")}
    try:
        ttl = forms.duration(form, "expires")
        if not scopes:
            raise forms.FormError("scopes", "Tick at least one scope, for example read.")
        async with request.config_dict[DATABASE].begin() as session:
            issued = await apikeys.create_for_session(
                session,
                current,
                scopes=scopes,
                name=name,
                ttl=ttl,
                client_ip=client_ip(request),
            )
    except forms.FormError as exc:
        return await _keys_page(
            request, status=422, values=values, error=exc.message, field=exc.field
        )
    except errors.TuslogError as exc:
        if exc.status != errors.INVALID_VALUE.status:
            raise
        message = exc.message
        if message.startswith("scopes: admin needs"):
            message = "scopes: only administrators may grant the admin scope."
        return await _keys_page(
            request, status=422, values=values, error=message, field=_field_of(message)
        )
    return portal_page(
        request,
        "api_key_issued.html",
        nav="api-keys",
        key=issued.key,
        record=issued.record,
        owner=issued.owner,
        api_url=base_url(request) + "/api/v1",
    )


async def revoke_form(request: web.Request) -> web.StreamResponse:
    current = signed_in(request)
    async with request.config_dict[DATABASE].session() as session:
        record, owner = await apikeys.find(
            session, request.match_info["key"], owner_id=_owner_filter(current)
        )
    if record.revoked_at is not None:
        return redirect(request.app[LINKS]("api-keys", done="apikey-already-revoked"))
    return portal_page(request, "api_key_revoke.html", nav="api-keys", record=record, owner=owner)


async def revoke(request: web.Request) -> web.StreamResponse:
    current = signed_in(request)
    async with request.config_dict[DATABASE].begin() as session:
        _, already = await apikeys.revoke(
            session,
            request.match_info["key"],
            actor=current.email,
            client_ip=client_ip(request),
            owner_id=_owner_filter(current),
        )
    done = "apikey-already-revoked" if already else "apikey-revoked"
    return redirect(request.app[LINKS]("api-keys", done=done))
