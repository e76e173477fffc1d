"""Looking inside a finished upload's archive, for every surface (portal, REST API, CLI):
its manifest as a tree or a filtered list, a preview or a page of a text entry, a search,
one entry's data. Plain values and ``TuslogError``s, no HTTP.

Each preview, page, search and entry download is audited (``archive.previewed``,
``archive.searched``, ``archive.entry_downloaded``, with actor and client IP) before its
content is handed out. Reading runs on ``Pools.archive_reads`` threads within the
``TUSLOG_ARCHIVE_*`` caps, and stops when the caller goes away or the server stops.
Corrupt uploads can be looked into (the status says so); an entry download from one needs
``force``, as a download of the whole upload does.
"""

import asyncio
import functools
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from tuslog import errors
from tuslog.archives import (
    ArchiveProblem,
    Caps,
    Entry,
    EntryReader,
    EntryUnavailable,
    Manifest,
    Page,
    PatternError,
    Preview,
    SearchQuery,
    compile_pattern,
    iter_search,
    preview_entry,
    read_page,
)
from tuslog.db.models import ManifestState, Upload, UploadState
from tuslog.services import audit
from tuslog.uploads import manifest_tree, manifests, records
from tuslog.uploads.archive_streams import (
    EntryDownload,
    SearchRun,
    Stepper,
    close_iterator,
    translate,
)
from tuslog.uploads.inspection import archive_caps
from tuslog.uploads.manifest_tree import Folder
from tuslog.uploads.manifests import ManifestStatus
from tuslog.uploads.parts import Parts
from tuslog.uploads.reading import readiness_error

T = TypeVar("T")
DOWNLOAD_TIME_BUDGET = timedelta(hours=24)
"""An entry download lasts as long as its client takes; bytes are capped, time hardly."""
MAX_PREVIEW_BYTES = 1024 * 1024
MAX_PAGE_LINES = 5000
MAX_HITS = 10_000
MAX_TEXT = 8192


@dataclass(frozen=True)
class Listing:
    """One page of a manifest: the folders and entries of folder ``prefix`` (tree), or the
    entries whose path contains ``text`` (filter). ``total`` counts every page's items."""

    status: ManifestStatus
    prefix: str
    text: str | None
    items: list[Folder | Entry]
    total: int
    offset: int
    limit: int

    @property
    def next_offset(self) -> int | None:
        following = self.offset + len(self.items)
        return following if following < self.total else None


def _unavailable(error: EntryUnavailable) -> errors.TuslogError:
    reason = str(error)
    if reason == "the file is not an archive":
        return errors.ARCHIVE_NOT_AN_ARCHIVE()
    return errors.ARCHIVE_ENTRY_UNAVAILABLE(f"This entry cannot be opened: {reason}.")


def _reading_error(error: BaseException) -> errors.TuslogError | None:
    if isinstance(error, EntryUnavailable):
        return _unavailable(error)
    if isinstance(error, ArchiveProblem):
        return errors.ARCHIVE_UNREADABLE(
            f"The archive could not be read as far as this entry: {error.reason}."
        )
    return translate(error)


