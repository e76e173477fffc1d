"""What signed-in staff do to their own account: change the password (current password
plus a fresh TOTP code), and make new recovery codes (current password). Both attempts
count against the same failure limits as signing in."""

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from tuslog import errors
from tuslog.db.models import User
from tuslog.services import audit, passwords, recovery, sessions, throttle, totp
from tuslog.services.auth_context import Auth
from tuslog.services.sessions import CurrentSession
from tuslog.services.signin import load_user, record_failure


async def change_password(
    auth: Auth,
    current: CurrentSession | None,
    *,
    old_password: str,
    new_password: str,
    code: str,
    client_ip: str | None,
) -> str:
    """Set a new password. Every other session of the user ends and this one gets a new
    id: returns its new cookie value."""
    current = sessions.require_signed_in(current)
    passwords.check_policy(new_password, email=current.email)  # before costing an attempt
    buckets = throttle.buckets(auth, client_ip, password=current.email, code=str(current.user_id))
    reservation = await throttle.reserve(auth, buckets)
    user = await load_user(auth, User.id == current.user_id)
    if user is None or user.totp_secret is None:  # an admin reset it: sessions are gone
        await throttle.refund(auth, reservation)
        raise errors.SESSION_INVALID()
    password_ok = await passwords.verify(user.password_hash, old_password)
    digits = totp.normalise_code(code)
    now = auth.now()
    step = totp.matching_step(auth.cipher.open(user.totp_secret), digits, now) if digits else None
    token = None
    if password_ok and step is not None:
        new_hash = await passwords.hash_password(new_password)
        async with auth.sessions.begin() as session:
            if await totp.claim_step(session, user.id, user.totp_secret, step):
                token = await _store_password(session, current, user, new_hash, now, client_ip)
    if token is not None:
        await throttle.refund(auth, reservation)
        return token
    if password_ok:  # only the code failed: the password attempt does not count
        await throttle.refund(auth, reservation, throttle.PASSWORD)
        reservation = reservation.without(throttle.PASSWORD)
    reason = (
        "wrong_password" if not password_ok else "wrong_code" if step is None else "code_reused"
    )
    await record_failure(auth, reservation, user.email, user.email, reason, client_ip)
    if not password_ok:
        raise errors.INVALID_CREDENTIALS("The current password is wrong.")
    raise errors.SECOND_FACTOR_INVALID()


async def _store_password(
    session: AsyncSession,
    current: CurrentSession,
    user: User,
    new_hash: str,
    now: datetime,
    client_ip: str | None,
) -> str:
    await session.execute(
        update(User)
        .where(User.id == user.id)
        .values(password_hash=new_hash, password_changed_at=now)
    )
    ended = await sessions.revoke_all(session, user.id, keep=current.session_id)
    token = await sessions.rotate(session, current, now)
    if token is None:  # signed out meanwhile: nothing is changed
        raise errors.SESSION_INVALID()
    audit.record(
        session, user.email, "password.changed", user.email, client_ip, sessions_ended=ended
    )
    return token


async def regenerate_recovery_codes(
    auth: Auth, current: CurrentSession | None, *, password: str, client_ip: str | None
) -> list[str]:
    """Ten new recovery codes (to show once); the old ones stop working."""
    current = sessions.require_signed_in(current)
    reservation = await throttle.reserve(
        auth, throttle.buckets(auth, client_ip, password=current.email)
    )
    user = await load_user(auth, User.id == current.user_id)
    if user is None:
        raise errors.SESSION_INVALID()
    if not await passwords.verify(user.password_hash, password):
        await record_failure(auth, reservation, user.email, user.email, "wrong_password", client_ip)
        raise errors.INVALID_CREDENTIALS("The password is wrong.")
    async with auth.sessions.begin() as session:
        codes = await recovery.replace(session, user.id, auth.now())
        audit.record(session, user.email, "recovery_codes.regenerated", user.email, client_ip)
    await throttle.refund(auth, reservation)
    return codes
