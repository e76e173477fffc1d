"""Server-side sessions: hashed ids, idle and absolute lifetimes (on an injected clock),
sign-out, "sign out my other sessions", CSRF secrets, and revocation whenever access is
taken away (password change or reset, 2FA reset, deactivation)."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.accounts.conftest import (
    PASSWORD,
    STEP,
    Clock,
    Staff,
    WorkerFactory,
    audit_actions,
    current,
    enrolled,
    pending_session,
)
from tuslog import errors
from tuslog.db.models import StaffSession, UserRole
from tuslog.services import accounts, self_service, sessions, signin, totp
from tuslog.services.auth_context import Auth

NEW_PASSWORD = "amber orchard 93 lantern"


async def sign_in(auth: Auth, clock: Clock, staff: Staff, ip: str = "192.0.2.1") -> str:
    """A full sign-in with a fresh TOTP code; returns the session's cookie value."""
    assert staff.secret is not None
    clock.advance(STEP)
    pending = await pending_session(auth, staff, ip)
    done = await signin.second_factor(
        auth, pending, totp.code_at(staff.secret, clock.now), client_ip=ip
    )
    return done.token


async def test_session_ids_are_stored_hashed(auth: Auth, clock: Clock) -> None:
    staff = await enrolled(auth, clock)
    assert staff.token is not None
    selector, verifier = staff.token.split(".")
    async with auth.sessions() as session:
        row = await session.scalar(select(StaffSession).where(StaffSession.selector == selector))
    assert row is not None and verifier not in row.verifier_hash
    assert len(verifier) >= 43  # 256 bits
    other_last = "B" if verifier.endswith("A") else "A"
    forged_verifier = f"{selector}.{verifier[:-1]}{other_last}"
    for forged in (forged_verifier, f"{selector}.", f"{selector}", "", None, "é.x"):
        assert await sessions.resolve(auth, forged) is None
    assert (await current(auth, staff.token)).email == staff.email


async def test_idle_timeout(worker: WorkerFactory, clock: Clock) -> None:
    auth = worker(session_idle_timeout="30m", session_lifetime="12h")
    staff = await enrolled(auth, clock)
    token = staff.token
    for _ in range(3):  # active every 29 minutes: still signed in after 87
        clock.advance(timedelta(minutes=29))
        seen = await current(auth, token)
        assert seen.expires_at == clock.now + timedelta(minutes=30)
    clock.advance(timedelta(minutes=30))
    assert await sessions.resolve(auth, token) is None
    async with auth.sessions() as session:  # the expired row is gone
        assert list(await session.scalars(select(StaffSession))) == []


async def test_absolute_lifetime_ends_even_an_active_session(
    worker: WorkerFactory, clock: Clock
) -> None:
    auth = worker(session_idle_timeout="30m", session_lifetime="2h")
    staff = await enrolled(auth, clock)
    signed_in_at = (await current(auth, staff.token)).signed_in_at
    assert signed_in_at is not None
    while clock.now + timedelta(minutes=20) < signed_in_at + timedelta(hours=2):
        clock.advance(timedelta(minutes=20))
        assert await sessions.resolve(auth, staff.token) is not None
    clock.advance(timedelta(minutes=20))
    assert await sessions.resolve(auth, staff.token) is None


async def test_pending_session_lapses(auth: Auth, clock: Clock) -> None:
    staff = await enrolled(auth, clock)
    accepted = await signin.password_step(auth, staff.email, PASSWORD, client_ip=None)
    clock.advance(sessions.PENDING_LIFETIME - timedelta(seconds=1))
    assert await sessions.resolve(auth, accepted.token) is not None
    clock.advance(timedelta(seconds=1))
    assert await sessions.resolve(auth, accepted.token) is None


async def test_purge_removes_only_dead_sessions(worker: WorkerFactory, clock: Clock) -> None:
    auth = worker(session_idle_timeout="30m")
    staff = await enrolled(auth, clock)
    await signin.password_step(auth, staff.email, PASSWORD, client_ip=None)  # pending
    assert await sessions.purge_expired(auth) == 0
    clock.advance(timedelta(minutes=20))
    fresh = await sign_in(auth, clock, staff)
    clock.advance(timedelta(minutes=15))
    assert await sessions.purge_expired(auth) == 2  # the idle one and the lapsed pending one
    assert await sessions.resolve(auth, fresh) is not None


async def test_sign_in_replaces_the_presented_session(auth: Auth, clock: Clock) -> None:
    staff = await enrolled(auth, clock)
    accepted = await signin.password_step(
        auth, staff.email, PASSWORD, client_ip=None, replaces=staff.token
    )
    assert await sessions.resolve(auth, staff.token) is None
    assert await sessions.resolve(auth, accepted.token) is not None


async def test_sign_out_and_sign_out_others(auth: Auth, clock: Clock) -> None:
    staff = await enrolled(auth, clock)
    others = [await sign_in(auth, clock, staff, f"192.0.2.{i}") for i in range(2)]
    pending = await signin.password_step(auth, staff.email, PASSWORD, client_ip=None)
    mine = await current(auth, staff.token)
    listed = await sessions.list_mine(auth, mine)
    assert len(listed) == 3 and [s.current for s in listed].count(True) == 1

    assert await sessions.sign_out_others(auth, mine, client_ip="192.0.2.1") == 3
    for token in [*others, pending.token]:
        assert await sessions.resolve(auth, token) is None
    assert await sessions.resolve(auth, staff.token) is not None
    await sessions.sign_out(auth, mine, client_ip="192.0.2.1")
    assert await sessions.resolve(auth, staff.token) is None
    events = await audit_actions(auth, "sessions.revoked", "signout")
    assert [(e.action, e.details) for e in events] == [
        ("sessions.revoked", {"count": 3}),
        ("signout", {}),
    ]


