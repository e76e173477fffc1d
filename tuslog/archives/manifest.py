"""The manifest: every entry of an archive in one streaming pass, JSON-ready.

Memory is bounded by ``Caps.max_entries``: past it, entries are still counted (and their
sizes added up) but no longer kept. Names are stored in their display form (see
:mod:`tuslog.archives.names`); an entry is addressed by its ``index`` (archive order),
which stays unique when an archive holds the same name twice.
"""

import struct
import tarfile
import threading
from contextlib import closing
from dataclasses import asdict, dataclass, field
from typing import Any

from tuslog.archives.detect import Detected, Kind, Opener, detect
from tuslog.archives.limits import ArchiveProblem, Budget, Caps
from tuslog.archives.members import EntryType, Member
from tuslog.archives.names import display_name, is_unsafe_path
from tuslog.archives.walk import walk

FORMAT_VERSION = 1
_TYPE_CODES = {
    EntryType.FILE: "f",
    EntryType.DIR: "d",
    EntryType.SYMLINK: "l",
    EntryType.HARDLINK: "h",
    EntryType.OTHER: "o",
}
_TYPES_BY_CODE = {code: kind for kind, code in _TYPE_CODES.items()}
# Parser edge cases on hostile bytes that are not already an ArchiveProblem.
PARSE_ERRORS = (struct.error, ValueError, EOFError, tarfile.TarError, UnicodeError)

FLAG_ESCAPED = "e"  # the name had characters that are shown as escapes
FLAG_UNSAFE = "u"  # absolute, or climbs out with "..": would escape an extraction folder
FLAG_CUT = "c"  # the name was longer than Caps.max_path_length and is shown cut
FLAG_UNREADABLE = "x"  # a file whose content cannot be shown (encrypted, sparse, method)


@dataclass(slots=True)
class Entry:
    index: int
    path: str
    type: EntryType
    size: int
    mtime: int | None
    link: str | None = None
    flags: str = ""


@dataclass
class Counts:
    entries: int = 0
    listed: int = 0
    files: int = 0
    dirs: int = 0
    symlinks: int = 0
    hardlinks: int = 0
    other: int = 0
    total_size: int = 0
    names_escaped: int = 0
    names_unsafe: int = 0
    names_cut: int = 0


