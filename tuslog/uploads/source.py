"""Where a body's bytes come from, as the engine sees it: any async byte source. The tus
handlers adapt an HTTP request body to it (``tuslog.http.body``); tests and future
surfaces can hand in anything else."""

import enum
from typing import Protocol


class Stop(enum.Enum):
    """Why a body stopped before its end."""

    DISCONNECTED = "disconnected"  # the connection was cut, or the body was malformed
    IDLE = "idle"  # nothing arrived for TUSLOG_READ_TIMEOUT
    RELEASED = "released"  # a newer request for the upload took over
    ENDED = "ended"  # the upload is being ended (deleted by staff)
    SHUTDOWN = "shutdown"  # the server is stopping
    REVOKED = "revoked"  # the token was revoked meanwhile
    DISK_FULL = "disk_full"
    TOO_LARGE = "too_large"  # more bytes than the upload may hold


# Stops after which the bytes the source already holds are still the client's to keep.
SALVAGEABLE = frozenset({Stop.DISCONNECTED, Stop.RELEASED, Stop.SHUTDOWN})


class SourceStopped(Exception):
    """A read ended because the source was interrupted or broke."""

    def __init__(self, reason: Stop) -> None:
        super().__init__(reason.value)
        self.reason = reason


class ByteSource(Protocol):
    @property
    def length(self) -> int | None:
        """The body's length if the sender declared it."""

    async def read(self) -> bytes:
        """The next chunk, as it arrives; ``b""`` at the end. ``SourceStopped`` when
        interrupted or cut."""

    def interrupt(self, reason: Stop) -> None:
        """Make the pending (or next) read raise ``SourceStopped(reason)``."""

    def leftover(self) -> list[bytes]:
        """After a stop: bytes that arrived, in order right after those read, but were not
        handed over yet (they are still the client's to keep)."""
