"""Open one entry of an archive and stream its data (preview, search, single download)."""

import threading
from collections.abc import Generator, Iterator
from contextlib import AbstractContextManager
from types import TracebackType

from tuslog.archives.detect import Detected, Opener, detect
from tuslog.archives.limits import Budget, Caps, EntryUnavailable
from tuslog.archives.manifest import present_name
from tuslog.archives.members import EntryType, Member
from tuslog.archives.walk import walk


class EntryReader(AbstractContextManager["EntryReader"]):
    """Entry ``index`` (archive order, as in the manifest), positioned at its data.

    Opening walks the archive up to the entry, so errors (no such entry, a directory or a
    link, encrypted content, a damaged archive before it) come before any byte is sent:
    :class:`EntryUnavailable` or :class:`ArchiveProblem`. Links are never followed.
    """

    def __init__(
        self,
        opener: Opener,
        index: int,
        caps: Caps | None = None,
        cancel: threading.Event | None = None,
        *,
        filename: str | None = None,
    ) -> None:
        self.caps = caps or Caps()
        self.budget = Budget(self.caps, cancel)
        detected = detect(opener, Budget(self.caps, cancel), filename)
        if detected.kind is None:
            raise EntryUnavailable("the file is not an archive")
        self.detected: Detected = detected
        self._walk = walk(opener, detected, self.budget)
        try:
            self.member = _find(self._walk, index)
        except BaseException:
            self._walk.close()
            raise
        self.path = present_name(self.member.name, self.caps.max_path_length)[0]

    @property
    def size(self) -> int | None:
        """The entry's size, when the archive says it before the data (not single files)."""
        return self.member.size if self.member.size >= 0 else None

    def chunks(self) -> Iterator[bytes]:
        """The entry's data in chunks of at most 1 MiB; once per reader."""
        assert self.member.chunks is not None
        yield from self.member.chunks()

    def close(self) -> None:
        self._walk.close()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _find(members: Generator[Member, None, None], index: int) -> Member:
    if index < 0:
        raise EntryUnavailable(f"there is no entry number {index}")
    for member in members:
        if member.index != index:
            continue
        if member.type is EntryType.SYMLINK:
            raise EntryUnavailable("this entry is a symbolic link; links are not followed")
        if member.type is EntryType.HARDLINK:
            raise EntryUnavailable("this entry is a hard link; open the entry it links to")
        if member.type is not EntryType.FILE:
            raise EntryUnavailable(f"this entry is a {member.type.value}, not a file")
        if member.unreadable:
            raise EntryUnavailable(f"this file is {member.unreadable}")
        if member.chunks is None:
            member.chunks = lambda: iter(())  # an empty file
        return member
    raise EntryUnavailable(f"there is no entry number {index}")