class ArchiveReading:
    """Cheap to make (``ArchiveReading(engine.parts)``); it keeps no state of its own."""

    def __init__(self, parts: Parts) -> None:
        self._parts = parts
        self._settings = parts.settings
        self._background = parts.pools.background

    # --- the manifest ---------------------------------------------------------------------
    async def _upload(self, upload_id: str) -> Upload:
        """The upload, if it can be looked into (corrupt ones can)."""
        async with self._parts.db.session() as session:
            found = await records.load(session, upload_id)
        if found is None:
            raise errors.UPLOAD_NOT_FOUND()
        upload = found[0]
        problem = readiness_error(upload)
        if problem is not None and upload.state is not UploadState.CORRUPT:
            raise problem
        if upload.is_partial:
            raise errors.ARCHIVE_NOT_AN_ARCHIVE(
                "This is a partial upload, a piece of a file: look into the final upload "
                "that joins the pieces."
            )
        return upload

    async def status(self, upload_id: str) -> ManifestStatus:
        upload = await self._upload(upload_id)
        async with self._parts.db.session() as session:
            row = await manifests.load(session, upload_id)
        return manifests.status_of(upload, row)

    async def _ready_data(self, upload_id: str) -> tuple[ManifestStatus, dict[str, Any]]:
        status = await self.status(upload_id)
        if status.state == ManifestState.NOT_AN_ARCHIVE:
            raise errors.ARCHIVE_NOT_AN_ARCHIVE()
        if status.state == ManifestState.FAILED:
            reason = (status.problem or "").split(": ", 1)[-1]  # after "could not read…: "
            raise errors.ARCHIVE_UNREADABLE(f"The archive could not be listed: {reason}.")
        async with self._parts.db.session() as session:
            data = await manifests.load_data(session, upload_id) if status.ready else None
        if data is None:
            raise errors.MANIFEST_NOT_READY()
        return status, await self._thread(manifests.unpack, data)

    async def manifest(self, upload_id: str) -> tuple[ManifestStatus, Manifest]:
        """The whole manifest (up to ``TUSLOG_ARCHIVE_MAX_ENTRIES`` entries)."""
        status, data = await self._ready_data(upload_id)
        return status, await self._thread(Manifest.from_json, data)

    async def listing(
        self,
        upload_id: str,
        *,
        prefix: str = "",
        text: str | None = None,
        offset: int = 0,
        limit: int = manifest_tree.DEFAULT_PAGE,
    ) -> Listing:
        """A page of folder ``prefix``'s contents, or with ``text`` of the entries below
        it whose path contains ``text`` or matches it as a glob (``*.log``; case
        ignored)."""
        manifest_tree.check_page(offset, limit)
        if len(prefix) > MAX_TEXT or (text and len(text) > MAX_TEXT):
            raise errors.INVALID_VALUE(f"prefix/text: at most {MAX_TEXT} characters.")
        status, data = await self._ready_data(upload_id)
        prefix = manifest_tree.normalise(prefix)
        if text:
            found = await self._thread(manifest_tree.matching, data, text, prefix, offset, limit)
        else:
            found = await self._thread(manifest_tree.level, data, prefix, offset, limit)
        return Listing(status, prefix, text or None, found.items, found.total, offset, limit)

    async def find(self, upload_id: str, path: str) -> Entry:
        """The entry shown as ``path`` (if the archive holds the name twice, the last one,
        which is what extracting the archive leaves), or ``#N`` for entry number N."""
        status, data = await self._ready_data(upload_id)
        entry = await self._thread(manifest_tree.find, data, path)
        if entry is not None:
            return entry
        more = (
            "" if status.complete else " (the list is incomplete: " + (status.problem or "") + ")"
        )
        raise errors.ARCHIVE_ENTRY_NOT_FOUND(f"The archive's list has no entry {path!r}{more}.")

    # --- reading entries --------------------------------------------------------------------
    def _opener(self, upload_id: str) -> Callable[[], Any]:
        store = self._parts.store
        return lambda: store.open_reader(upload_id)

    def _caps(self, kind: str) -> Caps:
        settings = self._settings
        if kind == "search":
            budget, limit = settings.archive_search_time_budget, settings.archive_search_max_bytes
            return archive_caps(settings, budget, limit)
        if kind == "download":
            return archive_caps(settings, DOWNLOAD_TIME_BUDGET)
        return archive_caps(settings, settings.archive_preview_time_budget)

    async def _audit(
        self, actor: str, action: str, upload_id: str, client_ip: str | None, **details: Any
    ) -> None:
        async with self._parts.db.begin() as session:
            audit.record(session, actor, action, upload_id, client_ip, **details)

    async def preview(
        self,
        upload_id: str,
        index: int,
        *,
        actor: str,
        client_ip: str | None = None,
        head_bytes: int = 64 * 1024,
        tail_bytes: int = 64 * 1024,
    ) -> Preview:
        """The first and last lines of text entry ``index`` (``binary`` says when it is
        not text; ``problem`` when it could not be read to its end)."""
        if not (0 < head_bytes <= MAX_PREVIEW_BYTES and 0 <= tail_bytes <= MAX_PREVIEW_BYTES):
            raise errors.INVALID_VALUE(f"head/tail: between 1 and {MAX_PREVIEW_BYTES} bytes.")
        upload = await self._upload(upload_id)
        work = functools.partial(
            preview_entry,
            self._opener(upload_id),
            index,
            self._caps("preview"),
            head_bytes=head_bytes,
            tail_bytes=tail_bytes,
            filename=upload.filename or None,
        )
        preview: Preview = await self._read(work)
        await self._audit(actor, "archive.previewed", upload_id, client_ip, **_what(preview))
        return preview

    async def page(
        self,
        upload_id: str,
        index: int,
        *,
        actor: str,
        client_ip: str | None = None,
        first_line: int = 1,
        max_lines: int = 500,
    ) -> Page:
        """Lines ``first_line`` on of text entry ``index`` (``next_line`` for the next)."""
        if first_line < 1 or not 1 <= max_lines <= MAX_PAGE_LINES:
            raise errors.INVALID_VALUE(
                f"first_line: 1 or more; max_lines: between 1 and {MAX_PAGE_LINES}."
            )
        upload = await self._upload(upload_id)
        work = functools.partial(
            read_page,
            self._opener(upload_id),
            index,
            self._caps("preview"),
            first_line=first_line,
            max_lines=max_lines,
            filename=upload.filename or None,
        )
        page: Page = await self._read(work)
        details = {**_what(page), "first_line": first_line}
        await self._audit(actor, "archive.previewed", upload_id, client_ip, **details)
        return page

    async def search(
        self, upload_id: str, query: SearchQuery, *, actor: str, client_ip: str | None = None
    ) -> SearchRun:
        """Start a search over the archive's text entries; iterate ``run.hits()``."""
        if not 1 <= query.max_hits <= MAX_HITS or len(query.paths or "") > MAX_TEXT:
            raise errors.INVALID_VALUE(
                f"max_hits: between 1 and {MAX_HITS}; paths: at most {MAX_TEXT} characters."
            )
        try:
            compile_pattern(query)
        except PatternError as error:
            reason = str(error)
            raise errors.ARCHIVE_PATTERN_INVALID(reason[:1].upper() + reason[1:] + ".") from None
        upload = await self._upload(upload_id)
        await self._audit(
            actor,
            "archive.searched",
            upload_id,
            client_ip,
            pattern=query.pattern[:500],
            fixed=query.fixed,
            ignore_case=query.ignore_case,
            paths=query.paths,
        )
        cancel = self._background.cancel_event()
        found = iter_search(
            self._opener(upload_id),
            query,
            self._caps("search"),
            cancel,
            filename=upload.filename or None,
        )
        pool = self._parts.pools.archive_reads
        stepper: Stepper[object] = Stepper(
            pool, found, cancel, self._background, lambda: close_iterator(found)
        )
        return SearchRun(upload_id, query, stepper)

    async def open_entry(
        self,
        upload_id: str,
        index: int,
        *,
        actor: str,
        client_ip: str | None = None,
        force: bool = False,
    ) -> EntryDownload:
        """Entry ``index`` opened for download (``close`` it); a corrupt upload's only
        with ``force``."""
        upload = await self._upload(upload_id)
        if upload.state is UploadState.CORRUPT and not force:
            raise errors.UPLOAD_CORRUPT()
        work = functools.partial(
            EntryReader,
            self._opener(upload_id),
            index,
            self._caps("download"),
            filename=upload.filename or None,
        )
        cancel = self._background.cancel_event()
        try:
            reader: EntryReader = await self._read(work, cancel)
        except BaseException:
            self._background.forget(cancel)
            raise
        await self._audit(
            actor,
            "archive.entry_downloaded",
            upload_id,
            client_ip,
            entry=index,
            path=reader.path[:500],
        )
        chunks = reader.chunks()
        stepper = Stepper(
            self._parts.pools.archive_reads, chunks, cancel, self._background, reader.close
        )
        return EntryDownload(upload_id, index, reader.path, reader.size, stepper)

    # --- threads --------------------------------------------------------------------------
    async def _thread(self, function: Callable[..., T], *args: Any) -> T:
        pool = self._parts.pools.archive_reads
        return await asyncio.get_running_loop().run_in_executor(pool, function, *args)

    async def _read(self, work: Callable[..., T], cancel: threading.Event | None = None) -> T:
        """``work(cancel=...)`` on a thread: stopped if the caller goes away or the server
        stops; the archive readers' exceptions become the catalogue's."""
        own = cancel is None
        event = cancel or self._background.cancel_event()
        try:
            return await self._thread(functools.partial(work, cancel=event))
        except asyncio.CancelledError:
            event.set()
            raise
        except Exception as error:
            raise (_reading_error(error) or error) from None
        finally:
            if own:
                self._background.forget(event)


def _what(shown: Preview | Page) -> dict[str, Any]:
    return {"entry": shown.index, "path": shown.path[:500]}
