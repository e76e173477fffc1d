"""The part of receiving that runs in worker threads: positioned writes and their sync.
A job returns what it achieved; the receiver applies it to its offsets on the loop."""

import asyncio
from dataclasses import dataclass, field

from tuslog.storage.store import StorageFullError, Writer


class SyncFailed(OSError):
    """fdatasync failed. Linux reports a failed writeback once: a later fdatasync may
    succeed without the bytes being on disk, so nothing written before it is trusted."""

    def __init__(self, cause: OSError) -> None:
        super().__init__(cause.errno, cause.strerror)


@dataclass(frozen=True)
class Written:
    end: int  # the file holds this job's bytes up to here
    synced: bool  # an fdatasync covered every byte up to ``end``
    full: bool = False  # the disk filled: the rest of the job's bytes did not land


def write_job(writer: Writer, chunks: list[bytes], position: int, sync: bool) -> Written:
    """Write ``chunks`` at ``position`` (a body has one write in flight at a time: offsets
    count from the start, and a sync must cover every byte before the offset)."""
    start, full = position, False
    for chunk in chunks:
        try:
            writer.write_at(chunk, position)
        except StorageFullError as exc:
            position += exc.written
            full = True
            break
        position += len(chunk)
    if full:
        return Written(position, synced=False, full=True)
    if sync:
        try:
            writer.sync()
        except OSError as exc:
            raise SyncFailed(exc) from exc
        return Written(position, synced=True)
    writer.start_writeback(start, position - start)
    return Written(position, synced=False)


@dataclass
class Batch:
    """Chunks read but not yet handed to a write, and the write in flight."""

    chunks: list[bytes] = field(default_factory=list)
    size: int = 0
    pending: "asyncio.Future[Written] | None" = None

    def add(self, chunk: bytes) -> None:
        self.chunks.append(chunk)
        self.size += len(chunk)

    def clear(self) -> None:
        self.chunks, self.size = [], 0
