"""What kind of archive a file is, by its first bytes (never by its name)."""

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import BinaryIO

from tuslog.archives.decoders import decoded_chunks
from tuslog.archives.limits import ArchiveProblem, Budget
from tuslog.archives.tar_header import BadHeader, parse_header

Opener = Callable[[], BinaryIO]
"""Returns a fresh binary file object at offset 0; seekable (zip reads its end first)."""


class Kind(StrEnum):
    TAR = "tar"
    TAR_GZ = "tar.gz"
    TAR_XZ = "tar.xz"
    TAR_ZST = "tar.zst"
    TAR_BZ2 = "tar.bz2"
    ZIP = "zip"
    GZ = "gz"
    XZ = "xz"
    ZST = "zst"
    BZ2 = "bz2"


@dataclass(frozen=True)
class Detected:
    kind: Kind | None
    """None: not an archive (a normal outcome)."""
    codec: str | None = None
    """gzip, xz, zstd or bzip2 for compressed kinds."""
    member_name: str | None = None
    """For a single compressed file: the gzip FNAME header, else the upload's name."""

    @property
    def is_tar(self) -> bool:
        return self.kind is not None and self.kind.value.startswith("tar")


_CODEC_MAGIC = (
    ("gzip", b"\x1f\x8b\x08", Kind.TAR_GZ, Kind.GZ, (".gz", ".gzip")),
    ("xz", b"\xfd7zXZ\x00", Kind.TAR_XZ, Kind.XZ, (".xz",)),
    ("zstd", b"\x28\xb5\x2f\xfd", Kind.TAR_ZST, Kind.ZST, (".zst", ".zstd")),
    ("bzip2", b"BZh", Kind.TAR_BZ2, Kind.BZ2, (".bz2",)),
)
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
BLOCK = 512  # a tar block


def is_tar_block(block: bytes) -> bool:
    """A ustar/GNU header, an old v7 header with a valid checksum, or an empty tar."""
    if len(block) < BLOCK:
        return False
    if block.count(0) == len(block) and len(block) >= 2 * BLOCK:
        return True  # an empty archive: just the two end-of-archive blocks
    try:
        header = parse_header(block[:BLOCK])
    except BadHeader:
        return False
    return bool(header.name) or block[257:262] == b"ustar"


def detect(opener: Opener, budget: Budget, filename: str | None = None) -> Detected:
    with opener() as raw:
        head = raw.read(64 * 1024)
    if head.startswith(_ZIP_MAGIC):
        return Detected(Kind.ZIP)
    if is_tar_block(head[: 2 * BLOCK]):
        return Detected(Kind.TAR)
    for codec, magic, tar_kind, single_kind, suffixes in _CODEC_MAGIC:
        if head.startswith(magic):
            if is_tar_block(_decoded_head(opener, codec, budget)):
                return Detected(tar_kind, codec)
            name = (_gzip_fname(head) if codec == "gzip" else None) or _strip(filename, suffixes)
            return Detected(single_kind, codec, name)
    return Detected(None)


def _decoded_head(opener: Opener, codec: str, budget: Budget) -> bytes:
    head = b""
    with opener() as raw:
        chunks = decoded_chunks(raw, codec, budget)
        try:
            for chunk in chunks:
                head += chunk
                if len(head) >= 2 * BLOCK:
                    break
        except ArchiveProblem:
            pass  # a damaged stream is still that codec; reading it will say what is wrong
        finally:
            chunks.close()
    return head[: 2 * BLOCK]


def _gzip_fname(head: bytes) -> str | None:
    """The original file name stored in a gzip header (RFC 1952 FNAME), if any."""
    flags = head[3] if len(head) > 3 else 0
    if not flags & 0x08:
        return None
    pos = 10
    if flags & 0x04:  # FEXTRA
        pos += 2 + int.from_bytes(head[pos : pos + 2], "little")
    end = head.find(b"\0", pos)
    if end < 0:
        return None
    name = head[pos:end].decode("utf-8", "surrogateescape").replace("\\", "/").rsplit("/", 1)[-1]
    return name or None


def _strip(filename: str | None, suffixes: tuple[str, ...]) -> str:
    if not filename:
        return "data"
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    for suffix in suffixes:
        if base.lower().endswith(suffix) and len(base) > len(suffix):
            return base[: -len(suffix)]
    return base
