"""Storage that cannot be used (unmounted, read-only, full) is the operator's to fix and
the client's to retry: 503 (507 for a creation that does not fit) with Retry-After and
Tus-Resumable, and no attempt of the token spent on a creation that stored nothing. One
bad file on storage that otherwise works stays a logged 500."""

import errno
import os
from pathlib import Path
from typing import Any

import pytest

from tests import tus
from tests.conftest import issue_token
from tests.fakes import FaultyStore, data_path
from tuslog.app import create_app
from tuslog.settings import Settings


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
    stored = data_path(settings.storage_dir, path[-32:])
    assert stored.read_bytes() == b"0123456789"
    assert (await tus.create(client, issued.auth, 10)).status == 201  # no attempt was spent


def _error(code: int) -> OSError:
    return OSError(code, os.strerror(code))


@pytest.mark.parametrize(
    ("error", "probe", "status", "words"),
    [
        (errno.EROFS, errno.EROFS, 503, "cannot use its storage"),
        (errno.EIO, errno.EIO, 503, "cannot use its storage"),
        (errno.ENOSPC, None, 507, "Not enough free disk space"),
        (errno.EIO, None, 500, "Internal server error"),  # one bad file, storage fine
    ],
)
async def test_a_creation_on_failing_storage_is_refused_without_spending_an_attempt(
    aiohttp_client: Any,
    settings: Settings,
    error: int,
    probe: int | None,
    status: int,
    words: str,
) -> None:
    store = FaultyStore(settings.storage_dir)
    store.fail("create", _error(error))
    store.fail("probe", _error(probe) if probe else None)
    client = await aiohttp_client(create_app(settings, store=store))
    issued = await issue_token(settings, uploads=1)

    answer = await tus.create(client, issued.auth, 10)
    assert answer.status == status, await answer.text()
    assert words in await answer.text()
    assert answer.headers["Tus-Resumable"] == "1.0.0"

    store.fail("create", None)
    store.fail("probe", None)
    assert (await tus.create(client, issued.auth, 10)).status == 201  # the one attempt


@pytest.mark.parametrize(
    ("error", "probe", "status", "retry_after"),
    [
        (errno.ENOSPC, None, 503, "60"),  # full: retry later, not "too large" (507)
        (errno.EROFS, errno.EROFS, 503, "60"),
        (errno.EACCES, None, 500, None),  # only this upload's file: a logged 500
    ],
)
async def test_a_patch_on_failing_storage_keeps_the_offset_and_says_when_to_retry(
    aiohttp_client: Any,
    settings: Settings,
    error: int,
    probe: int | None,
    status: int,
    retry_after: str | None,
) -> None:
    store = FaultyStore(settings.storage_dir)
    client = await aiohttp_client(create_app(settings, store=store))
    issued = await issue_token(settings)
    path = await tus.create_path(client, issued.auth, 10)
    assert (await tus.patch(client, path, issued.auth, 0, b"01234")).status == 204

    store.fail("open_writer", _error(error))
    store.fail("probe", _error(probe) if probe else None)
    answer = await tus.patch(client, path, issued.auth, 5, b"56789")
    assert answer.status == status, await answer.text()
    assert answer.headers.get("Retry-After") == retry_after
    assert answer.headers["Tus-Resumable"] == "1.0.0"

    store.fail("open_writer", None)
    store.fail("probe", None)
    assert (await client.head(path, headers=issued.auth)).headers["Upload-Offset"] == "5"
    assert (await tus.patch(client, path, issued.auth, 5, b"56789")).status == 204


async def test_creation_with_upload_keeps_its_location_when_the_body_cannot_be_stored(
    aiohttp_client: Any, settings: Settings
) -> None:
    """The upload exists and its attempt is spent: the client must learn its URL."""
    store = FaultyStore(settings.storage_dir)
    store.fail("open_writer", _error(errno.EIO))
    client = await aiohttp_client(create_app(settings, store=store))
    issued = await issue_token(settings, uploads=1)

    headers = {**issued.auth, "Upload-Length": "10", "Content-Type": tus.OCTET}
    created = await client.post("/files/", headers=headers, data=b"01234")
    assert created.status == 201, await created.text()
    assert created.headers["Upload-Offset"] == "0"
    path = tus.path_of(created.headers["Location"])
    store.fail("open_writer", None)
    assert (await tus.patch(client, path, issued.auth, 0, b"0123456789")).status == 204


async def test_a_patch_that_is_wrong_anyway_hears_why_before_a_storage_fault(
    aiohttp_client: Any, settings: Settings
) -> None:
    """A PATCH opens its data file with the re-read under the lock, but a file that will
    not open (here: out of descriptors) is only reported once the PATCH would write: a
    stale offset still gets 409 and a body past the end 413, as before."""
    store = FaultyStore(settings.storage_dir)
    client = await aiohttp_client(create_app(settings, store=store))
    issued = await issue_token(settings)
    path = await tus.create_path(client, issued.auth, 10)
    assert (await tus.patch(client, path, issued.auth, 0, b"01234")).status == 204

    store.fail("open_writer", _error(errno.EMFILE))
    stale = await tus.patch(client, path, issued.auth, 2, b"xx")
    assert (stale.status, stale.headers["Upload-Offset"]) == (409, "5"), await stale.text()
    too_long = await tus.patch(client, path, issued.auth, 5, b"x" * 6)
    assert too_long.status == 413, await too_long.text()
    writing = await tus.patch(client, path, issued.auth, 5, b"56789")
    assert writing.status == 503 and writing.headers["Retry-After"], await writing.text()

    store.fail("open_writer", None)
    assert (await tus.patch(client, path, issued.auth, 5, b"56789")).status == 204
    assert data_path(settings.storage_dir, path.rsplit("/", 1)[1]).read_bytes() == b"0123456789"
