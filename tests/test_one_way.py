"""One rule, one place: every way an upload ends goes through ``Ending.end`` (the tus
DELETE, the janitor, the CLI, ticket deletion), and every way an upload grows is admitted
by ``admission.measure`` + ``Room.check``/``Room.bound`` (creation, a deferred length, a
deferred-length body, a final concatenation). A spy at that one seam proves each caller
uses it; the fault tests elsewhere (test_janitor, test_admission) prove what it does."""

import asyncio
import os
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests import tus
from tests.conftest import Issued, issue_token, make_settings
from tests.test_cli_support import make_upload
from tuslog.app import create_app
from tuslog.cli import main
from tuslog.db.database import Database
from tuslog.db.models import UploadState
from tuslog.keys import ENGINE
from tuslog.services import tickets
from tuslog.settings import Settings
from tuslog.uploads import admission
from tuslog.uploads.ending import Ending

Calls = list[tuple[str, str]]


@pytest.fixture
def ends(monkeypatch: pytest.MonkeyPatch) -> Iterator[Calls]:
    calls: Calls = []
    real = Ending.end

    async def spy(self: Ending, upload_id: str, state: UploadState, *args: Any, **kw: Any) -> bool:
        calls.append((state.value, upload_id))
        return await real(self, upload_id, state, *args, **kw)

    monkeypatch.setattr(Ending, "end", spy)
    yield calls


async def test_the_tus_delete_ends_through_the_one_function(
    client: TestClient, issued: Issued, ends: Calls
) -> None:
    path = await tus.create_path(client, issued.auth, 100)
    response = await client.delete(path, headers=issued.auth)
    assert response.status == 204, await response.text()
    assert ends == [("terminated", path.rsplit("/", 1)[1])]


async def test_the_janitor_expires_through_the_one_function(
    aiohttp_client: Any, settings: Settings, ends: Calls
) -> None:
    quick = make_settings(settings.database_url, settings.storage_dir.parent, upload_expiry=1)
    client = await aiohttp_client(create_app(quick))
    auth = (await issue_token(quick)).auth
    path = await tus.create_path(client, auth, 100)
    await asyncio.sleep(1.3)
    assert await client.app[ENGINE].janitor.sweep() == 1
    assert ends == [("expired", path.rsplit("/", 1)[1])]


def _cli(settings: Settings, monkeypatch: pytest.MonkeyPatch, *args: str) -> None:
    monkeypatch.setenv("TUSLOG_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("TUSLOG_STORAGE_DIR", str(settings.storage_dir))
    main(list(args))


def _new_ticket(settings: Settings, number: str) -> None:
    async def work() -> None:
        database = Database(settings.database_url)
        try:
            async with database.begin() as session:
                await tickets.create(session, number, actor="test")
        finally:
            await database.dispose()

    asyncio.run(work())


def test_the_cli_deletes_uploads_and_tickets_through_the_one_function(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, ends: Calls
) -> None:
    _new_ticket(settings, "SR-1")
    first, second = make_upload(settings, "SR-1"), make_upload(settings, "SR-1", received=10)
    _cli(settings, monkeypatch, "upload", "delete", first.id, "--yes")
    assert ends == [("deleted", first.id)]
    _cli(settings, monkeypatch, "ticket", "delete", "SR-1", "--yes")
    assert ends == [("deleted", first.id), ("deleted", second.id)]


# --- admission ------------------------------------------------------------------------------------
@pytest.fixture
def admitted(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The token id of every admission measured."""
    calls: list[int] = []
    real = admission.measure

    async def spy(session: Any, token: Any, *args: Any, **kw: Any) -> admission.Room:
        calls.append(token.id)
        return await real(session, token, *args, **kw)

    monkeypatch.setattr(admission, "measure", spy)
    yield calls


async def test_every_way_an_upload_grows_is_admitted_in_one_place(
    client: TestClient, settings: Settings, admitted: list[int]
) -> None:
    issued = await issue_token(settings, uploads=3, max_bytes=1000)
    await tus.create_path(client, issued.auth, 100)  # a creation with a length
    assert len(admitted) == 1
    deferred = await tus.create_path(client, issued.auth, None, Upload_Defer_Length=1)
    assert len(admitted) == 1  # nothing to admit yet
    first = await tus.patch(client, deferred, issued.auth, 0, b"x" * 10)  # a deferred body
    assert first.status == 204 and len(admitted) == 2
    declared = await tus.patch(client, deferred, issued.auth, 10, b"y", Upload_Length=20)
    assert declared.status == 204 and len(admitted) == 3  # the length (then its body fits)
    part = await tus.finished_partial(client, issued.auth, b"abc")
    before = len(admitted)
    final = await tus.create(client, issued.auth, None, Upload_Concat=f"final;{part}")
    assert final.status == 201, await final.text()
    assert len(admitted) == before + 2  # before the copy, and in the recording transaction
    assert set(admitted) == {admitted[0]}  # always the token's own room


async def test_the_one_admission_refuses_the_same_way_everywhere(
    client: TestClient, settings: Settings
) -> None:
    issued = await issue_token(settings, uploads=3, max_bytes=100)
    too_big = await tus.create(client, issued.auth, 101)
    assert too_big.status == 413 and "100 bytes in all" in await too_big.text()
    deferred = await tus.create_path(client, issued.auth, None, Upload_Defer_Length=1)
    refused = await tus.patch(client, deferred, issued.auth, 0, b"", Upload_Length=101)
    assert refused.status == 413 and "100 bytes in all" in await refused.text()
    body = await tus.patch(client, deferred, issued.auth, 0, os.urandom(101))
    assert body.status == 413 and body.headers["Upload-Offset"] == "0"
