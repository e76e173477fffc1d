"""Search the text entries of one archive for a regular expression or a fixed string.

Patterns run on RE2 (``google-re2``): matching takes time linear in the text whatever the
pattern, so no pattern can backtrack catastrophically (Python's ``re`` needs minutes for
``(a+)+$`` against 30 characters; see bench/README.md). RE2 has no backreferences or
look-around; such patterns are refused with a clear message. The text is searched in
blocks of whole lines (about 1 MiB), so Python only touches the lines that match. Matches
never span lines. Work is bounded by the job's :class:`Caps` (bytes, time) and by
``max_hits``; the summary says what was searched when a limit stopped it.
"""

import fnmatch
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from typing import Protocol, cast

import re2  # type: ignore[import-untyped]

from tuslog.archives.detect import Opener, detect
from tuslog.archives.limits import ArchiveProblem, Budget, Caps, describe_size
from tuslog.archives.manifest import PARSE_ERRORS, present_name
from tuslog.archives.members import EntryType, Member
from tuslog.archives.nested import NestedDamage
from tuslog.archives.text import Line, as_text, show
from tuslog.archives.walk import walk

MAX_PATTERN_LENGTH = 1000
MAX_CONTEXT = 10
LONG_LINE = 1024 * 1024
"""A line longer than this is searched in pieces (a match across a piece border is missed)."""


class PatternError(ValueError):
    """The pattern cannot be used; the message says why, for the person who typed it."""


class _Match(Protocol):
    def start(self) -> int: ...


class _Regex(Protocol):
    def search(self, text: bytes, pos: int = 0) -> _Match | None: ...


@dataclass(frozen=True)
class SearchQuery:
    pattern: str
    fixed: bool = False
    """The pattern is a plain string, not a regular expression."""
    ignore_case: bool = False
    context: int = 2
    """Lines shown before and after each matching line (0-10)."""
    max_hits: int = 1000
    paths: str | None = None
    """Only entries whose display path matches this glob (``var/log/*``)."""


@dataclass
class Hit:
    index: int
    path: str
    line: Line
    before: list[Line] = field(default_factory=list)
    after: list[Line] = field(default_factory=list)


@dataclass
class SearchSummary:
    complete: bool = True
    stopped: str | None = None
    """Why the search ended early and how far it got."""
    entries_searched: int = 0
    entries_binary: int = 0
    entries_unreadable: int = 0
    bytes_searched: int = 0
    hits: int = 0
    seconds: float = 0.0


def compile_pattern(query: SearchQuery) -> _Regex:
    if not 0 <= query.context <= MAX_CONTEXT:
        raise PatternError(f"context must be between 0 and {MAX_CONTEXT} lines")
    if not query.pattern:
        raise PatternError("the pattern is empty")
    if len(query.pattern) > MAX_PATTERN_LENGTH:
        raise PatternError(f"the pattern is longer than {MAX_PATTERN_LENGTH} characters")
    options = re2.Options()
    options.log_errors = False
    options.never_nl = True
    options.literal = query.fixed
    options.case_sensitive = not query.ignore_case
    options.max_mem = 32 << 20
    pattern = query.pattern.encode("utf-8", "surrogatepass")
    try:
        return cast(_Regex, re2.compile(pattern if query.fixed else b"(?m)" + pattern, options))
    except re2.error as error:
        detail = error.args[0].decode() if error.args and isinstance(error.args[0], bytes) else ""
        raise PatternError(
            f"not a usable regular expression ({detail or error}); RE2 syntax: no "
            "backreferences or look-around"
        ) from None


class _EntrySearch:
    """Finds the matching lines of one entry, block by block, with context lines."""

    def __init__(self, regex: _Regex, member: Member, path: str, query: SearchQuery) -> None:
        self.regex, self.index, self.path = regex, member.index, path
        self.context = query.context
        self.line_base = 1  # number of the first line of the current block
        self.previous: deque[Line] = deque(maxlen=query.context)  # last lines before it
        self.waiting: deque[tuple[Hit, int]] = deque()  # hits still collecting after-lines
        self.found = 0
        self._block = b""
        self._lines: list[bytes] | None = None

    @staticmethod
    def blocks(data: Iterator[bytes]) -> Iterator[bytes]:
        """Whole lines, about a chunk at a time; a line over ``LONG_LINE`` is cut.

        A chunk that ends with a newline and follows one is passed on without a copy.
        """
        carry = b""
        for chunk in data:
            cut = chunk.rfind(b"\n") + 1
            if cut == 0:
                carry += chunk
                if len(carry) >= LONG_LINE:
                    yield carry
                    carry = b""
                continue
            if carry:
                yield b"".join((carry, memoryview(chunk)[:cut]))
            else:
                yield chunk if cut == len(chunk) else chunk[:cut]
            carry = chunk[cut:]
        if carry:
            yield carry

    @property
    def lines(self) -> list[bytes]:
        """The current block's lines, split only when a hit needs context."""
        if self._lines is None:
            self._lines = self._block.removesuffix(b"\n").split(b"\n")
        return self._lines

    def search(self, block: bytes, max_hits: int) -> Iterator[Hit]:
        self._block, self._lines = block, None
        if self.context:
            self._continue_waiting()
        position, number, counted = 0, self.line_base, 0
        while self.found < max_hits:
            match = self.regex.search(block, position)
            if match is None or match.start() >= len(block):
                break
            start = block.rfind(b"\n", 0, match.start()) + 1
            end = block.find(b"\n", match.start())
            end = len(block) if end < 0 else end
            number += block.count(b"\n", counted, start)
            counted = start
            self._hit(block[start:end], number)
            position = end + 1
        newlines = block.count(b"\n")
        if self.context:
            self._remember_last_lines(newlines)
        self.line_base += newlines
        yield from self._ready()

    def _hit(self, text: bytes, number: int) -> None:
        hit = Hit(self.index, self.path, Line(number, show(text)))
        self.found += 1
        need = 0
        if self.context:
            at = number - self.line_base
            first = max(0, at - self.context)
            missing = self.context - (at - first)
            hit.before = list(self.previous)[-missing:] if missing else []
            hit.before += self._numbered(first, at)
            hit.after = self._numbered(at + 1, at + 1 + self.context)
            need = self.context - len(hit.after)
        self.waiting.append((hit, need))

    def _numbered(self, start: int, stop: int) -> list[Line]:
        chosen = self.lines[start:stop]
        return [Line(self.line_base + start + n, show(text)) for n, text in enumerate(chosen)]

    def _continue_waiting(self) -> None:
        for position, (hit, need) in enumerate(self.waiting):
            if need:
                more = self._numbered(0, need)
                hit.after += more
                self.waiting[position] = (hit, need - len(more))

    def _remember_last_lines(self, newlines: int) -> None:
        """Keep the block's last ``context`` lines for the next block's first hits."""
        block = self._block
        ends_with_newline = block.endswith(b"\n")
        end = len(block) - ends_with_newline
        number = self.line_base + newlines - ends_with_newline
        found: list[Line] = []
        while len(found) < self.context:
            start = block.rfind(b"\n", 0, end) + 1
            found.append(Line(number - len(found), show(block[start:end])))
            if start == 0:
                break
            end = start - 1
        self.previous.extend(reversed(found))

    def _ready(self) -> Iterator[Hit]:
        while self.waiting and self.waiting[0][1] == 0:
            yield self.waiting.popleft()[0]

    def finish(self) -> Iterator[Hit]:
        """The hits whose entry ended before all their after-lines were found."""
        for hit, _need in self.waiting:
            yield hit
        self.waiting.clear()


