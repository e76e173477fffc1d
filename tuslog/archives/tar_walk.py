"""Walk the entries of a tar stream with bounded memory.

Not ``tarfile.open(mode="r|")``: that reader keeps every member in a list (a million
entries is a million objects) and reads a GNU long name or a pax header of any claimed size
into memory; here they are refused above ``Caps.max_extended_header``. Headers are parsed
by :mod:`tuslog.archives.tar_header`; ``tarfile`` supplies the type constants.
"""

import re
import tarfile
from collections.abc import Iterator
from functools import partial

from tuslog.archives.decoders import CHUNK, ByteStream, read_exactly
from tuslog.archives.limits import Budget, DamagedArchive, LimitReached, describe_size
from tuslog.archives.members import EntryType, Member
from tuslog.archives.tar_header import BLOCK, BadHeader, Header, parse_header

_TYPES = {
    tarfile.REGTYPE: EntryType.FILE,
    tarfile.AREGTYPE: EntryType.FILE,
    tarfile.CONTTYPE: EntryType.FILE,
    tarfile.GNUTYPE_SPARSE: EntryType.FILE,
    tarfile.DIRTYPE: EntryType.DIR,
    tarfile.SYMTYPE: EntryType.SYMLINK,
    tarfile.LNKTYPE: EntryType.HARDLINK,
}
_NO_DATA = {tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.CHRTYPE}
_NO_DATA |= {tarfile.BLKTYPE, tarfile.FIFOTYPE}
_EXTENDED = {tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK, tarfile.XHDTYPE}
_EXTENDED |= {tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE}
_SPARSE = "a sparse file; its content is not shown"
_PAX_RECORD = re.compile(rb"(\d{1,20}) ([^=\n]+)=")


