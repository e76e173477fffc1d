"""Streaming one body into an upload: bounded memory, positioned writes off the event
loop, durable checkpoints. Whatever stops the body (its end, a cut, silence, a newer
request, revocation, shutdown, a full disk), the bytes on disk are synced and the offset
that covers them is recorded before anyone is told about it.

Stops reach a running body by notification, never by polling per upload: the idle timer
is one timer handle, a release request arrives through the upload's lock, a revocation
through the engine (``Receiver.stop``).
"""

import asyncio
import errno
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from typing import Any

from tuslog.storage.locks import ENDING, SHUTDOWN, HeldLock
from tuslog.storage.store import Writer, is_disk_full
from tuslog.uploads.checksums import Checksum
from tuslog.uploads.digests import RunningHash
from tuslog.uploads.offsets import (
    CheckpointPolicy,
    Offsets,
    RecordOffset,
    record_if_reachable,
    record_patiently,
)
from tuslog.uploads.source import SALVAGEABLE, ByteSource, SourceStopped, Stop
from tuslog.uploads.writes import Batch, SyncFailed, Written, write_job

WRITE_BUFFER = 4 * 1024 * 1024
RECORD_PATIENCE = 20.0  # seconds the last offset record waits for the database to return
# Near the end of a body a write starts early, with this much, whenever the writer is
# idle: little is then left to write (and to sync) before the answer. Before that, writes
# go in WRITE_BUFFER batches: fewer thread round trips.
EAGER_WRITE = 256 * 1024
# Each batch is a hand-off to the hash lane and back: 2 MiB took 3-5 % of the server's
# CPU off long bodies against 1 MiB; 4 MiB another 2-4 %, but 32 concurrent uploads then
# peaked 19 MiB higher (bench/README.md, "What the fourth round changed").
_HASH_BATCH = 2 * 1024 * 1024
_HASH_BACKLOG = 16 * 1024 * 1024
# Where a body's bytes are hashed (measured in bench/README.md, "What the fifth round
# changed"): on the event loop as they arrive, which costs less CPU than a hash lane (no
# hand-offs, no contention for the GIL); its last HASH_TAIL bytes wait and are hashed
# while the last write and its sync run. With more than LOOP_HASH_BODIES bodies at once,
# or an unknown length, the lanes hash instead: the loop alone would be the bottleneck.
HASH_TAIL = 8 * 1024 * 1024
LOOP_HASH_BODIES = 2

_STOP_FOR = {SHUTDOWN: Stop.SHUTDOWN, ENDING: Stop.ENDED}


@dataclass(frozen=True)
class Body:
    """What to receive: from ``source``, written from ``start``, at most up to ``limit``."""

    source: ByteSource
    start: int
    limit: int
    checksum: Checksum | None  # the request's Upload-Checksum: kept whole or not at all
    hashing: RunningHash | None  # the whole-file hash, or a scratch one for the checksum
    keep_hash: bool  # ``hashing`` is the upload's running hash, worth keeping


@dataclass(frozen=True)
class Received:
    offset: int  # recorded and durable
    stop: Stop | None
    checksum_ok: bool | None
    digest: RunningHash | None  # the running hash, if it covers exactly ``offset`` bytes
    revoked: bool  # the token was revoked when the last offset was recorded


