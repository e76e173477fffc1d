"""API keys: Bearer only, never an upload token (and never a key at the tus endpoint),
expiry, revocation, deactivated and demoted owners, every scope against every operation,
the per-address failure limit (also under concurrency), audit with key and owner."""

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from tests.api.conftest import ApiClient, Keys, add_user, issued_token, make_key, problem_of
from tests.conftest import sessions
from tuslog.api.app import OPERATIONS
from tuslog.db.models import ApiKey, AuditEvent, User, UserRole, utcnow
from tuslog.settings import Settings


async def test_no_key_bad_key_and_upload_token_are_401(api: ApiClient) -> None:
    issued = await issued_token(api)
    for headers in (
        {},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer tlk_abcdefgh_" + "x" * 43},
        {"Authorization": "Bearer not-a-key"},
        {"Authorization": "Bearer ünïcode"},
        {"Authorization": f"Bearer {issued['token']}"},  # an upload token
    ):
        response = await api.with_key(None).get("tickets", headers=headers)
        assert response.status == 401
        assert response.content_type == "application/problem+json"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        problem_of(await response.json(), 401, "api_key_invalid")


async def test_the_tus_endpoint_refuses_api_keys(api: ApiClient, keys: Keys) -> None:
    for key in (keys.admin, keys.write):
        response = await api.client.post(
            "/files/",
            headers={
                "Authorization": f"Bearer {key}",
                "Tus-Resumable": "1.0.0",
                "Upload-Length": "5",
            },
        )
        assert response.status == 401, await response.text()


async def test_expired_revoked_and_deactivated_keys_are_refused(
    api: ApiClient, settings: Settings, assertion_db: None
) -> None:
    await add_user(settings, "bob@example.com", UserRole.STAFF)
    short = await make_key(settings, "bob@example.com", "read", ttl=timedelta(seconds=30))
    revoked = await make_key(settings, "bob@example.com", "read")
    assert (await api.with_key(short).get("tickets")).status == 200
    async with sessions(settings).begin() as session:
        await session.execute(
            update(ApiKey).where(ApiKey.prefix == short[:12]).values(expires_at=utcnow())
        )
    assert (await api.with_key(short).get("tickets")).status == 401
    from tuslog.services import apikeys

    async with sessions(settings).begin() as session:
        await apikeys.revoke(session, revoked[:12], actor="test")
    assert (await api.with_key(revoked).get("tickets")).status == 401
    live = await make_key(settings, "bob@example.com", "read")
    async with sessions(settings).begin() as session:
        await session.execute(
            update(User).where(User.email == "bob@example.com").values(is_active=False)
        )
    assert (await api.with_key(live).get("tickets")).status == 401


async def test_an_admin_key_loses_admin_when_its_owner_is_demoted(
    api: ApiClient, keys: Keys, settings: Settings, assertion_db: None
) -> None:
    assert (await api.with_key(keys.admin).get("webhooks")).status == 200
    async with sessions(settings).begin() as session:
        await session.execute(
            update(User).where(User.email == "admin@example.com").values(role=UserRole.STAFF)
        )
    response = await api.with_key(keys.admin).get("webhooks")
    problem_of(await response.json(), 403, "scope_missing")


async def test_admin_scope_needs_an_admin_owner(settings: Settings, keys: Keys) -> None:
    from tuslog import errors

    with pytest.raises(errors.TuslogError, match="administrator"):
        await make_key(settings, "staff@example.com", "admin")
    with pytest.raises(errors.TuslogError, match="scopes"):
        await make_key(settings, "staff@example.com", "root")


def _path(template: str) -> str:
    return (
        template.replace("{number}", "SR-404")
        .replace("{prefix}", "tlu_nonexist")
        .replace("{upload_id}", "0" * 32)
        .replace("{webhook_id}", "999")
        .replace("{delivery_id}", "999")
    )


@pytest.mark.parametrize(
    "operation", [op for op in OPERATIONS if op.scope], ids=lambda op: op.operation_id
)
async def test_every_operation_checks_its_scope(api: ApiClient, keys: Keys, operation: Any) -> None:
    """A key without the scope gets 403 (before anything is looked up); one with it gets
    past authorisation (whatever the answer then is, it is not 401 or 403)."""
    holders = {
        "read": keys.read,
        "write": keys.write,
        "download": keys.download,
        "admin": keys.admin,
    }
    body = {} if operation.body is not None else None
    for scope, key in holders.items():
        response = await api.with_key(key).request(
            operation.method,
            "/api/v1" + _path(operation.path),
            json=body,
            headers={"If-Match": '"x"'} if operation.if_match else None,
        )
        allowed = scope == operation.scope or scope == "admin"
        if allowed:
            assert response.status not in (401, 403), (scope, await response.text())
        else:
            assert response.status == 403, (scope, response.status)
            problem_of(await response.json(), 403, "scope_missing")


async def test_failed_keys_are_limited_per_address_even_when_concurrent(
    aiohttp_client: Any, database_url: str, tmp_path: Any
) -> None:
    """20 concurrent wrong keys with a limit of 5: exactly 5 are checked (401), the rest
    refused (429); then even a valid key from that address waits."""
    from tests.conftest import make_settings
    from tuslog.app import create_app

    settings = make_settings(database_url, tmp_path, api_auth_failure_limit=5)
    await add_user(settings, "carol@example.com", UserRole.STAFF)
    good = await make_key(settings, "carol@example.com", "read")
    api = ApiClient(await aiohttp_client(create_app(settings)), None)
    bad = {"Authorization": "Bearer tlk_abcdefgh_" + "y" * 43}
    answers = await asyncio.gather(
        *(api.client.get("/api/v1/tickets", headers=bad) for _ in range(20))
    )
    statuses = sorted(response.status for response in answers)
    assert statuses == [401] * 5 + [429] * 15
    locked = next(response for response in answers if response.status == 429)
    assert int(locked.headers["Retry-After"]) > 0
    problem_of(await locked.json(), 429, "api_auth_locked")
    assert (await api.with_key(good).get("tickets")).status == 429
    # Another address is not affected (a trusted proxy names it).


async def test_a_valid_key_gives_its_slot_back(
    aiohttp_client: Any, database_url: str, tmp_path: Any
) -> None:
    from tests.conftest import make_settings
    from tuslog.app import create_app

    settings = make_settings(database_url, tmp_path, api_auth_failure_limit=2)
    await add_user(settings, "dan@example.com", UserRole.STAFF)
    good = await make_key(settings, "dan@example.com", "read")
    api = ApiClient(await aiohttp_client(create_app(settings)), good)
    for _ in range(10):
        assert (await api.get("tickets")).status == 200
    bad = {"Authorization": "Bearer tlk_abcdefgh_" + "z" * 43}
    assert (await api.client.get("/api/v1/tickets", headers=bad)).status == 401
    assert (await api.get("tickets")).status == 200


async def test_changes_and_downloads_are_audited_with_key_and_owner(
    api: ApiClient, keys: Keys, settings: Settings, assertion_db: None
) -> None:
    await issued_token(api, "SR-7")
    async with sessions(settings)() as session:
        rows = (await session.execute(select(AuditEvent.actor, AuditEvent.action))).all()
        key = await session.scalar(select(ApiKey).where(ApiKey.prefix == keys.all_but_admin[:12]))
    actor = f"staff@example.com (API key {keys.all_but_admin[:12]})"
    assert (actor, "ticket.created") in rows and (actor, "token.issued") in rows
    assert key is not None and key.last_used_at is not None and key.last_used_ip == "127.0.0.1"