def _blocks(size: int) -> int:
    return -(-size // BLOCK) * BLOCK


def parse_pax(data: bytes) -> dict[str, str]:
    """The ``length key=value\\n`` records of a pax extended header."""
    records: dict[str, str] = {}
    pos = 0
    while pos < len(data) and data[pos:].strip(b"\0"):
        match = _PAX_RECORD.match(data, pos)
        end = pos + int(match.group(1)) if match else 0
        if not match or end <= match.end() or end > len(data) or data[end - 1] != 0x0A:
            raise DamagedArchive("a pax extended header is malformed")
        key = match.group(2).decode("utf-8", "surrogateescape")
        records[key] = data[match.end() : end - 1].decode("utf-8", "surrogateescape")
        pos = end
    return records


def _pax_int(records: dict[str, str], key: str) -> int | None:
    value = records.get(key)
    if value is None:
        return None
    try:
        number = int(float(value)) if key == "mtime" else int(value)
    except (ValueError, OverflowError):
        raise DamagedArchive(f"a pax header has an invalid {key} ({value[:40]!r})") from None
    if number < 0 and key != "mtime":
        raise DamagedArchive(f"a pax header has a negative {key}")
    return number


class _Extended:
    """Extended headers that apply to the next entry (and global pax ones to all after)."""

    def __init__(self) -> None:
        self.long_name: str | None = None
        self.long_link: str | None = None
        self.pax: dict[str, str] = {}
        self.global_pax: dict[str, str] = {}

    def absorb(self, kind: bytes, data: bytes) -> None:
        if kind == tarfile.GNUTYPE_LONGNAME:
            self.long_name = data.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
        elif kind == tarfile.GNUTYPE_LONGLINK:
            self.long_link = data.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
        elif kind == tarfile.XGLTYPE:
            self.global_pax.update(parse_pax(data))
        else:
            self.pax.update(parse_pax(data))

    def take(self) -> tuple[str | None, str | None, dict[str, str]]:
        if not (self.long_name or self.long_link or self.pax or self.global_pax):
            return None, None, self.pax  # the common case: a plain header
        found = self.long_name, self.long_link, {**self.global_pax, **self.pax}
        self.long_name, self.long_link, self.pax = None, None, {}
        return found


def iter_tar(stream: ByteStream, budget: Budget) -> Iterator[Member]:
    """Yield each entry; its ``chunks`` may be read before asking for the next one."""
    extended = _Extended()
    index = 0
    while True:
        budget.check()
        start = stream.position
        block = stream.read(BLOCK)
        if not block:
            raise DamagedArchive("the tar data ends without its end-of-archive marker")
        if len(block) < BLOCK:
            raise DamagedArchive("the archive ends inside a header (the file is truncated)")
        if block.count(0) == BLOCK:
            return
        try:
            info = parse_header(block)
        except BadHeader as error:
            raise DamagedArchive(f"no valid tar header at byte {start} ({error})") from None
        if info.type in _EXTENDED:
            extended.absorb(info.type, _read_extended(stream, info, budget))
            continue
        member, stored = _member(stream, info, extended, index)
        data_start = stream.position
        if stored and member.unreadable is None:
            member.chunks = partial(_data, stream, data_start, stored)
        yield member
        index += 1
        end = data_start + _blocks(stored)
        if stream.skip(end - stream.position) < end - stream.position:
            raise DamagedArchive(f"the archive ends inside the data of entry {index}")


def _read_extended(stream: ByteStream, info: Header, budget: Budget) -> bytes:
    limit = budget.caps.max_extended_header
    if info.size > limit:
        raise LimitReached(
            f"an extended header (long name or pax) of {describe_size(info.size)} exceeds "
            f"the limit of {describe_size(limit)}"
        )
    data = read_exactly(stream, _blocks(info.size), "an extended header")
    return data[: info.size]


def _member(
    stream: ByteStream, info: Header, extended: _Extended, index: int
) -> tuple[Member, int]:
    """The entry for ``info`` and the number of data bytes stored after its header."""
    long_name, long_link, pax = extended.take()
    name, link = long_name or info.name, long_link or info.linkname
    stored, mtime, size, unreadable = info.size, info.mtime, info.size, None
    if pax:
        name = pax.get("GNU.sparse.name") or pax.get("path") or name
        link = pax.get("linkpath") or link
        stored = _pax_int(pax, "size") or stored
        mtime = _pax_int(pax, "mtime") or mtime
        size = stored
        sparse_size = _pax_int(pax, "GNU.sparse.realsize") or _pax_int(pax, "GNU.sparse.size")
        if sparse_size is not None:
            size, unreadable = sparse_size, _SPARSE
    if info.type == tarfile.GNUTYPE_SPARSE:
        size, unreadable = _old_gnu_sparse(stream, info), _SPARSE
    kind = _TYPES.get(info.type, EntryType.OTHER)
    if info.type in _NO_DATA:
        stored = 0
    if kind is not EntryType.FILE:
        size = stored if kind is EntryType.OTHER else 0
    member = Member(
        index=index,
        name=name,
        type=kind,
        size=size,
        mtime=mtime,
        link=link if kind in (EntryType.SYMLINK, EntryType.HARDLINK) else None,
        unreadable=unreadable,
    )
    return member, stored


def _old_gnu_sparse(stream: ByteStream, info: Header) -> int:
    """Skip the old GNU sparse extension blocks; return the file's real size."""
    extended = info.sparse_extended
    while extended:
        block = read_exactly(stream, BLOCK, "a sparse header")
        extended = bool(block[504])
    return info.sparse_real_size


def _data(stream: ByteStream, start: int, size: int) -> Iterator[bytes]:
    if stream.position != start:
        raise RuntimeError("tar entry data read after the walk moved on")
    remaining = size
    while remaining:
        chunk = stream.read(min(remaining, CHUNK))
        if not chunk:
            raise DamagedArchive("the archive ends inside an entry's data (truncated)")
        remaining -= len(chunk)
        yield chunk
