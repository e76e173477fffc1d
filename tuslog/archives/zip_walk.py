"""Walk a zip's central directory with bounded memory, and read one entry's data.

``zipfile.ZipFile`` reads the whole central directory and builds an object per entry
before anything can be listed, and (before Python 3.11.8/3.12.2) does not notice entries
whose data overlap, the trick behind "quoted overlap" zip bombs. So the directory is
streamed here: entries are yielded one by one, and a first pass over at most
``Caps.max_entries`` entries checks that no two entries' data overlap (16 bytes each).
Entry data is decompressed with an output limit per call, checked against the size the
directory declares, the job's byte budget, the ratio cap and the CRC.
"""

import bz2
import calendar
import itertools
import lzma
import stat
import struct
import zlib
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from typing import BinaryIO

from tuslog.archives.decoders import (
    DECODE_ERRORS,
    READ_SIZE,
    ChunkStream,
    Decoder,
    Inflate,
    drain,
    read_exactly,
    zstd_decoder,
)
from tuslog.archives.limits import Budget, Caps, DamagedArchive, RatioGuard
from tuslog.archives.members import EntryType, Member

_EOCD = struct.Struct("<4s4H2LH")
_EOCD64_LOCATOR = struct.Struct("<4sLQL")
_EOCD64 = struct.Struct("<4sQ2H2L4Q")
_CENTRAL = struct.Struct("<4s4B4HL2L5H2L")
LOCAL = struct.Struct("<4s2B4HL2L2H")
_METHODS = {0: "stored", 8: "deflate", 12: "bzip2", 14: "lzma", 93: "zstd"}
_UNSUPPORTED = {9: "Deflate64", 98: "PPMd", 99: "AES encryption"}


class NoCentralDirectory(DamagedArchive):
    """The zip's end is missing; :mod:`tuslog.archives.zip_scan` lists what it can."""


@dataclass(frozen=True)
class Directory:
    start: int  # where the central directory starts in the file
    size: int
    count: int  # entries it claims
    shift: int  # bytes prepended to the zip (self-extractors): added to every offset


@dataclass(slots=True)
class Record:
    name: bytes
    flags: int
    method: int
    crc: int
    compressed: int
    size: int
    offset: int
    host: int
    attributes: int
    mtime: int | None
    utf8_name: str | None


def iter_zip(raw: BinaryIO, budget: Budget) -> Iterator[Member]:
    directory = _find_directory(raw)
    overlap = _find_overlap(raw, directory, budget)
    for index, record in enumerate(_records(raw, directory, budget)):
        member = member_of(index, record, budget.caps)
        if overlap and member.type is EntryType.FILE:
            member.unreadable = overlap
        elif member.type is EntryType.FILE and member.unreadable is None:
            member.chunks = partial(entry_chunks, raw, record, directory, budget)
        elif member.type is EntryType.SYMLINK and not overlap:
            member.link = _symlink_target(raw, record, directory, budget)
        yield member
    if overlap:
        raise DamagedArchive(overlap)


def _find_directory(raw: BinaryIO) -> Directory:
    size = raw.seek(0, 2)
    tail_start = max(0, size - (_EOCD.size + 0xFFFF + _EOCD64_LOCATOR.size))
    raw.seek(tail_start)
    tail = raw.read()
    pos = tail.rfind(b"PK\x05\x06")
    while pos >= 0 and pos + _EOCD.size > len(tail):
        pos = tail.rfind(b"PK\x05\x06", 0, pos)
    if pos < 0:
        raise NoCentralDirectory(
            "the zip has no end-of-central-directory record (the file is truncated)"
        )
    _sig, _disk, _cd_disk, _n_disk, count, cd_size, cd_offset, _comment = _EOCD.unpack_from(
        tail, pos
    )
    end = tail_start + pos
    locator_at = pos - _EOCD64_LOCATOR.size
    if locator_at >= 0 and tail[locator_at : locator_at + 4] == b"PK\x06\x07":
        record_at = end - _EOCD64_LOCATOR.size - _EOCD64.size
        raw.seek(max(0, record_at))
        record = raw.read(_EOCD64.size)
        if len(record) == _EOCD64.size and record[:4] == b"PK\x06\x06":
            *_, count, cd_size, cd_offset = _EOCD64.unpack(record)
            end = record_at
    start = end - cd_size
    if start < 0 or start < cd_offset:
        raise DamagedArchive("the zip's central directory record is inconsistent")
    return Directory(start=start, size=cd_size, count=count, shift=start - cd_offset)


