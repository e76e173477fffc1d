"""Failed-token rate limit per client IP, counted in each worker process (which gets its
share of the limit: ``tuslog.app._limit_share``).

A failure is counted *before* the token is looked up (a reservation), and handed back
when the token turns out valid: concurrent guesses cannot all pass the check before the
first of them is counted. Only failures are limited: a request whose token this process
saw succeed within the window is still looked up and served from an address that is over
its limit (a customer behind the same NAT as an attacker keeps working); an unknown token
from such an address is refused without a look-up.
"""

import hashlib
import time
from collections import OrderedDict, deque
from dataclasses import dataclass

_KNOWN_GOOD_MAX = 10_000


@dataclass(frozen=True)
class Reservation:
    client: str
    stamp: float


class FailureLimiter:
    def __init__(self, limit: int, window_seconds: float, max_clients: int = 100_000) -> None:
        self._limit = limit
        self._window = window_seconds
        self._max_clients = max_clients
        self._failures: dict[str, deque[float]] = {}
        self._good: OrderedDict[str, float] = OrderedDict()  # token digest → last success

    def _recent(self, client: str, now: float) -> deque[float]:
        failures = self._failures.get(client)
        if failures is None:
            return deque()
        while failures and failures[0] <= now - self._window:
            failures.popleft()
        if not failures:
            del self._failures[client]
        return failures

    def retry_after(self, client: str) -> int | None:
        """Seconds to wait if the client is over its limit, else None."""
        now = time.monotonic()
        failures = self._recent(client, now)
        if len(failures) < self._limit:
            return None
        return max(1, int(failures[0] + self._window - now) + 1)

    def reserve(self, client: str) -> Reservation | None:
        """Count a failure now, to be handed back if the attempt succeeds; None if the
        client is over its limit (nothing counted)."""
        if self.retry_after(client) is not None:
            return None
        return self._add(client)

    def release(self, reservation: Reservation) -> None:
        """The attempt succeeded: it was no failure."""
        failures = self._failures.get(reservation.client)
        if failures is None:
            return
        try:
            failures.remove(reservation.stamp)
        except ValueError:
            return
        if not failures:
            del self._failures[reservation.client]

    def fail(self, client: str, token: str | None = None) -> None:
        """Count a failure found after the look-up (a known token that is used up); the
        token is no longer known to be good."""
        self._add(client)
        if token:
            self._good.pop(_digest(token), None)

    def _add(self, client: str) -> Reservation:
        if len(self._failures) >= self._max_clients and client not in self._failures:
            self._failures.pop(next(iter(self._failures)))
        stamp = time.monotonic()
        self._failures.setdefault(client, deque()).append(stamp)
        return Reservation(client, stamp)

    def remember_good(self, token: str) -> None:
        """The token just did what it was presented for (a creation)."""
        digest = _digest(token)
        self._good[digest] = time.monotonic()
        self._good.move_to_end(digest)
        while len(self._good) > _KNOWN_GOOD_MAX:
            self._good.popitem(last=False)

    def known_good(self, token: str | None) -> bool:
        """Whether ``token`` succeeded in this process within the window (it is still
        checked in full; this only decides whether it may be checked)."""
        if not token:
            return False
        seen = self._good.get(_digest(token))
        return seen is not None and time.monotonic() - seen < self._window


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()
