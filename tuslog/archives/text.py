"""Is an entry text, and its content as UTF-8 bytes and display lines."""

import codecs
from collections.abc import Iterator
from dataclasses import dataclass

from tuslog.archives.names import display_line

SNIFF_BYTES = 8192
MAX_LINE_CHARS = 2000
"""Longer lines are shown cut, with a marker saying how much was left out."""


@dataclass(frozen=True)
class Line:
    number: int
    text: str
    """Display-safe (see :func:`~tuslog.archives.names.display_line`); not HTML-escaped."""


def as_text(chunks: Iterator[bytes]) -> tuple[str | None, Iterator[bytes]]:
    """(the encoding, or None for binary data; the data as UTF-8 chunks).

    Binary means a NUL byte in the first 8 KiB, as grep decides, unless a UTF-16 byte-order
    mark says otherwise (Windows hosts write UTF-16 logs); UTF-16 is transcoded to UTF-8.
    Anything else is treated as UTF-8; bytes that are not valid UTF-8 show as ``\\xNN``.
    """
    head = b""
    for chunk in chunks:
        head += chunk
        if len(head) >= SNIFF_BYTES:
            break
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16-le" if head.startswith(codecs.BOM_UTF16_LE) else "utf-16-be"
        return encoding, _transcode(head, chunks)
    if b"\0" in head[:SNIFF_BYTES]:
        return None, iter(())
    return "utf-8", _prepend(head, chunks)


def _prepend(head: bytes, chunks: Iterator[bytes]) -> Iterator[bytes]:
    if head:
        yield head
    yield from chunks


def _transcode(head: bytes, chunks: Iterator[bytes]) -> Iterator[bytes]:
    decoder = codecs.getincrementaldecoder("utf-16")(errors="replace")
    for chunk in _prepend(head, chunks):
        yield decoder.decode(chunk).encode("utf-8", "surrogateescape")
    yield decoder.decode(b"", final=True).encode("utf-8", "surrogateescape")


def show(line: bytes) -> str:
    """One line of UTF-8 bytes (no newline) as a display string, cut if very long."""
    text = line[: MAX_LINE_CHARS * 4].decode("utf-8", "surrogateescape").rstrip("\r")
    if len(text) > MAX_LINE_CHARS:
        return display_line(text[:MAX_LINE_CHARS]) + f"…[cut at {MAX_LINE_CHARS:,} characters]"
    return display_line(text)