def _raw_range(raw: BinaryIO, start: int, length: int, budget: Budget) -> Iterator[bytes]:
    """The file's bytes [start, start + length), read in bounded pieces.

    Seeks before every read: other readers (a symlink's target) share the file object.
    """
    while length > 0:
        raw.seek(start)
        piece = raw.read(min(length, READ_SIZE))
        if not piece:
            raise DamagedArchive("the zip ends early (the file is truncated)")
        start += len(piece)
        length -= len(piece)
        budget.charge(0, len(piece))
        yield piece


def _records(raw: BinaryIO, directory: Directory, budget: Budget) -> Iterator[Record]:
    stream = ChunkStream(_raw_range(raw, directory.start, directory.size, budget))
    number = 0
    while stream.position < directory.size:
        number += 1
        fixed = read_exactly(stream, _CENTRAL.size, "the central directory")
        fields = _CENTRAL.unpack(fixed)
        if fields[0] != b"PK\x01\x02":
            raise DamagedArchive(f"central directory entry {number} is damaged")
        name_len, extra_len, comment_len = fields[12], fields[13], fields[14]
        name = read_exactly(stream, name_len, "the central directory")
        extra = read_exactly(stream, extra_len, "the central directory")
        stream.skip(comment_len)
        yield _record(fields, name, extra, directory.shift)


def _record(fields: tuple[int | bytes, ...], name: bytes, extra: bytes, shift: int) -> Record:
    """One central directory entry (fields as unpacked by ``_CENTRAL``)."""
    value = [field if isinstance(field, int) else 0 for field in fields]
    compressed, size, offset = value[10], value[11], value[18]
    mtime = dos_time(date=value[8], time=value[7])
    utf8_name = None
    for tag, data in extra_fields(extra):
        if tag == 0x0001:  # zip64: only the fields that are 0xFFFFFFFF, in this order
            wide = iter(struct.unpack_from(f"<{len(data) // 8}Q", data))
            size = next(wide, size) if size == 0xFFFFFFFF else size
            compressed = next(wide, compressed) if compressed == 0xFFFFFFFF else compressed
            offset = next(wide, offset) if offset == 0xFFFFFFFF else offset
        elif tag == 0x5455 and len(data) >= 5 and data[0] & 1:  # extended timestamp
            mtime = struct.unpack_from("<l", data, 1)[0]
        elif tag == 0x7075 and len(data) > 5:  # Info-ZIP unicode path
            utf8_name = data[5:].decode("utf-8", "surrogateescape")
    return Record(
        name=name,
        flags=value[5],
        method=value[6],
        crc=value[9],
        compressed=compressed,
        size=size,
        offset=offset + shift,
        host=value[2],
        attributes=value[17],
        mtime=mtime,
        utf8_name=utf8_name,
    )


def extra_fields(extra: bytes) -> Iterator[tuple[int, bytes]]:
    pos = 0
    while pos + 4 <= len(extra):
        tag, length = struct.unpack_from("<2H", extra, pos)
        yield tag, extra[pos + 4 : pos + 4 + length]
        pos += 4 + length


def dos_time(date: int, time: int) -> int | None:
    """An MS-DOS timestamp (local time of the zipping host, no zone) read as UTC."""
    year, month, day = 1980 + (date >> 9), (date >> 5) & 15, date & 31
    hour, minute, second = time >> 11, (time >> 5) & 63, (time & 31) * 2
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and minute < 60):
        return None
    return int(calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0)))


def _decode_name(record: Record) -> str:
    if record.utf8_name is not None:
        return record.utf8_name
    if record.flags & 0x800:
        return record.name.decode("utf-8", "surrogateescape")
    try:  # many zippers write UTF-8 without setting the flag
        return record.name.decode("utf-8")
    except UnicodeDecodeError:
        return record.name.decode("cp437")


def _entry_type(record: Record, name: str) -> EntryType:
    mode = stat.S_IFMT(record.attributes >> 16) if record.host == 3 else 0  # 3: Unix
    if name.endswith("/") or stat.S_ISDIR(mode) or (record.attributes & 0x10 and not mode):
        return EntryType.DIR
    if stat.S_ISLNK(mode):
        return EntryType.SYMLINK
    if mode and not stat.S_ISREG(mode):  # a fifo or a device
        return EntryType.OTHER
    return EntryType.FILE


def _unreadable(record: Record, caps: Caps) -> str | None:
    if record.flags & 1:
        return "encrypted; its content cannot be shown"
    if record.method not in _METHODS:
        method = _UNSUPPORTED.get(record.method, f"method {record.method}")
        return f"compressed with {method}, which is not supported"
    return None


def member_of(index: int, record: Record, caps: Caps) -> Member:
    name = _decode_name(record)
    kind = _entry_type(record, name)
    return Member(
        index=index,
        name=name.rstrip("/") if kind is EntryType.DIR and name != "/" else name,
        type=kind,
        size=record.size if kind is EntryType.FILE else 0,
        mtime=record.mtime,
        unreadable=_unreadable(record, caps) if kind is not EntryType.DIR else None,
    )


