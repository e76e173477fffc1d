"""The database goes away for a few seconds (a restart, a network cut) while a PATCH
streams: every request meanwhile gets a retryable 503 (never a 500), the PATCH keeps its
bytes and records them as soon as the database answers again, and the upload completes
byte-identical. PostgreSQL only: SQLite is a file, it does not go away."""

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from tests import tus
from tests.api.conftest import add_user, make_key, problem_of
from tests.conftest import issue_token, make_settings
from tests.fakes import data_path
from tests.support.outage_proxy import OutageProxy
from tuslog.app import create_app
from tuslog.db.models import UserRole

PIECE = 256 * 1024


@pytest.fixture
async def proxied(database_url: str) -> AsyncIterator[tuple[str, OutageProxy]]:
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        pytest.skip("PostgreSQL only: an SQLite file does not go away")
    proxy = await OutageProxy(url.host or "127.0.0.1", url.port or 5432).start()
    yield url.set(host="127.0.0.1", port=proxy.port).render_as_string(False), proxy
    await proxy.stop()


async def test_a_patch_outlives_a_database_outage(
    aiohttp_client: Any, tmp_path: Any, proxied: tuple[str, OutageProxy], caplog: Any
) -> None:
    url, proxy = proxied
    settings = make_settings(url, tmp_path, checkpoint_seconds=0.3)
    client = await aiohttp_client(create_app(settings))
    issued = await issue_token(settings, uploads=2)
    data = os.urandom(24 * PIECE)
    meta = tus.metadata(sha256=hashlib.sha256(data).hexdigest())
    path = await tus.create_path(client, issued.auth, len(data), Upload_Metadata=meta)
    other = await tus.create_path(client, issued.auth, 10)
    during: list[Any] = []

    async def body() -> AsyncIterator[bytes]:
        for index, start in enumerate(range(0, len(data), PIECE)):
            if index == 6:
                proxy.down()
                during.append(await client.head(other, headers=issued.auth))
                during.append(await tus.create(client, issued.auth, 10))
            if index == 16:
                proxy.up()
            yield data[start : start + PIECE]
            await asyncio.sleep(0.25)  # ~2.5 s of outage while bytes keep coming

    response = await client.patch(
        path, data=body(), headers={**issued.auth, "Upload-Offset": "0", "Content-Type": tus.OCTET}
    )
    assert response.status == 204, await response.text()
    assert response.headers["Upload-Offset"] == str(len(data))
    for answer in during:
        assert answer.status == 503, (answer.method, answer.status)
        assert int(answer.headers["Retry-After"]) > 0
        assert answer.headers["Tus-Resumable"] == "1.0.0"
    settled = await tus.settled_head(client, path, issued.auth)
    assert settled.headers["Tuslog-Upload-State"] == "verified"
    assert data_path(settings.storage_dir, path.rsplit("/", 1)[1]).read_bytes() == data
    assert not [r for r in caplog.records if r.levelname == "ERROR" and r.exc_info]


async def test_the_api_answers_503_while_the_database_is_away(
    aiohttp_client: Any, tmp_path: Any, proxied: tuple[str, OutageProxy], caplog: Any
) -> None:
    """The REST API on the same outage: problem+json 503 with Retry-After, one warning
    line, no traceback; the same call works again once the database is back."""
    url, proxy = proxied
    settings = make_settings(url, tmp_path, api_auth_failure_limit=1000)
    await add_user(settings, "desk@example.com", UserRole.STAFF)
    key = await make_key(settings, "desk@example.com", "read", "write")
    client = await aiohttp_client(create_app(settings))
    auth = {"Authorization": f"Bearer {key}"}
    assert (await client.get("/api/v1/tickets", headers=auth)).status == 200
    proxy.down()
    try:
        for method, body in (("GET", None), ("POST", {"number": "SR-OUT"})):
            answer = await client.request(method, "/api/v1/tickets", headers=auth, json=body)
            assert answer.status == 503, (method, await answer.text())
            assert answer.content_type == "application/problem+json"
            problem_of(await answer.json(), 503, "database_unavailable")
            assert int(answer.headers["Retry-After"]) > 0
    finally:
        proxy.up()
    assert (await client.get("/api/v1/tickets", headers=auth)).status == 200
    assert not [r for r in caplog.records if r.levelname == "ERROR"], caplog.text[-2000:]
    assert any("database unavailable" in r.getMessage() for r in caplog.records)
