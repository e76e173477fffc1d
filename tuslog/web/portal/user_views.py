"""User management for administrators: the list, create (with a password typed or made
here, shown once), deactivate, reactivate and reset two-factor authentication. Every
change is the service's (tuslog.services.accounts), which audits it and ends the
sessions of whoever loses access."""

import secrets
from typing import Any

from aiohttp import web

from tuslog import errors
from tuslog.db.models import UserRole
from tuslog.http.client import client_ip
from tuslog.keys import DATABASE
from tuslog.services import accounts
from tuslog.web.portal.forms import read_form
from tuslog.web.portal.guard import LINKS, signed_in
from tuslog.web.portal.render import portal_page, redirect

# 20 characters of an alphabet without look-alikes (about 99 bits), in groups of five for
# reading aloud or typing: ``k3mqz-7xzpa-…``.
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


def generated_password() -> str:
    raw = "".join(secrets.choice(_ALPHABET) for _ in range(20))
    return "-".join(raw[i : i + 5] for i in range(0, 20, 5))


async def _users_page(
    request: web.Request, *, status: int = 200, **extra: Any
) -> web.StreamResponse:
    async with request.config_dict[DATABASE].session() as session:
        users = await accounts.list_users(session)
    extra.setdefault("values", {})
    extra.setdefault("error", None)
    return portal_page(request, "users.html", status=status, nav="users", users=users, **extra)


async def user_list(request: web.Request) -> web.StreamResponse:
    return await _users_page(request)


async def create(request: web.Request) -> web.StreamResponse:
    form = await read_form(request)
    current = signed_in(request)
    email = form.get("email", "")[:254]
    typed = form.get("password", "")
    password = typed or generated_password()
    role = UserRole.ADMIN if form.get("admin") == "1" else UserRole.STAFF
    try:
        async with request.config_dict[DATABASE].begin() as session:
            user = await accounts.create_user(
                session,
                email,
                password,
                role=role,
                actor=current.email,
                client_ip=client_ip(request),
            )
    except errors.TuslogError as exc:
        values = {"email": email, "admin": role is UserRole.ADMIN}
        return await _users_page(request, status=422, values=values, error=exc.message)
    return await _users_page(
        request,
        created=user.email,
        created_role=user.role.value,
        created_password=None if typed else password,
    )


async def _change(request: web.Request, action: str) -> web.StreamResponse:
    current = signed_in(request)
    email = request.match_info["email"]
    change = {
        "deactivate": accounts.deactivate,
        "reactivate": accounts.reactivate,
        "reset-2fa": accounts.reset_second_factor,
    }[action]
    try:
        async with request.config_dict[DATABASE].begin() as session:
            await change(session, email, actor=current.email, client_ip=client_ip(request))
    except errors.TuslogError as exc:
        if exc.code == errors.USER_NOT_FOUND.code:
            raise
        return await _users_page(request, status=exc.status, flashes=[("danger", exc.message)])
    done = {"deactivate": "user-deactivated", "reactivate": "user-reactivated"}.get(
        action, "user-2fa-reset"
    )
    if email.strip().lower() == current.email and action != "reactivate":
        return redirect(request.app[LINKS]("signin"))  # their own session just ended
    return redirect(request.app[LINKS]("users", done=done))


async def deactivate(request: web.Request) -> web.StreamResponse:
    return await _change(request, "deactivate")


async def reactivate(request: web.Request) -> web.StreamResponse:
    return await _change(request, "reactivate")


async def reset_2fa(request: web.Request) -> web.StreamResponse:
    return await _change(request, "reset-2fa")
