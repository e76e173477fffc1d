"""Parse one 512-byte tar header: only the fields a listing needs.

``tarfile.TarInfo.frombuf`` decodes every field (owner names, device numbers, ...) and took
about 50 µs per header here, which made a million-entry archive take most of a minute on
headers alone; this takes a fraction of that. The rules follow POSIX ustar, GNU tar and v7:
octal or GNU base-256 numbers, the signed or unsigned checksum, the ustar ``prefix`` (only
in POSIX headers: GNU headers keep access times there), v7 directories as names ending in
``/``, and the old GNU sparse header's real size.
"""

import tarfile
from dataclasses import dataclass

BLOCK = 512
_POSIX_MAGIC = b"ustar\x00"


class BadHeader(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Header:
    name: str
    size: int
    mtime: int
    type: bytes
    linkname: str
    sparse_extended: bool = False
    sparse_real_size: int = 0


def number(field: bytes) -> int:
    """An octal number, or a GNU base-256 one (first byte 0x80 or 0xff)."""
    if field[:1] in (b"\x80", b"\xff"):
        value = int.from_bytes(field[1:], "big")
        return value - (1 << (8 * (len(field) - 1))) if field[0] == 0xFF else value
    text = field.split(b"\0", 1)[0].strip()
    try:
        return int(text or b"0", 8)
    except ValueError:
        raise BadHeader("invalid number in header") from None


def _text(field: bytes) -> str:
    return field.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def _checksum_ok(block: bytes) -> bool:
    try:
        stored = number(block[148:156])
    except BadHeader:
        return False
    unsigned = sum(block) - sum(block[148:156]) + 8 * 0x20
    if stored == unsigned:
        return True
    high = sum(1 for byte in block[:148] + block[156:] if byte >= 0x80)
    return stored == unsigned - 256 * high  # old tars summed signed chars


def parse_header(block: bytes) -> Header:
    """The header in ``block``; raises :class:`BadHeader` when it is not one."""
    if len(block) != BLOCK or not _checksum_ok(block):
        raise BadHeader("bad checksum")
    kind = block[156:157]
    name = _text(block[0:100])
    if block[257:263] == _POSIX_MAGIC and block[345] and kind not in tarfile.GNU_TYPES:
        name = f"{_text(block[345:500])}/{name}"
    if kind == tarfile.AREGTYPE and name.endswith("/"):
        kind = tarfile.DIRTYPE  # v7 directories
    if kind == tarfile.DIRTYPE:
        name = name.rstrip("/") or name
    size, mtime = number(block[124:136]), number(block[136:148])
    if size < 0:
        raise BadHeader("negative size")
    header = Header(name, size, mtime, kind, _text(block[157:257]))
    if kind == tarfile.GNUTYPE_SPARSE:
        real_size = number(block[483:495])
        return Header(name, size, mtime, kind, header.linkname, bool(block[482]), real_size)
    return header
