"""Where a body stands, when its bytes must be made durable (the one place that decides
when ``fdatasync`` runs while an upload is received, DESIGN §2.2), and how their offset
is recorded when the database is briefly out of reach."""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from tuslog.db.availability import database_unavailable

log = logging.getLogger(__name__)
RecordOffset = Callable[[int], Awaitable[bool]]  # records; True if the token was revoked


@dataclass
class Offsets:
    """Byte positions of one body, from the start of the upload. Owned by its receiver
    and changed only on the event loop: worker threads return results instead.

    ``received ≥ written ≥ durable ≥ recorded`` — except that ``recorded`` may briefly
    trail a background checkpoint's sync."""

    received: int  # read from the source
    written: int  # on the file, with no gap before it
    durable: int  # covered by an fdatasync
    recorded: int  # in the database: what HEAD answers and a resume starts from

    @classmethod
    def at(cls, start: int) -> "Offsets":
        return cls(start, start, start, start)


@dataclass(frozen=True)
class CheckpointPolicy:
    """During a long body the bytes are synced and their offset recorded every
    ``every_bytes``, or every ``every_seconds`` once ``SMALL`` bytes have arrived since the
    last checkpoint, so a killed server loses at most that much. A client that trickles
    (a few bytes a second) is checkpointed every ``SLOW_SECONDS`` instead: a sync and a
    database write per upload every two seconds, for six bytes, is what made 3,000 slow
    uploads saturate a worker. At the body's end, whatever is written is synced before
    its offset is recorded and answered."""

    SMALL = 64 * 1024
    SLOW_SECONDS = 60.0

    every_bytes: int
    every_seconds: float

    def due(self, received: int, covered: int, seconds_since_last: float) -> bool:
        """``covered``: what the last (or running) checkpoint covers."""
        pending = received - covered
        if pending <= 0:
            return False
        if pending >= self.every_bytes:
            return True
        slow = pending < self.SMALL
        wait = max(self.every_seconds, self.SLOW_SECONDS) if slow else self.every_seconds
        return seconds_since_last >= wait


async def record_if_reachable(record: RecordOffset, offset: int) -> bool | None:
    """A checkpoint's record; None (and a warning) while the database is out of reach."""
    try:
        return await record(offset)
    except Exception as exc:
        if not database_unavailable(exc):
            raise
        log.warning("offset %d not recorded yet, the database is unavailable: %s", offset, exc)
        return None


async def record_patiently(record: RecordOffset, offset: int, patience: float) -> bool:
    """A body's last record: while the database is out of reach, try again for
    ``patience`` seconds (the bytes are synced and the lock is held, so nothing is lost by
    waiting) before the client is told to retry."""
    deadline = time.monotonic() + patience
    delay = 0.2
    while True:
        try:
            return await record(offset)
        except Exception as exc:
            if not database_unavailable(exc) or time.monotonic() + delay > deadline:
                raise
        await asyncio.sleep(delay)
        delay = min(delay * 2, 2.0)
