"""Admission by free space (issue 2 §5): 507 before anything is stored, and the space
promised to unfinished uploads is reserved.
"""

import shutil
from pathlib import Path
from typing import Any

import pytest

from tests import tus
from tests.conftest import issue_token, make_settings
from tests.tus.state import data_files, data_of, db_token, db_uploads, upload_id_of
from tuslog.app import create_app


async def test_no_space_is_507_and_nothing_stored(
    aiohttp_client: Any, database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(database_url, tmp_path, min_free_space="1024T")
    client = await aiohttp_client(create_app(settings))
    issued = await issue_token(settings, uploads=2)
    response = await tus.create(client, issued.auth, 10)
    assert response.status == 507, await response.text()
    assert "free space" in (await response.text()).lower()
    assert "Location" not in response.headers
    assert (await db_token(settings, issued.prefix)).uses == 0
    assert await db_uploads(settings) == {}
    assert data_files(settings) == {}
    assert response.headers["Tus-Resumable"] == "1.0.0"
    # an empty upload needs no space
    assert (await tus.create(client, issued.auth, 0)).status == 201


async def test_no_space_for_deferred_length_is_507(
    aiohttp_client: Any, database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(database_url, tmp_path, min_free_space="1024T")
    client = await aiohttp_client(create_app(settings))
    issued = await issue_token(settings)
    path = await tus.create_path(client, issued.auth, None, Upload_Defer_Length=1)
    response = await tus.patch(client, path, issued.auth, 0, b"0123", Upload_Length=10)
    assert response.status == 507, await response.text()
    upload = (await db_uploads(settings))[upload_id_of(path)]
    assert (upload.length, upload.offset, upload.state) == (None, 0, "receiving")
    assert data_of(settings, upload_id_of(path)) == b""


async def test_space_promised_to_unfinished_uploads_is_reserved(
    aiohttp_client: Any, database_url: str, tmp_path: Path
) -> None:
    gib = 1024**3
    length = 4 * gib
    free = shutil.disk_usage(tmp_path).free
    if free < 8 * gib:
        pytest.skip("needs 8 GiB of free disk to leave margins either side")
    # room for one `length` upload, with 2 GiB of slack for other writers on the disk
    reserve = free - length - 2 * gib
    settings = make_settings(
        database_url, tmp_path, min_free_space=reserve, max_upload_size=2 * length
    )
    client = await aiohttp_client(create_app(settings))
    issued = await issue_token(settings, uploads=3)
    assert (await tus.create(client, issued.auth, length)).status == 201
    second = await tus.create(client, issued.auth, length)
    assert second.status == 507, await second.text()
    assert len(await db_uploads(settings)) == 1
    assert (await db_token(settings, issued.prefix)).uses == 1
