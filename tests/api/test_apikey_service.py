"""The API key service as the portal uses it: only a staff member signed in with both
factors makes a key (for themselves), shown once and stored as a hash; revoking one's
own key only."""

from pathlib import Path

import pytest
from sqlalchemy import select

from tests.accounts.conftest import Clock, CountingHasher, current, enrolled, pending_session
from tests.conftest import make_settings
from tuslog import errors
from tuslog.db.engine import create_engine, session_factory
from tuslog.db.models import ApiKey, UserRole
from tuslog.services import apikeys, passwords
from tuslog.services.auth_context import Auth


async def test_keys_from_the_portal_need_both_factors(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(passwords, "HASHER", CountingHasher())
    engine = create_engine(database_url)
    clock = Clock()
    auth = Auth(session_factory(engine), make_settings(database_url, tmp_path), clock)
    try:
        staff = await enrolled(auth, clock, "erin@example.com", role=UserRole.STAFF)
        pending = await pending_session(auth, staff)
        async with auth.sessions.begin() as session:
            with pytest.raises(errors.TuslogError) as refused:
                await apikeys.create_for_session(session, pending, scopes=["read"])
            assert refused.value.code == "second_factor_required"
            with pytest.raises(errors.TuslogError) as nobody:
                await apikeys.create_for_session(session, None, scopes=["read"])
            assert nobody.value.code == "session_invalid"
        signed_in = await current(auth, staff.token)
        async with auth.sessions.begin() as session:
            issued = await apikeys.create_for_session(
                session,
                signed_in,
                scopes=["read", "download"],
                name="Zendesk",
                client_ip="192.0.2.5",
            )
            with pytest.raises(errors.TuslogError, match="administrator"):
                await apikeys.create_for_session(session, signed_in, scopes=["admin"])
        async with auth.sessions() as session:
            stored = await session.scalar(
                select(ApiKey).where(ApiKey.prefix == issued.record.prefix)
            )
        assert stored is not None and issued.key not in (stored.key_hash, stored.prefix)
        assert stored.key_hash == apikeys.hash_key(issued.key) and stored.scopes == "download read"
        caller = await apikeys.authenticate(auth, issued.key, "192.0.2.5")
        assert caller.email == "erin@example.com" and caller.scopes == {"read", "download"}
        async with auth.sessions.begin() as session:
            with pytest.raises(errors.TuslogError) as other:
                await apikeys.revoke(
                    session, issued.record.prefix, actor="x", owner_id=signed_in.user_id + 1
                )
            assert other.value.code == "api_key_not_found"
            _, already = await apikeys.revoke(
                session, issued.key, actor="erin@example.com", owner_id=signed_in.user_id
            )
            assert already is False
        with pytest.raises(errors.TuslogError) as gone:
            await apikeys.authenticate(auth, issued.key, "192.0.2.5")
        assert gone.value.code == "api_key_invalid"
    finally:
        await engine.dispose()
