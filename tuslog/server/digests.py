"""Running whole-file SHA-256 per upload, kept in this process between PATCHes.

When consecutive PATCHes of an upload reach the same process, the server never reads the
file back. Any gap (another worker served a PATCH, a discarded chunk, a restart) drops the
running hash and completion hashes the file once instead.
"""

import hashlib
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import Any

_MAX_ENTRIES = 256


class RunningDigests:
    def __init__(self) -> None:
        self._entries: OrderedDict[str, tuple[int, Any]] = OrderedDict()

    def take(self, upload_id: str, position: int) -> Any | None:
        """The running hash if it covers exactly ``position`` bytes; a fresh one at 0."""
        entry = self._entries.pop(upload_id, None)
        if entry is not None and entry[0] == position:
            return entry[1]
        return hashlib.sha256() if position == 0 else None

    def put(self, upload_id: str, position: int, digest: Any) -> None:
        self._entries[upload_id] = (position, digest)
        while len(self._entries) > _MAX_ENTRIES:
            self._entries.popitem(last=False)

    def drop(self, upload_id: str) -> None:
        self._entries.pop(upload_id, None)


class HashLanes:
    """A few single-thread executors shared by all uploads of the process. An upload always
    hashes on the same lane, so its bytes are hashed in order; the thread count is bounded
    however many PATCHes run at once."""

    def __init__(self, lanes: int = 4) -> None:
        self._lanes = [
            ThreadPoolExecutor(1, thread_name_prefix=f"tuslog-hash-{n}") for n in range(lanes)
        ]

    def lane(self, upload_id: str) -> ThreadPoolExecutor:
        return self._lanes[int(upload_id[:8], 16) % len(self._lanes)]

    def shutdown(self) -> None:
        for lane in self._lanes:
            lane.shutdown(wait=False)
