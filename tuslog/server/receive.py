"""Streaming a request body into an upload: bounded memory, positioned writes off the event
loop, durable checkpoints, and a watcher that stops the read when the client goes idle or a
newer request wants the upload. Whatever stops the body, the bytes on disk are synced and
the offset that covers them is recorded before anyone is told about it.
"""

import asyncio
import enum
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from aiohttp import StreamReader

from tuslog.server.digests import RunningHash
from tuslog.server.tus_headers import Checksum
from tuslog.storage.filestore import DataFile, StorageFullError, is_disk_full
from tuslog.storage.locks import HeldLock

log = logging.getLogger(__name__)
WRITE_BUFFER = 4 * 1024 * 1024
# Near the end of a body a write starts early, with this much, whenever the writer is
# idle: little is then left to write (and to sync) before the answer. Before that, writes
# go in WRITE_BUFFER batches: fewer thread round trips.
EAGER_WRITE = 256 * 1024
_HASH_BATCH = 1024 * 1024
_REVOCATION_CHECK = 2.0
_HASH_BACKLOG = 16 * 1024 * 1024
_WATCH_INTERVAL = 0.1


# Writes of all uploads: a FIFO queue, so a job that waits for the write before it (see
# _write) only ever waits for one that has started.
_WRITERS = ThreadPoolExecutor(8, thread_name_prefix="tuslog-write")


class Stop(enum.Enum):
    DISCONNECTED = "disconnected"
    IDLE = "idle"
    RELEASED = "released"
    SHUTDOWN = "shutdown"
    REVOKED = "revoked"
    DISK_FULL = "disk_full"
    TOO_LARGE = "too_large"


class _StopReading(TimeoutError):
    """Injected into the request body to stop a blocked read. It is a TimeoutError because
    aiohttp, draining the unread body after the response, treats that one quietly (it
    lingers, then closes the connection) instead of logging an unhandled exception."""

    def __init__(self, reason: Stop) -> None:
        super().__init__(reason.value)
        self.reason = reason


# Stops after which the body bytes aiohttp already holds are still the client's to keep.
_SALVAGEABLE = frozenset({Stop.DISCONNECTED, Stop.RELEASED, Stop.SHUTDOWN})


def buffered_body(content: StreamReader) -> list[bytes]:
    """The body bytes aiohttp had received but not yet handed over when the read stopped.

    On a lost connection aiohttp fails the next read even though body bytes wait in its
    buffer (up to one socket read, 1 MiB during long bodies, plus 128 KiB). They arrived
    in order right after the bytes already read, so the upload keeps them (DESIGN §2.2).
    Bytes of a chunked body that aiohttp's parser had not decoded yet are lost with the
    connection; the client sends them again. This reads aiohttp's private buffer without
    changing it; if the buffer does not have the shape and size aiohttp reports, nothing
    is taken."""
    chunks = getattr(content, "_buffer", None)
    offset = getattr(content, "_buffer_offset", 0)
    size = getattr(content, "_size", None)
    if not isinstance(chunks, deque) or not isinstance(offset, int) or not isinstance(size, int):
        return []
    salvaged = [bytes(chunk) for chunk in chunks]
    if salvaged and offset:
        salvaged[0] = salvaged[0][offset:]
    if sum(map(len, salvaged)) != size:
        return []
    return [chunk for chunk in salvaged if chunk]


async def _to_the_end(function: Callable[..., None], *args: Any) -> None:
    """Run ``function`` in a thread and wait for it even if cancelled meanwhile: a change
    to the data file must not land after the caller released the upload's lock."""
    job = asyncio.ensure_future(asyncio.to_thread(function, *args))
    try:
        await asyncio.shield(job)
    except asyncio.CancelledError:
        await asyncio.wait([job])
        raise


@dataclass
class Received:
    offset: int
    stop: Stop | None
    checksum_ok: bool | None
    digest: RunningHash | None


@dataclass
class ReceiveLimits:
    read_timeout: float
    checkpoint_bytes: int
    checkpoint_seconds: float