_OVERLAP = (
    "entries overlap each other or the central directory, which is how zip bombs are built; "
    "no entry's data is read"
)


def _find_overlap(raw: BinaryIO, directory: Directory, budget: Budget) -> str | None:
    """Why entries' data overlap (a zip bomb construction), or None if they do not.

    Each entry occupies at least its 30-byte local header, its name and its compressed
    data; the local header's own extra field can only make that longer.
    """
    spans = array("q")
    for count, record in enumerate(_records(raw, directory, budget)):
        if count >= budget.caps.max_entries:
            break
        end = record.offset + LOCAL.size + len(record.name) + record.compressed
        if end > directory.start:
            return _OVERLAP
        spans.extend((record.offset, end))
    order = sorted(range(len(spans) // 2), key=lambda i: spans[2 * i])
    for before, after in itertools.pairwise(order):
        if spans[2 * after] < spans[2 * before + 1]:
            return _OVERLAP
    return None


def _local_data_start(raw: BinaryIO, record: Record) -> int:
    raw.seek(record.offset)
    header = raw.read(LOCAL.size)
    if len(header) != LOCAL.size or header[:4] != b"PK\x03\x04":
        raise DamagedArchive("an entry's local header is missing or damaged")
    name_len, extra_len = struct.unpack_from("<2H", header, 26)
    return record.offset + LOCAL.size + int(name_len) + int(extra_len)


def _decoder(record: Record, first: bytes, caps: Caps) -> tuple[Decoder, int]:
    """The decoder for ``record`` and how many bytes of ``first`` are a header to skip."""
    if record.method == 8:
        return Inflate(-15), 0
    if record.method == 12:
        return bz2.BZ2Decompressor(), 0
    if record.method == 93:
        return zstd_decoder(caps), 0
    # lzma (14): version (2 bytes), properties size (2), LZMA1 properties, raw stream.
    props_len = int.from_bytes(first[2:4], "little")
    props = first[4 : 4 + props_len]
    if props_len != 5 or len(props) != 5:
        raise DamagedArchive("an lzma entry has an invalid header")
    dict_size = int.from_bytes(props[1:5], "little")
    if dict_size > caps.max_decoder_memory:
        raise DamagedArchive("an lzma entry asks for more decoder memory than allowed")
    lc, rest = props[0] % 9, props[0] // 9
    lzma1 = {"id": lzma.FILTER_LZMA1, "dict_size": dict_size, "lc": lc}
    lzma1 |= {"lp": rest % 5, "pb": rest // 5}
    return lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=[lzma1]), 4 + props_len


def entry_chunks(
    raw: BinaryIO, record: Record, directory: Directory, budget: Budget
) -> Iterator[bytes]:
    """The decompressed data of one entry, checked against its declared size and CRC."""
    start = _local_data_start(raw, record)
    if start + record.compressed > directory.start:
        raise DamagedArchive("an entry's data runs into the central directory")
    pieces = _raw_range(raw, start, record.compressed, budget)
    produced, crc = 0, 0
    for chunk in _decompressed(record, pieces, budget):
        produced += len(chunk)
        if produced > record.size:
            raise DamagedArchive("an entry expands beyond the size its header declares")
        crc = zlib.crc32(chunk, crc)
        yield chunk
    if produced != record.size or crc != record.crc:
        raise DamagedArchive("an entry's data is corrupt (size or CRC-32 mismatch)")


def _decompressed(record: Record, pieces: Iterator[bytes], budget: Budget) -> Iterator[bytes]:
    if record.method == 0:
        for piece in pieces:
            budget.charge(len(piece))
            yield piece
        return
    guard = RatioGuard(budget.caps)
    first = next(pieces, b"")
    decoder, skip = _decoder(record, first, budget.caps)
    data: bytes | None = first[skip:]
    try:
        while data is not None:
            guard.add(0, len(data))
            yield from drain(decoder, data, budget, guard)
            if decoder.eof:
                return
            data = next(pieces, None)
    except DECODE_ERRORS as error:
        raise DamagedArchive(f"an entry's data is corrupt ({error})") from None
    raise DamagedArchive("an entry's compressed data ends early")


def _symlink_target(raw: BinaryIO, record: Record, directory: Directory, budget: Budget) -> str:
    """A Unix symlink's target is the entry's data; read at most the path-length cap."""
    if _unreadable(record, budget.caps) or record.size > budget.caps.max_path_length:
        return "(target not shown)"
    data = b"".join(entry_chunks(raw, record, directory, budget))
    return data.decode("utf-8", "surrogateescape")
