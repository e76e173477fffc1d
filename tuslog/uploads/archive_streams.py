"""What a search or an entry download hands its caller: the archive readers are blocking
iterators, stepped here one item at a time on ``Pools.archive_reads`` threads, so a caller
that streams (an HTTP response, a terminal) never holds a thread while it writes, and can
stop at any moment (``close``: the reading stops at its next chunk)."""

import asyncio
import contextlib
import threading
import unicodedata
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import Generic, TypeVar

from tuslog import errors
from tuslog.archives import ArchiveProblem, Cancelled, Hit, SearchQuery, SearchSummary
from tuslog.uploads.pools import Background

T = TypeVar("T")
_END = object()
_FILENAME_BYTES = 200
_FILENAME_PUNCTUATION = frozenset("._-+@=,()[] ")


def safe_filename(path: str, index: int) -> str:
    """A file name to save an entry under: the last part of its (display) path, with
    anything but letters, digits and harmless punctuation replaced by ``_``, no leading
    dot (no hidden file, never ``..``), at most 200 bytes; ``entry-N`` if nothing is left.
    It never contains a path separator, so it cannot leave the folder it is saved in."""
    base = unicodedata.normalize("NFC", path.rstrip("/").rsplit("/", 1)[-1])
    kept = "".join(c if c.isalnum() or c in _FILENAME_PUNCTUATION else "_" for c in base)
    kept = kept.strip(" .")
    kept = kept.encode("utf-8")[:_FILENAME_BYTES].decode("utf-8", "ignore").rstrip(" .")
    return kept or f"entry-{index}"


def translate(error: BaseException) -> errors.TuslogError | None:
    """The catalogue's error for what can go wrong while an archive is read."""
    if isinstance(error, Cancelled):
        return errors.SHUTTING_DOWN("The server is stopping; try again in a few seconds.")
    if isinstance(error, FileNotFoundError):
        return errors.UPLOAD_GONE("This upload's data is missing from the storage.")
    if isinstance(error, OSError):
        return errors.STORAGE_UNAVAILABLE()
    return None


def close_iterator(iterator: Iterator[object]) -> None:
    """Close a generator (its ``finally`` blocks close the archive file)."""
    close = getattr(iterator, "close", None)
    if close is not None:
        close()


class Stepper(Generic[T]):
    """A blocking iterator, one ``next`` per call on a pool thread."""

    def __init__(
        self,
        pool: ThreadPoolExecutor,
        iterator: Iterator[T],
        cancel: threading.Event,
        background: Background,
        closing: Callable[[], None],
    ) -> None:
        self._pool = pool
        self._iterator = iterator
        self._cancel = cancel
        self._background = background
        self._closing = closing
        self._running: Future[object] | None = None
        self._closed = False

    async def step(self) -> T | None:
        """The next item; None at the end (or once closed)."""
        if self._closed:
            return None
        self._running = self._pool.submit(next, self._iterator, _END)
        try:
            item = await asyncio.wrap_future(self._running)
        except asyncio.CancelledError:
            self._cancel.set()  # the thread's step goes on to the next chunk, then stops
            raise
        return None if item is _END else item  # type: ignore[return-value]

    async def close(self) -> None:
        """Stop the reading and close the archive: after the step under way, if any (a
        generator cannot be closed while it runs)."""
        if self._closed:
            return
        self._closed = True
        self._cancel.set()
        try:
            if self._running is not None and not self._running.done():
                with contextlib.suppress(Exception):
                    await asyncio.wrap_future(self._running)
            await asyncio.get_running_loop().run_in_executor(self._pool, self._closing)
        finally:
            self._background.forget(self._cancel)


class SearchRun:
    """A search under way: ``hits()`` yields matches as they are found; when it ends,
    ``summary`` says what was searched and, if it stopped early, why. Use it as an async
    context manager (or call ``close``) so that an abandoned search stops at once."""

    def __init__(self, upload_id: str, query: SearchQuery, stepper: Stepper[object]) -> None:
        self.upload_id = upload_id
        self.query = query
        self.summary: SearchSummary | None = None
        self._stepper = stepper

    async def hits(self) -> AsyncIterator[Hit]:
        try:
            while (item := await self._stepper.step()) is not None:
                if isinstance(item, SearchSummary):
                    self.summary = item
                elif isinstance(item, Hit):
                    yield item
        except Exception as error:
            raise (translate(error) or error) from None
        finally:
            await self.close()

    async def close(self) -> None:
        await self._stepper.close()

    async def __aenter__(self) -> "SearchRun":
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()


class EntryDownload:
    """One entry opened for download: ``chunks()`` streams its data (up to 1 MiB each).
    ``size`` is None when the archive does not say it first (a single compressed file).
    ``filename`` is what to save it as (``safe_filename``)."""

    def __init__(
        self,
        upload_id: str,
        index: int,
        path: str,
        size: int | None,
        stepper: Stepper[bytes],
    ) -> None:
        self.upload_id = upload_id
        self.index = index
        self.path = path
        self.size = size
        self.filename = safe_filename(path, index)
        self.sent = 0
        self._stepper = stepper

    async def chunks(self) -> AsyncIterator[bytes]:
        """Raises ``ARCHIVE_UNREADABLE`` if the data turns out damaged or hits a cap on
        the way (what was sent before is then incomplete)."""
        try:
            while (chunk := await self._stepper.step()) is not None:
                self.sent += len(chunk)
                yield chunk
        except ArchiveProblem as problem:
            raise errors.ARCHIVE_UNREADABLE(
                f"The entry could not be read to its end: {problem.reason} "
                f"(after {self.sent} bytes)."
            ) from None
        except Exception as error:
            raise (translate(error) or error) from None

    async def close(self) -> None:
        await self._stepper.close()

    async def __aenter__(self) -> "EntryDownload":
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()
