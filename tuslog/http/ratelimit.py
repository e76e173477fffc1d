"""Failed-token rate limit per client IP, counted in each worker process (which gets its
share of the limit: tuslog.app)."""

import time
from collections import deque


class FailureLimiter:
    def __init__(self, limit: int, window_seconds: float, max_clients: int = 100_000) -> None:
        self._limit = limit
        self._window = window_seconds
        self._max_clients = max_clients
        self._failures: dict[str, deque[float]] = {}

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

    def fail(self, client: str) -> None:
        if len(self._failures) >= self._max_clients and client not in self._failures:
            self._failures.pop(next(iter(self._failures)))
        self._failures.setdefault(client, deque()).append(time.monotonic())