class BodyReceiver:
    """One PATCH (or creation-with-upload) body, from ``start`` up to ``limit`` bytes."""

    def __init__(
        self,
        *,
        content: StreamReader,
        data: DataFile,
        start: int,
        limit: int,
        body_length: int | None,
        limits: ReceiveLimits,
        held: HeldLock,
        hashing: RunningHash | None,
        keep_hash: bool,
        checksum: Checksum | None,
        record_offset: Callable[[int], Awaitable[None]],
        still_allowed: Callable[[], Awaitable[bool]],
    ) -> None:
        self._content = content
        self._data = data
        self._start = start
        self._limit = limit
        self._body_end = None if body_length is None else start + body_length
        self._limits = limits
        self._held = held
        self._hashing = hashing  # the whole-file running hash, or a scratch one for checksum
        self._keep_hash = keep_hash
        self._checksum = checksum
        self._chunk_hash = checksum.new_hasher() if checksum else None
        self._record_offset = record_offset
        self._still_allowed = still_allowed
        self._written = start
        self._synced = start  # covered by the fdatasync of the last write, if it made one
        self._sync_error: OSError | None = None
        self._last_write: Future[None] | None = None
        self._durable = start
        self._waiting_since: float | None = None
        self._cancelled = False
        self._syncing: asyncio.Future[None] | None = None
        self._hash_chunks: list[bytes] = []
        self._hash_size = 0
        self._syncing_offset = start
        self._last_checkpoint = time.monotonic()

    async def run(self) -> Received:
        """Receive in a task of its own, shielded from the handler's cancellation. A
        server that cancels the handlers of lost connections (aiohttp's
        ``handler_cancellation``, on in its test server) must not cut it off: the lock
        would be released under a running write, and bytes already synced would never be
        recorded. The reading is told to stop instead; the writes end and the offset is
        recorded, then the cancellation goes on."""
        self._held.on_release_request(
            lambda shutdown: self._stop(Stop.SHUTDOWN if shutdown else Stop.RELEASED)
        )
        work = asyncio.ensure_future(self._receive())
        try:
            while True:
                try:
                    received = await asyncio.shield(work)
                    break
                except asyncio.CancelledError:
                    self._cancelled = True
                    if work.done():  # cancelled itself (the loop's teardown), or finished
                        received = work.result()
                        break
                    self._stop(Stop.DISCONNECTED)
        finally:
            self._held.on_release_request(None)
        if self._cancelled:
            raise asyncio.CancelledError
        return received

    async def _receive(self) -> Received:
        watcher = asyncio.create_task(self._watch())
        try:
            stop = await self._pump()
        finally:
            watcher.cancel()
        return await self._finish(stop)

    def _stop(self, reason: Stop) -> None:
        if self._content.exception() is None:
            self._content.set_exception(_StopReading(reason))

    async def _watch(self) -> None:
        """Stop the read when the client is idle too long, another process wants the
        upload, or the token was revoked (checked every ``_REVOCATION_CHECK`` seconds).
        A failing check must not end the watch: it would leave the lock unguarded."""
        next_revocation_check = time.monotonic() + _REVOCATION_CHECK
        while True:
            await asyncio.sleep(_WATCH_INTERVAL)
            waiting = self._waiting_since
            try:
                if waiting is not None and time.monotonic() - waiting > self._limits.read_timeout:
                    self._stop(Stop.IDLE)
                elif await asyncio.to_thread(self._held.release_requested_elsewhere):
                    self._stop(Stop.RELEASED)
                elif time.monotonic() >= next_revocation_check:
                    next_revocation_check = time.monotonic() + _REVOCATION_CHECK
                    if not await self._still_allowed():
                        self._stop(Stop.REVOKED)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("upload watch check failed; retrying", exc_info=True)

    async def _pump(self) -> Stop | None:
        chunks: list[bytes] = []
        size = 0
        pending: asyncio.Future[Any] | None = None
        position = self._start
        stop: Stop | None = None
        try:
            while True:
                self._waiting_since = time.monotonic()  # only the client's silence counts
                try:
                    chunk = await self._content.readany()
                except _StopReading as exc:
                    stop = exc.reason
                    break
                except asyncio.CancelledError:
                    # aiohttp's shutdown sets a CancelledError as the body's exception, and
                    # the loop's teardown may cancel this task (see run()): save what
                    # arrived first, then let the cancellation through.
                    self._cancelled = True
                    stop = Stop.DISCONNECTED
                    break
                except Exception:  # OSError, EOF, aiohttp payload errors: a cut connection
                    stop = Stop.DISCONNECTED
                    break
                finally:
                    self._waiting_since = None
                if not chunk:
                    break
                if position + size + len(chunk) > self._limit:
                    stop = Stop.TOO_LARGE
                    break
                chunks.append(chunk)  # no copy: the chunks go to pwrite and the hash as-is
                size += len(chunk)
                await self._hash_soon(chunk)
                checkpoint = self._checkpoint_due(position + size)
                eager = (
                    size >= EAGER_WRITE
                    and (pending is None or pending.done())
                    and self._near_end(position + size)
                )
                if size >= WRITE_BUFFER or checkpoint or eager:
                    await self._settle(pending)
                    pending = self._submit(chunks, position)
                    position += size
                    chunks, size = [], 0
                if checkpoint:
                    await self._settle(pending)
                    pending = None
                    self._checkpoint_in_background()
            if stop in _SALVAGEABLE:
                for chunk in buffered_body(self._content):
                    if position + size + len(chunk) > self._limit:
                        break
                    chunks.append(chunk)
                    size += len(chunk)
                    await self._hash_soon(chunk)
            previous, pending = pending, None
            if chunks:
                # The last write runs beside the one still in flight and syncs once that
                # one is done: little is left between the body's end and the answer.
                pending = self._submit(chunks, position, sync=True, after_last=previous is not None)
            await self._settle(previous)
            await self._settle(pending)
            pending = None
            await self._hash_soon(None)
        except OSError as exc:
            if not is_disk_full(exc):
                raise
            return Stop.DISK_FULL
        finally:
            # However the pump ends (cancelled too), no write may outlive it: the caller
            # then releases the lock. The last write waits for the one before it.
            last = self._last_write
            if last is not None and not last.done():
                await asyncio.wait([asyncio.wrap_future(last)])
            if self._syncing is not None:
                await asyncio.wait([self._syncing])
        return stop

    def _near_end(self, received: int) -> bool:
        if self._body_end is None:
            return True  # a chunked body: its end may come any time
        return self._body_end - received <= WRITE_BUFFER

    def _submit(
        self,
        chunks: list[bytes],
        position: int,
        *,
        sync: bool = False,
        after_last: bool = False,
    ) -> asyncio.Future[Any]:
        """Write in a thread; ``after_last``: may start before the last write is done."""
        earlier = self._last_write if after_last else None
        self._last_write = _WRITERS.submit(self._write, chunks, position, sync, earlier)
        return asyncio.wrap_future(self._last_write)

    async def _hash_soon(self, chunk: bytes | None) -> None:
        """Hand the bytes to the hash lane in ~1 MiB batches, beside the writes; ``None``
        flushes. Nobody waits for the hash but completion and a chunk checksum; at most
        ``_HASH_BACKLOG`` bytes wait for it, so a slow hash cannot hoard memory."""
        if self._hashing is None:
            return
        if chunk is not None:
            self._hash_chunks.append(chunk)
            self._hash_size += len(chunk)
            if self._hash_size < _HASH_BATCH:
                return
        if self._hash_chunks:
            self._hashing.feed(self._hash_chunks, self._hash_size, also=self._chunk_hash)
            self._hash_chunks, self._hash_size = [], 0
        await self._hashing.limit_backlog(_HASH_BACKLOG)

    def _write(
        self, chunks: list[bytes], position: int, sync: bool, after: Future[None] | None
    ) -> None:
        """Write ``chunks`` at ``position``; with ``after`` (the write before, which may
        still run in another thread) count and sync only once that one is done: offsets
        count from the start, and a sync must cover every byte before the offset."""
        start = position
        full: StorageFullError | None = None
        for chunk in chunks:
            try:
                self._data.write_at(chunk, position)
            except StorageFullError as exc:
                full = exc
                position += exc.written
                break
            position += len(chunk)
        if after is not None and after.exception() is not None:
            return  # a hole before these bytes: they do not count (the earlier write fails)
        self._written += position - start
        if full is not None:
            # The hash saw bytes the file did not get: its position now runs past the
            # durable offset, so it is not kept (the file is verified at completion).
            raise full
        if sync:
            try:
                self._data.sync()
            except OSError as exc:
                # Linux reports a failed writeback once: a later fdatasync may succeed
                # without the bytes being on disk. Nothing after this is trusted.
                self._sync_error = exc
                raise
            self._synced = self._written
        else:
            self._data.start_writeback(start, position - start)

    def _checkpoint_in_background(self) -> None:
        """fdatasync what is written so far and record that offset, while the body keeps
        flowing: bytes written after the sync started are not covered, and not recorded."""
        self._last_checkpoint = time.monotonic()
        if self._syncing is None or self._syncing.done():
            if self._syncing is not None:
                self._syncing.result()  # surface a failed background sync
            self._syncing = asyncio.ensure_future(self._checkpoint_to(self._written))

    async def _checkpoint_to(self, offset: int) -> None:
        self._syncing_offset = offset
        await asyncio.to_thread(self._data.sync)
        await self._record_offset(offset)
        self._durable = max(self._durable, offset)

    async def _settle(self, pending: asyncio.Future[Any] | None) -> None:
        if pending is not None:
            # Shielded: if this is cancelled, the write thread still runs, and the pump's
            # last wait must see the write itself end, not a cancelled wrapper.
            await asyncio.shield(pending)

    def _checkpoint_due(self, received: int) -> bool:
        """Time to make the received bytes durable and record their offset: every
        ``checkpoint_bytes`` or ``checkpoint_seconds``, whichever comes first, so a killed
        server loses at most that much, however slowly the client sends."""
        if self._checksum is not None:
            return False  # a checksummed chunk is kept whole or not at all
        if self._syncing is not None and not self._syncing.done():
            return False  # one background checkpoint at a time
        return (
            received - max(self._durable, self._syncing_offset) >= self._limits.checkpoint_bytes
            or time.monotonic() - self._last_checkpoint >= self._limits.checkpoint_seconds
        )

    async def _checkpoint(self) -> None:
        if self._sync_error is not None:
            raise self._sync_error
        if self._written != self._durable:
            if self._synced != self._written:
                await asyncio.to_thread(self._data.sync)
            await self._record_offset(self._written)
            self._durable = self._written
        self._last_checkpoint = time.monotonic()

    async def _finish(self, stop: Stop | None) -> Received:
        try:
            return await self._settle_offset(stop)
        except OSError as exc:
            if not is_disk_full(exc):
                raise
            # fdatasync itself hit ENOSPC/EDQUOT (NFS, quotas): nothing past the last durable
            # offset is trusted; the tail is cut back when the lock is next taken.
            return Received(self._durable, Stop.DISK_FULL, None, None)

    async def _settle_offset(self, stop: Stop | None) -> Received:
        if self._syncing is not None and self._syncing.exception() is not None:
            raise self._syncing.exception()  # type: ignore[misc]
        checksum_ok: bool | None = None
        if self._checksum is not None and self._chunk_hash is not None:
            if self._hashing is not None:
                await self._hashing.settled()
            checksum_ok = stop is None and self._chunk_hash.digest() == self._checksum.digest
            if not checksum_ok:
                await _to_the_end(self._data.truncate, self._start)
                return Received(self._start, stop, checksum_ok, None)
        await self._checkpoint()
        # The running hash is only worth keeping if it covers exactly the durable bytes.
        running = self._hashing if self._keep_hash else None
        if running is not None and running.position != self._durable:
            running = None
        return Received(self._durable, stop, checksum_ok, running)
