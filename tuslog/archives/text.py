"""Is an entry text, and its content as UTF-8 bytes and display lines."""

import codecs
from collections.abc import Iterator
from dataclasses import dataclass

from tuslog.archives.limits import Budget
from tuslog.archives.names import display_line
from tuslog.archives.nested import nested_codec, unwrap

SNIFF_BYTES = 8192
MAX_LINE_CHARS = 2000
"""Longer lines are shown cut, with a marker saying how much was left out."""


@dataclass(frozen=True)
class Line:
    number: int
    text: str
    """Display-safe (see :func:`~tuslog.archives.names.display_line`); not HTML-escaped."""


@dataclass(frozen=True)
class Text:
    encoding: str | None
    """None: binary data."""
    compression: str | None
    """The entry's own compression (``gzip`` for ``syslog.2.gz``), read through."""
    chunks: Iterator[bytes]
    """The content as UTF-8 (empty for binary data)."""


def _peek(chunks: Iterator[bytes]) -> bytes:
    head = b""
    for chunk in chunks:
        head += chunk
        if len(head) >= SNIFF_BYTES:
            break
    return head


def as_text(chunks: Iterator[bytes], budget: Budget) -> Text:
    """Look at an entry's first bytes: compressed, UTF-16, binary or (else) UTF-8 text.

    Binary means a NUL byte in the first 8 KiB, as grep decides, unless a UTF-16 byte-order
    mark says otherwise (Windows hosts write UTF-16 logs); UTF-16 is transcoded to UTF-8.
    Anything else is treated as UTF-8; bytes that are not valid UTF-8 show as ``\\xNN``.
    A compressed entry is read through first (see :mod:`tuslog.archives.nested`).
    """
    head = _peek(chunks)
    compression = nested_codec(head)
    if compression:
        chunks = unwrap(_prepend(head, chunks), compression, budget)
        head = _peek(chunks)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16-le" if head.startswith(codecs.BOM_UTF16_LE) else "utf-16-be"
        return Text(encoding, compression, _transcode(head, chunks))
    if b"\0" in head[:SNIFF_BYTES]:
        return Text(None, compression, iter(()))
    return Text("utf-8", compression, _prepend(head, chunks))


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
