"""Server-side portal sessions: stored in the database, revocable, rotated at each step.

The cookie value is ``<selector>.<verifier>`` (96 + 256 random bits). The row is found by
its selector and the verifier is checked against its stored SHA-256 with a constant-time
comparison (also, against a dummy, when no row matched), so neither the database nor the
timing of a look-up gives a usable session id away.

A session is ``pending`` after the password: it can only enrol or check a code, and
lapses after :data:`PENDING_LIFETIME`. The second factor turns it ``signed_in`` under a
new selector and verifier; from then on it ends after ``TUSLOG_SESSION_IDLE_TIMEOUT``
without a request or ``TUSLOG_SESSION_LIFETIME`` after sign-in. Each session has a CSRF
secret of its own (rotated with the id); the portal puts it in its forms and checks it
with :func:`check_csrf`. Revoking a session deletes its row.
"""

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tuslog import errors
from tuslog.db.models import SessionStage, StaffSession, User, UserRole
from tuslog.services import audit
from tuslog.services.auth_context import Auth
from tuslog.settings import Settings

PENDING_LIFETIME = timedelta(minutes=15)
MAX_TOUCH_INTERVAL = timedelta(seconds=60)
_SELECTOR_BYTES = 12
_VERIFIER_BYTES = 32
_DUMMY_HASH = hashlib.sha256(b"no such session").hexdigest()


@dataclass(frozen=True)
class CurrentSession:
    """The session behind a request, as resolved by :func:`resolve`."""

    session_id: int
    selector: str
    user_id: int
    email: str
    role: UserRole
    stage: SessionStage
    csrf_token: str
    created_at: datetime
    signed_in_at: datetime | None
    expires_at: datetime

    @property
    def signed_in(self) -> bool:
        return self.stage is SessionStage.SIGNED_IN

    @property
    def is_admin(self) -> bool:
        return self.role is UserRole.ADMIN


@dataclass(frozen=True)
class SessionSummary:
    session_id: int
    signed_in_at: datetime | None
    last_seen_at: datetime
    client_ip: str | None
    user_agent: str
    current: bool


@dataclass(frozen=True)
class _Secrets:
    token: str
    selector: str
    verifier_hash: str
    csrf_secret: str


def _hash(verifier: str) -> str:
    return hashlib.sha256(verifier.encode()).hexdigest()


def _new_secrets() -> _Secrets:
    selector = secrets.token_urlsafe(_SELECTOR_BYTES)
    verifier = secrets.token_urlsafe(_VERIFIER_BYTES)
    return _Secrets(f"{selector}.{verifier}", selector, _hash(verifier), secrets.token_urlsafe(32))


def _split(token: str | None) -> tuple[str, str] | None:
    if not token or not token.isascii() or len(token) > 128:
        return None
    selector, dot, verifier = token.partition(".")
    return (selector, verifier) if dot and selector and verifier else None


def _matches(row: StaffSession | None, verifier: str) -> bool:
    expected = row.verifier_hash if row is not None else _DUMMY_HASH
    return hmac.compare_digest(expected, _hash(verifier)) and row is not None


def _one_line(text: str, limit: int = 200) -> str:
    return "".join(ch for ch in text if ch.isprintable())[:limit]


def expires_at(row: StaffSession, settings: Settings) -> datetime:
    if row.stage is SessionStage.PENDING or row.signed_in_at is None:
        return row.created_at + PENDING_LIFETIME
    return min(
        row.last_seen_at + settings.session_idle_timeout,
        row.signed_in_at + settings.session_lifetime,
    )


# --- used inside the sign-in steps (the caller's transaction) ------------------------------
async def open_pending(
    session: AsyncSession,
    user_id: int,
    now: datetime,
    *,
    client_ip: str | None,
    user_agent: str,
    replaces: str | None = None,
) -> str:
    """A new pending session; the one the browser still presented (``replaces``), if
    valid, ends: every sign-in starts under a fresh id. Returns the cookie value."""
    old = _split(replaces)
    if old is not None:  # a write first: no read snapshot to go stale on SQLite
        await session.execute(
            delete(StaffSession).where(
                StaffSession.selector == old[0], StaffSession.verifier_hash == _hash(old[1])
            )
        )
    new = _new_secrets()
    session.add(
        StaffSession(
            selector=new.selector,
            verifier_hash=new.verifier_hash,
            user_id=user_id,
            stage=SessionStage.PENDING,
            csrf_secret=new.csrf_secret,
            created_at=now,
            last_seen_at=now,
            client_ip=client_ip,
            user_agent=_one_line(user_agent),
        )
    )
    await session.flush()
    return new.token


