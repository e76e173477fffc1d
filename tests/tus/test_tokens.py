"""Upload tokens on the tus endpoints (§3, issue 2 §5): one uniform 401, one creation per
attempt, revocation, other tokens' uploads, quotas, and the failed-token rate limit.
Malformed Authorization headers are in the ``test_bad_input_*`` modules.
"""

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import update

from tests import tus
from tests.conftest import Issued, issue_token, make_settings, sessions
from tests.tus.state import data_of, db_execute, db_token, db_uploads, upload_id_of
from tests.tus.table import BODY, UNKNOWN_ID
from tuslog import errors
from tuslog.app import create_app
from tuslog.db.models import UploadToken, utcnow
from tuslog.services import tokens as token_service
from tuslog.settings import Settings

TOKEN_MESSAGE = errors.TOKEN_INVALID().message + "\n"


async def revoke(settings: Settings, prefix: str) -> None:
    async with sessions(settings).begin() as session:
        await token_service.revoke(session, prefix, actor="test")


async def _bad_token(kind: str, settings: Settings, client: TestClient) -> dict[str, str]:
    base = {"Tus-Resumable": "1.0.0"}
    if kind == "missing":
        return base
    if kind == "unknown":
        return {**base, "Authorization": "Bearer tlu_aaaaaaaa_" + "A" * 43}
    issued = await issue_token(settings)
    if kind == "wrong-secret":
        return {**base, "Authorization": f"Bearer {issued.token[:-4]}AAAA"}
    if kind == "expired":
        await db_execute(
            settings,
            update(UploadToken)
            .where(UploadToken.prefix == issued.prefix)
            .values(expires_at=utcnow() - timedelta(seconds=1)),
        )
    elif kind == "exhausted":
        assert (await tus.create(client, issued.auth, 1)).status == 201
    elif kind == "revoked":
        await revoke(settings, issued.prefix)
    return issued.auth


@pytest.mark.parametrize(
    "kind", ["missing", "unknown", "wrong-secret", "expired", "exhausted", "revoked"]
)
async def test_bad_tokens_get_one_uniform_answer(
    client: TestClient, settings: Settings, kind: str
) -> None:
    auth = await _bad_token(kind, settings, client)
    before = await db_uploads(settings)
    response = await tus.create(client, auth, 10)
    assert response.status == 401
    assert await response.text() == TOKEN_MESSAGE
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="tuslog"'
    assert response.headers["Tus-Resumable"] == "1.0.0"
    assert "Location" not in response.headers
    assert set(await db_uploads(settings)) == set(before)


async def test_one_upload_token_creates_once_and_resumes_after(
    client: TestClient, issued: Issued, settings: Settings
) -> None:
    path = await tus.create_path(client, issued.auth, 10)
    second = await tus.create(client, issued.auth, 10)
    assert second.status == 401
    assert await second.text() == TOKEN_MESSAGE
    token = await db_token(settings, issued.prefix)
    assert (token.uses, token.max_uses) == (1, 1)
    # exhausted, and even expired: the upload it created can still be finished
    await db_execute(
        settings,
        update(UploadToken)
        .where(UploadToken.prefix == issued.prefix)
        .values(expires_at=utcnow() - timedelta(seconds=1)),
    )
    assert (await tus.patch(client, path, issued.auth, 0, b"01234")).status == 204
    head = await client.head(path, headers=issued.auth)
    assert (head.status, head.headers["Upload-Offset"]) == (200, "5")
    done = await tus.patch(client, path, issued.auth, 5, b"56789")
    assert done.headers["Tuslog-Upload-State"] == "complete"
    assert data_of(settings, upload_id_of(path)) == BODY
    assert (await db_token(settings, issued.prefix)).uses == 1


async def test_revoked_token_stops_its_uploads(
    client: TestClient, issued: Issued, settings: Settings
) -> None:
    path = await tus.create_path(client, issued.auth, 10)
    assert (await tus.patch(client, path, issued.auth, 0, b"0123")).status == 204
    await revoke(settings, issued.prefix)
    head = await client.head(path, headers=issued.auth)
    assert head.status == 401
    assert "Upload-Offset" not in head.headers
    response = await tus.patch(client, path, issued.auth, 4, b"4567")
    assert response.status == 401
    assert await response.text() == TOKEN_MESSAGE
    assert (await client.delete(path, headers=issued.auth)).status == 401
    assert data_of(settings, upload_id_of(path)) == b"0123"
    upload = (await db_uploads(settings))[upload_id_of(path)]
    assert (upload.offset, upload.state) == (4, "receiving")


