"""Fixtures for the account services: an injectable clock, one or more "workers" (each an
`Auth` with an engine and connection pool of its own on the test's database), users in
every state, and argon2 with cheaper parameters (one test checks the real defaults)."""

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import make_settings
from tuslog.db.engine import create_engine, session_factory
from tuslog.db.models import AuditEvent, User, UserRole
from tuslog.errors import TuslogError
from tuslog.services import accounts, passwords, sessions, signin, totp
from tuslog.services.auth_context import Auth

PASSWORD = "violet kettle 47 harbour"
START = datetime(2026, 12, 1, 9, 0, 1, tzinfo=UTC)  # one second into a TOTP step
STEP = timedelta(seconds=30)
PRODUCTION_HASHER = passwords.HASHER  # before the fixture below replaces it


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta | float) -> None:
        self.now += delta if isinstance(delta, timedelta) else timedelta(seconds=delta)


class CountingHasher(PasswordHasher):
    """Real argon2id with small parameters; counts verifications (which run in threads)."""

    def __init__(self, **params: int) -> None:
        super().__init__(**({"time_cost": 1, "memory_cost": 1024, "parallelism": 1} | params))
        self._lock = threading.Lock()
        self.verified = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        with self._lock:
            self.verified += 1
        return super().verify(hash, password)


@pytest.fixture(autouse=True)
def hasher(monkeypatch: pytest.MonkeyPatch) -> CountingHasher:
    counting = CountingHasher()
    monkeypatch.setattr(passwords, "HASHER", counting)
    return counting


@pytest.fixture
def clock() -> Clock:
    return Clock()


WorkerFactory = Callable[..., Auth]


@pytest.fixture
async def worker(database_url: str, tmp_path: Path, clock: Clock) -> AsyncIterator[WorkerFactory]:
    """``worker(**settings)``: a new Auth with its own engine (a worker process's view)."""
    engines: list[AsyncEngine] = []

    def make(**overrides: Any) -> Auth:
        engine = create_engine(database_url)
        engines.append(engine)
        settings = make_settings(database_url, tmp_path, **overrides)
        return Auth(session_factory(engine), settings, clock)

    yield make
    for engine in engines:
        await engine.dispose()


@pytest.fixture
def auth(worker: WorkerFactory) -> Auth:
    return worker()


@dataclass
class Staff:
    email: str
    password: str
    secret: str | None = None
    token: str | None = None
    recovery_codes: tuple[str, ...] = ()


async def create(
    auth: Auth, email: str = "alice@example.com", *, role: UserRole = UserRole.STAFF
) -> Staff:
    async with auth.sessions.begin() as session:
        await accounts.create_user(session, email, PASSWORD, role=role, actor="test")
    return Staff(email, PASSWORD)


async def current(auth: Auth, token: str | None) -> sessions.CurrentSession:
    found = await sessions.resolve(auth, token)
    assert found is not None
    return found


async def enrolled(
    auth: Auth,
    clock: Clock,
    email: str = "alice@example.com",
    *,
    role: UserRole = UserRole.STAFF,
) -> Staff:
    """A user who has signed in once and set up TOTP (the clock moves on one step, so
    the code used for enrolment is in the past)."""
    staff = await create(auth, email, role=role)
    pending = await signin.password_step(auth, email, PASSWORD, client_ip="192.0.2.1")
    assert pending.needs_enrolment
    setup = await signin.enrolment(auth, await current(auth, pending.token))
    done = await signin.confirm_enrolment(
        auth,
        await current(auth, pending.token),
        totp.code_at(setup.secret, clock.now),
        client_ip="192.0.2.1",
    )
    clock.advance(STEP)
    staff.secret, staff.token, staff.recovery_codes = (
        setup.secret,
        done.token,
        done.new_recovery_codes,
    )
    return staff


async def pending_session(
    auth: Auth, staff: Staff, ip: str = "192.0.2.1"
) -> sessions.CurrentSession:
    accepted = await signin.password_step(auth, staff.email, staff.password, client_ip=ip)
    return await current(auth, accepted.token)


async def audit_actions(auth: Auth, *actions: str) -> list[AuditEvent]:
    async with auth.sessions() as session:
        query = select(AuditEvent).order_by(AuditEvent.id)
        if actions:
            query = query.where(AuditEvent.action.in_(actions))
        return list(await session.scalars(query))


async def user_row(auth: Auth, email: str) -> User:
    async with auth.sessions() as session:
        user = await session.scalar(select(User).where(User.email == email))
    assert user is not None
    return user


async def outcomes(attempts: list[Awaitable[object]]) -> list[str]:
    """Run attempts at once; each outcome is "ok" or the TuslogError code it raised."""
    results = await asyncio.gather(*attempts, return_exceptions=True)
    found = []
    for result in results:
        if isinstance(result, TuslogError):
            found.append(result.code)
        elif isinstance(result, BaseException):
            raise result
        else:
            found.append("ok")
    return found
