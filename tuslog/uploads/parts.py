"""What every part of the upload engine works with, built once by whoever runs the
engine: settings, database, store, locks, threads and the running hashes."""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from tuslog import errors
from tuslog.db.database import Database
from tuslog.db.models import Upload
from tuslog.settings import Settings
from tuslog.storage.locks import UploadLocks
from tuslog.storage.store import Store
from tuslog.uploads import hotpath, records
from tuslog.uploads.admission import Limits
from tuslog.uploads.digests import RunningDigests
from tuslog.uploads.pools import Pools

T = TypeVar("T")


@dataclass
class Parts:
    settings: Settings
    db: Database
    store: Store
    locks: UploadLocks
    pools: Pools
    digests: RunningDigests = field(init=False)

    def __post_init__(self) -> None:
        self.digests = RunningDigests(self.pools.hash_lanes)

    @property
    def limits(self) -> Limits:
        return Limits(self.settings.max_upload_size, self.settings.min_free_space)

    async def io(self, function: Callable[..., T], *args: object) -> T:
        """A blocking storage call, on the engine's I/O threads."""
        return await self.pools.run(function, *args)

    async def free_space(self) -> int:
        return (await self.io(self.store.space)).free

    async def reload(self, upload_id: str) -> tuple[Upload, str]:
        """The upload and its ticket number, read anew; 404 or 410 if it is no more."""
        async with self.db.session() as session:
            found = await records.load(session, upload_id)
        if found is None:
            raise errors.UPLOAD_NOT_FOUND()
        if found[0].state.gone:
            raise errors.UPLOAD_GONE()
        return found

    async def record_offset(self, upload_id: str, offset: int) -> hotpath.Recorded:
        """Record a durable offset (its bytes are synced), sliding the upload's expiry."""
        expiry = self.settings.upload_expiry
        return await self.db.quick(
            lambda conn: hotpath.record_offset(conn, upload_id, offset, expiry), writes=True
        )
