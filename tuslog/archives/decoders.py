"""Decompression as a stream of bounded chunks, and byte streams over it.

Each decoder is driven with an output limit per call (``CHUNK``), so one call never
produces more than 1 MiB however well the input compresses; every chunk is charged to the
job's :class:`Budget` and to a per-stream :class:`RatioGuard` before it is handed on.
Concatenated members (``pigz``, ``cat a.gz b.gz``, multi-stream xz/bzip2, zstd frames) are
followed; padding or garbage after a complete member ends the stream, as ``gzip -d`` does.
"""

import bz2
import lzma
import math
import os
import sys
import zlib
from collections.abc import Callable, Generator, Iterator
from typing import BinaryIO, Protocol

from tuslog.archives.limits import (
    ArchiveProblem,
    Budget,
    Caps,
    DamagedArchive,
    LimitReached,
    RatioGuard,
    describe_size,
)

if sys.version_info >= (3, 14):  # pragma: no cover - the stdlib module of Python 3.14
    from compression import zstd
else:
    from backports import zstd

try:  # ISA-L inflate is ~2.7x faster than zlib here (bench/README.md); zlib is the fallback.
    from isal import isal_zlib as inflate
except ImportError:  # pragma: no cover - a platform without isal wheels
    inflate = zlib  # type: ignore[misc]

CHUNK = 1024 * 1024
READ_SIZE = 1024 * 1024


class Decoder(Protocol):
    """The shape of lzma/bz2/zstd decompressors (``needs_input`` style)."""

    @property
    def eof(self) -> bool: ...
    @property
    def needs_input(self) -> bool: ...
    @property
    def unused_data(self) -> bytes: ...
    def decompress(self, data: bytes, max_length: int = -1) -> bytes: ...


class Inflate:
    """zlib/isal ``decompressobj`` (gzip framing, or raw deflate) as a ``needs_input`` decoder."""

    def __init__(self, wbits: int = 31) -> None:
        self._inflater = inflate.decompressobj(wbits)
        self._tail = b""
        self._full = False

    @property
    def eof(self) -> bool:
        return bool(self._inflater.eof)

    @property
    def needs_input(self) -> bool:
        return not self._tail and not self._full

    @property
    def unused_data(self) -> bytes:
        return bytes(self._inflater.unused_data)

    def decompress(self, data: bytes, max_length: int = -1) -> bytes:
        out: bytes = self._inflater.decompress(self._tail + data, max_length)
        self._tail = bytes(self._inflater.unconsumed_tail)
        # A full output buffer may leave output inside zlib although all input was taken.
        self._full = len(out) == max_length
        return out


def _xz_decoder(caps: Caps) -> Decoder:
    return lzma.LZMADecompressor(lzma.FORMAT_XZ, memlimit=caps.max_decoder_memory)


def zstd_decoder(caps: Caps) -> Decoder:
    window_log = max(10, int(math.log2(caps.max_decoder_memory)))
    option = {int(zstd.DecompressionParameter.window_log_max): window_log}
    return zstd.ZstdDecompressor(options=option)


_SKIPPABLE_ZSTD = tuple(bytes([0x50 + n, 0x2A, 0x4D, 0x18]) for n in range(16))

# name -> (decoder factory, magic prefixes that start another member)
CODECS: dict[str, tuple[Callable[[Caps], Decoder], tuple[bytes, ...]]] = {
    "gzip": (lambda caps: Inflate(), (b"\x1f\x8b",)),
    "xz": (_xz_decoder, (b"\xfd7zXZ\x00",)),
    "bzip2": (lambda caps: bz2.BZ2Decompressor(), (b"BZh",)),
    "zstd": (zstd_decoder, (b"\x28\xb5\x2f\xfd", *_SKIPPABLE_ZSTD)),
}
_INFLATE_ERROR: type[Exception] = inflate.error  # type: ignore[assignment]
DECODE_ERRORS: tuple[type[Exception], ...] = (
    zlib.error,
    _INFLATE_ERROR,
    lzma.LZMAError,
    OSError,
    EOFError,
    zstd.ZstdError,
)


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


