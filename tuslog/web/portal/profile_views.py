"""The signed-in user's own account: password change (current password and a fresh
code), new recovery codes (current password), and where they are signed in."""

from aiohttp import web

from tuslog import errors
from tuslog.http.client import client_ip
from tuslog.keys import AUTH
from tuslog.services import recovery, self_service, sessions
from tuslog.web.portal.forms import read_form
from tuslog.web.portal.guard import LINKS, set_session_cookie, signed_in
from tuslog.web.portal.render import error_headers, portal_page, redirect


async def _profile_page(
    request: web.Request,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
    **extra: object,
) -> web.StreamResponse:
    auth = request.config_dict[AUTH]
    current = signed_in(request)
    async with auth.sessions() as session:
        codes_left = await recovery.remaining(session, current.user_id)
    extra.setdefault("password_error", None)
    extra.setdefault("codes_error", None)
    return portal_page(
        request,
        "profile.html",
        status=status,
        headers=headers,
        nav="profile",
        codes_left=codes_left,
        my_sessions=await sessions.list_mine(auth, current),
        **extra,
    )


async def profile(request: web.Request) -> web.StreamResponse:
    return await _profile_page(request)


def _failure(exc: errors.TuslogError) -> tuple[int, dict[str, str]]:
    status = 429 if exc.code == errors.SIGN_IN_LOCKED.code else 422
    return status, error_headers(exc)


async def change_password(request: web.Request) -> web.StreamResponse:
    form = await read_form(request)
    current = signed_in(request)
    new = form.get("new_password", "")
    if new != form.get("new_password_again", ""):
        return await _profile_page(
            request,
            status=422,
            password_error="The two new passwords differ; type them again.",  # noqa: S106
        )
    try:
        token = await self_service.change_password(
            request.config_dict[AUTH],
            current,
            old_password=form.get("current_password", ""),
            new_password=new,
            code=form.get("code", ""),
            client_ip=client_ip(request),
        )
    except errors.TuslogError as exc:
        if exc.code == errors.SESSION_INVALID.code:
            raise
        status, headers = _failure(exc)
        return await _profile_page(
            request, status=status, headers=headers, password_error=exc.message
        )
    response = redirect(request.app[LINKS]("profile", done="password-changed"))
    set_session_cookie(request, response, token)
    return response


async def new_recovery_codes(request: web.Request) -> web.StreamResponse:
    form = await read_form(request)
    try:
        codes = await self_service.regenerate_recovery_codes(
            request.config_dict[AUTH],
            signed_in(request),
            password=form.get("password", ""),
            client_ip=client_ip(request),
        )
    except errors.TuslogError as exc:
        if exc.code == errors.SESSION_INVALID.code:
            raise
        status, headers = _failure(exc)
        return await _profile_page(request, status=status, headers=headers, codes_error=exc.message)
    return portal_page(
        request,
        "recovery_codes.html",
        nav="profile",
        heading="Your new recovery codes",
        codes=codes,
        continue_url=request.app[LINKS]("profile"),
    )


async def end_other_sessions(request: web.Request) -> web.StreamResponse:
    await sessions.sign_out_others(
        request.config_dict[AUTH], signed_in(request), client_ip=client_ip(request)
    )
    return redirect(request.app[LINKS]("profile", done="sessions-ended"))
