"""Signing in (password, then the second factor), enrolling TOTP, and signing out. The
services do the checking, counting and auditing (tuslog.services.signin); these handlers
turn their answers into pages, cookies and redirects."""

from aiohttp import web
from markupsafe import Markup

from tuslog import errors
from tuslog.db.models import User
from tuslog.http.client import client_ip
from tuslog.keys import AUTH
from tuslog.services import sessions, signin
from tuslog.web.portal.forms import read_form
from tuslog.web.portal.guard import (
    LINKS,
    clear_session_cookie,
    pending,
    session_cookie,
    set_session_cookie,
)
from tuslog.web.portal.render import error_headers, portal_page, redirect

_LOCKED = errors.SIGN_IN_LOCKED.code
_GONE = (errors.SESSION_INVALID.code,)


def _next(request: web.Request, form: dict[str, str] | None = None) -> str | None:
    wanted = (form or {}).get("next") or request.query.get("next")
    return request.app[LINKS].safe_next(wanted)


def _failure_status(exc: errors.TuslogError) -> int:
    """A refused form is shown again: 429 when locked (with Retry-After), else 422."""
    return 429 if exc.code == _LOCKED else 422


async def signin_form(request: web.Request) -> web.StreamResponse:
    current = pending(request)
    if current is not None and current.signed_in:
        return redirect(_next(request) or request.app[LINKS]())
    return portal_page(request, "signin.html", email="", next=_next(request), error=None)


async def signin_submit(request: web.Request) -> web.StreamResponse:
    form = await read_form(request)
    email, next_path = form.get("email", "")[:254], _next(request, form)
    try:
        accepted = await signin.password_step(
            request.config_dict[AUTH],
            email,
            form.get("password", ""),
            client_ip=client_ip(request),
            user_agent=request.headers.get("User-Agent", ""),
            replaces=session_cookie(request),
        )
    except errors.TuslogError as exc:
        return portal_page(
            request,
            "signin.html",
            status=_failure_status(exc),
            headers=error_headers(exc),
            email=email,
            next=next_path,
            error=exc.message,
        )
    step = "enrol" if accepted.needs_enrolment else "verify"
    response = redirect(request.app[LINKS]("signin", step, next=next_path))
    set_session_cookie(request, response, accepted.token)
    return response


async def _enrol_page(
    request: web.Request, *, error: str | None = None, status: int = 200, **headers: str
) -> web.StreamResponse:
    auth = request.config_dict[AUTH]
    try:
        setup = await signin.enrolment(auth, pending(request))
    except errors.TuslogError as exc:
        if exc.code == errors.ALREADY_ENROLLED.code:
            return redirect(request.app[LINKS]("signin", "verify", next=_next(request)))
        raise
    return portal_page(
        request,
        "enrol.html",
        status=status,
        headers=headers,
        qr_svg=Markup(setup.qr_svg),  # noqa: S704 - segno's SVG of our own otpauth URI, no user text
        secret=setup.secret,
        secret_grouped=setup.secret_grouped,
        uri=setup.uri,
        next=_next(request),
        error=error,
    )


async def enrol_form(request: web.Request) -> web.StreamResponse:
    return await _enrol_page(request)


async def enrol_submit(request: web.Request) -> web.StreamResponse:
    form = await read_form(request)
    auth = request.config_dict[AUTH]
    try:
        done = await signin.confirm_enrolment(
            auth, pending(request), form.get("code", ""), client_ip=client_ip(request)
        )
    except errors.TuslogError as exc:
        if exc.code in _GONE:
            raise
        if exc.code == errors.ALREADY_ENROLLED.code:
            return redirect(request.app[LINKS]("signin", "verify"))
        return await _enrol_page(
            request, error=exc.message, status=_failure_status(exc), **error_headers(exc)
        )
    response = portal_page(
        request,
        "recovery_codes.html",
        heading="Two-factor authentication is on. Save your recovery codes",
        codes=done.new_recovery_codes,
        continue_url=_next(request, form) or request.app[LINKS](),
    )
    set_session_cookie(request, response, done.token)
    return response


async def verify_form(request: web.Request) -> web.StreamResponse:
    current = pending(request)
    assert current is not None  # the gate let a pending session through only
    user = await signin.load_user(request.config_dict[AUTH], User.id == current.user_id)
    if user is not None and user.totp_secret is None:
        return redirect(request.app[LINKS]("signin", "enrol", next=_next(request)))
    return portal_page(request, "verify.html", next=_next(request), error=None)


async def verify_submit(request: web.Request) -> web.StreamResponse:
    form = await read_form(request)
    links = request.app[LINKS]
    try:
        done = await signin.second_factor(
            request.config_dict[AUTH],
            pending(request),
            form.get("code", ""),
            client_ip=client_ip(request),
        )
    except errors.TuslogError as exc:
        if exc.code == errors.NOT_ENROLLED.code:
            return redirect(links("signin", "enrol"))
        if exc.code in _GONE:
            raise
        return portal_page(
            request,
            "verify.html",
            status=_failure_status(exc),
            headers=error_headers(exc),
            next=_next(request, form),
            error=exc.message,
        )
    target = _next(request, form) or links()
    if done.recovery_codes_left is not None:
        target = links("profile", done="recovery-used")
    response = redirect(target)
    set_session_cookie(request, response, done.token)
    return response


async def signout(request: web.Request) -> web.StreamResponse:
    current = pending(request)
    if current is not None:
        await sessions.sign_out(request.config_dict[AUTH], current, client_ip=client_ip(request))
    response = redirect(request.app[LINKS]("signin", done="signed-out"))
    clear_session_cookie(request, response)
    return response