@pytest.mark.parametrize("same_ticket", [True, False])
async def test_other_tokens_upload_is_403(
    client: TestClient, issued: Issued, settings: Settings, same_ticket: bool
) -> None:
    path = await tus.create_path(client, issued.auth, 10)
    assert (await tus.patch(client, path, issued.auth, 0, b"0123")).status == 204
    other = await issue_token(settings, ticket="SR-1" if same_ticket else "SR-2")
    head = await client.head(path, headers=other.auth)
    assert head.status == 403
    assert "Upload-Offset" not in head.headers
    response = await tus.patch(client, path, other.auth, 4, b"XXXX")
    assert response.status == 403, await response.text()
    response = await client.delete(path, headers=other.auth)
    assert response.status == 403, await response.text()
    assert data_of(settings, upload_id_of(path)) == b"0123"
    upload = (await db_uploads(settings))[upload_id_of(path)]
    assert (upload.offset, upload.state) == (4, "receiving")


async def test_bad_token_on_upload_url_is_401_not_404(
    client: TestClient, issued: Issued, settings: Settings
) -> None:
    """The answer must not tell a caller without a valid token whether an upload exists."""
    path = await tus.create_path(client, issued.auth, 10)
    bad = {"Tus-Resumable": "1.0.0", "Authorization": "Bearer nope"}
    for target in (path, f"/files/{UNKNOWN_ID}"):
        assert (await client.head(target, headers=bad)).status == 401
        assert (await tus.patch(client, target, bad, 0, b"x")).status == 401
        assert (await client.delete(target, headers=bad)).status == 401
    assert data_of(settings, upload_id_of(path)) == b""


async def test_quota_is_413_and_costs_no_attempt(client: TestClient, settings: Settings) -> None:
    issued = await issue_token(settings, uploads=3, max_bytes=100)
    over = await tus.create(client, issued.auth, 101)
    assert over.status == 413, await over.text()
    assert "allows 100 bytes" in await over.text()
    assert (await db_token(settings, issued.prefix)).uses == 0
    assert await db_uploads(settings) == {}
    await tus.create_path(client, issued.auth, 60)
    assert (await tus.create(client, issued.auth, 41)).status == 413
    deferred = await tus.create_path(client, issued.auth, None, Upload_Defer_Length=1)
    assert (await db_token(settings, issued.prefix)).uses == 2
    # a deferred length is held to the quota when it is declared
    response = await tus.patch(client, deferred, issued.auth, 0, b"x", Upload_Length=41)
    assert response.status == 413, await response.text()
    assert data_of(settings, upload_id_of(deferred)) == b""
    response = await tus.patch(client, deferred, issued.auth, 0, b"x", Upload_Length=40)
    assert response.status == 204, await response.text()


async def test_auth_failures_are_rate_limited(
    aiohttp_client: Any, database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(database_url, tmp_path, auth_failure_limit=3)
    client = await aiohttp_client(create_app(settings))
    issued = await issue_token(settings)
    bad = {"Tus-Resumable": "1.0.0", "Authorization": "Bearer tlu_aaaaaaaa_bad"}
    for _ in range(3):
        assert (await tus.create(client, bad, 10)).status == 401
    limited = await tus.create(client, bad, 10)
    assert limited.status == 429
    assert int(limited.headers["Retry-After"]) > 0
    assert limited.headers["Tus-Resumable"] == "1.0.0"
    assert "wait" in (await limited.text()).lower()
    # the limit is per client IP: a good token from the same address waits too
    good = await tus.create(client, issued.auth, 10)
    assert good.status == 429
    assert (await db_token(settings, issued.prefix)).uses == 0
    assert await db_uploads(settings) == {}


async def test_workers_share_the_auth_failure_limit(
    aiohttp_client: Any, database_url: str, tmp_path: Path
) -> None:
    """Each worker counts failures on its own: with two, each allows half the limit, so
    a guesser whose connections reach both still gets no more than the limit."""
    settings = make_settings(database_url, tmp_path, auth_failure_limit=4, workers=2)
    workers = [await aiohttp_client(create_app(settings)) for _ in range(2)]
    bad = {"Tus-Resumable": "1.0.0", "Authorization": "Bearer tlu_aaaaaaaa_bad"}
    for attempt in range(4):
        assert (await tus.create(workers[attempt % 2], bad, 10)).status == 401
    for worker in workers:
        assert (await tus.create(worker, bad, 10)).status == 429


async def test_used_up_token_failures_are_rate_limited(
    aiohttp_client: Any, database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(database_url, tmp_path, auth_failure_limit=3)
    client = await aiohttp_client(create_app(settings))
    issued = await issue_token(settings, uploads=1)
    assert (await tus.create(client, issued.auth, 1)).status == 201
    statuses = [(await tus.create(client, issued.auth, 1)).status for _ in range(4)]
    assert statuses == [401, 401, 401, 429], statuses
