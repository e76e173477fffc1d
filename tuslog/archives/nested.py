"""Read through one level of compression inside an archive (``syslog.2.gz`` in a bundle).

Rotated logs are usually compressed, so a preview or a search that skipped them would miss
most of the history. An entry whose data starts with gzip, xz, zstd or bzip2 magic is
decompressed with the same bounded decoders, budget and ratio cap as the archive itself.
Only one level: a compressed file inside that is not opened again. Damage inside such an
entry is :class:`NestedDamage` (that entry only), not damage of the archive.
"""

from collections.abc import Iterator

from tuslog.archives.decoders import decoded_chunks
from tuslog.archives.limits import ArchiveProblem, Budget, DamagedArchive

_MAGIC = (
    (b"\x1f\x8b\x08", "gzip"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
)
_BZIP2_BLOCK = bytes.fromhex("314159265359")  # after "BZh" and the block size digit


class NestedDamage(DamagedArchive):
    """A compressed entry's own content is damaged; the archive around it is fine."""


def nested_codec(head: bytes) -> str | None:
    for magic, codec in _MAGIC:
        if head.startswith(magic):
            return codec
    if head[:3] == b"BZh" and head[3:4].isdigit() and head[4:10] == _BZIP2_BLOCK:
        return "bzip2"
    return None


class _ChunkFile:
    """``read()`` over an iterator of chunks; remembers whether the archive itself failed."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self.failed = False

    def read(self, size: int = -1) -> bytes:
        try:
            return next(self._chunks, b"")
        except ArchiveProblem:
            self.failed = True
            raise


def unwrap(chunks: Iterator[bytes], codec: str, budget: Budget) -> Iterator[bytes]:
    source = _ChunkFile(chunks)
    try:
        yield from decoded_chunks(source, codec, budget)
    except DamagedArchive as error:
        if source.failed:
            raise
        raise NestedDamage(f"its {codec} content is damaged ({error.reason})") from None
