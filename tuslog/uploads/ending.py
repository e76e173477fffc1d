"""The end of an upload: the one way an upload stops existing, whoever ends it — its
client (tus DELETE), the janitor (expiry), staff (the CLI, the portal, the API) or the
deletion of its ticket (DESIGN §2.6).

The upload's lock is taken first, so a PATCH streaming into it stops and saves what it
has; then the end is recorded (with the audit event) in one conditional UPDATE, and only
then are the bytes removed. If that removal fails or the process dies in between, the
request that ended the upload still succeeds: the janitor removes the bytes of ended
uploads later (``Janitor.remove_leftovers``).
"""

import logging
from dataclasses import dataclass

from tuslog.db.models import UploadState
from tuslog.services import tickets
from tuslog.storage.locks import ENDING, HeldLock
from tuslog.uploads import records
from tuslog.uploads.parts import Parts

log = logging.getLogger(__name__)
_TICKET_PASSES = 3  # an upload created while the ticket is being deleted is ended too


@dataclass(frozen=True)
class TicketDeleted:
    number: str
    uploads: int  # uploads whose bytes were removed
    bytes: int


class Ending:
    def __init__(self, parts: Parts) -> None:
        self._parts = parts

    async def end(
        self,
        upload_id: str,
        state: UploadState,
        actor: str,
        client_ip: str | None,
        *,
        wait: bool = True,
        held: HeldLock | None = None,
    ) -> bool:
        """End the upload as ``state`` (expired, terminated or deleted) if that still
        applies (``records.may_end``); True if it did. ``wait``: ask a holder of the lock
        to let go (423 if it does not in time); without, a busy upload is left alone.
        ``held``: the caller already holds the lock."""
        locks = self._parts.locks
        lock = held
        if lock is None:
            lock = await locks.acquire(upload_id, ENDING) if wait else locks.try_acquire(upload_id)
            if lock is None:
                return False
        try:
            async with self._parts.db.begin() as session:
                ended = await records.mark_gone(session, upload_id, state, actor, client_ip)
            if ended:
                await self.forget(upload_id)
            return ended
        finally:
            if held is None:
                lock.release()

    async def forget(self, upload_id: str) -> bool:
        """Remove what is kept for an upload already recorded as ended: its bytes, its
        running hash, its lock files. False if its bytes were not there (any more)."""
        parts = self._parts
        removed = False
        try:
            removed = await parts.io(parts.store.delete, upload_id)
        except OSError as exc:
            log.warning(
                "could not remove the data of ended upload %s (%s); the janitor will retry",
                upload_id,
                exc,
            )
        parts.digests.drop(upload_id)
        parts.locks.discard(upload_id)
        return removed

    async def delete_ticket(self, number: str, actor: str, client_ip: str | None) -> TicketDeleted:
        """Delete a ticket with its tokens and the bytes of every upload. Its tokens are
        revoked first (no upload can start meanwhile), each upload is ended through
        ``end``, and the ticket's row goes last: a crash on the way leaves a ticket that
        can be deleted again, never bytes that nothing refers to."""
        parts = self._parts
        async with parts.db.begin() as session:
            ticket = await tickets.get(session, number)
            ticket_id, number = ticket.id, ticket.number
            await tickets.stop_new_uploads(session, ticket_id)
            count, size = await tickets.upload_summary(session, ticket_id)
        ended = 0
        for _ in range(_TICKET_PASSES):
            async with parts.db.session() as session:
                live = await tickets.live_upload_ids(session, ticket_id)
            for upload_id in live:
                ended += await self.end(upload_id, UploadState.DELETED, actor, client_ip)
            async with parts.db.begin() as session:
                ticket = await tickets.get(session, number)
                if not await tickets.live_upload_ids(session, ticket_id):
                    await tickets.delete_row(
                        session, ticket, actor=actor, ended=ended, client_ip=client_ip
                    )
                    return TicketDeleted(number, count, size)
        raise RuntimeError(f"uploads of ticket {number} kept appearing while it was deleted")
