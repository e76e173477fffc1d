"""Rendering pages (with the page's strict headers) and the customer's upload page.

``render_page`` and ``page_context`` are what every page of this package uses, the staff
portal's too: a page always gets the language, its strings and hashed asset URLs, and
always leaves with its own Content-Security-Policy (the root app only fills in a
``default-src 'none'`` where a response has none)."""

from typing import Any
from urllib.parse import urlsplit

import aiohttp_jinja2
from aiohttp import web

from tuslog.http.client import base_url
from tuslog.keys import SETTINGS
from tuslog.web.i18n import catalogue, choose_language, language_names

PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": PAGE_CSP,
    "Cache-Control": "no-cache",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
    "Vary": "Accept-Language",
}
# The browser sends a file in PATCHes of this size (the uploaders' default too): large
# enough that per-request costs vanish, small enough that progress and retries stay smooth.
CHUNK_SIZE = 16 * 1024 * 1024
# Files up to this size are hashed in the browser before the upload starts (WebCrypto
# needs the whole file in memory) and declared as `sha256`, so the server can mark the
# upload verified. Larger files are hashed by the server only. README, "Browser upload".
HASH_LIMIT = 128 * 1024 * 1024


def url_prefix(public_url: str | None) -> str:
    """The path TUSLOG_PUBLIC_URL puts in front of every URL (``/tuslog``), or ''."""
    return urlsplit(public_url).path.rstrip("/") if public_url else ""


def page_context(request: web.Request, **extra: Any) -> dict[str, Any]:
    language = choose_language(request)
    context: dict[str, Any] = {
        "lang": language,
        "t": catalogue(language),
        "languages": language_names(),
        "prefix": url_prefix(request.config_dict[SETTINGS].public_url),
        "flashes": [],
    }
    context.update(extra)
    return context


def render_page(
    template: str, request: web.Request, context: dict[str, Any], *, status: int = 200
) -> web.Response:
    response = aiohttp_jinja2.render_template(template, request, context, status=status)
    response.headers.update(PAGE_HEADERS)
    response.headers["Content-Language"] = context["lang"]
    return response


async def upload_page(request: web.Request) -> web.Response:
    context = page_context(request)
    prefix = context["prefix"]
    strings: dict[str, str] = context["t"]
    context.update(
        endpoint=f"{prefix}/files/",
        chunk_size=CHUNK_SIZE,
        hash_limit=HASH_LIMIT,
        js_messages={key: text for key, text in strings.items() if key.startswith("js.")},
        server=base_url(request),
    )
    return render_page("upload.html", request, context)


async def upload_page_slash(request: web.Request) -> web.Response:
    """``/upload/`` as typed by hand: to the page, keeping the query (and, in the browser,
    the ``#token`` fragment, which a redirect without one keeps)."""
    query = request.rel_url.raw_query_string
    location = f"{url_prefix(request.config_dict[SETTINGS].public_url)}/upload"
    raise web.HTTPPermanentRedirect(f"{location}?{query}" if query else location)
