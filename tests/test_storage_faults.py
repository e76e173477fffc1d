"""Storage that cannot be used (unmounted, read-only, full) is the operator's to fix and
the client's to retry: 503/507 with Retry-After and Tus-Resumable, never a 500, and no
attempt of the token spent on a creation that stored nothing."""

import errno
from pathlib import Path
from typing import Any

import pytest

from tests import tus
from tests.conftest import issue_token
from tuslog.server.app import create_app
from tuslog.settings import Settings
from tuslog.storage.filestore import FileStore


async def test_a_vanished_storage_directory_answers_503_and_resumes_once_back(
    aiohttp_client: Any, settings: Settings, tmp_path: Path
) -> None:
    client = await aiohttp_client(create_app(settings))
    issued = await issue_token(settings, uploads=2)
    path = await tus.create_path(client, issued.auth, 10)
    assert (await tus.patch(client, path, issued.auth, 0, b"01234")).status == 204

    unmounted = tmp_path / "unmounted"
    settings.storage_dir.rename(unmounted)  # like a volume that went away
    answers = [
        await tus.create(client, issued.auth, 10),
        await tus.patch(client, path, issued.auth, 5, b"56789"),
        await client.head(path, headers=issued.auth),
    ]
    for answer in answers:
        assert answer.status == 503, await answer.text()
        assert answer.headers["Tus-Resumable"] == "1.0.0"
        assert answer.headers["Retry-After"] == "60"
    assert "cannot use its storage" in await answers[0].text()

    unmounted.rename(settings.storage_dir)
    head = await client.head(path, headers=issued.auth)
    assert head.headers["Upload-Offset"] == "5"
    assert (await tus.patch(client, path, issued.auth, 5, b"56789")).status == 204
    stored = settings.storage_dir / path[-32:-30] / path[-32:]
    assert stored.read_bytes() == b"0123456789"
    assert (await tus.create(client, issued.auth, 10)).status == 201  # no attempt was spent


class _FailingCreateStore(FileStore):
    """The storage seam: creating a data file fails with ``error``."""

    error = OSError(errno.EROFS, "Read-only file system")

    def create(self, upload_id: str) -> None:
        raise self.error


@pytest.mark.parametrize(
    ("error", "status", "words"),
    [
        (errno.EROFS, 503, "cannot use its storage"),
        (errno.EIO, 503, "cannot use its storage"),
        (errno.ENOSPC, 507, "Not enough free disk space"),
    ],
)
async def test_a_failing_storage_refuses_creation_without_a_500(
    aiohttp_client: Any, settings: Settings, error: int, status: int, words: str
) -> None:
    store = _FailingCreateStore(settings.storage_dir)
    store.error = OSError(error, "failing storage")
    client = await aiohttp_client(create_app(settings, store=store))
    issued = await issue_token(settings, uploads=1)

    answer = await tus.create(client, issued.auth, 10)
    assert answer.status == status, await answer.text()
    assert words in await answer.text()
    assert answer.headers["Tus-Resumable"] == "1.0.0"
    assert list(settings.storage_dir.glob("??/*")) == []