def iter_search(
    opener: Opener,
    query: SearchQuery,
    caps: Caps | None = None,
    cancel: threading.Event | None = None,
    *,
    filename: str | None = None,
) -> Iterator[Hit | SearchSummary]:
    """Yield hits as they are found, then one :class:`SearchSummary` (always last).

    Raises :class:`PatternError` before reading anything when the pattern is unusable, and
    :class:`~tuslog.archives.limits.Cancelled` when ``cancel`` is set.
    """
    regex = compile_pattern(query)
    caps = caps or Caps()
    budget = Budget(caps, cancel)
    summary = SearchSummary()
    detected = detect(opener, Budget(caps, cancel), filename)
    where = ""
    try:
        if detected.kind is not None:
            with closing(walk(opener, detected, budget)) as members:
                for member in members:
                    where = present_name(member.name, caps.max_path_length)[0]
                    yield from _search_member(regex, member, where, query, summary, budget)
                    if summary.hits >= query.max_hits:
                        summary.stopped = f"stopped at {query.max_hits:,} matches"
                        break
    except (ArchiveProblem, *PARSE_ERRORS) as error:
        reason = error.reason if isinstance(error, ArchiveProblem) else "the archive is damaged"
        summary.stopped = f"could not search fully: {reason}; " + _progress(summary, where)
    summary.complete = summary.stopped is None
    summary.seconds = budget.elapsed
    yield summary


def _progress(summary: SearchSummary, where: str) -> str:
    done = (
        f"searched {summary.entries_searched:,} entries ({describe_size(summary.bytes_searched)})"
    )
    return done + (f", the last one being {where!r}" if where else "")


def _search_member(
    regex: _Regex,
    member: Member,
    path: str,
    query: SearchQuery,
    summary: SearchSummary,
    budget: Budget,
) -> Iterator[Hit]:
    if member.type is not EntryType.FILE:
        return
    if query.paths and not fnmatch.fnmatchcase(path, query.paths):
        return
    if member.unreadable:
        summary.entries_unreadable += 1
        return
    if member.chunks is None:
        return
    entry = _EntrySearch(regex, member, path, query)
    remaining = query.max_hits - summary.hits
    try:
        text = as_text(member.chunks(), budget)
        if text.encoding is None:
            summary.entries_binary += 1
            return
        summary.entries_searched += 1
        for block in entry.blocks(text.chunks):
            summary.bytes_searched += len(block)
            for hit in entry.search(block, remaining):
                summary.hits += 1
                yield hit
            if entry.found >= remaining:
                break
    except NestedDamage:
        summary.entries_unreadable += 1  # that entry only: go on with the next one
    except (ArchiveProblem, *PARSE_ERRORS):
        yield from _count(entry.finish(), summary)  # what was found before the entry broke
        raise
    yield from _count(entry.finish(), summary)


def _count(hits: Iterator[Hit], summary: SearchSummary) -> Iterator[Hit]:
    for hit in hits:
        summary.hits += 1
        yield hit


@dataclass
class SearchResult:
    hits: list[Hit]
    summary: SearchSummary


def search_archive(
    opener: Opener,
    query: SearchQuery,
    caps: Caps | None = None,
    cancel: threading.Event | None = None,
    *,
    filename: str | None = None,
) -> SearchResult:
    """:func:`iter_search`, collected."""
    hits: list[Hit] = []
    summary = SearchSummary()
    for item in iter_search(opener, query, caps, cancel, filename=filename):
        if isinstance(item, Hit):
            hits.append(item)
        else:
            summary = item
    return SearchResult(hits, summary)
