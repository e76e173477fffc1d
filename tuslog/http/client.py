"""Who is really calling and under which URL: X-Forwarded-* believed only from trusted
proxies. Also the one definition of the server's public base URL."""

import socket
import sys
from collections.abc import Awaitable, Callable
from ipaddress import ip_address

from aiohttp import web

from tuslog.keys import SETTINGS
from tuslog.settings import Network, Settings

CLIENT_IP = web.RequestKey("client_ip", str)
FROM_TRUSTED_PROXY = web.RequestKey("from_trusted_proxy", bool)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _trusted(address: str, proxies: list[Network]) -> bool:
    try:
        ip = ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in proxies)


def resolve_client_ip(peer: str, forwarded_for: str | None, proxies: list[Network]) -> str:
    """Walk X-Forwarded-For from the right, skipping trusted proxies; the first untrusted
    hop is the client. Without a trusted peer the header is ignored entirely."""
    if not forwarded_for or not _trusted(peer, proxies):
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, proxies):
            return hop if _valid_ip(hop) else peer
    return hops[0] if hops and _valid_ip(hops[0]) else peer


def _valid_ip(value: str) -> bool:
    try:
        ip_address(value)
    except ValueError:
        return False
    return True


@web.middleware
async def client_ip_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    settings = request.config_dict[SETTINGS]
    peer = request.remote or ""
    request[FROM_TRUSTED_PROXY] = _trusted(peer, settings.trusted_proxies)
    request[CLIENT_IP] = resolve_client_ip(
        peer, request.headers.get("X-Forwarded-For"), settings.trusted_proxies
    )
    return await handler(request)


def client_ip(request: web.Request) -> str:
    return str(request.get(CLIENT_IP) or request.remote or "")


def base_url(request: web.Request) -> str:
    """The external base URL for absolute links: PUBLIC_URL, else X-Forwarded-Proto/-Host
    from a trusted proxy, else what the request itself says."""
    settings = request.config_dict[SETTINGS]
    if settings.public_url:
        return settings.public_url
    scheme, host = request.scheme, request.host
    if not _plain_host(host):  # the client's own Host header: never echo markup or CR/LF
        host = _local_address(request)
    if request.get(FROM_TRUSTED_PROXY):
        proto = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
        fwd_host = request.headers.get("X-Forwarded-Host", "").split(",")[0].strip()
        if proto in ("http", "https"):
            scheme = proto
        if _plain_host(fwd_host):
            host = fwd_host
    return f"{scheme}://{host}"


def link_base(request: web.Request) -> str:
    """The base for links the server hands out (an upload's ``Location``): PUBLIC_URL, or
    what a trusted proxy forwarded; otherwise nothing — a relative link, which tus allows
    and every client resolves against the URL it used. A client's own ``Host`` header is
    never echoed into a link (``Host: evil.example`` would otherwise steer it)."""
    settings = request.config_dict[SETTINGS]
    if settings.public_url:
        return settings.public_url
    if request.get(FROM_TRUSTED_PROXY) and _plain_host(
        request.headers.get("X-Forwarded-Host", "").split(",")[0].strip()
    ):
        return base_url(request)
    return ""


def _plain_host(value: str) -> bool:
    """A host name or address with an optional port, nothing else."""
    return bool(value) and all(ch.isascii() and (ch.isalnum() or ch in ".-:[]") for ch in value)


def _local_address(request: web.Request) -> str:
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    if not sockname:
        return "localhost"
    address, port = sockname[0], sockname[1]
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def listen_url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


_WILDCARD_HOSTS = ("0.0.0.0", "::", "")  # noqa: S104 - recognised, not bound


def configured_base_url(settings: Settings, *, warn: bool = True) -> str:
    """Where customers reach the server, outside any request (the CLI's printed commands):
    TUSLOG_PUBLIC_URL, else a guess from the listen address (a wildcard address is no
    address: the host's name is used, with a warning on stderr)."""
    if settings.public_url:
        return settings.public_url
    host = settings.host
    if host in _WILDCARD_HOSTS:
        host = socket.gethostname()
        if warn:
            print(
                f"tuslog: warning: TUSLOG_PUBLIC_URL is not set and the server listens on all "
                f"addresses; the commands below guess http://{host}:{settings.port}. Set "
                "TUSLOG_PUBLIC_URL to the address customers reach.",
                file=sys.stderr,
            )
    return listen_url(host, settings.port)
