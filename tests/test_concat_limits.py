"""Concatenation under limits and failures: a final is bounded like any upload (size,
quota), a copy that fails changes nothing, and partials cannot hoard promised space."""

import errno
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests import tus
from tests.conftest import issue_token, make_settings
from tests.fakes import FaultyStore, data_path
from tuslog.app import create_app
from tuslog.settings import Settings

MAX = 1000


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path, max_upload_size=MAX)


async def _final(client: TestClient, auth: dict[str, str], *parts: str) -> Any:
    return await tus.create(client, auth, None, Upload_Concat="final;" + " ".join(parts))


async def _state(client: TestClient, auth: dict[str, str], location: str) -> str:
    head = await client.head(tus.path_of(location), headers=auth)
    return f"{head.status} {head.headers.get('Tuslog-Upload-State')}"


def _files(settings: Settings) -> int:
    return sum(
        1
        for path in settings.storage_dir.rglob("*")
        if path.is_file() and ".locks" not in path.parts
    )


async def test_final_larger_than_the_maximum_is_refused(
    client: TestClient, settings: Settings
) -> None:
    issued = await issue_token(settings, uploads=3)
    first = await tus.finished_partial(client, issued.auth, b"a" * 600)
    second = await tus.finished_partial(client, issued.auth, b"b" * 600)
    files = _files(settings)

    final = await _final(client, issued.auth, first, second)
    assert final.status == 413, await final.text()
    assert "1200 bytes" in await final.text() and str(MAX) in await final.text()
    assert _files(settings) == files  # nothing copied
    assert await _state(client, issued.auth, first) == "200 complete"


async def test_a_repeated_partial_is_charged_to_the_quota(
    client: TestClient, settings: Settings
) -> None:
    issued = await issue_token(settings, uploads=3, max_bytes=25)
    part = await tus.finished_partial(client, issued.auth, b"0123456789")

    over = await _final(client, issued.auth, part, part, part)  # 30 bytes from 10
    assert over.status == 413, await over.text()
    assert "quota" in (await over.text()).lower() or "25 bytes" in await over.text()
    assert await _state(client, issued.auth, part) == "200 complete"  # still unclaimed

    twice = await _final(client, issued.auth, part, part)  # 20 bytes: within the quota
    assert twice.status == 201, await twice.text()
    assert twice.headers["Upload-Length"] == "20"
    assert (await _state(client, issued.auth, part)).startswith("410")


def broken_copy(store: FaultyStore, error: OSError | None) -> None:
    """The storage seam: the concatenation's copy fails with ``error`` after writing some."""

    def write_at(real: Any, data: bytes, position: int) -> None:
        assert error is not None
        real(b"partly copied", 0)
        raise error

    store.intercept("writer.write_at", None if error is None else write_at)


@pytest.mark.parametrize("failure", ["disk-full", "partial-damaged"])
async def test_a_failed_copy_changes_nothing(
    aiohttp_client: Any, settings: Settings, failure: str
) -> None:
    store = FaultyStore(settings.storage_dir)
    client = await aiohttp_client(create_app(settings, store=store))
    issued = await issue_token(settings, uploads=1)
    first = await tus.finished_partial(client, issued.auth, b"hello ")
    second = await tus.finished_partial(client, issued.auth, b"world")
    files = _files(settings)

    if failure == "disk-full":
        broken_copy(store, OSError(errno.ENOSPC, "No space left on device"))
        expected, words = 507, "nothing was changed"
    else:
        second_id = tus.path_of(second).rsplit("/", 1)[1]
        data_path(settings.storage_dir, second_id).write_bytes(b"wor")
        expected, words = 400, f"partial upload {second_id} is missing or damaged"
    failed = await _final(client, issued.auth, first, second)
    assert failed.status == expected, await failed.text()
    assert words in await failed.text()
    assert _files(settings) == files  # the half-made copy is gone
    assert await _state(client, issued.auth, first) == "200 complete"

    if failure == "disk-full":  # space freed: the retry works, with the one attempt
        broken_copy(store, None)
        final = await _final(client, issued.auth, first, second)
        assert final.status == 201, await final.text()
        location = tus.path_of(str(final.headers["Location"]))
        head = await client.head(location, headers=issued.auth)
        assert head.headers["Upload-Offset"] == head.headers["Upload-Length"] == "11"


async def test_partials_cannot_promise_more_than_the_finals_can_hold(
    client: TestClient, settings: Settings
) -> None:
    issued = await issue_token(settings, uploads=1)
    first = await tus.create(client, issued.auth, 700, Upload_Concat="partial")
    assert first.status == 201, await first.text()
    second = await tus.create(client, issued.auth, 400, Upload_Concat="partial")
    assert second.status == 413, await second.text()
    assert "700 are already taken" in await second.text()
    fits = await tus.create(client, issued.auth, 300, Upload_Concat="partial")
    assert fits.status == 201, await fits.text()


async def test_a_whole_upload_never_gets_a_partial_back(
    client: TestClient, settings: Settings
) -> None:
    issued = await issue_token(settings, uploads=2)
    meta = tus.metadata(sha256="0" * 64)
    partial = await tus.create(
        client, issued.auth, 5, Upload_Concat="partial", Upload_Metadata=meta
    )
    assert partial.status == 201
    whole = await tus.create(client, issued.auth, 5, Upload_Metadata=meta)
    assert whole.status == 201, await whole.text()
    assert whole.headers["Location"] != partial.headers["Location"]
    again = await tus.create(client, issued.auth, 5, Upload_Metadata=meta)  # a lost 201
    assert again.headers["Location"] == whole.headers["Location"]
