"""Upload tokens from the ticket page: issue (the token shown once, with what to send the
customer), revoke, and change the uploads allowed or the lifetime."""

import shlex
from typing import Any

from aiohttp import web

from tuslog import errors
from tuslog.http.client import base_url, client_ip
from tuslog.http.uploaders import commands_for
from tuslog.keys import DATABASE, SETTINGS
from tuslog.services import tokens
from tuslog.web.portal import forms
from tuslog.web.portal.guard import LINKS, signed_in
from tuslog.web.portal.render import portal_page, redirect
from tuslog.web.portal.ticket_views import render_ticket

COMMAND_LABELS = {
    "sh": "Shell (sh and curl, Linux and macOS)",
    "python": "Python 3.8+ (with a progress bar)",
    "browser": "Browser link (the token after # never reaches a server log)",
}


def plain_curl(base: str, token: str) -> str:
    """One tus creation-with-upload request with nothing but curl: not resumable, for a
    machine where neither uploader runs. ``FILE`` is the customer's to fill in."""
    auth = shlex.quote(f"Authorization: Bearer {token}")
    return (
        "F=FILE; curl -fsS -X POST -T \"$F\" -H 'Tus-Resumable: 1.0.0' "
        f"-H {auth} -H 'Content-Type: application/offset+octet-stream' "
        '-H "Upload-Length: $(wc -c < "$F" | tr -d \' \')" '
        "-H \"Upload-Metadata: filename $(basename \"$F\" | tr -d '\\n' | base64 | tr -d '\\n')\" "
        f"-D - -o /dev/null {shlex.quote(base + '/files/')}"
    )


async def issue(request: web.Request) -> web.StreamResponse:
    form = await forms.read_form(request)
    current = signed_in(request)
    settings = request.config_dict[SETTINGS]
    values = {key: form.get(key, "") for key in ("uploads", "expires", "max_bytes")}
    try:
        uploads = forms.count(form, "uploads", default=settings.token_uploads)
        ttl = forms.duration(form, "expires", default=settings.token_ttl)
        max_bytes = forms.size(form, "max_bytes")
        assert uploads is not None and ttl is not None
        async with request.config_dict[DATABASE].begin() as session:
            issued = await tokens.issue(
                session,
                request.match_info["number"],
                uploads=uploads,
                ttl=ttl,
                max_bytes=max_bytes,
                actor=current.email,
                client_ip=client_ip(request),
            )
    except forms.FormError as exc:
        state: dict[str, Any] = {"values": values, "error": exc.message, "field": exc.field}
        return await render_ticket(request, status=422, token_form=state)
    except errors.TuslogError as exc:
        if exc.code == errors.TICKET_NOT_FOUND.code:
            raise
        state = {"values": values, "error": exc.message, "field": None}  # same shape
        return await render_ticket(request, status=422, token_form=state)
    base = base_url(request)
    commands = commands_for(base, issued.token)
    return portal_page(
        request,
        "token_issued.html",
        nav="tickets",
        number=issued.ticket,
        token=issued.token,
        record=issued.record,
        commands=[(COMMAND_LABELS.get(key, key), key, text) for key, text in commands.items()],
        curl=plain_curl(base, issued.token),
    )


async def revoke(request: web.Request) -> web.StreamResponse:
    current = signed_in(request)
    async with request.config_dict[DATABASE].begin() as session:
        revoked = await tokens.revoke(
            session, request.match_info["prefix"], actor=current.email, client_ip=client_ip(request)
        )
        number = await tokens.ticket_number(session, revoked.record)
    done = "token-already-revoked" if revoked.already else "token-revoked"
    return redirect(request.app[LINKS]("tickets", number, done=done))


async def update(request: web.Request) -> web.StreamResponse:
    form = await forms.read_form(request)
    current = signed_in(request)
    try:
        uploads = forms.count(form, "uploads")
        ttl = forms.duration(form, "expires")
    except forms.FormError as exc:
        raise errors.INVALID_VALUE(exc.message) from None
    async with request.config_dict[DATABASE].begin() as session:
        record = await tokens.update(
            session,
            request.match_info["prefix"],
            uploads=uploads,
            ttl=ttl,
            actor=current.email,
            client_ip=client_ip(request),
        )
        number = await tokens.ticket_number(session, record)
    return redirect(request.app[LINKS]("tickets", number, done="token-updated"))
