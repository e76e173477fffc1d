"""Failed-token rate limit per client IP, counted in each worker process (which gets its
share of the limit: ``tuslog.app._limit_share``).

A failure is counted *before* the token is looked up (a reservation), and handed back
when the token turns out valid: concurrent guesses cannot all pass the check before the
first of them is counted. An address whose count is at the limit only because look-ups
are still under way waits for them to end instead of being refused: they may be valid
(a burst of creations from one office), and at most ``limit`` look-ups run at once. Only
failures are limited: a request whose token this process saw succeed within the window
is still looked up and served from an address that is over its limit (a customer behind
the same NAT as an attacker keeps working); an unknown token from such an address is
refused without a look-up.
"""

import asyncio
import hashlib
import time
from collections import OrderedDict, deque
from dataclasses import dataclass

_KNOWN_GOOD_MAX = 10_000
# How long a request waits for its address's look-ups in flight before it is refused:
# they are single-row reads, so this is only reached when the database hangs.
_SETTLE_WAIT = 10.0


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
        self._pending: dict[str, int] = {}  # reservations whose look-up has not ended
        self._settled: dict[str, asyncio.Event] = {}  # set when one of them ends

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

    async def reserve(self, client: str, *, wait: bool = True) -> Reservation | None:
        """Count a failure now, to be handed back (``release``) if the attempt succeeds
        or kept (``keep``) if not. None if the client is over its limit (nothing
        counted); over it only by look-ups in flight, this waits for them (``wait``), up
        to ``_SETTLE_WAIT`` in all."""
        deadline = time.monotonic() + _SETTLE_WAIT
        while True:
            counted = len(self._recent(client, time.monotonic()))
            if counted < self._limit:
                self._pending[client] = self._pending.get(client, 0) + 1
                return self._add(client)
            in_flight = self._pending.get(client, 0)
            left = deadline - time.monotonic()
            if not wait or counted - in_flight >= self._limit or left <= 0:
                return None  # over the limit with settled failures alone, or waited enough
            settled = self._settled.setdefault(client, asyncio.Event())
            try:
                await asyncio.wait_for(settled.wait(), left)
            except TimeoutError:
                return None

    def release(self, reservation: Reservation) -> None:
        """The attempt succeeded: it was no failure."""
        self._settle(reservation.client)
        failures = self._failures.get(reservation.client)
        if failures is None:
            return
        try:
            failures.remove(reservation.stamp)
        except ValueError:
            return
        if not failures:
            del self._failures[reservation.client]

    def keep(self, reservation: Reservation) -> None:
        """The attempt failed (or its outcome is unknown): it stays counted."""
        self._settle(reservation.client)

    def _settle(self, client: str) -> None:
        left = self._pending.get(client, 0) - 1
        if left > 0:
            self._pending[client] = left
        else:
            self._pending.pop(client, None)
        settled = self._settled.pop(client, None)
        if settled is not None:
            settled.set()  # the waiters look again

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
