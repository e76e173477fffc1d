"""List a zip whose central directory is missing (a truncated file) from its local headers.

Every entry starts with a local header that repeats its name, method and (unless flag bit
3 is set) its sizes. Entries written by streaming zippers (bit 3) carry their sizes after
the data; for deflate the end is found by inflating, which is charged to the budget like
any other read. The scan stops at the first thing that is not a local header.
"""

import struct
import zlib
from collections.abc import Iterator
from functools import partial
from typing import BinaryIO

from tuslog.archives.decoders import READ_SIZE, Inflate, drain
from tuslog.archives.limits import Budget, DamagedArchive, RatioGuard
from tuslog.archives.members import EntryType, Member
from tuslog.archives.zip_walk import (
    LOCAL,
    Directory,
    Record,
    dos_time,
    entry_chunks,
    extra_fields,
    member_of,
)

_DESCRIPTOR = b"PK\x07\x08"


def scan_local_headers(raw: BinaryIO, budget: Budget) -> Iterator[Member]:
    file_size = raw.seek(0, 2)
    whole_file = Directory(start=file_size, size=0, count=0, shift=0)
    offset, index = 0, 0
    while True:
        budget.check()
        raw.seek(offset)
        fixed = raw.read(LOCAL.size)
        if len(fixed) < LOCAL.size or fixed[:4] != b"PK\x03\x04":
            return
        record, wide, data_start = _local_record(raw, fixed, offset)
        if record.flags & 8:
            end = _find_streamed_end(raw, record, data_start, wide, budget)
        else:
            end = data_start + record.compressed
        member = member_of(index, record, budget.caps)
        if end > file_size:
            member.unreadable = member.unreadable or "cut off by the end of the file"
        elif member.type is EntryType.FILE and member.unreadable is None:
            member.chunks = partial(entry_chunks, raw, record, whole_file, budget)
        yield member
        if end > file_size:
            return
        offset, index = end, index + 1


def _local_record(raw: BinaryIO, fixed: bytes, offset: int) -> tuple[Record, bool, int]:
    """The entry described by a local header, whether it uses zip64, and where data starts."""
    _sig, _version, _host, flags, method, time, date, crc, compressed, size, name_len, extra_len = (
        LOCAL.unpack(fixed)
    )
    name = raw.read(name_len)
    extra = raw.read(extra_len)
    mtime, wide = dos_time(date=date, time=time), False
    for tag, data in extra_fields(extra):
        if tag == 0x0001 and len(data) >= 16:
            size, compressed = struct.unpack_from("<2Q", data)
            wide = True
        elif tag == 0x5455 and len(data) >= 5 and data[0] & 1:
            mtime = struct.unpack_from("<l", data, 1)[0]
    record = Record(
        name=name,
        flags=flags,
        method=method,
        crc=crc,
        compressed=compressed,
        size=size,
        offset=offset,
        host=0,  # a local header does not say which system made it
        attributes=0,
        mtime=mtime,
        utf8_name=None,
    )
    return record, wide, offset + LOCAL.size + name_len + extra_len


def _find_streamed_end(
    raw: BinaryIO, record: Record, data_start: int, wide: bool, budget: Budget
) -> int:
    """Inflate a bit-3 entry to find where its data ends; fills in its sizes and CRC.

    Returns a position past the end of the file when the data is cut off there.
    """
    if record.method != 8:
        raise DamagedArchive(
            "without the central directory, the end of an entry that is not deflated cannot "
            "be found"
        )
    inflater, guard = Inflate(-15), RatioGuard(budget.caps)
    consumed, produced, crc = 0, 0, 0
    raw.seek(data_start)
    while not inflater.eof:
        data = raw.read(READ_SIZE)
        if not data:  # cut off: list it with what was found, and stop there
            record.size = produced
            return data_start + consumed + 1
        try:
            for chunk in drain(inflater, data, budget, guard):
                produced += len(chunk)
                crc = zlib.crc32(chunk, crc)
        except zlib.error as error:
            raise DamagedArchive(f"an entry's data is corrupt ({error})") from None
        consumed += len(data) - (len(inflater.unused_data) if inflater.eof else 0)
    record.compressed, record.size, record.crc = consumed, produced, crc
    raw.seek(data_start + consumed)
    descriptor = (16 if raw.read(4) == _DESCRIPTOR else 12) + (8 if wide else 0)
    return data_start + consumed + descriptor
