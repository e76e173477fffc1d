"""Caps on the work one archive job may do, and the ways a job stops early.

Every reader charges what it decompresses to a :class:`Budget`, which also watches the clock
and the cancel event. Limits are deterministic (bytes, entries, ratio) except the time
budget, which is the last line of defence against work that bytes do not measure.
"""

import threading
import time
from dataclasses import dataclass

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB


@dataclass(frozen=True)
class Caps:
    """Limits for one job (a manifest, a preview, a download or a search).

    ``max_ratio`` is checked per compressed stream (a ``tar.gz`` or one zip entry) once it has
    produced ``ratio_grace_bytes``, so small, very repetitive files never trip it.
    """

    max_entries: int = 100_000
    """Entries kept in a manifest; past it they are only counted (bounds its memory)."""
    max_total_bytes: int = 64 * GiB
    """Bytes decompressed (or read from a plain tar) by one job, skipped data included."""
    max_ratio: int = 200
    """Decompressed : compressed bytes of one stream before it counts as a bomb."""
    ratio_grace_bytes: int = 64 * MiB
    max_path_length: int = 4096
    """Characters of a name kept for display; longer names are cut and flagged."""
    time_budget: float = 600.0
    """Seconds one job may take."""
    max_decoder_memory: int = 128 * MiB
    """xz dictionary / zstd window a stream may ask for (``xz -9`` needs 64 MiB)."""
    max_extended_header: int = 1 * MiB
    """A GNU long name or a pax header larger than this ends the listing."""


class ArchiveProblem(Exception):
    """The archive could not be read to its end; ``reason`` says why, for a person."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class LimitReached(ArchiveProblem):
    """A cap stopped the job (bytes, ratio, entries, time)."""


class DamagedArchive(ArchiveProblem):
    """The bytes are not a valid archive of the detected format (corrupt or truncated)."""


class Cancelled(Exception):
    """The job's cancel event was set. Not a property of the archive: callers abort."""


class EntryUnavailable(Exception):
    """This entry cannot be read as data (a directory, a link, encrypted, not found, ...)."""


def describe_size(count: int) -> str:
    for unit, size in (("GiB", GiB), ("MiB", MiB), ("KiB", KiB)):
        if count >= size:
            return f"{count / size:.1f} {unit}"
    return f"{count} bytes"


class Budget:
    """The running account of one job: decompressed bytes, time, cancellation."""

    def __init__(self, caps: Caps, cancel: threading.Event | None = None) -> None:
        self.caps = caps
        self._cancel = cancel
        self.started = time.monotonic()
        self.deadline = self.started + caps.time_budget
        self.produced = 0
        self.consumed = 0

    def check(self) -> None:
        """Raise if the job was cancelled or its time is up; cheap enough to call per chunk."""
        if self._cancel is not None and self._cancel.is_set():
            raise Cancelled("cancelled")
        if time.monotonic() > self.deadline:
            raise LimitReached(f"the time budget of {self.caps.time_budget:g} s ran out")

    def charge(self, produced: int, consumed: int = 0) -> None:
        """Account ``produced`` decompressed bytes (and ``consumed`` compressed ones)."""
        self.produced += produced
        self.consumed += consumed
        if self.produced > self.caps.max_total_bytes:
            limit = describe_size(self.caps.max_total_bytes)
            raise LimitReached(f"more than {limit} would have to be decompressed")
        self.check()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started


class RatioGuard:
    """Stops one compressed stream whose output outgrows its input beyond ``max_ratio``."""

    def __init__(self, caps: Caps) -> None:
        self._caps = caps
        self.consumed = 0
        self.produced = 0

    def add(self, produced: int, consumed: int) -> None:
        self.produced += produced
        self.consumed += consumed
        if self.produced <= self._caps.ratio_grace_bytes:
            return
        if self.produced > self._caps.max_ratio * max(self.consumed, 1):
            ratio = self.produced // max(self.consumed, 1)
            raise LimitReached(
                f"the data expands more than {self._caps.max_ratio}:1 ({ratio}:1 after "
                f"{describe_size(self.produced)}), which is what a decompression bomb does"
            )
