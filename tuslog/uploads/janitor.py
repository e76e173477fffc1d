"""The janitor: expires unfinished uploads (and partial uploads no final claimed) after
inactivity, removes their bytes, keeps tombstones, and restarts interrupted
verifications. Exactly one is active per deployment, by a lease row in the database.

Every ``LEFTOVER_SWEEP_INTERVAL`` (and at its first pass) it also removes data files that
outlived their upload: an upload is recorded as ended before its bytes are deleted, so a
crash or a failed delete in between leaves them behind."""

import asyncio
import contextlib
import itertools
import logging
import os
import secrets
import socket
from datetime import timedelta

from sqlalchemy import or_, update
from sqlalchemy.exc import IntegrityError

from tuslog import metrics
from tuslog.db.availability import log_failure
from tuslog.db.engine import session_factory
from tuslog.db.models import Lease, UploadState, utcnow
from tuslog.services import retention, sessions, throttle
from tuslog.services.auth_context import Auth
from tuslog.uploads import records
from tuslog.uploads.ending import Ending
from tuslog.uploads.inspection import Inspection
from tuslog.uploads.parts import Parts
from tuslog.uploads.verifier import Verifier

log = logging.getLogger(__name__)
LEASE_NAME = "janitor"
LEFTOVER_SWEEP_INTERVAL = timedelta(hours=6)


class Janitor:
    def __init__(self, parts: Parts, ending: Ending, verifier: Verifier) -> None:
        self._parts = parts
        self._db = parts.db
        self._store = parts.store
        self._locks = parts.locks
        self._ending = ending
        self._verifier = verifier
        self._interval: timedelta = parts.settings.janitor_interval
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self._next_leftover_sweep = utcnow()
        self._stopping = asyncio.Event()
        self._auth = Auth(session_factory(parts.db.engine), parts.settings)

    async def take_lease(self) -> bool:
        """Hold or renew the janitor lease; True if this process is the active janitor."""
        now = utcnow()
        until = now + self._interval * 3
        async with self._db.begin() as session:
            result = await session.execute(
                update(Lease)
                .where(Lease.name == LEASE_NAME)
                .where(or_(Lease.holder == self.holder, Lease.expires_at < now))
                .values(holder=self.holder, expires_at=until)
            )
            if result.rowcount == 1:  # type: ignore[attr-defined]
                return True
        try:
            async with self._db.begin() as session:
                session.add(Lease(name=LEASE_NAME, holder=self.holder, expires_at=until))
        except IntegrityError:
            return False
        return True

    async def sweep(self) -> int:
        """Expire what is due, and restart verifications that a stop or crash cut short;
        returns how many uploads were expired."""
        async with self._db.session() as session:
            due = await records.due_for_expiry(session, utcnow())
            unverified = await records.awaiting_verification(session)
        for upload_id in unverified:
            self._verifier.start(upload_id, patient=False)  # busy lock: being verified
        await Inspection(self._parts).sweep()  # archive manifests: queued, restarted, forgotten
        expired = 0
        for upload_id in due:
            # Without waiting: a busy upload has a request on it right now, so it is not
            # inactive; the UPDATE checks the expiry again under the lock.
            expired += await self._ending.end(
                upload_id, UploadState.EXPIRED, "janitor", None, wait=False
            )
        await self.apply_retention()
        await sessions.purge_expired(self._auth)  # ended portal sessions
        await throttle.purge(self._auth)  # sign-in failure counters whose window is over
        if utcnow() >= self._next_leftover_sweep:
            await self.remove_leftovers()
            self._next_leftover_sweep = utcnow() + LEFTOVER_SWEEP_INTERVAL
        return expired

    async def apply_retention(self) -> int:
        """Delete the archives of tickets resolved ``TUSLOG_RETENTION_DAYS`` ago, each
        through ``Ending.end`` (state deleted, audited, bytes removed); returns how many.
        A busy upload (a request on it right now) is left for the next pass."""
        days = self._parts.settings.retention_days
        async with self._db.session() as session:
            due = await retention.due(session, utcnow(), days)
        deleted = 0
        for ticket in due:
            ended = 0
            for upload_id in ticket.upload_ids:
                ended += await self._ending.end(
                    upload_id, UploadState.DELETED, retention.ACTOR, None, wait=False
                )
            if ended:
                async with self._db.begin() as session:
                    retention.record_applied(session, ticket, ended, days)
                log.info(
                    "retention: deleted %d archive(s) of ticket %s, resolved %s",
                    ended,
                    ticket.number,
                    ticket.resolved_at.date().isoformat(),
                )
            deleted += ended
        return deleted

    async def remove_leftovers(self) -> int:
        """Delete the data files of expired and terminated uploads; returns how many were
        removed. Between batches it renews the lease, and stops when the lease is lost or
        the server stops (a long walk must not be cancelled inside a database call; see
        ``run_forever``)."""
        stored = self._store.stored_ids()
        removed = 0
        without_row: list[str] = []
        while not self._stopping.is_set() and (
            batch := await self._parts.io(lambda: list(itertools.islice(stored, 500)))
        ):
            async with self._db.session() as session:
                ended, unknown = await records.leftovers(session, batch)
            without_row += unknown
            for upload_id in ended:
                removed += await self._remove_leftover(upload_id)
            if not await self.take_lease():
                break
        await self._warn_about_files_without_row(without_row)
        if removed:
            log.info("janitor removed the data of %d ended upload(s) left on disk", removed)
        return removed

    async def _remove_leftover(self, upload_id: str) -> int:
        held = None
        try:
            held = self._locks.try_acquire(upload_id)
            if held is None:
                return 0
            return int(await self._ending.forget(upload_id))
        except OSError as exc:
            log.warning("could not remove the data of ended upload %s: %s", upload_id, exc)
            return 0
        finally:
            if held is not None:
                held.release()

    async def _warn_about_files_without_row(self, upload_ids: list[str]) -> None:
        """Files of no upload are left alone, but an operator should hear of them: left by
        an interrupted ``ticket delete``, or the storage is not this database's. A file
        touched within the hour may be a creation whose row is not committed yet."""
        store = self._store
        stale = await self._parts.io(
            lambda: sum(store.untouched_for(upload_id, 3600) for upload_id in upload_ids)
        )
        if stale:
            log.warning(
                "%d data file(s) in the storage belong to no upload in the database and "
                "were left alone: TUSLOG_DATABASE_URL may not be this storage's database",
                stale,
            )

    async def run_forever(self, stopping: asyncio.Event | None = None) -> None:
        """Sweep every interval until ``stopping`` is set. A pass that has begun is let
        finish: cancelled inside a database call, it would leave the driver's thread to
        answer a loop that is gone (aiosqlite then dies with a traceback at exit)."""
        stopping = self._stopping = stopping or asyncio.Event()
        while not stopping.is_set():
            try:
                if await self.take_lease():
                    count = await self.sweep()
                    if count:
                        log.info("janitor expired %d unfinished upload(s)", count)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                metrics.get().janitor_errors.inc()
                log_failure(log, "janitor pass failed; will retry", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), self._interval.total_seconds())
