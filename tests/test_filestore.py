"""The data file's descriptor outlives a cancelled owner: an operation still running in a
worker thread (a write, a sync, a truncation) keeps it open; the number is never handed to
another file under it."""

import os
from pathlib import Path

import pytest

from tuslog.storage.filestore import FileStore

UPLOAD_ID = "cd" * 16


def test_close_during_an_operation_leaves_the_descriptor_to_it(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    store.prepare()
    store.create(UPLOAD_ID)
    data = store.open_writer(UPLOAD_ID)
    data.write_at(b"abc", 0)
    with data._using() as fd:  # what a worker thread holds while it writes or syncs
        data.close()  # the owning coroutine was cancelled and cleans up
        os.fstat(fd)  # still this file's: no other open() can get the number
        assert os.pwrite(fd, b"d", 3) == 1
    with pytest.raises(OSError):
        os.fstat(fd)  # the last operation closed it
    with pytest.raises(ValueError, match="closed"):
        data.write_at(b"e", 4)  # nothing starts on a closed file
    data.close()  # twice is harmless
    assert store.path(UPLOAD_ID).read_bytes() == b"abcd"
