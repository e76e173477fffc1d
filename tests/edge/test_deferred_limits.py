"""A deferred-length upload (length unknown until the end: directories and pipes) is
admitted as it grows. What stops it says what happened: a full disk is retried later
(503 + Retry-After), a token quota or the server's size limit is final (413)."""

import os
from typing import Any

from tests import tus
from tests.conftest import issue_token, make_settings
from tests.fakes import FaultyStore
from tuslog.app import create_app
from tuslog.settings import Settings
from tuslog.storage.store import Space


def _free_space_of(store: FaultyStore, free: list[int]) -> None:
    def space(real: Any) -> Space:
        actual = real()
        return Space(actual.total, actual.used, free[0])

    store.intercept("space", space)


async def test_a_full_disk_during_a_deferred_upload_is_a_retryable_503(
    aiohttp_client: Any, settings: Settings
) -> None:
    store = FaultyStore(settings.storage_dir)
    free = [10_000]
    _free_space_of(store, free)
    client = await aiohttp_client(create_app(settings, store=store))
    issued = await issue_token(settings)
    path = await tus.create_path(client, issued.auth, None, Upload_Defer_Length=1)
    data = os.urandom(25_000)
    first = await tus.patch(client, path, issued.auth, 0, data[:8_000])
    assert first.status == 204
    free[0] = 1_000  # the disk fills meanwhile
    refused = await tus.patch(client, path, issued.auth, 8_000, data[8_000:])
    assert refused.status == 503, await refused.text()
    assert int(refused.headers["Retry-After"]) > 0
    assert "disk filled up" in await refused.text()
    offset = int(refused.headers["Upload-Offset"])
    assert 8_000 <= offset <= 9_000
    free[0] = 10**9  # space was freed
    rest = await tus.patch(client, path, issued.auth, offset, data[offset:], Upload_Length=25_000)
    assert (rest.status, rest.headers["Upload-Offset"]) == (204, "25000"), await rest.text()


async def test_the_quota_and_the_size_limit_are_final(
    aiohttp_client: Any, database_url: str, tmp_path: Any
) -> None:
    settings = make_settings(database_url, tmp_path, max_upload_size=5_000)
    client = await aiohttp_client(create_app(settings))
    quota = await issue_token(settings, ticket="SR-Q", max_bytes=3_000)
    path = await tus.create_path(client, quota.auth, None, Upload_Defer_Length=1)
    over = await tus.patch(client, path, quota.auth, 0, os.urandom(3_001))
    assert over.status == 413 and "3000 bytes in all" in await over.text()
    big = await issue_token(settings, ticket="SR-S")
    path = await tus.create_path(client, big.auth, None, Upload_Defer_Length=1)
    over = await tus.patch(client, path, big.auth, 0, os.urandom(5_001))
    assert over.status == 413 and "largest size the server accepts" in await over.text()
