"""Previews of a text entry: its first and last lines, or one page of lines.

Compressed archives cannot be entered in the middle, so a page or the tail is found by
reading the entry from its start, counting newlines; only the bytes to show are kept (the
tail in a buffer of at most twice ``tail_bytes``), so memory stays bounded.
"""

import threading
from dataclasses import dataclass, field

from tuslog.archives.detect import Opener
from tuslog.archives.limits import ArchiveProblem, Caps, KiB
from tuslog.archives.reading import EntryReader
from tuslog.archives.text import Line, as_text, show


@dataclass
class Preview:
    index: int
    path: str
    encoding: str | None = None
    """None: binary data (or the entry could not be read at all: see ``problem``)."""
    compression: str | None = None
    """The entry's own compression, read through (``gzip`` for ``syslog.2.gz``)."""
    head: list[Line] = field(default_factory=list)
    tail: list[Line] = field(default_factory=list)
    """Empty when ``head`` already reaches the end; otherwise the last lines."""
    total_lines: int | None = None
    """Known when the entry was read to its end."""
    bytes_read: int = 0
    problem: str | None = None

    @property
    def binary(self) -> bool:
        return self.encoding is None and self.problem is None


@dataclass
class Page:
    index: int
    path: str
    encoding: str | None = None
    lines: list[Line] = field(default_factory=list)
    next_line: int | None = None
    """The number to ask for the next page; None at the end of the entry."""
    problem: str | None = None


def _lines(data: bytes, first_number: int) -> list[Line]:
    return [Line(first_number + n, show(part)) for n, part in enumerate(data.split(b"\n"))]


def preview_entry(
    opener: Opener,
    index: int,
    caps: Caps | None = None,
    cancel: threading.Event | None = None,
    *,
    head_bytes: int = 64 * KiB,
    tail_bytes: int = 64 * KiB,
    filename: str | None = None,
) -> Preview:
    """The first ``head_bytes`` and the last ``tail_bytes`` of entry ``index``, as lines.

    Raises :class:`EntryUnavailable` for entries without data to show; a damaged archive or
    a cap met while reading gives what was read with ``problem`` set.
    """
    with EntryReader(opener, index, caps, cancel, filename=filename) as reader:
        preview = Preview(index, reader.path)
        head, tail = b"", _Tail(tail_bytes)
        try:
            text = as_text(reader.chunks(), reader.budget)
            preview.encoding, preview.compression = text.encoding, text.compression
            for chunk in text.chunks:
                preview.bytes_read += len(chunk)
                if len(head) < head_bytes:
                    take = head_bytes - len(head)
                    head, chunk = head + chunk[:take], chunk[take:]
                tail.add(chunk)
        except ArchiveProblem as problem:
            preview.problem = f"could not read fully: {problem.reason}"
        _fill(preview, head, tail, ended=preview.problem is None)
        return preview


class _Tail:
    """The last ``size`` bytes (kept in at most twice that), and the newlines dropped."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.data = b""
        self.dropped_newlines = 0
        self.trimmed = False

    def add(self, chunk: bytes) -> None:
        self.data += chunk
        if len(self.data) > 2 * self.size:
            self.dropped_newlines += self.data.count(b"\n", 0, len(self.data) - self.size)
            self.data = self.data[-self.size :]
            self.trimmed = True


def _fill(preview: Preview, head: bytes, tail: _Tail, ended: bool) -> None:
    """Number the head's lines and the tail's; a line's number is newlines before it + 1."""
    last = (tail.data or head)[-1:]
    newlines = head.count(b"\n") + tail.dropped_newlines + tail.data.count(b"\n")
    if ended:
        preview.total_lines = newlines + (last not in (b"", b"\n"))
    if not tail.data and ended:  # everything fits in the head
        preview.head = _lines(head.removesuffix(b"\n"), 1) if head else []
        return
    head_newlines = head.count(b"\n")
    complete, _, partial = head.rpartition(b"\n")
    # A first line longer than the head is shown cut; the tail starts after it.
    preview.head = _lines(complete, 1) if head_newlines else [Line(1, show(head))]
    if not ended:  # stopped early: what was read last is not the end, so no tail
        return
    rest, first_number, starts_cut = tail.data, head_newlines + 1, False
    if tail.trimmed:  # the kept bytes start inside a line: show from the next one
        cut = rest.find(b"\n") + 1
        first_number += tail.dropped_newlines + (cut > 0)
        rest, starts_cut = rest[cut:] if cut else rest, cut == 0
    elif head_newlines:
        rest = partial + rest
    else:
        cut = rest.find(b"\n") + 1
        rest, first_number = (rest[cut:], 2) if cut else (b"", 2)
    preview.tail = _lines(rest.removesuffix(b"\n"), first_number) if rest else []
    if starts_cut and preview.tail:  # only the end of a very long last line
        preview.tail[0] = Line(preview.tail[0].number, "…" + preview.tail[0].text)


def read_page(
    opener: Opener,
    index: int,
    caps: Caps | None = None,
    cancel: threading.Event | None = None,
    *,
    first_line: int = 1,
    max_lines: int = 500,
    max_bytes: int = 256 * KiB,
    filename: str | None = None,
) -> Page:
    """Lines ``first_line`` .. ``first_line + max_lines - 1`` (at most ``max_bytes``)."""
    with EntryReader(opener, index, caps, cancel, filename=filename) as reader:
        page = Page(index, reader.path)
        line_number, pending, collected = 1, b"", 0
        try:
            text = as_text(reader.chunks(), reader.budget)
            page.encoding = text.encoding
            for chunk in text.chunks:
                if line_number + chunk.count(b"\n") < first_line:  # skip without splitting
                    line_number += chunk.count(b"\n")
                    pending = chunk[chunk.rfind(b"\n") + 1 :] if b"\n" in chunk else b""
                    continue
                pending += chunk
                parts = pending.split(b"\n")
                pending = parts.pop()
                for part in parts:
                    if line_number >= first_line:
                        page.lines.append(Line(line_number, show(part)))
                        collected += len(part) + 1
                    line_number += 1
                    if len(page.lines) >= max_lines or collected >= max_bytes:
                        page.next_line = line_number
                        return page
                pending = pending[: 64 * KiB]  # a very long line is shown cut anyway
        except ArchiveProblem as problem:
            page.problem = f"could not read fully: {problem.reason}"
            return page
        if pending and line_number >= first_line:
            page.lines.append(Line(line_number, show(pending)))
        return page
