"""Where webhooks may go (SSRF): http(s) URLs whose host resolves only to public
addresses. Loopback, private, link-local, multicast, reserved and unspecified addresses
(IPv4 and IPv6, also IPv4-mapped) are refused unless TUSLOG_WEBHOOK_ALLOWED_NETWORKS
includes them. The check runs on the addresses the connection will use (a resolver that
refuses, so a name cannot resolve to a public address when checked and a private one
when connecting), and redirects are never followed.
"""

import asyncio
from collections.abc import Sequence
from ipaddress import IPv4Address, IPv6Address, ip_address
from urllib.parse import urlsplit

from tuslog import errors
from tuslog.settings import Network

IpAddress = IPv4Address | IPv6Address
_RESOLVE_SECONDS = 5.0


class TargetRefused(Exception):
    """A webhook URL's address is not allowed (the delivery records why)."""


def address_allowed(address: IpAddress, allowed: Sequence[Network]) -> bool:
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if any(address in network for network in allowed):
        return True
    return address.is_global and not address.is_multicast


def check_url(url: str, allowed: Sequence[Network]) -> str:
    """The URL if its form is acceptable (http(s), a host, no credentials, and an IP
    literal host only if allowed); WEBHOOK_TARGET_REFUSED saying why otherwise."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise errors.WEBHOOK_TARGET_REFUSED("url: not a valid URL.") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise errors.WEBHOOK_TARGET_REFUSED("url: use an http:// or https:// URL with a host.")
    if parts.username or parts.password:
        raise errors.WEBHOOK_TARGET_REFUSED("url: no user or password in the URL.")
    if port == 0:
        raise errors.WEBHOOK_TARGET_REFUSED("url: port 0 is not a port.")
    literal = _literal(parts.hostname)
    if literal is not None and not address_allowed(literal, allowed):
        raise errors.WEBHOOK_TARGET_REFUSED(
            f"url: {literal} is a private, loopback or link-local address; allow it with "
            "TUSLOG_WEBHOOK_ALLOWED_NETWORKS if you mean it."
        )
    return url.strip()


def _literal(host: str) -> IpAddress | None:
    try:
        return ip_address(host.strip("[]"))
    except ValueError:
        return None


async def check_resolves(url: str, allowed: Sequence[Network]) -> None:
    """At configuration time: the host resolves, and only to allowed addresses."""
    host = urlsplit(url).hostname or ""
    if _literal(host) is not None:
        return
    try:
        async with asyncio.timeout(_RESOLVE_SECONDS):
            infos = await asyncio.get_running_loop().getaddrinfo(host, None)
    except (OSError, TimeoutError):
        raise errors.WEBHOOK_TARGET_REFUSED(f"url: {host[:100]} does not resolve.") from None
    for info in infos:
        address = ip_address(str(info[4][0]).split("%")[0])
        if not address_allowed(address, allowed):
            raise errors.WEBHOOK_TARGET_REFUSED(
                f"url: {host[:100]} resolves to {address}, a private, loopback or link-local "
                "address; allow it with TUSLOG_WEBHOOK_ALLOWED_NETWORKS if you mean it."
            )


def literal_refused(url: str, allowed: Sequence[Network]) -> str | None:
    """Why an IP-literal URL may not be reached (aiohttp does not ask the resolver for
    IP literals), or None."""
    literal = _literal(urlsplit(url).hostname or "")
    if literal is not None and not address_allowed(literal, allowed):
        return f"{literal} is not an allowed address"
    return None
