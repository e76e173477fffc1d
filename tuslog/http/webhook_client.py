"""The HTTP side of webhook deliveries, on aiohttp's client: every connection goes only to
checked addresses (a resolver that refuses, plus the IP-literal check aiohttp skips the
resolver for), with a timeout, no redirects and a capped read of the answer.

``tuslog.services.webhook_delivery`` decides what is sent, when, and records the outcome;
it sees only ``WebhookClient.post`` (its ``Poster`` protocol), so the services layer
imports no HTTP library.
"""

import socket
from collections.abc import Mapping, Sequence
from ipaddress import ip_address
from types import TracebackType
from typing import Self

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

from tuslog.services.webhook_targets import TargetRefused, address_allowed, literal_refused
from tuslog.settings import Network, Settings

USER_AGENT = "tuslog-webhooks/1"
MAX_CONNECTIONS = 16
RESPONSE_CAP = 4096  # bytes of an answer read (for the error message), never more


class GuardedResolver(AbstractResolver):
    """Refuses a host if any of its addresses is not allowed, so a name cannot resolve to
    a public address when the endpoint is saved and to a private one when connecting."""

    def __init__(self, allowed: Sequence[Network]) -> None:
        self._allowed = list(allowed)
        self._inner = ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        for entry in found:
            address = ip_address(entry["host"].split("%")[0])
            if not address_allowed(address, self._allowed):
                raise TargetRefused(f"{host} resolves to {address}, which is not allowed")
        return found

    async def close(self) -> None:
        await self._inner.close()


class WebhookClient:
    """``async with WebhookClient(settings) as client: await client.post(…)``."""

    def __init__(self, settings: Settings) -> None:
        self._allowed = list(settings.webhook_allowed_networks)
        self._timeout_seconds = settings.webhook_timeout.total_seconds()
        self._http: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Self:
        connector = aiohttp.TCPConnector(
            resolver=GuardedResolver(self._allowed), limit=MAX_CONNECTIONS, force_close=True
        )
        self._http = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=self._timeout_seconds),
            headers={"User-Agent": USER_AGENT},
        )
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._http is not None:
            await self._http.close()

    async def post(
        self, url: str, body: bytes, headers: Mapping[str, str]
    ) -> tuple[int | None, str]:
        """(HTTP status or None, error text or ""): a 2xx is success, anything else an
        error the delivery record shows."""
        assert self._http is not None, "use WebhookClient as an async context manager"
        refused = literal_refused(url, self._allowed)
        if refused is not None:
            return None, f"refused: {refused}"
        try:
            async with self._http.post(
                url, data=body, headers=dict(headers), allow_redirects=False
            ) as response:
                answer = await response.content.read(RESPONSE_CAP)
                return response.status, _error_of(response.status, answer)
        except TargetRefused as exc:
            return None, f"refused: {exc}"
        except TimeoutError:
            return None, f"no answer within {self._timeout_seconds:g} s"
        except (aiohttp.ClientError, OSError) as exc:
            return None, f"{type(exc).__name__}: {exc}"[:300]


def _error_of(status: int, answer: bytes) -> str:
    if 200 <= status < 300:
        return ""
    if 300 <= status < 400:
        return "redirects are not followed; use the final URL"
    text = " ".join(answer.decode("utf-8", "replace").split())[:200]
    return text or f"HTTP {status}"
