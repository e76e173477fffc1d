"""Build real archives for the tests (tarfile, zipfile, gzip, lzma; hand-made bytes where a
hostile layout cannot be made with a library)."""

import io
import struct
import tarfile
import time
import zipfile
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO

MTIME = 1_700_000_000


def opener(path: Path) -> Callable[[], BinaryIO]:
    return lambda: path.open("rb")


def tar_file(name: str, data: bytes = b"", **fields: object) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = MTIME
    for key, value in fields.items():
        setattr(info, key, value)
    return info, data


def tar_bytes(
    members: Iterable[tuple[tarfile.TarInfo, bytes]], fmt: int = tarfile.PAX_FORMAT
) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=fmt, encoding="utf-8") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return buffer.getvalue()


def write_tar(
    path: Path,
    members: Iterable[tuple[tarfile.TarInfo, bytes]],
    mode: str = "w",
    fmt: int = tarfile.PAX_FORMAT,
) -> Path:
    with tarfile.open(path, mode=mode, format=fmt, encoding="utf-8") as tar:  # type: ignore[call-overload]
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return path


def raw_header(name: bytes, size: int = 0, kind: bytes = b"0", linkname: bytes = b"") -> bytes:
    """A ustar header with any bytes as the name (tarfile would refuse some)."""
    block = bytearray(512)
    block[0 : len(name)] = name
    block[100:108] = b"0000644\0"
    block[108:116] = b"0000000\0"
    block[116:124] = b"0000000\0"
    block[124:136] = f"{size:011o}\0".encode()
    block[136:148] = f"{MTIME:011o}\0".encode()
    block[156:157] = kind
    block[157 : 157 + len(linkname)] = linkname
    block[257:265] = b"ustar\x0000"
    block[148:156] = b" " * 8
    block[148:156] = f"{sum(block):06o}\0 ".encode()
    return bytes(block)


def padded(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 512)


END = b"\0" * 1024


def zip_bytes(files: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=method) as archive:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, date_time=time.gmtime(MTIME)[:6])
            info.compress_type = method
            archive.writestr(info, data)
    return buffer.getvalue()


_LOCAL = struct.Struct("<4s2B4HL2L2H")
_CENTRAL = struct.Struct("<4s4B4HL2L5H2L")
_END = struct.Struct("<4s4H2LH")


def overlapping_zip(kernel: bytes, copies: int) -> bytes:
    """One deflated local file that ``copies`` central directory entries all point at: every
    entry "is" the same highly compressed data (the simplest overlapping zip bomb)."""
    compressed = zlib.compress(kernel, 9)[2:-4]
    crc = zlib.crc32(kernel)
    name = b"0"
    local = (
        _LOCAL.pack(
            b"PK\x03\x04", 20, 0, 0, 8, 0, 0x21, crc, len(compressed), len(kernel), len(name), 0
        )
        + name
        + compressed
    )
    central = b""
    for number in range(copies):
        entry_name = str(number).encode()
        central += (
            _CENTRAL.pack(
                b"PK\x01\x02",
                20,
                3,
                20,
                0,
                0,
                8,
                0,
                0x21,
                crc,
                len(compressed),
                len(kernel),
                len(entry_name),
                0,
                0,
                0,
                0,
                0o100644 << 16,
                0,
            )
            + entry_name
        )
    end = _END.pack(b"PK\x05\x06", 0, 0, copies, copies, len(central), len(local), 0)
    return local + central + end


def quoted_overlap_zip() -> bytes:
    """Two stored entries where the first entry's data is declared to run over the second's
    local header (the "quoted overlap" layout of Fifield's non-recursive zip bombs)."""
    data = bytearray(zip_bytes({"a.txt": b"A" * 100, "b.txt": b"B" * 100}, zipfile.ZIP_STORED))
    directory = data.rfind(b"PK\x01\x02", 0, data.rfind(b"PK\x01\x02"))
    # Entry a: declare a compressed size that covers b's local header and data.
    struct.pack_into("<L", data, directory + 20, 200)
    return bytes(data)
