"""Who reaches which portal route: the one gate every portal request passes.

Every route has an :class:`Access` level, declared beside the route in
``tuslog.web.portal.routes``; a route declared without one needs a fully signed-in
session (password and second factor), so a route added later cannot slip through.
The gate resolves the session cookie, sends the browser where it has to go next
(sign-in, the code check), refuses staff on admin routes, and checks every unsafe
request: its origin (``Origin`` / ``Sec-Fetch-Site``) always, and the session's CSRF
token whenever there is a session (the sign-in form itself has none yet).
"""

import enum
from urllib.parse import urlsplit

from aiohttp import web

from tuslog import errors
from tuslog.http.client import Handler, base_url
from tuslog.keys import AUTH
from tuslog.services import sessions
from tuslog.services.sessions import CurrentSession
from tuslog.web.portal.links import Links

CURRENT: web.RequestKey[CurrentSession | None] = web.RequestKey("portal_session")
LINKS: web.AppKey[Links] = web.AppKey("portal_links", Links)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_FIELD = "csrf"
CSRF_HEADER = "X-CSRF-Token"
_COOKIE = "tuslog_session"
_SECURE_COOKIE = "__Host-tuslog_session"  # __Host-: Secure, Path=/, no Domain (RFC 6265bis)
_DEFAULT_PORTS = {"http": 80, "https": 443}


class Access(enum.Enum):
    PUBLIC = "public"  # the sign-in form: no session needed
    PENDING = "pending"  # enrolment and the code check: a session past the password only
    SESSION = "session"  # sign-out: any session
    STAFF = "staff"  # everything else: both factors
    ADMIN = "admin"  # user management: both factors and the admin role


ACCESS: dict[str, Access] = {}  # route name → level; absent means Access.STAFF


def access_of(request: web.Request) -> Access:
    name = request.match_info.route.name
    return ACCESS.get(name, Access.STAFF) if name else Access.STAFF


# --- the cookie --------------------------------------------------------------------------
def _secure(request: web.Request) -> bool:
    return base_url(request).startswith("https://")


def cookie_name(request: web.Request) -> str:
    return _SECURE_COOKIE if _secure(request) else _COOKIE


def session_cookie(request: web.Request) -> str | None:
    return request.cookies.get(cookie_name(request))


def set_session_cookie(request: web.Request, response: web.StreamResponse, token: str) -> None:
    """HttpOnly, SameSite=Strict, Secure over https; no Max-Age: it ends with the browser
    session, and the server ends it earlier (idle timeout, lifetime, sign-out)."""
    response.set_cookie(
        cookie_name(request),
        token,
        path="/",
        httponly=True,
        samesite="Strict",
        secure=_secure(request),
    )


def clear_session_cookie(request: web.Request, response: web.StreamResponse) -> None:
    response.del_cookie(
        cookie_name(request), path="/", secure=_secure(request), httponly=True, samesite="Strict"
    )


# --- origins and CSRF --------------------------------------------------------------------
def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    port = parts.port
    if ":" in host:
        host = f"[{host}]"
    shown_port = "" if port in (None, _DEFAULT_PORTS.get(scheme)) else f":{port}"
    return f"{scheme}://{host}{shown_port}"


def check_origin(request: web.Request) -> None:
    """An unsafe request must come from a page of this site. Browsers say so with
    ``Sec-Fetch-Site`` (which scripts cannot set), and that answer wins: Chromium sends
    ``Origin: null`` for a same-origin form under a strict referrer policy. Without it
    (older browsers), ``Origin`` must be ours. A client that sends neither is no
    browser, and a forged cross-site request always comes from one."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        if site.strip().lower() not in ("same-origin", "none"):
            raise errors.CSRF_FAILED()
        return
    origin = request.headers.get("Origin")
    if origin is not None and _origin_of(origin) != _origin_of(base_url(request)):
        raise errors.CSRF_FAILED()


async def _presented_csrf(request: web.Request) -> str | None:
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    if request.content_type not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return None
    value = (await request.post()).get(CSRF_FIELD)
    return value if isinstance(value, str) else None


# --- the gate ----------------------------------------------------------------------------
def _go(request: web.Request, location: str, *, forget: bool = False) -> web.Response:
    response = web.Response(status=303, headers={"Location": location, "Cache-Control": "no-store"})
    if forget:
        clear_session_cookie(request, response)
    return response


def _to_sign_in(request: web.Request, links: Links, had_cookie: bool) -> web.Response:
    wanted = request.rel_url.path_qs if request.method == "GET" else None
    next_path = links.safe_next(wanted)
    if next_path is not None and (next_path == links() or next_path.startswith(links("signin"))):
        next_path = None  # the default anyway, or a step of signing in
    target = links("signin", next=next_path)
    return _go(request, target, forget=had_cookie)


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    access = access_of(request)
    links = request.app[LINKS]
    cookie = session_cookie(request)
    current = await sessions.resolve(request.config_dict[AUTH], cookie)
    request[CURRENT] = current
    if access is not Access.PUBLIC:
        if current is None:
            return _to_sign_in(request, links, had_cookie=cookie is not None)
        if access is Access.PENDING and current.signed_in:
            return _go(request, links())
        if access in (Access.STAFF, Access.ADMIN) and not current.signed_in:
            return _go(request, links("signin", "verify"))
        if access is Access.ADMIN:
            sessions.require_admin(current)
    if request.match_info.http_exception is not None:  # no such page or method
        raise request.match_info.http_exception
    if request.method not in SAFE_METHODS:
        check_origin(request)
        if access is not Access.PUBLIC:
            sessions.check_csrf(current, await _presented_csrf(request))
    return await handler(request)


def signed_in(request: web.Request) -> CurrentSession:
    """The request's session, which the gate has checked for both factors."""
    return sessions.require_signed_in(request.get(CURRENT))


def pending(request: web.Request) -> CurrentSession | None:
    return request.get(CURRENT)
