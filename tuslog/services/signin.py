"""Signing in, in two steps: the password opens a *pending* session; the second factor (a
TOTP code, or a recovery code) turns it into a signed-in one under a new id. A user
without TOTP enrols it from the pending session first: the QR code, then one valid code.

Every attempt reserves its place in the failure counters before anything is checked
(tuslog.services.throttle); failures, lockouts and sign-ins are audited. An unknown
email gets the same answer as a wrong password, after the same work (a dummy argon2
check), and is counted and locked the same way.

Each step runs short transactions of its own (tuslog.services.auth_context): no
transaction stays open while a password is hashed, and a failure is recorded although
the step then raises.
"""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tuslog import errors
from tuslog.db.models import StaffSession, User
from tuslog.services import accounts, audit, passwords, recovery, sessions, throttle, totp
from tuslog.services.auth_context import Auth
from tuslog.services.sessions import CurrentSession

ANONYMOUS = "anonymous"
NOT_AN_EMAIL = "(not an email address)"


@dataclass(frozen=True)
class PasswordAccepted:
    """The cookie value of the new pending session; what the user does next."""

    token: str
    needs_enrolment: bool


@dataclass(frozen=True)
class SignedIn:
    """The cookie value of the signed-in session. After enrolment ``new_recovery_codes``
    holds the codes to show once; after a recovery code, ``recovery_codes_left``."""

    token: str
    new_recovery_codes: tuple[str, ...] = ()
    recovery_codes_left: int | None = None


async def password_step(
    auth: Auth,
    email: str,
    password: str,
    *,
    client_ip: str | None,
    user_agent: str = "",
    replaces: str | None = None,
) -> PasswordAccepted:
    """Step one. ``replaces``: the session cookie the browser still sent, which ends."""
    try:
        normalised: str | None = accounts.normalise_email(email)
    except errors.TuslogError:
        normalised = None
    subject = normalised or " ".join(email.split()).lower()[: accounts.MAX_EMAIL_LENGTH]
    reservation = await throttle.reserve(auth, throttle.buckets(auth, client_ip, password=subject))
    user = await load_user(auth, User.email == normalised) if normalised else None
    matches = await passwords.verify(user.password_hash if user else None, password)
    if user is None or not matches or not user.is_active:
        reason = (
            "unknown_email" if user is None else "wrong_password" if not matches else "inactive"
        )
        shown = normalised or NOT_AN_EMAIL  # never what was typed: it may be a password
        await record_failure(auth, reservation, ANONYMOUS, shown, reason, client_ip)
        raise errors.INVALID_CREDENTIALS()
    rehashed = (
        await passwords.hash_password(password)
        if passwords.needs_rehash(user.password_hash)
        else None
    )
    async with auth.sessions.begin() as session:
        if rehashed is not None:
            await session.execute(
                update(User)
                .where(User.id == user.id, User.password_hash == user.password_hash)
                .values(password_hash=rehashed)
            )
        token = await sessions.open_pending(
            session,
            user.id,
            auth.now(),
            client_ip=client_ip,
            user_agent=user_agent,
            replaces=replaces,
        )
        audit.record(session, user.email, "signin.password", user.email, client_ip)
    await throttle.refund(auth, reservation)
    return PasswordAccepted(token, needs_enrolment=user.totp_secret is None)


async def enrolment(auth: Auth, current: CurrentSession | None) -> totp.Enrolment:
    """The TOTP secret to set up, for a pending session of a user without TOTP. The same
    secret comes back on every call of this session (a reloaded page shows the same QR)."""
    current = sessions.require_pending(current)
    user = await load_user(auth, User.id == current.user_id)
    if user is None:
        raise errors.SESSION_INVALID()
    if user.totp_secret is not None:
        raise errors.ALREADY_ENROLLED()
    async with auth.sessions.begin() as session:
        await session.execute(
            update(StaffSession)
            .where(StaffSession.id == current.session_id, StaffSession.enrol_secret.is_(None))
            .values(enrol_secret=auth.cipher.seal(totp.new_secret()))
        )
        stored = await session.scalar(
            select(StaffSession.enrol_secret).where(StaffSession.id == current.session_id)
        )
    if stored is None:
        raise errors.SESSION_INVALID()
    secret = auth.cipher.open(stored)
    return totp.enrolment(secret, email=user.email, issuer=auth.settings.totp_issuer)


