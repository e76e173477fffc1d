"""``FileStore``: upload bytes as files on a local or shared volume.

Layout: ``<root>/<id[:2]>/<id>``. Lock files live beside them, under ``<root>/.locks``
(``tuslog.storage.locks``); the store itself never looks there.
"""

import contextlib
import ctypes
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from tuslog import metrics
from tuslog.storage.store import Space, StorageFullError, is_disk_full, is_upload_id

_SYNC_FILE_RANGE_WRITE = 2


def _load_sync_file_range() -> Any:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        function = libc.sync_file_range
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    return function


_sync_file_range = _load_sync_file_range() if sys.platform.startswith("linux") else None


class FileWriter:
    """One open data file: positioned writes, durable sync, truncation.

    Its methods run in worker threads, and the coroutine that owns the file may be
    cancelled (server shutdown) while one is still running. Closing then must not free the
    descriptor under that thread: the number could be reused by another file at once, and
    the write or truncation would land there. So ``close`` only marks the file closed and
    the last operation still running closes the descriptor."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._guard = threading.Lock()
        self._running = 0
        self._closed = False

    @contextlib.contextmanager
    def _using(self) -> Iterator[int]:
        with self._guard:
            if self._closed:
                raise ValueError("the data file is closed")
            self._running += 1
        try:
            yield self._fd
        finally:
            with self._guard:
                self._running -= 1
                last = self._closed and self._running == 0
            if last:
                os.close(self._fd)

    def write_at(self, data: bytes | bytearray | memoryview, position: int) -> None:
        view = memoryview(data)
        done = 0
        with self._using() as fd:
            while done < len(view):
                try:
                    done += os.pwrite(fd, view[done:], position + done)
                except OSError as exc:
                    if is_disk_full(exc):
                        raise StorageFullError(done) from exc
                    raise

    def sync(self) -> None:
        with self._using() as fd, metrics.get().fsync_seconds.time():
            os.fdatasync(fd)

    def start_writeback(self, position: int, length: int) -> None:
        """Ask the kernel to start writing this range to the device now (no waiting), so
        the next fdatasync finds little left to do. Linux only; a no-op elsewhere."""
        if _sync_file_range is not None and length > 0:
            with self._using() as fd:
                _sync_file_range(fd, position, length, _SYNC_FILE_RANGE_WRITE)

    def truncate(self, size: int) -> None:
        with self._using() as fd:
            os.ftruncate(fd, size)
            os.fdatasync(fd)

    def size(self) -> int:
        with self._using() as fd:
            return os.fstat(fd).st_size

    def close(self) -> None:
        with self._guard:
            if self._closed:
                return
            self._closed = True
            last = self._running == 0
        if last:
            os.close(self._fd)


class FileStore:
    """The ``Store`` on a directory (``TUSLOG_STORAGE_DIR``)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def prepare(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, upload_id: str) -> Path:
        return self.root / upload_id[:2] / upload_id

    def location(self, upload_id: str) -> str:
        return str(self.path(upload_id).resolve())

    def create(self, upload_id: str) -> None:
        path = self.path(upload_id)
        path.parent.mkdir(exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        _fsync_dir(path.parent)

    def open_writer(self, upload_id: str) -> FileWriter:
        return FileWriter(os.open(self.path(upload_id), os.O_WRONLY))

    def open_reader(self, upload_id: str) -> BinaryIO:
        return open(self.path(upload_id), "rb")

    def size(self, upload_id: str) -> int | None:
        try:
            return self.path(upload_id).stat().st_size
        except FileNotFoundError:
            return None

    def delete(self, upload_id: str) -> bool:
        try:
            self.path(upload_id).unlink()
        except FileNotFoundError:
            return False
        return True

    def space(self) -> Space:
        usage = shutil.disk_usage(self.root)
        return Space(total=usage.total, used=usage.used, free=usage.free)

    def probe(self) -> None:
        with tempfile.NamedTemporaryFile(dir=self.root, prefix=".probe-") as probe:
            probe.write(b"ok")
            probe.flush()

    def untouched_for(self, upload_id: str, seconds: float) -> bool:
        try:
            return time.time() - self.path(upload_id).stat().st_mtime >= seconds
        except FileNotFoundError:
            return False

    def stored_ids(self) -> Iterator[str]:
        with os.scandir(self.root) as shards:
            for shard in shards:
                if len(shard.name) != 2 or not shard.is_dir(follow_symlinks=False):
                    continue
                with os.scandir(shard.path) as files:
                    for entry in files:
                        name = entry.name
                        if (
                            is_upload_id(name)
                            and name.startswith(shard.name)
                            and entry.is_file(follow_symlinks=False)
                        ):
                            yield name


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
