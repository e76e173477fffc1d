"""The Store: creates, writes at an offset, reports and deletes upload bytes.

It never sees HTTP. Its blocking methods run in worker threads (``asyncio.to_thread``);
the caller decides when. Tests replace it (only) to fake failures such as a full disk.
"""

import contextlib
import ctypes
import errno
import hashlib
import logging
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
_COPY_BLOCK = 4 * 1024 * 1024
_HEX = frozenset("0123456789abcdef")
_SYNC_FILE_RANGE_WRITE = 2


def is_upload_id(name: str) -> bool:
    """An upload id as the server makes them (128 random bits, lower-case hex): the only
    names accepted in upload URLs, and the only data file names the store recognises."""
    return len(name) == 32 and _HEX.issuperset(name)


def _load_sync_file_range() -> Any:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        function = libc.sync_file_range
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    return function


_sync_file_range = _load_sync_file_range() if sys.platform.startswith("linux") else None


DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


def is_disk_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS


class StorageFullError(OSError):
    """The disk filled during a write; ``written`` bytes of that buffer did reach the file."""

    def __init__(self, written: int) -> None:
        super().__init__(errno.ENOSPC, "No space left on device")
        self.written = written


class DataMissingError(OSError):
    """An upload's data file is missing or shorter than its recorded length."""

    def __init__(self, upload_id: str) -> None:
        super().__init__(errno.EIO, f"upload {upload_id} is missing or shorter than recorded")
        self.upload_id = upload_id


class DataFile:
    """One open upload data file: positioned writes, durable sync, truncation.

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
        with self._using() as fd:
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
            self.sync()

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
    """Upload bytes as ``<root>/<id[:2]>/<id>``; lock files live under ``<root>/.locks``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def lock_dir(self) -> Path:
        return self.root / ".locks"

    def prepare(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.lock_dir.mkdir(exist_ok=True)

    def path(self, upload_id: str) -> Path:
        return self.root / upload_id[:2] / upload_id

    def create(self, upload_id: str) -> None:
        path = self.path(upload_id)
        path.parent.mkdir(exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        _fsync_dir(path.parent)

    def open(self, upload_id: str) -> DataFile:
        return DataFile(os.open(self.path(upload_id), os.O_WRONLY))

    def size(self, upload_id: str) -> int | None:
        try:
            return self.path(upload_id).stat().st_size
        except FileNotFoundError:
            return None

    def delete(self, upload_id: str) -> bool:
        """Remove the upload's bytes; False if there were none to remove."""
        try:
            self.path(upload_id).unlink()
        except FileNotFoundError:
            return False
        return True

    def delete_ended(self, upload_id: str) -> None:
        """Remove the bytes of an upload the database already records as ended (expired,
        terminated, claimed by a final upload). The request that ended it has succeeded:
        a failure here is logged, and the janitor's leftover sweep removes them later."""
        try:
            self.delete(upload_id)
        except OSError as exc:
            log.warning(
                "could not remove the data of ended upload %s (%s); the janitor will retry",
                upload_id,
                exc,
            )

    def untouched_for(self, upload_id: str, seconds: float) -> bool:
        """Whether the upload's data file exists and was not written for ``seconds``."""
        try:
            return time.time() - self.path(upload_id).stat().st_mtime >= seconds
        except FileNotFoundError:
            return False

    def stored_ids(self) -> Iterator[str]:
        """The upload ids that have a data file (``<root>/<id[:2]>/<id>``), in no order."""
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

    def sha256(
        self, upload_id: str, length: int, stop: threading.Event | None = None
    ) -> str | None:
        """SHA-256 of the first ``length`` bytes; None if ``stop`` is set meanwhile."""
        digest = hashlib.sha256()
        for block in self.read_blocks(upload_id, 0, length):
            if stop is not None and stop.is_set():
                return None
            digest.update(block)
        return digest.hexdigest()

    def read_blocks(self, upload_id: str, start: int, end: int) -> Iterator[bytes]:
        with open(self.path(upload_id), "rb") as handle:
            handle.seek(start)
            remaining = end - start
            while remaining > 0:
                block = handle.read(min(_COPY_BLOCK, remaining))
                if not block:
                    raise DataMissingError(upload_id)
                remaining -= len(block)
                yield block

    def concatenate(self, target_id: str, sources: list[tuple[str, int]]) -> str:
        """Write the sources (id, length) one after the other into ``target_id``; return SHA-256."""
        digest = hashlib.sha256()
        data = self.open(target_id)
        try:
            position = 0
            for source_id, length in sources:
                try:
                    for block in self.read_blocks(source_id, 0, length):
                        data.write_at(block, position)
                        digest.update(block)
                        position += len(block)
                except FileNotFoundError as exc:
                    raise DataMissingError(source_id) from exc
            data.sync()
        finally:
            data.close()
        return digest.hexdigest()

    def free_space(self) -> int:
        return shutil.disk_usage(self.root).free

    def check_writable(self) -> None:
        with tempfile.NamedTemporaryFile(dir=self.root, prefix=".probe-") as probe:
            probe.write(b"ok")
            probe.flush()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
