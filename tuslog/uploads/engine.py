"""The upload engine: one object per process that every surface (tus, portal, REST API,
CLI) and every background job uses, so that each rule about uploads lives in one place.
No HTTP here (DESIGN §1): callers parse and authorise, the engine does.

It is a set of parts, each owning one verb, built on shared dependencies (``Parts``):

- ``creation``: create an upload (admission, the token's attempt, concatenation);
- ``reception``: where an upload stands, receiving bytes, deferred lengths, termination;
- ``completion``: reconciling a record with its bytes, completing;
- ``ending``: the one way an upload ends (terminate, expire, delete; ticket deletion);
- ``reading``: reading a finished upload back, in ranges;
- ``verifier`` and ``janitor``: the background jobs.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from tuslog.db.database import Database
from tuslog.services import storage
from tuslog.settings import Settings
from tuslog.storage.locks import UploadLocks
from tuslog.storage.store import Space, Store
from tuslog.uploads.completion import Completion
from tuslog.uploads.creation import Creation
from tuslog.uploads.ending import Ending
from tuslog.uploads.janitor import Janitor
from tuslog.uploads.parts import Parts
from tuslog.uploads.pools import Pools
from tuslog.uploads.reading import Reading
from tuslog.uploads.reception import Reception
from tuslog.uploads.verifier import Verifier

_BACKGROUND_STOP_TIMEOUT = 15.0  # seconds a janitor pass under way may take at shutdown


@dataclass(frozen=True)
class StorageReport:
    """The storage as staff see it (``tuslog storage``, the dashboard, the API)."""

    total: int
    used: int  # by anything on the volume
    free: int
    uploads: int  # uploads with bytes on disk
    upload_bytes: int  # bytes they hold
    promised: int  # still owed to unfinished uploads of known length
    reserve: int  # TUSLOG_MIN_FREE_SPACE

    @property
    def available(self) -> int:
        """What new uploads may still be admitted to."""
        return max(self.free - self.reserve - self.promised, 0)


class UploadEngine:
    def __init__(self, parts: Parts) -> None:
        self.parts = parts
        self.verifier = Verifier(parts)
        self.completion = Completion(parts, self.verifier)
        self.ending = Ending(parts)
        self.creation = Creation(parts, self.completion, self.ending)
        self.reception = Reception(parts, self.completion, self.ending)
        self.reading = Reading(parts)
        self.janitor = Janitor(parts, self.ending, self.verifier)

    @classmethod
    def build(
        cls, settings: Settings, db: Database, store: Store, locks: UploadLocks
    ) -> "UploadEngine":
        return cls(Parts(settings, db, store, locks, Pools()))

    async def storage_report(self) -> StorageReport:
        parts = self.parts
        space: Space = await parts.io(parts.store.space)
        async with parts.db.session() as session:
            promised = await storage.promised_bytes(session)
            count, held = await storage.stored_bytes(session)
        reserve = parts.settings.min_free_space
        return StorageReport(space.total, space.used, space.free, count, held, promised, reserve)

    @contextlib.asynccontextmanager
    async def running(self, *, background: bool) -> AsyncIterator["UploadEngine"]:
        """Prepare the storage, run the background jobs (``background``: the janitor, the
        revocation and lock watchers), and close everything at the end."""
        parts = self.parts
        await parts.io(parts.store.prepare)
        await parts.io(parts.locks.prepare)
        stopping = asyncio.Event()
        tasks = []
        if background:
            tasks = [
                asyncio.create_task(self.janitor.run_forever(stopping)),
                asyncio.create_task(self.reception.watch_revocations(stopping)),
                asyncio.create_task(parts.locks.watch(stopping)),
            ]
        try:
            yield self
        finally:
            stopping.set()
            if tasks:
                _, late = await asyncio.wait(tasks, timeout=_BACKGROUND_STOP_TIMEOUT)
                for task in late:  # a janitor pass still under way
                    task.cancel()
            await self.verifier.stop()
            await asyncio.to_thread(parts.pools.shutdown)
