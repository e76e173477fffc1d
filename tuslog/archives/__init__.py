"""Look inside an uploaded archive without extracting it: manifest, preview, search, read.

Everything here is synchronous and meant to run in a worker thread; each call takes an
*opener* (a callable returning a fresh binary file object at offset 0), :class:`Caps`, and
an optional ``threading.Event`` that cancels it. Nothing is ever written to disk and links
are never followed. Hostile archives are normal input: damage, bombs and absurd names end
in a partial result whose ``problem`` says "could not read fully: why".
"""

from tuslog.archives.detect import Detected, Kind, Opener, detect
from tuslog.archives.limits import (
    ArchiveProblem,
    Budget,
    Cancelled,
    Caps,
    DamagedArchive,
    EntryUnavailable,
    LimitReached,
)
from tuslog.archives.manifest import Counts, Entry, Manifest, build_manifest
from tuslog.archives.members import EntryType
from tuslog.archives.names import display_line, display_name
from tuslog.archives.preview import Page, Preview, preview_entry, read_page
from tuslog.archives.reading import EntryReader
from tuslog.archives.search import (
    Hit,
    PatternError,
    SearchQuery,
    SearchResult,
    SearchSummary,
    compile_pattern,
    iter_search,
    search_archive,
)
from tuslog.archives.text import Line

__all__ = [
    "ArchiveProblem",
    "Budget",
    "Cancelled",
    "Caps",
    "Counts",
    "DamagedArchive",
    "Detected",
    "Entry",
    "EntryReader",
    "EntryType",
    "EntryUnavailable",
    "Hit",
    "Kind",
    "LimitReached",
    "Line",
    "Manifest",
    "Opener",
    "Page",
    "PatternError",
    "Preview",
    "SearchQuery",
    "SearchResult",
    "SearchSummary",
    "build_manifest",
    "compile_pattern",
    "detect",
    "display_line",
    "display_name",
    "iter_search",
    "preview_entry",
    "read_page",
    "search_archive",
]
