"""The storage seam: what the upload engine asks of the place where bytes live.

A ``Store`` creates, writes at an offset, syncs, reports, truncates, reads and deletes the
bytes of uploads, and nothing else: it never sees HTTP, tokens or the database. Its
methods block; the engine runs them in its own thread pools. Tests fake failures (a full
disk, a lost writeback, a slow disk) by wrapping a real store, not by subclassing it.
"""

import errno
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, Protocol

_HEX = frozenset("0123456789abcdef")
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


def new_upload_id() -> str:
    """128 random bits, lower-case hex: upload URLs carry these, never the token."""
    return secrets.token_hex(16)


def is_upload_id(name: str) -> bool:
    """An upload id as the server makes them: the only names accepted in upload URLs,
    and the only data file names a store recognises."""
    return len(name) == 32 and _HEX.issuperset(name)


def is_disk_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS


class StorageFullError(OSError):
    """The disk filled during a write; ``written`` bytes of that buffer did reach the file."""

    def __init__(self, written: int) -> None:
        super().__init__(errno.ENOSPC, "No space left on device")
        self.written = written


class DataMissingError(OSError):
    """An upload's data is missing or shorter than its recorded length."""

    def __init__(self, upload_id: str) -> None:
        super().__init__(errno.EIO, f"upload {upload_id} is missing or shorter than recorded")
        self.upload_id = upload_id


@dataclass(frozen=True)
class Space:
    """The volume the uploads live on, in bytes."""

    total: int
    used: int
    free: int


class Writer(Protocol):
    """One upload's data opened for writing. Its methods run in worker threads, and
    ``close`` may be called while one still runs (see ``FileStore``)."""

    def write_at(self, data: bytes | bytearray | memoryview, position: int) -> None:
        """Write all of ``data`` at ``position``; ``StorageFullError`` says how much landed."""

    def sync(self) -> None:
        """Make every byte written so far durable (``fdatasync``)."""

    def start_writeback(self, position: int, length: int) -> None:
        """Hint: start writing this range to the device now, without waiting."""

    def truncate(self, size: int) -> None:
        """Cut the data back to ``size`` bytes, durably."""

    def size(self) -> int: ...

    def close(self) -> None:
        """Release the file; closing it again does nothing (a PATCH's owner and its
        receiver both close it, whichever ends first)."""


class Store(Protocol):
    def prepare(self) -> None:
        """Create what the store needs (directories); called once at start."""

    def create(self, upload_id: str) -> None:
        """Create an empty data file, durably; ``FileExistsError`` if it exists."""

    def open_writer(self, upload_id: str) -> Writer: ...

    def open_reader(self, upload_id: str) -> BinaryIO:
        """The data for reading (a seekable binary file); ``FileNotFoundError`` if gone."""

    def size(self, upload_id: str) -> int | None:
        """The data's current size; None if there is none."""

    def delete(self, upload_id: str) -> bool:
        """Remove the data; False if there was none."""

    def space(self) -> Space: ...

    def probe(self) -> None:
        """Raise ``OSError`` unless the store can be written to right now."""

    def stored_ids(self) -> Iterator[str]:
        """The upload ids that have data, in no particular order."""

    def untouched_for(self, upload_id: str, seconds: float) -> bool:
        """Whether the data exists and was not written for ``seconds``."""

    def location(self, upload_id: str) -> str:
        """Where the bytes are, for operators (a path)."""