class Receiver:
    def __init__(
        self,
        body: Body,
        writer: Writer,
        held: HeldLock,
        policy: CheckpointPolicy,
        read_timeout: float,
        writes: Executor,
        record: RecordOffset,
        *,
        bodies: Callable[[], int],
    ) -> None:
        """``bodies``: how many bodies this process is receiving now."""
        self._body = body
        self._source = body.source
        self._writer = writer
        self._held = held
        self._policy = policy
        self._read_timeout = read_timeout
        self._writes = writes
        self._record = record
        self._bodies = bodies
        self.offsets = Offsets.at(body.start)
        self._chunk_hash = body.checksum.new_hasher() if body.checksum else None
        self._last_write: Future[Written] | None = None
        self._sync_error: OSError | None = None
        self._checkpoint: asyncio.Future[None] | None = None
        self._checkpoint_to = body.start
        self._last_checkpoint = time.monotonic()
        self._hash_chunks: list[bytes] = []
        self._hash_size = 0
        self._idle_since: float | None = None
        self._idle_timer: asyncio.TimerHandle | None = None
        self._cancelled = False
        self._revoked = False

    def stop(self, reason: Stop) -> None:
        """Stop reading (another request, revocation, shutdown, silence): what arrived is
        written, synced and recorded, then ``run`` returns."""
        self._source.interrupt(reason)

    async def run(self) -> Received:
        """Receive in a task of its own, shielded from the caller's cancellation. A server
        that cancels the handlers of lost connections (aiohttp's ``handler_cancellation``)
        must not cut it off: the lock would be released under a running write, and bytes
        already synced would never be recorded. The reading is told to stop instead; the
        writes end and the offset is recorded, then the cancellation goes on."""
        self._held.on_release_request(lambda why: self.stop(_STOP_FOR.get(why, Stop.RELEASED)))
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
                    self.stop(Stop.DISCONNECTED)
        finally:
            self._held.on_release_request(None)
            if self._idle_timer is not None:
                self._idle_timer.cancel()
        if self._cancelled:
            raise asyncio.CancelledError
        return received

    async def _receive(self) -> Received:
        stop = await self._pump()
        try:
            return await self._settle_offset(stop)
        except OSError as exc:
            if not is_disk_full(exc):
                raise
            # fdatasync itself hit ENOSPC/EDQUOT (NFS, quotas): nothing past the last
            # recorded offset is trusted; the tail is cut back when the lock is next taken.
            return Received(self.offsets.recorded, Stop.DISK_FULL, None, None, self._revoked)

    # --- reading --------------------------------------------------------------------------
    async def _read(self) -> bytes:
        """The next chunk; only the client's silence counts towards the idle timeout."""
        self._idle_since = time.monotonic()
        if self._idle_timer is None:
            self._arm_idle_timer(self._read_timeout)
        try:
            return await self._source.read()
        finally:
            self._idle_since = None

    def _arm_idle_timer(self, delay: float) -> None:
        self._idle_timer = asyncio.get_running_loop().call_later(delay, self._idle_check)

    def _idle_check(self) -> None:
        """One timer per body, re-armed lazily: no work per chunk, no polling."""
        since = self._idle_since
        waited = 0.0 if since is None else time.monotonic() - since
        if waited >= self._read_timeout:
            self.stop(Stop.IDLE)
            return
        self._arm_idle_timer(self._read_timeout - waited)

    async def _pump(self) -> Stop | None:
        batch = Batch()
        try:
            stop = await self._read_all(batch)
            if stop in SALVAGEABLE:
                await self._salvage(batch)
            await self._write_last(batch)
        except OSError as exc:
            if not is_disk_full(exc):
                raise
            return Stop.DISK_FULL
        finally:
            await self._writes_ended()
        return stop

    async def _read_all(self, batch: Batch) -> Stop | None:
        """Read until the body ends or stops, writing in batches as it goes."""
        while True:
            try:
                chunk = await self._read()
            except SourceStopped as exc:
                return exc.reason
            except asyncio.CancelledError:
                # aiohttp's shutdown sets a CancelledError as the body's exception, and the
                # loop's teardown may cancel this task (see run()): save what arrived
                # first, then let the cancellation through.
                self._cancelled = True
                return Stop.DISCONNECTED
            if not chunk:
                return None
            if self.offsets.received + len(chunk) > self._body.limit:
                return Stop.TOO_LARGE
            await self._take(batch, chunk)

    async def _take(self, batch: Batch, chunk: bytes) -> None:
        batch.add(chunk)  # no copy: the chunks go to pwrite and the hash as-is
        self.offsets.received += len(chunk)
        await self._hash_soon(chunk)
        checkpoint = self._checkpoint_due()
        idle_writer = batch.pending is None or batch.pending.done()
        eager = batch.size >= EAGER_WRITE and idle_writer and self._near_end()
        if batch.size >= WRITE_BUFFER or checkpoint or eager:
            await self._settle(batch.pending)
            batch.pending = self._submit(batch.chunks, self.offsets.received - batch.size)
            batch.clear()
        if checkpoint:
            await self._settle(batch.pending)
            batch.pending = None
            self._start_checkpoint()

    async def _salvage(self, batch: Batch) -> None:
        for chunk in self._source.leftover():
            if self.offsets.received + len(chunk) > self._body.limit:
                break
            batch.add(chunk)
            self.offsets.received += len(chunk)
            await self._hash_soon(chunk)

    def _near_end(self, within: int = WRITE_BUFFER) -> bool:
        length = self._source.length
        if length is None:
            return True  # a chunked body: its end may come any time
        return self._body.start + length - self.offsets.received <= within

    # --- writing --------------------------------------------------------------------------
    def _submit(
        self, chunks: list[bytes], position: int, *, sync: bool = False
    ) -> "asyncio.Future[Written]":
        """Write in a thread (one write of a body at a time: callers settle the last)."""
        job = self._writes.submit(write_job, self._writer, chunks, position, sync)
        self._last_write = job
        return asyncio.wrap_future(job)

    async def _write_last(self, batch: Batch) -> None:
        """The last write, and the sync, once the write still in flight is done. Not beside
        it: two threads writing one file contend for its inode lock (ext4 spins on it),
        which cost an 8 MiB PATCH about 4 ms more server CPU and no less time. The bytes
        still to hash are hashed while they run (``HASH_TAIL``); so is the sync alone if
        every byte was written already."""
        pending, last = batch.pending, None
        batch.pending = None
        await self._settle(pending)
        if batch.chunks:
            position = self.offsets.received - batch.size
            last = self._submit(batch.chunks, position, sync=True)
        elif self.offsets.durable < self.offsets.written:  # every byte written: the sync
            last = self._submit([], self.offsets.written, sync=True)
        try:
            await self._hash_soon(None)
        finally:
            await self._settle(last)

    async def _settle(self, pending: "asyncio.Future[Written] | None") -> None:
        """Wait for a write and apply what it achieved. Shielded: if this is cancelled, the
        thread still runs, and the pump's last wait must see the write itself end."""
        if pending is None:
            return
        try:
            written = await asyncio.shield(pending)
        except SyncFailed as exc:
            self._sync_error = exc
            raise
        self.offsets.written = max(self.offsets.written, written.end)
        if written.synced:
            self.offsets.durable = max(self.offsets.durable, written.end)
        if written.full:
            # The hash saw bytes the file did not get: its position now runs past the
            # recorded offset, so it is not kept (the file is verified at completion).
            raise OSError(errno.ENOSPC, "No space left on device")

    async def _writes_ended(self) -> None:
        """However the pump ends (cancelled too), no write may outlive it: the caller then
        releases the lock. The last write waits for the one before it."""
        last = self._last_write
        if last is not None and not last.done():
            await asyncio.wait([asyncio.wrap_future(last)])
        if self._checkpoint is not None:
            await asyncio.wait([self._checkpoint])

    # --- checkpoints ----------------------------------------------------------------------
    def _checkpoint_due(self) -> bool:
        if self._body.checksum is not None:
            return False  # a checksummed chunk is kept whole or not at all
        if self._checkpoint is not None and not self._checkpoint.done():
            return False  # one background checkpoint at a time
        covered = max(self.offsets.recorded, self._checkpoint_to)
        since = time.monotonic() - self._last_checkpoint
        return self._policy.due(self.offsets.received, covered, since)

    def _start_checkpoint(self) -> None:
        """fdatasync what is written so far and record that offset, while the body keeps
        flowing: bytes written after the sync started are not covered, and not recorded."""
        self._last_checkpoint = time.monotonic()
        if self._checkpoint is not None:
            self._checkpoint.result()  # surface a failed background checkpoint
        self._checkpoint_to = self.offsets.written
        self._checkpoint = asyncio.ensure_future(self._sync_and_record(self.offsets.written))

    async def _sync_and_record(self, offset: int) -> None:
        try:
            await asyncio.wrap_future(self._writes.submit(self._writer.sync))
        except OSError as exc:
            self._sync_error = SyncFailed(exc)
            raise self._sync_error from exc
        self.offsets.durable = max(self.offsets.durable, offset)
        # While the database is away the bytes stay safe on disk; the next checkpoint, or
        # the body's end, records an offset that covers them once it answers again.
        revoked = await record_if_reachable(self._record, offset)
        if revoked is not None:
            self._recorded(offset, revoked)

    def _recorded(self, offset: int, revoked: bool) -> None:
        self._revoked = revoked
        self.offsets.recorded = max(self.offsets.recorded, offset)
        if revoked:
            self.stop(Stop.REVOKED)

    async def _final_checkpoint(self) -> None:
        if self._sync_error is not None:
            raise self._sync_error
        offsets = self.offsets
        if offsets.written != offsets.recorded:
            if offsets.durable != offsets.written:
                await asyncio.wrap_future(self._writes.submit(self._writer.sync))
                offsets.durable = offsets.written
            revoked = await record_patiently(self._record, offsets.written, RECORD_PATIENCE)
            self._recorded(offsets.written, revoked)

    async def _settle_offset(self, stop: Stop | None) -> Received:
        if self._checkpoint is not None and self._checkpoint.exception() is not None:
            raise self._checkpoint.exception()  # type: ignore[misc]
        body = self._body
        checksum_ok: bool | None = None
        if body.checksum is not None and self._chunk_hash is not None:
            if body.hashing is not None:
                await body.hashing.settled()
            checksum_ok = stop is None and self._chunk_hash.digest() == body.checksum.digest
            if not checksum_ok:
                await _to_the_end(self._writes, self._writer.truncate, body.start)
                return Received(body.start, stop, checksum_ok, None, self._revoked)
        await self._final_checkpoint()
        # The running hash is only worth keeping if it covers exactly the recorded bytes.
        running = body.hashing if body.keep_hash else None
        if running is not None and running.position != self.offsets.recorded:
            running = None
        return Received(self.offsets.recorded, stop, checksum_ok, running, self._revoked)

    # --- hashing --------------------------------------------------------------------------
    async def _hash_soon(self, chunk: bytes | None) -> None:
        """Hash the bytes in ~2 MiB batches, on the loop or on the hash lane beside the
        writes; on the loop, a body's tail waits for its last write (``HASH_TAIL``).
        ``None`` flushes. Nobody waits for the lane but completion and a chunk checksum;
        at most ``_HASH_BACKLOG`` bytes wait for it, so a slow hash cannot hoard memory."""
        hashing = self._body.hashing
        if hashing is None:
            return
        on_loop = self._source.length is not None and self._bodies() <= LOOP_HASH_BODIES
        if chunk is not None:
            self._hash_chunks.append(chunk)
            self._hash_size += len(chunk)
            if self._hash_size < _HASH_BATCH or (on_loop and self._near_end(HASH_TAIL)):
                return
        if self._hash_chunks:
            hashing.feed(self._hash_chunks, self._hash_size, self._chunk_hash, on_loop=on_loop)
            self._hash_chunks, self._hash_size = [], 0
        await hashing.limit_backlog(_HASH_BACKLOG)


async def _to_the_end(executor: Executor, function: Callable[..., Any], *args: Any) -> None:
    """Run ``function`` in a thread and wait for it even if cancelled meanwhile: a change
    to the data file must not land after the caller released the upload's lock."""
    job = asyncio.wrap_future(executor.submit(function, *args))
    try:
        await asyncio.shield(job)
    except asyncio.CancelledError:
        await asyncio.wait([job])
        raise
