"""A stored manifest as a browsable tree or a filtered list, one page at a time.

Works on the manifest's compact JSON rows (``[path, type, size, mtime, link?, flags?]``,
see ``tuslog.archives.Manifest.to_json``) and builds ``Entry`` objects only for the page
shown: for 100,000 entries a level or a filter takes some tens of milliseconds, where
building every entry first would take four times that. Callers run it in a thread.

Paths are the manifest's display forms. For the tree they are split at ``/``, ignoring
empty and ``.`` parts (``./var/log/`` is ``var/log``); a folder exists when an entry
names it or lies below it.
"""

import fnmatch
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tuslog import errors
from tuslog.archives import Entry, Manifest

MAX_PAGE = 1000
DEFAULT_PAGE = 200
_DIR = "d"  # the type code of a folder in the manifest's JSON (format version 1)
GLOB_CHARACTERS = frozenset("*?[")


@dataclass(frozen=True)
class Folder:
    path: str
    """Normalised: ``var/log`` (what to pass as ``prefix`` to list it)."""
    name: str
    entries: int
    """Entries below it, at any depth."""
    size: int
    """Their total size in bytes."""
    index: int | None
    """The folder's own entry, when the archive has one (it has a time then)."""


@dataclass(frozen=True)
class Slice:
    items: list[Folder | Entry]
    total: int
    """Items at this level, or entries that match, in all pages."""


def split(path: str) -> list[str]:
    return [part for part in path.split("/") if part not in ("", ".")]


def normalise(prefix: str) -> str:
    return "/".join(split(prefix))


def check_page(offset: int, limit: int) -> None:
    if offset < 0:
        raise errors.INVALID_VALUE("offset: must be 0 or more.")
    if not 1 <= limit <= MAX_PAGE:
        raise errors.INVALID_VALUE(f"limit: must be between 1 and {MAX_PAGE}.")


def entries_at(data: dict[str, Any], indexes: list[int]) -> list[Entry]:
    """The entries at these positions of the JSON rows, as ``Entry`` objects."""
    rows = data["entries"]
    built = Manifest.from_json({**data, "entries": [rows[i] for i in indexes]}).entries
    for entry, index in zip(built, indexes, strict=True):
        entry.index = index
    return built


class _Folders:
    def __init__(self, base: list[str]) -> None:
        self.base = base
        self.found: dict[str, list[Any]] = {}  # name -> [entries, size, index]

    def add(self, name: str, size: int, own_index: int | None) -> None:
        folder = self.found.setdefault(name, [0, 0, None])
        if own_index is None:
            folder[0] += 1
            folder[1] += max(size, 0)
        else:
            folder[2] = own_index

    def built(self) -> list[Folder]:
        return [
            Folder("/".join([*self.base, name]), name, count, size, index)
            for name, (count, size, index) in sorted(self.found.items())
        ]


def clean(path: str) -> str:
    """``path`` normalised as ``split`` does, without a trailing slash (fast when it
    already is, as nearly every path is)."""
    if path.startswith(("./", "/")) or "//" in path or "/./" in path or path.endswith("/."):
        return "/".join(split(path))
    return "" if path == "." else path.rstrip("/")


def level(data: dict[str, Any], prefix: str, offset: int, limit: int) -> Slice:
    """The folders and entries directly in folder ``prefix`` ("" for the top): folders
    first, then entries, each sorted by name."""
    check_page(offset, limit)
    base = split(prefix)
    start = "/".join(base) + "/" if base else ""
    folders = _Folders(base)
    here: list[tuple[str, int]] = []
    for index, row in enumerate(data["entries"]):
        path = clean(row[0])
        if not path.startswith(start) or len(path) == len(start):
            continue
        rest = path[len(start) :]
        cut = rest.find("/")
        if cut >= 0:
            folders.add(rest[:cut], row[2], None)
        elif row[1] == _DIR:
            folders.add(rest, 0, index)
        else:
            here.append((rest, index))
    shown_folders = folders.built()
    here.sort()
    total = len(shown_folders) + len(here)
    chosen: list[Folder | Entry] = list(shown_folders[offset : offset + limit])
    first = max(0, offset - len(shown_folders))
    wanted = [index for _, index in here[first : first + limit - len(chosen)]]
    chosen.extend(entries_at(data, wanted))
    return Slice(chosen, total)


def is_glob(text: str) -> bool:
    return not GLOB_CHARACTERS.isdisjoint(text)


def _matcher(text: str) -> Callable[[str], bool]:
    """``text`` as a test of a casefolded path: when it has ``*``, ``?`` or ``[``, a glob
    on the whole path or on its last part (``*`` also crosses ``/``: ``*.log`` finds
    every log, ``syslog*`` the rotated ones in any folder), else a substring."""
    needle = text.casefold()
    if not is_glob(needle):
        return lambda path: needle in path
    pattern = re.compile(fnmatch.translate(needle), re.DOTALL)

    def matches(path: str) -> bool:
        if pattern.match(path) is not None:
            return True
        return pattern.match(path.rstrip("/").rsplit("/", 1)[-1]) is not None

    return matches


def matching(data: dict[str, Any], text: str, prefix: str, offset: int, limit: int) -> Slice:
    """Entries (at any depth below ``prefix``) whose path contains ``text``, or matches it
    as a glob (see ``_matcher``), case ignored, in archive order."""
    check_page(offset, limit)
    matches = _matcher(text)
    base = split(prefix)
    start = "/".join(base) + "/" if base else ""
    found = []
    for index, row in enumerate(data["entries"]):
        if not matches(row[0].casefold()):
            continue
        if start:
            path = clean(row[0])
            if not path.startswith(start) or len(path) == len(start):
                continue
        found.append(index)
    page: list[Folder | Entry] = [*entries_at(data, found[offset : offset + limit])]
    return Slice(page, len(found))


def find(data: dict[str, Any], path: str) -> Entry | None:
    """The entry shown as ``path`` (the last one of that name; else the last one whose
    normalised path is the same), or ``#N`` for entry number N."""
    rows = data["entries"]
    if path.startswith("#") and path[1:].isdigit():
        number = int(path[1:])
        if number < len(rows):
            return entries_at(data, [number])[0]
        return None
    found = None
    for index, row in enumerate(rows):
        if row[0] == path:
            found = index
    if found is None:
        wanted = clean(path)
        for index, row in enumerate(rows):
            if clean(row[0]) == wanted:
                found = index
    return None if found is None else entries_at(data, [found])[0]
