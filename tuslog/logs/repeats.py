"""A condition that repeats (accept failing for lack of file descriptors, storage that
cannot be used, a full disk) is logged once, then at most once every ``interval``
seconds with the number of times it happened meanwhile: a log that floods hides the one
line that matters and fills the disk it complains about."""

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

_MAX_KEYS = 1000  # distinct conditions tracked; beyond, the oldest are forgotten


@dataclass
class _Seen:
    since: float
    suppressed: int = 0


class RepeatFilter(logging.Filter):
    """For warnings and errors: the first of a kind passes, the next ones within
    ``interval`` seconds are counted instead, and the first after that says how many
    there were. "A kind" is the logger and the message's template (its first line)."""

    def __init__(self, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.interval = interval
        self._clock = clock
        self._seen: dict[tuple[str, str], _Seen] = {}
        self._guard = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        key = (record.name, str(record.msg).split("\n", 1)[0][:200])
        now = self._clock()
        with self._guard:
            seen = self._seen.get(key)
            if seen is not None and now - seen.since < self.interval:
                seen.suppressed += 1
                return False
            if len(self._seen) >= _MAX_KEYS:
                self._seen.pop(next(iter(self._seen)))
            self._seen[key] = _Seen(now)
        if seen is not None and seen.suppressed:
            record.msg = (
                f"{record.msg} [{seen.suppressed} more like this in the last "
                f"{now - seen.since:.0f} s were not logged]"
            )
            record.repeated = seen.suppressed
        return True
