"""The storage seam for tests: a real ``FileStore`` wrapped, with faults injected per
operation. Tests fake failures (a full disk, EIO, a lost writeback, a slow disk) through
it, and only through it (DESIGN §5).

``store.intercept("size", fault)`` makes ``store.size(...)`` call ``fault(real, ...)``
instead, where ``real`` is the wrapped operation: a fault can fail, delay, or change what
the real operation does. Writer operations (``write_at``, ``sync``, ``truncate``,
``start_writeback``, ``size``, ``close``) are intercepted by the names ``writer.<op>``.
"""

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from tuslog.storage.filestore import FileStore
from tuslog.storage.store import Space, Writer

Fault = Callable[..., Any]


class FaultyWriter:
    def __init__(self, inner: Writer, store: "FaultyStore") -> None:
        self.inner = inner
        self._store = store

    def _call(self, name: str, *args: Any) -> Any:
        real = getattr(self.inner, name)
        fault = self._store.faults.get(f"writer.{name}")
        return fault(real, *args) if fault is not None else real(*args)

    def write_at(self, data: bytes | bytearray | memoryview, position: int) -> None:
        self._call("write_at", data, position)

    def sync(self) -> None:
        self._call("sync")

    def start_writeback(self, position: int, length: int) -> None:
        self._call("start_writeback", position, length)

    def truncate(self, size: int) -> None:
        self._call("truncate", size)

    def size(self) -> int:
        return int(self._call("size"))

    def close(self) -> None:
        self._call("close")


class FaultyStore:
    def __init__(self, root: Path) -> None:
        self.inner = FileStore(root)
        self.faults: dict[str, Fault] = {}

    def intercept(self, name: str, fault: Fault | None) -> None:
        """Route operation ``name`` through ``fault`` (None: back to normal)."""
        if fault is None:
            self.faults.pop(name, None)
        else:
            self.faults[name] = fault

    def fail(self, name: str, error: BaseException | None) -> None:
        """Make operation ``name`` raise ``error`` (None: back to normal)."""

        def raise_it(_real: Any, *_args: Any) -> Any:
            assert error is not None
            raise error

        self.intercept(name, None if error is None else raise_it)

    def _call(self, name: str, *args: Any) -> Any:
        real = getattr(self.inner, name)
        fault = self.faults.get(name)
        return fault(real, *args) if fault is not None else real(*args)

    def path(self, upload_id: str) -> Path:
        return self.inner.path(upload_id)

    def prepare(self) -> None:
        self._call("prepare")

    def create(self, upload_id: str) -> None:
        self._call("create", upload_id)

    def open_writer(self, upload_id: str) -> FaultyWriter:
        return FaultyWriter(self._call("open_writer", upload_id), self)

    def open_reader(self, upload_id: str) -> BinaryIO:
        reader: BinaryIO = self._call("open_reader", upload_id)
        return reader

    def size(self, upload_id: str) -> int | None:
        size: int | None = self._call("size", upload_id)
        return size

    def delete(self, upload_id: str) -> bool:
        return bool(self._call("delete", upload_id))

    def space(self) -> Space:
        space: Space = self._call("space")
        return space

    def probe(self) -> None:
        self._call("probe")

    def stored_ids(self) -> Iterator[str]:
        ids: Iterator[str] = self._call("stored_ids")
        return ids

    def untouched_for(self, upload_id: str, seconds: float) -> bool:
        return bool(self._call("untouched_for", upload_id, seconds))

    def location(self, upload_id: str) -> str:
        return str(self._call("location", upload_id))


def data_path(root: Path, upload_id: str) -> Path:
    """Where an upload's bytes are, for tests that look at or damage the file itself."""
    return FileStore(root).path(upload_id)


def lock_files(root: Path) -> list[Path]:
    """The per-upload lock files and release requests left in a storage directory."""
    locks = root / ".locks"
    return sorted(p for p in locks.rglob("*") if p.is_file())