async def confirm_enrolment(
    auth: Auth, current: CurrentSession | None, code: str, *, client_ip: str | None
) -> SignedIn:
    """The first code from the new authenticator: TOTP is on, ten recovery codes are made
    (shown once) and the session is signed in under a new id."""
    current = sessions.require_pending(current)
    buckets = throttle.buckets(auth, client_ip, code=str(current.user_id))
    reservation = await throttle.reserve(auth, buckets)
    async with auth.sessions() as session:
        user = await session.get(User, current.user_id)
        pending = await session.get(StaffSession, current.session_id)
    if user is None or pending is None:
        raise errors.SESSION_INVALID()
    if user.totp_secret is not None or pending.enrol_secret is None:
        await throttle.refund(auth, reservation)
        raise errors.ALREADY_ENROLLED() if user.totp_secret else errors.NOT_ENROLLED()
    stored = pending.enrol_secret
    digits = totp.normalise_code(code)
    now = auth.now()
    step = totp.matching_step(auth.cipher.open(stored), digits, now) if digits else None
    if step is None:
        await record_failure(auth, reservation, user.email, user.email, "wrong_code", client_ip)
        raise errors.SECOND_FACTOR_INVALID()
    async with auth.sessions.begin() as session:
        codes = await _enrol(session, user, stored, step, now)
        token = await sessions.rotate(session, current, now)
        if token is None:
            raise errors.SESSION_INVALID()
        audit.record(session, user.email, "user.2fa_enrolled", user.email, client_ip)
        await _signed_in(session, user, now, client_ip, method="enrolment")
    await throttle.refund(auth, reservation)
    return SignedIn(token, new_recovery_codes=tuple(codes))


async def _enrol(
    session: AsyncSession, user: User, stored: str, step: int, now: datetime
) -> list[str]:
    """Store the secret, unless another session enrolled first (ALREADY_ENROLLED)."""
    result = await session.execute(
        update(User)
        .where(User.id == user.id, User.totp_secret.is_(None))
        .values(totp_secret=stored, totp_last_step=step, totp_enrolled_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise errors.ALREADY_ENROLLED()
    return await recovery.replace(session, user.id, now)


async def second_factor(
    auth: Auth, current: CurrentSession | None, code: str, *, client_ip: str | None
) -> SignedIn:
    """Step two: a TOTP code (``123456``) or a recovery code (``abcd-efgh-jkmn-pqrs``)."""
    current = sessions.require_pending(current)
    buckets = throttle.buckets(auth, client_ip, code=str(current.user_id))
    reservation = await throttle.reserve(auth, buckets)
    user = await load_user(auth, User.id == current.user_id)
    if user is None:
        raise errors.SESSION_INVALID()
    if user.totp_secret is None:
        await throttle.refund(auth, reservation)
        raise errors.NOT_ENROLLED()
    outcome = await _check_code(auth, current, user, user.totp_secret, code, client_ip)
    if isinstance(outcome, str):
        await record_failure(auth, reservation, user.email, user.email, outcome, client_ip)
        raise errors.SECOND_FACTOR_INVALID()
    await throttle.refund(auth, reservation)
    return outcome


async def _check_code(
    auth: Auth,
    current: CurrentSession,
    user: User,
    stored: str,
    code: str,
    client_ip: str | None,
) -> SignedIn | str:
    """The signed-in result, or why the code failed."""
    now = auth.now()
    digits = totp.normalise_code(code)
    spare = recovery.normalise(code) if digits is None else None
    secret = auth.cipher.open(stored)
    step = totp.matching_step(secret, digits, now) if digits else None
    if step is None and spare is None:
        return "wrong_code"
    left = None
    async with auth.sessions.begin() as session:
        if step is not None:
            reseal = auth.cipher.seal(secret) if auth.cipher.needs_reseal(stored) else None
            if not await totp.claim_step(session, user.id, stored, step, reseal_to=reseal):
                return "code_reused"
        elif spare is not None:
            if not await recovery.use(session, user.id, spare, now):
                return "wrong_recovery_code"
            left = await recovery.remaining(session, user.id)
        token = await sessions.rotate(session, current, now)
        if token is None:
            raise errors.SESSION_INVALID()
        method = "totp" if step is not None else "recovery_code"
        await _signed_in(session, user, now, client_ip, method=method, codes_left=left)
    return SignedIn(token, recovery_codes_left=left)


# --- shared by the steps and tuslog.services.self_service ---------------------------------
async def load_user(auth: Auth, condition: ColumnElement[bool]) -> User | None:
    async with auth.sessions() as session:
        user: User | None = await session.scalar(select(User).where(condition))
    return user


async def _signed_in(
    session: AsyncSession,
    user: User,
    now: datetime,
    client_ip: str | None,
    *,
    method: str,
    codes_left: int | None = None,
) -> None:
    await session.execute(update(User).where(User.id == user.id).values(last_sign_in_at=now))
    details: dict[str, object] = {"method": method}
    if codes_left is not None:
        details["recovery_codes_left"] = codes_left
    audit.record(session, user.email, "signin", user.email, client_ip, **details)


async def record_failure(
    auth: Auth,
    reservation: throttle.Reservation,
    actor: str,
    subject: str,
    reason: str,
    client_ip: str | None,
) -> None:
    """Audit a failed attempt (its reservation stays counted) and any lockout it caused."""
    window = int(auth.settings.signin_failure_window.total_seconds())
    async with auth.sessions.begin() as session:
        audit.record(session, actor, "signin.failed", subject, client_ip, reason=reason)
        for slot in reservation.slots:
            if slot.last:
                audit.record(
                    session,
                    actor,
                    "signin.locked",
                    subject,
                    client_ip,
                    counter=slot.bucket.kind,
                    limit=slot.bucket.limit,
                    window_seconds=window,
                )