async def test_csrf_secret_per_session_and_rotated(auth: Auth, clock: Clock) -> None:
    staff = await enrolled(auth, clock)
    first = await current(auth, staff.token)
    second = await current(auth, await sign_in(auth, clock, staff))
    assert first.csrf_token != second.csrf_token and len(first.csrf_token) >= 43
    sessions.check_csrf(first, first.csrf_token)
    for presented in (second.csrf_token, "", None, first.csrf_token[:-1], "ü" * 43):
        with pytest.raises(errors.TuslogError) as caught:
            sessions.check_csrf(first, presented)
        assert caught.value.code == "csrf_failed"


async def test_password_change_needs_password_and_fresh_code(auth: Auth, clock: Clock) -> None:
    staff = await enrolled(auth, clock)
    assert staff.secret is not None
    other = await sign_in(auth, clock, staff)
    mine = await current(auth, staff.token)
    used = totp.code_at(staff.secret, clock.now)  # just used by the sign-in above

    async def change(old: str, code: str, new: str = NEW_PASSWORD) -> str:
        return await self_service.change_password(
            auth, mine, old_password=old, new_password=new, code=code, client_ip=None
        )

    for old, code, expected in (
        ("wrong password here", used, "invalid_credentials"),
        (PASSWORD, used, "second_factor_invalid"),  # not fresh: used for the sign-in
        (PASSWORD, "000000", "second_factor_invalid"),
    ):
        with pytest.raises(errors.TuslogError) as caught:
            await change(old, code)
        assert caught.value.code == expected
    with pytest.raises(errors.TuslogError) as caught:
        await change(PASSWORD, used, new="short")
    assert caught.value.code == "weak_password"
    assert await sessions.resolve(auth, other) is not None  # nothing changed so far

    clock.advance(STEP)
    new_token = await change(PASSWORD, totp.code_at(staff.secret, clock.now))
    assert await sessions.resolve(auth, other) is None
    assert await sessions.resolve(auth, staff.token) is None  # rotated
    assert (await current(auth, new_token)).signed_in
    with pytest.raises(errors.TuslogError):
        await signin.password_step(auth, staff.email, PASSWORD, client_ip=None)
    assert await signin.password_step(auth, staff.email, NEW_PASSWORD, client_ip=None)
    changed = await audit_actions(auth, "password.changed")
    assert [e.details for e in changed] == [{"sessions_ended": 1}]


async def test_admin_actions_end_the_users_sessions(auth: Auth, clock: Clock) -> None:
    await enrolled(auth, clock, "root@example.com", role=UserRole.ADMIN)
    staff = await enrolled(auth, clock)
    tokens = [staff.token, await sign_in(auth, clock, staff)]

    async def live() -> list[bool]:
        return [await sessions.resolve(auth, token) is not None for token in tokens]

    assert await live() == [True, True]
    async with auth.sessions.begin() as session:
        await accounts.set_password(session, staff.email, NEW_PASSWORD, actor="root@example.com")
    assert await live() == [False, False]
    staff.password = NEW_PASSWORD

    tokens = [await sign_in(auth, clock, staff)]
    async with auth.sessions.begin() as session:
        await accounts.reset_second_factor(session, staff.email, actor="root@example.com")
    assert await live() == [False]
    again = await signin.password_step(auth, staff.email, NEW_PASSWORD, client_ip=None)
    assert again.needs_enrolment  # enrols anew; the old recovery codes are gone
    with pytest.raises(errors.TuslogError) as caught:
        await signin.second_factor(
            auth, await current(auth, again.token), staff.recovery_codes[0], client_ip=None
        )
    assert caught.value.code == "not_enrolled"

    async with auth.sessions.begin() as session:
        await accounts.deactivate(session, staff.email, actor="root@example.com")
    assert await sessions.resolve(auth, again.token) is None
    with pytest.raises(errors.TuslogError) as caught:  # the same answer as a wrong password
        await signin.password_step(auth, staff.email, NEW_PASSWORD, client_ip=None)
    assert caught.value.code == "invalid_credentials"
    events = await audit_actions(auth, "user.password_set", "user.2fa_reset", "user.deactivated")
    assert [(e.action, e.actor, e.details) for e in events] == [
        ("user.password_set", "root@example.com", {"sessions_ended": 2}),
        ("user.2fa_reset", "root@example.com", {"sessions_ended": 1}),
        ("user.deactivated", "root@example.com", {"sessions_ended": 1}),
    ]
    assert (await audit_actions(auth, "signin.failed"))[-1].details == {"reason": "inactive"}

    async with auth.sessions.begin() as session:
        await accounts.reactivate(session, staff.email, actor="root@example.com")
    assert await signin.password_step(auth, staff.email, NEW_PASSWORD, client_ip=None)