@dataclass
class Manifest:
    format: str | None
    """The detected kind (``tar.gz``, ``zip``, ...); None: not an archive."""
    entries: list[Entry] = field(default_factory=list)
    complete: bool = True
    problem: str | None = None
    """``could not read fully: <why>`` when the listing stopped early or left entries out."""
    counts: Counts = field(default_factory=Counts)
    bytes_read: int = 0
    """Bytes of the archive file read."""
    bytes_decompressed: int = 0
    seconds: float = 0.0

    @property
    def is_archive(self) -> bool:
        return self.format is not None

    def to_json(self) -> dict[str, Any]:
        """A compact form: one short array per entry (about 40 bytes plus the path)."""
        return {
            "version": FORMAT_VERSION,
            "format": self.format,
            "complete": self.complete,
            "problem": self.problem,
            "counts": asdict(self.counts),
            "bytes_read": self.bytes_read,
            "bytes_decompressed": self.bytes_decompressed,
            "seconds": round(self.seconds, 3),
            "columns": ["path", "type", "size", "mtime", "link", "flags"],
            "entries": [_row(entry) for entry in self.entries],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Manifest":
        if data.get("version") != FORMAT_VERSION:
            raise ValueError(f"unknown manifest version {data.get('version')!r}")
        entries = [_entry(index, row) for index, row in enumerate(data["entries"])]
        return cls(
            format=data["format"],
            entries=entries,
            complete=data["complete"],
            problem=data["problem"],
            counts=Counts(**data["counts"]),
            bytes_read=data["bytes_read"],
            bytes_decompressed=data["bytes_decompressed"],
            seconds=data["seconds"],
        )


def _row(entry: Entry) -> list[Any]:
    row: list[Any] = [entry.path, _TYPE_CODES[entry.type], entry.size, entry.mtime]
    if entry.link is not None or entry.flags:
        row.append(entry.link)
    if entry.flags:
        row.append(entry.flags)
    return row


def _entry(index: int, row: list[Any]) -> Entry:
    path, code, size, mtime, *rest = row
    link = rest[0] if rest else None
    flags = rest[1] if len(rest) > 1 else ""
    return Entry(index, path, _TYPES_BY_CODE[code], size, mtime, link, flags)


def present_name(raw: str, limit: int) -> tuple[str, str]:
    """The display form of a raw name, cut to ``limit`` characters, and its flags."""
    shown = display_name(raw[:limit])
    flags = FLAG_ESCAPED if shown != raw[:limit] else ""
    if is_unsafe_path(raw):
        flags += FLAG_UNSAFE
    if len(raw) > limit:
        shown += f"…[{len(raw) - limit} more characters]"
        flags += FLAG_CUT
    return shown, flags


class _Builder:
    def __init__(self, caps: Caps) -> None:
        self.caps = caps
        self.entries: list[Entry] = []
        self.counts = Counts()

    def add(self, member: Member) -> None:
        counts = self.counts
        counts.entries += 1
        kind = member.type
        counts.files += kind is EntryType.FILE
        counts.dirs += kind is EntryType.DIR
        counts.symlinks += kind is EntryType.SYMLINK
        counts.hardlinks += kind is EntryType.HARDLINK
        counts.other += kind is EntryType.OTHER
        counts.total_size += max(member.size, 0)
        if len(self.entries) >= self.caps.max_entries:
            return
        path, flags = present_name(member.name, self.caps.max_path_length)
        link = None
        if member.link is not None:
            link = present_name(member.link, self.caps.max_path_length)[0]
        if member.unreadable:
            flags += FLAG_UNREADABLE
        counts.names_escaped += FLAG_ESCAPED in flags
        counts.names_unsafe += FLAG_UNSAFE in flags
        counts.names_cut += FLAG_CUT in flags
        counts.listed += 1
        self.entries.append(Entry(member.index, path, kind, member.size, member.mtime, link, flags))

    def problem(self, stopped: str | None) -> str | None:
        reasons = []
        if self.counts.entries > self.caps.max_entries:
            reasons.append(
                f"the archive has more than {self.caps.max_entries:,} entries; "
                f"the first {self.caps.max_entries:,} are listed"
                + ("" if stopped else f", {self.counts.entries:,} counted")
            )
        if stopped:
            reasons.append(stopped)
        return "could not read fully: " + "; ".join(reasons) if reasons else None


def build_manifest(
    opener: Opener,
    caps: Caps | None = None,
    cancel: threading.Event | None = None,
    *,
    filename: str | None = None,
) -> Manifest:
    """List an archive in one streaming pass. Never raises for what the archive holds.

    A damaged, truncated or hostile archive gives a partial manifest with ``problem`` set.
    Raises :class:`~tuslog.archives.limits.Cancelled` when ``cancel`` is set (the job is
    abandoned; nothing partial should be stored) and ``OSError`` when the file cannot be
    read (a storage fault, not the archive's).
    """
    caps = caps or Caps()
    detected = detect(opener, Budget(caps, cancel), filename)
    budget = Budget(caps, cancel)
    if detected.kind is None:
        return Manifest(format=None, seconds=budget.elapsed)
    builder = _Builder(caps)
    stopped = _list(opener, detected, budget, builder)
    problem = builder.problem(stopped)
    return Manifest(
        format=detected.kind.value,
        entries=builder.entries,
        complete=problem is None,
        problem=problem,
        counts=builder.counts,
        bytes_read=budget.consumed,
        bytes_decompressed=budget.produced,
        seconds=budget.elapsed,
    )


def _list(opener: Opener, detected: Detected, budget: Budget, builder: _Builder) -> str | None:
    """Feed every entry to ``builder``; returns why the walk stopped early, if it did."""
    single = detected.kind in (Kind.GZ, Kind.XZ, Kind.ZST, Kind.BZ2)
    try:
        with closing(walk(opener, detected, budget)) as members:
            for member in members:
                if single and member.chunks is not None:
                    _measure(member, builder)
                else:
                    builder.add(member)
    except ArchiveProblem as problem:
        return problem.reason
    except PARSE_ERRORS as error:
        return f"the archive is damaged ({type(error).__name__}: {error})"
    return None


def _measure(member: Member, builder: _Builder) -> None:
    """A single compressed file's size is what it decompresses to (listed even if cut)."""
    member.size = 0
    try:
        for chunk in member.chunks() if member.chunks else ():
            member.size += len(chunk)
    finally:
        builder.add(member)
