"""One entry of an archive as the readers yield it, whatever the format."""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum


class EntryType(StrEnum):
    FILE = "file"
    DIR = "dir"
    SYMLINK = "symlink"
    HARDLINK = "hardlink"
    OTHER = "other"


@dataclass(slots=True)
class Member:
    """An entry as found in the archive; ``name`` and ``link`` are raw (surrogate-escaped).

    ``chunks`` streams the entry's data; for tar it is valid only until the walk moves on
    to the next entry. ``unreadable`` says why the data cannot be shown although the entry
    is a file (encrypted, sparse, an unsupported compression method).
    """

    index: int
    name: str
    type: EntryType
    size: int
    mtime: int | None
    link: str | None = None
    unreadable: str | None = None
    chunks: Callable[[], Iterator[bytes]] | None = None
