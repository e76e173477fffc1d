"""Staff users, administered: create, list, deactivate, reactivate, reset 2FA, set a
password. Plain functions over the caller's session, like the ticket and token services;
the CLI (``tuslog user …``) and the portal's admin pages call them.

Emails are identities compared without regard to case: stored trimmed, NFKC-normalised
and lower-cased (also the local part: no mail system delivers ``Alice@`` and ``alice@``
to different people, and two accounts that differ only in case would look identical in
every list and audit entry), and unique in that form.

Everything that takes access away also ends the user's sessions in the same transaction:
deactivation, a 2FA reset, a new password.
"""

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tuslog import errors
from tuslog.db.models import RecoveryCode, User, UserRole, utcnow
from tuslog.services import audit, passwords, sessions

MAX_EMAIL_LENGTH = 254
_FORBIDDEN_IN_EMAIL = set('<>()[]\\,;:"')
_DOMAIN_LABEL = re.compile(r"^[^\W_](?:(?:[^\W_]|-)*[^\W_])?$")


@dataclass(frozen=True)
class UserSummary:
    email: str
    role: UserRole
    active: bool
    two_factor: bool
    recovery_codes_left: int
    created_at: datetime
    last_sign_in_at: datetime | None


def normalise_email(raw: str) -> str:
    """The stored form of an email address; INVALID_VALUE saying why if it is not one."""
    email = unicodedata.normalize("NFKC", raw).strip().lower()
    local, at, domain = email.rpartition("@")
    if not at or not local or not domain:
        raise errors.INVALID_VALUE("An email address looks like name@example.com.")
    if len(email) > MAX_EMAIL_LENGTH:
        raise errors.INVALID_VALUE(f"An email address has at most {MAX_EMAIL_LENGTH} characters.")
    bad = [ch for ch in email if not ch.isprintable() or ch.isspace() or ch in _FORBIDDEN_IN_EMAIL]
    if "@" in local or bad or local.startswith(".") or local.endswith(".") or ".." in local:
        raise errors.INVALID_VALUE(
            "An email address has no spaces, quotes or brackets, one @ and no '..'."
        )
    if not all(_DOMAIN_LABEL.match(label) for label in domain.split(".")):
        raise errors.INVALID_VALUE(f"{domain[:100]!r} is not a valid mail domain.")
    return email


async def create_user(
    session: AsyncSession,
    email: str,
    password: str,
    *,
    role: UserRole = UserRole.STAFF,
    actor: str,
    client_ip: str | None = None,
) -> User:
    """A new, active user who enrols TOTP at the first sign-in."""
    email = normalise_email(email)
    passwords.check_policy(password, email=email)
    password_hash = await passwords.hash_password(password)  # before any statement runs
    user = User(email=email, password_hash=password_hash, role=role, created_by=actor)
    session.add(user)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise errors.USER_EXISTS(f"A user {email} already exists.") from None
    audit.record(session, actor, "user.created", email, client_ip, role=role.value)
    return user


async def get_user(session: AsyncSession, email: str) -> User:
    try:
        key = normalise_email(email)
    except errors.TuslogError:
        raise errors.USER_NOT_FOUND(f"No user {email[:100]!r}.") from None
    user = await session.scalar(select(User).where(User.email == key))
    if user is None:
        raise errors.USER_NOT_FOUND(f"No user {key}.")
    return user


async def list_users(session: AsyncSession) -> list[UserSummary]:
    codes_left = (
        select(func.count())
        .where(RecoveryCode.user_id == User.id, RecoveryCode.used_at.is_(None))
        .correlate(User)
        .scalar_subquery()
    )
    rows = await session.execute(select(User, codes_left).order_by(User.email))
    return [
        UserSummary(
            user.email,
            user.role,
            user.is_active,
            user.totp_secret is not None,
            int(left or 0),
            user.created_at,
            user.last_sign_in_at,
        )
        for user, left in rows
    ]


async def deactivate(
    session: AsyncSession, email: str, *, actor: str, client_ip: str | None = None
) -> User:
    """The user can no longer sign in; their sessions end now. Refused for the last
    active administrator (nobody could then manage users from the portal)."""
    user = await get_user(session, email)
    if not user.is_active:
        return user
    if user.role is UserRole.ADMIN and await _active_admins(session) <= 1:
        raise errors.LAST_ADMIN()
    user.is_active = False
    user.deactivated_at = utcnow()
    ended = await sessions.revoke_all(session, user.id)
    audit.record(session, actor, "user.deactivated", user.email, client_ip, sessions_ended=ended)
    return user


async def _active_admins(session: AsyncSession) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(User)
        .where(User.role == UserRole.ADMIN, User.is_active.is_(True))
    )
    return int(count or 0)


async def reactivate(
    session: AsyncSession, email: str, *, actor: str, client_ip: str | None = None
) -> User:
    user = await get_user(session, email)
    if not user.is_active:
        user.is_active = True
        user.deactivated_at = None
        audit.record(session, actor, "user.reactivated", user.email, client_ip)
    return user


async def reset_second_factor(
    session: AsyncSession, email: str, *, actor: str, client_ip: str | None = None
) -> User:
    """Forget the user's TOTP secret and recovery codes and end their sessions: at the
    next sign-in they enrol again (for a lost or replaced phone)."""
    user = await get_user(session, email)
    await session.execute(
        update(User)
        .where(User.id == user.id)
        .values(totp_secret=None, totp_last_step=None, totp_enrolled_at=None)
        .execution_options(synchronize_session="fetch")
    )
    await session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    ended = await sessions.revoke_all(session, user.id)
    audit.record(session, actor, "user.2fa_reset", user.email, client_ip, sessions_ended=ended)
    return user


async def set_password(
    session: AsyncSession,
    email: str,
    password: str,
    *,
    actor: str,
    client_ip: str | None = None,
) -> User:
    """An administrator sets a new password (the user forgot theirs); the user's
    sessions end. Staff change their own with tuslog.services.self_service."""
    user = await get_user(session, email)
    passwords.check_policy(password, email=user.email)
    user.password_hash = await passwords.hash_password(password)
    user.password_changed_at = utcnow()
    ended = await sessions.revoke_all(session, user.id)
    audit.record(session, actor, "user.password_set", user.email, client_ip, sessions_ended=ended)
    return user
