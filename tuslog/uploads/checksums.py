"""Per-request checksums (tus ``checksum`` extension): the algorithms the engine can check
a body against. Parsing the header is the tus layer's business (``tuslog.tus.headers``)."""

import hashlib
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


class Hasher(Protocol):
    def update(self, data: bytes | bytearray | memoryview, /) -> None: ...
    def digest(self) -> bytes: ...


class Crc32:
    def __init__(self) -> None:
        self._value = 0

    def update(self, data: bytes | bytearray | memoryview, /) -> None:
        self._value = zlib.crc32(data, self._value)

    def digest(self) -> bytes:
        return self._value.to_bytes(4, "big")


ALGORITHMS: dict[str, Callable[[], Hasher]] = {
    "sha1": hashlib.sha1,
    "sha256": hashlib.sha256,
    "md5": hashlib.md5,
    "crc32": Crc32,
}


@dataclass(frozen=True)
class Checksum:
    algorithm: str
    digest: bytes

    def new_hasher(self) -> Hasher:
        return ALGORITHMS[self.algorithm]()