async def rotate(session: AsyncSession, current: CurrentSession, now: datetime) -> str | None:
    """Give the session a new id and CSRF secret (signed in from now on). None if the
    session is gone or was rotated meanwhile (a concurrent request): the caller fails."""
    new = _new_secrets()
    values: dict[str, object] = {
        "selector": new.selector,
        "verifier_hash": new.verifier_hash,
        "csrf_secret": new.csrf_secret,
        "stage": SessionStage.SIGNED_IN,
        "last_seen_at": now,
        "enrol_secret": None,
    }
    if current.stage is SessionStage.PENDING:
        values["signed_in_at"] = now
    result = await session.execute(
        update(StaffSession)
        .where(
            StaffSession.id == current.session_id,
            StaffSession.selector == current.selector,
            StaffSession.stage == current.stage,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return new.token if result.rowcount == 1 else None  # type: ignore[attr-defined]


async def revoke_all(session: AsyncSession, user_id: int, *, keep: int | None = None) -> int:
    """End every session of the user (but ``keep``); returns how many ended."""
    query = delete(StaffSession).where(StaffSession.user_id == user_id)
    if keep is not None:
        query = query.where(StaffSession.id != keep)
    result = await session.execute(query.execution_options(synchronize_session=False))
    return int(result.rowcount)  # type: ignore[attr-defined]


# --- what the portal calls -----------------------------------------------------------------
async def resolve(auth: Auth, token: str | None) -> CurrentSession | None:
    """The live session behind a cookie value, or None (unknown, expired, revoked, user
    deactivated). An expired session is deleted; a signed-in one is marked as seen
    (at most every minute, so a busy page does not write on every request)."""
    parsed = _split(token)
    if parsed is None:
        return None
    now = auth.now()
    async with auth.sessions() as session:
        found = (
            await session.execute(
                select(StaffSession, User)
                .join(User, User.id == StaffSession.user_id)
                .where(StaffSession.selector == parsed[0])
            )
        ).first()
    row, user = (found[0], found[1]) if found is not None else (None, None)
    if not _matches(row, parsed[1]) or row is None or user is None or not user.is_active:
        return None
    expiry = expires_at(row, auth.settings)
    if now >= expiry:
        async with auth.sessions.begin() as session:
            await session.execute(delete(StaffSession).where(StaffSession.id == row.id))
        return None
    if row.stage is SessionStage.SIGNED_IN:
        expiry = await _touch(auth, row, now, expiry)
    return CurrentSession(
        session_id=row.id,
        selector=row.selector,
        user_id=user.id,
        email=user.email,
        role=user.role,
        stage=row.stage,
        csrf_token=row.csrf_secret,
        created_at=row.created_at,
        signed_in_at=row.signed_in_at,
        expires_at=expiry,
    )


async def _touch(auth: Auth, row: StaffSession, now: datetime, expiry: datetime) -> datetime:
    interval = min(MAX_TOUCH_INTERVAL, auth.settings.session_idle_timeout / 4)
    if now - row.last_seen_at < interval:
        return expiry
    async with auth.sessions.begin() as session:
        await session.execute(
            update(StaffSession)
            .where(StaffSession.id == row.id, StaffSession.last_seen_at == row.last_seen_at)
            .values(last_seen_at=now)
            .execution_options(synchronize_session=False)
        )
    row.last_seen_at = now
    return expires_at(row, auth.settings)


def require_signed_in(current: CurrentSession | None) -> CurrentSession:
    """For every portal page but sign-in, enrolment and the code check."""
    if current is None:
        raise errors.SESSION_INVALID()
    if not current.signed_in:
        raise errors.SECOND_FACTOR_REQUIRED()
    return current


def require_pending(current: CurrentSession | None) -> CurrentSession:
    """For enrolment and the code check: a session that has passed the password only."""
    if current is None or current.signed_in:
        raise errors.SESSION_INVALID()
    return current


def require_admin(current: CurrentSession | None) -> CurrentSession:
    current = require_signed_in(current)
    if not current.is_admin:
        raise errors.ADMIN_REQUIRED()
    return current


def check_csrf(current: CurrentSession | None, presented: str | None) -> None:
    """For every unsafe portal request of a session (also the pending steps)."""
    if current is None or not presented or not presented.isascii():
        raise errors.CSRF_FAILED()
    if not hmac.compare_digest(current.csrf_token.encode(), presented.encode()):
        raise errors.CSRF_FAILED()


async def sign_out(auth: Auth, current: CurrentSession, *, client_ip: str | None) -> None:
    async with auth.sessions.begin() as session:
        await session.execute(delete(StaffSession).where(StaffSession.id == current.session_id))
        audit.record(session, current.email, "signout", current.email, client_ip)


async def sign_out_others(auth: Auth, current: CurrentSession, *, client_ip: str | None) -> int:
    """End all other sessions of the signed-in user; returns how many ended."""
    current = require_signed_in(current)
    async with auth.sessions.begin() as session:
        ended = await revoke_all(session, current.user_id, keep=current.session_id)
        audit.record(
            session, current.email, "sessions.revoked", current.email, client_ip, count=ended
        )
    return ended


async def list_mine(auth: Auth, current: CurrentSession) -> list[SessionSummary]:
    """The user's signed-in sessions, newest first (for a "where you are signed in" page)."""
    current = require_signed_in(current)
    async with auth.sessions() as session:
        rows = await session.scalars(
            select(StaffSession)
            .where(
                StaffSession.user_id == current.user_id,
                StaffSession.stage == SessionStage.SIGNED_IN,
            )
            .order_by(StaffSession.last_seen_at.desc())
        )
        now = auth.now()
        return [
            SessionSummary(
                row.id,
                row.signed_in_at,
                row.last_seen_at,
                row.client_ip,
                row.user_agent,
                row.id == current.session_id,
            )
            for row in rows
            if expires_at(row, auth.settings) > now
        ]


async def purge_expired(auth: Auth) -> int:
    """Delete sessions that can no longer be used (for the janitor); returns how many."""
    now = auth.now()
    settings = auth.settings
    async with auth.sessions.begin() as session:
        pending = (StaffSession.stage == SessionStage.PENDING) & (
            StaffSession.created_at <= now - PENDING_LIFETIME
        )
        signed_in = StaffSession.stage == SessionStage.SIGNED_IN
        idle = StaffSession.last_seen_at <= now - settings.session_idle_timeout
        old = StaffSession.signed_in_at <= now - settings.session_lifetime
        result = await session.execute(
            delete(StaffSession).where(pending | signed_in & (idle | old))
        )
    return int(result.rowcount)  # type: ignore[attr-defined]
