"""Security headers on every response, streamed and file responses included (they are set
when a response is prepared, not by a middleware that streamed ones would bypass)."""

from aiohttp import web

from tuslog.http.client import base_url

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Cross-Origin-Opener-Policy": "same-origin",
}


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if base_url(request).startswith("https://"):
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    response.headers.pop("Server", None)
