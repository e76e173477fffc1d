"""Running whole-file SHA-256 per upload, kept in this process between PATCHes.

When consecutive PATCHes of an upload reach the same process, the server never reads the
file back. Any gap (another worker served a PATCH, a discarded chunk, a restart) drops the
running hash and completion hashes the file once instead.
"""

import hashlib
from collections import OrderedDict
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
