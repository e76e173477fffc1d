"""Rendering portal pages: the shared context (who is signed in, the CSRF token, links,
the message of a redirect), the portal's headers, and the HTML error page.

Messages after a redirect travel as ``?done=<key>``: only texts from :data:`MESSAGES`
can be shown that way, so a crafted link cannot put words on a staff member's screen.
"""

import logging
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from tuslog import errors
from tuslog.db.availability import database_unavailable, log_failure
from tuslog.http.client import Handler
from tuslog.web.i18n import catalogue
from tuslog.web.pages import page_context, render_page
from tuslog.web.portal.guard import CSRF_FIELD, CURRENT, LINKS, clear_session_cookie

log = logging.getLogger(__name__)

PORTAL_HEADERS = {
    # Customer data and one-time secrets: never kept by a browser or proxy cache.
    "Cache-Control": "no-store",
    "Vary": "Cookie",
    # Our own pages may see where a request came from (browsers then send a real Origin
    # with forms); no other site ever does.
    "Referrer-Policy": "same-origin",
}
PORTAL_LANGUAGE = "en"
MESSAGES: dict[str, tuple[str, str]] = {
    "signed-out": ("success", "You are signed out."),
    "ticket-created": ("success", "Ticket created. Issue an upload token for the customer below."),
    "ticket-updated": ("success", "Ticket saved."),
    "ticket-resolved": ("success", "Ticket resolved. Reopen it to issue new tokens."),
    "ticket-reopened": ("success", "Ticket reopened."),
    "ticket-deleted": ("success", "Ticket deleted, with its tokens and the bytes of its uploads."),
    "token-revoked": ("success", "Token revoked: uploads with it stop at once."),
    "token-already-revoked": ("info", "That token was already revoked; nothing changed."),
    "token-updated": ("success", "Token updated."),
    "upload-deleted": ("success", "Upload deleted; it stays listed as deleted."),
    "upload-already-gone": ("info", "That upload had already ended; nothing changed."),
    "apikey-revoked": ("success", "API key revoked: requests with it are refused from now on."),
    "apikey-already-revoked": ("info", "That API key was already revoked; nothing changed."),
    "webhook-saved": ("success", "Webhook endpoint saved."),
    "webhook-deleted": ("success", "Webhook endpoint deleted, with its delivery records."),
    "delivery-resent": (
        "success",
        "Delivery queued again: it is pending and is sent within a few seconds.",
    ),
    "user-deactivated": ("success", "User deactivated; their sessions ended."),
    "user-reactivated": ("success", "User reactivated."),
    "user-2fa-reset": (
        "success",
        "Two-factor authentication reset; the user sets it up again at the next sign-in.",
    ),
    "password-changed": (
        "success",
        "Password changed. Your other sessions were signed out.",
    ),
    "sessions-ended": ("success", "Your other sessions were signed out."),
    "recovery-used": (
        "warning",
        "You signed in with a recovery code; it is now used up. See below how many are "
        "left, and make new ones before they run out.",
    ),
}
_STATUS_TEXT = {
    400: "The request could not be understood.",
    403: "You may not do this.",
    404: "This page does not exist. Check the address, or start from the dashboard.",
    405: "This address does not take that kind of request.",
    413: "What was sent is too large for a form.",
}


def portal_context(request: web.Request, **extra: Any) -> dict[str, Any]:
    current = request.get(CURRENT)
    flashes = list(extra.pop("flashes", []))
    done = MESSAGES.get(request.query.get("done", ""))
    if done is not None:
        flashes.insert(0, done)
    return page_context(
        request,
        lang=PORTAL_LANGUAGE,  # the portal is written in English: say so, whatever was asked
        t=catalogue(PORTAL_LANGUAGE),
        current=current if current is not None and current.signed_in else None,
        csrf=current.csrf_token if current is not None else "",
        csrf_field=CSRF_FIELD,
        links=request.app[LINKS],
        nav=extra.pop("nav", ""),
        flashes=flashes,
        **extra,
    )


def portal_page(
    request: web.Request,
    template: str,
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> web.Response:
    response = render_page(
        f"portal/{template}", request, portal_context(request, **extra), status=status
    )
    response.headers.update(PORTAL_HEADERS)
    response.headers.update(headers or {})
    return response


def redirect(location: str) -> web.Response:
    """Post/redirect/get: after a change the browser shows a page it may reload."""
    return web.Response(status=303, headers={"Location": location, "Cache-Control": "no-store"})


def error_page(
    request: web.Request, status: int, message: str, headers: Mapping[str, str] | None = None
) -> web.Response:
    return portal_page(
        request,
        "error.html",
        status=status,
        headers=headers,
        error_status=status,
        message=message,
    )


def error_headers(exc: errors.TuslogError) -> dict[str, str]:
    found = {
        name: value
        for name, value in exc.headers.items()
        if name.lower() != "www-authenticate"  # a portal page, not an API challenge
    }
    if exc.retry_after is not None:
        found["Retry-After"] = str(exc.retry_after)
    return found


@web.middleware
async def render_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every portal failure as an HTML page that says what to do (never a traceback)."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        message = _STATUS_TEXT.get(exc.status, exc.reason)
        return error_page(request, exc.status, message)
    except errors.TuslogError as exc:
        if exc.code == errors.SESSION_INVALID.code:  # ended meanwhile (another tab, an admin)
            response = redirect(request.app[LINKS]("signin"))
            clear_session_cookie(request, response)
            return response
        return error_page(request, exc.status, exc.message, error_headers(exc))
    except Exception as exc:
        if database_unavailable(exc):
            log_failure(log, "portal %s %s", exc, request.method, request.path)
            unavailable = errors.DATABASE_UNAVAILABLE(retry_after=5)
            return error_page(request, 503, unavailable.message, error_headers(unavailable))
        log.exception("portal request %s %s failed", request.method, request.path)
        return error_page(
            request, 500, "Something went wrong on the server; it was logged. Try again."
        )