def decoded_chunks(raw: Readable, codec: str, budget: Budget) -> Generator[bytes, None, None]:
    """Decompress ``raw`` (positioned at a member start) into chunks of at most ``CHUNK``."""
    make, magics = CODECS[codec]
    guard = RatioGuard(budget.caps)
    decoder: Decoder | None = make(budget.caps)
    pending = b""
    while True:
        if len(pending) >= 8:
            data, pending = pending, b""
        else:
            data = pending + raw.read(READ_SIZE)
            budget.charge(0, len(data) - len(pending))
            guard.add(0, len(data) - len(pending))
            pending = b""
        if decoder is None:
            if not data.startswith(magics):
                return  # end of input, or padding/garbage after a complete member
            decoder = make(budget.caps)
        elif not data:
            raise DamagedArchive(f"the {codec} data ends early (the file is truncated)")
        try:
            yield from drain(decoder, data, budget, guard)
        except DECODE_ERRORS as error:
            raise _decode_problem(codec, error, budget.caps) from None
        if decoder.eof:
            pending, decoder = decoder.unused_data, None


def _decode_problem(codec: str, error: Exception, caps: Caps) -> ArchiveProblem:
    if "memory" in str(error).lower():  # xz dictionary or zstd window above the cap
        limit = describe_size(caps.max_decoder_memory)
        return LimitReached(f"the {codec} data needs more than {limit} of memory to decode")
    return DamagedArchive(f"the {codec} data is corrupt ({error})")


def drain(decoder: Decoder, data: bytes, budget: Budget, guard: RatioGuard) -> Iterator[bytes]:
    out = decoder.decompress(data, CHUNK)
    while True:
        budget.charge(len(out))
        guard.add(len(out), 0)
        if out:
            yield out
        if decoder.eof or decoder.needs_input:
            return
        out = decoder.decompress(b"", CHUNK)


class ByteStream(Protocol):
    """Sequential reads over an archive's (decompressed) bytes."""

    position: int

    def read(self, size: int) -> bytes:
        """Up to ``size`` bytes; fewer only at the end."""

    def skip(self, size: int) -> int:
        """Move ``size`` bytes on; returns how far it got (less only at the end)."""


class ChunkStream:
    """A :class:`ByteStream` over an iterator of decompressed chunks."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = b""
        self._offset = 0
        self.position = 0

    def _fill(self) -> bool:
        while self._offset >= len(self._buffer):
            chunk = next(self._chunks, None)
            if chunk is None:
                return False
            self._buffer, self._offset = chunk, 0
        return True

    def read(self, size: int) -> bytes:
        parts: list[bytes] = []
        while size > 0 and self._fill():
            piece = self._buffer[self._offset : self._offset + size]
            self._offset += len(piece)
            size -= len(piece)
            parts.append(piece)
        data = parts[0] if len(parts) == 1 else b"".join(parts)
        self.position += len(data)
        return data

    def skip(self, size: int) -> int:
        moved = 0
        while moved < size and self._fill():
            step = min(size - moved, len(self._buffer) - self._offset)
            self._offset += step
            moved += step
        self.position += moved
        return moved


class FileStream:
    """A :class:`ByteStream` over an uncompressed, seekable file: skipping is a seek."""

    def __init__(self, raw: BinaryIO, budget: Budget) -> None:
        self._raw = raw
        self._budget = budget
        self.position = raw.tell()
        self._size = raw.seek(0, os.SEEK_END)
        raw.seek(self.position)

    def read(self, size: int) -> bytes:
        data = self._raw.read(size)
        self.position += len(data)
        self._budget.charge(len(data), len(data))
        return data

    def skip(self, size: int) -> int:
        moved = max(0, min(size, self._size - self.position))
        self.position = self._raw.seek(self.position + moved)
        self._budget.check()
        return moved


def read_exactly(stream: ByteStream, size: int, what: str) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise DamagedArchive(f"the archive ends inside {what} (the file is truncated)")
    return data
