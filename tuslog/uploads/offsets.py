"""Where a body stands, and when its bytes must be made durable: the one place that
decides when ``fdatasync`` runs while an upload is received (DESIGN §2.2)."""

from dataclasses import dataclass


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
    ``every_bytes`` or ``every_seconds``, whichever comes first, so a killed server loses
    at most that much, however slowly the client sends. At the body's end, whatever is
    written is synced before its offset is recorded and answered."""

    every_bytes: int
    every_seconds: float

    def due(self, received: int, covered: int, seconds_since_last: float) -> bool:
        """``covered``: what the last (or running) checkpoint covers."""
        return received - covered >= self.every_bytes or seconds_since_last >= self.every_seconds
