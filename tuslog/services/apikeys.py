"""API keys for integrators: random, shown once, stored only as a SHA-256 hash, scoped,
expiring, revocable; each belongs to a staff user and acts as that user.

A key is ``tlk_<8 base32>_<43 base64url>`` (256 random bits and a readable prefix, like
upload tokens, whose scheme ``tlu`` it never shares: the tus endpoint refuses API keys
and the API refuses upload tokens). Keys are made by a staff member signed in with both
factors (the portal, ``create_for_session``) or by ``tuslog apikey create`` on the server
(``create``). A key with the ``admin`` scope needs an administrator as its owner, and it
loses that scope if the owner stops being one; a deactivated owner's keys stop working.

Failed authentication is limited per client address with the database-backed
reservation of the staff sign-in (``tuslog.services.throttle``): each attempt takes its
slot before the key is checked, and a valid key gives it back, so concurrent guesses
can never check more keys than the limit, across all workers.
"""

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tuslog import errors
from tuslog.db.models import ApiKey, User, UserRole, utcnow
from tuslog.services import accounts, audit, sessions, throttle
from tuslog.services.auth_context import Auth

KEY_SCHEME = "tlk"
READ, WRITE, DOWNLOAD, ADMIN = "read", "write", "download", "admin"
SCOPES = (READ, WRITE, DOWNLOAD, ADMIN)
MAX_TTL = timedelta(days=3650)
FAILURE_KIND = "api_key"  # the throttle bucket's kind: failed keys per client address
_LAST_USE_GRANULARITY = timedelta(seconds=60)  # at most one last-use write a minute


@dataclass(frozen=True)
class IssuedKey:
    key: str  # shown once
    record: ApiKey
    owner: str  # the owner's email


@dataclass(frozen=True)
class Caller:
    """An authenticated API key: who acts, and what it may do."""

    key_id: int
    prefix: str
    user_id: int
    email: str
    scopes: frozenset[str]

    @property
    def actor(self) -> str:
        """How the audit log names this caller: the owner and the key."""
        return f"{self.email} (API key {self.prefix})"

    def allows(self, scope: str) -> bool:
        return scope in self.scopes or ADMIN in self.scopes


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def prefix_of(key: str) -> str | None:
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_SCHEME or len(parts[1]) != 8 or not parts[2]:
        return None
    return f"{parts[0]}_{parts[1]}"


def _new_key() -> tuple[str, str]:
    prefix = f"{KEY_SCHEME}_" + base64.b32encode(secrets.token_bytes(5)).decode().lower()
    return prefix, f"{prefix}_{secrets.token_urlsafe(32)}"


def parse_scopes(scopes: Iterable[str]) -> str:
    """The stored form (sorted, space-separated); INVALID_VALUE for an unknown scope."""
    wanted = {scope.strip().lower() for scope in scopes if scope.strip()}
    unknown = wanted - set(SCOPES)
    if unknown or not wanted:
        raise errors.INVALID_VALUE(
            f"scopes: name one or more of {', '.join(SCOPES)}"
            + (f" (not {', '.join(sorted(unknown))[:80]})" if unknown else "")
            + "."
        )
    return " ".join(sorted(wanted))


def scope_set(record: ApiKey) -> frozenset[str]:
    return frozenset(record.scopes.split())


def key_status(record: ApiKey, now: datetime) -> str:
    if record.revoked_at is not None:
        return "revoked"
    if record.expires_at is not None and record.expires_at <= now:
        return "expired"
    return "active"


async def _owner(session: AsyncSession, email: str) -> User:
    user = await session.scalar(select(User).where(User.email == accounts.normalise_email(email)))
    if user is None:
        raise errors.USER_NOT_FOUND(f"No user {email.strip()[:100]}.")
    if not user.is_active:
        raise errors.INVALID_VALUE(f"User {user.email} is deactivated.")
    return user


async def create(
    session: AsyncSession,
    owner_email: str,
    *,
    scopes: Iterable[str],
    name: str = "",
    ttl: timedelta | None = None,
    actor: str,
    client_ip: str | None = None,
) -> IssuedKey:
    """A new key for ``owner_email``; ``ttl`` None: it does not expire (until revoked)."""
    owner = await _owner(session, owner_email)
    stored_scopes = parse_scopes(scopes)
    if ADMIN in stored_scopes.split() and owner.role is not UserRole.ADMIN:
        raise errors.INVALID_VALUE(f"scopes: admin needs an administrator; {owner.email} is not.")
    if ttl is not None and not timedelta(0) < ttl <= MAX_TTL:
        raise errors.INVALID_VALUE(f"expires: 1 second to {MAX_TTL.days} days.")
    label = " ".join(name.split())[:100]
    for _ in range(5):
        prefix, key = _new_key()
        record = ApiKey(
            prefix=prefix,
            key_hash=hash_key(key),
            name=label,
            user_id=owner.id,
            scopes=stored_scopes,
            created_by=actor,
            expires_at=utcnow() + ttl if ttl is not None else None,
        )
        try:
            async with session.begin_nested():
                session.add(record)
        except IntegrityError:
            continue
        audit.record(
            session,
            actor,
            "apikey.created",
            prefix,
            client_ip,
            owner=owner.email,
            scopes=stored_scopes,
        )
        return IssuedKey(key, record, owner.email)
    raise RuntimeError("could not find a free API key prefix")


async def create_for_session(
    session: AsyncSession,
    current: sessions.CurrentSession | None,
    *,
    scopes: Iterable[str],
    name: str = "",
    ttl: timedelta | None = None,
    client_ip: str | None = None,
) -> IssuedKey:
    """A key for the signed-in staff member (the portal): only after both factors."""
    current = sessions.require_signed_in(current)
    return await create(
        session,
        current.email,
        scopes=scopes,
        name=name,
        ttl=ttl,
        actor=current.email,
        client_ip=client_ip,
    )


async def list_keys(
    session: AsyncSession, owner_email: str | None = None
) -> list[tuple[ApiKey, str]]:
    """Keys (never the secrets) with their owners' emails, newest first."""
    query = select(ApiKey, User.email).join(User).order_by(ApiKey.created_at.desc(), ApiKey.id)
    if owner_email is not None:
        query = query.where(User.email == accounts.normalise_email(owner_email))
    return [(key, email) for key, email in await session.execute(query)]


async def find(
    session: AsyncSession, prefix: str, *, owner_id: int | None = None
) -> tuple[ApiKey, str]:
    """A key by its prefix (or the whole key) with its owner's email; ``owner_id``: only
    that user's key (to anyone else, another user's key does not exist)."""
    given = prefix.strip()
    prefix = prefix_of(given) or given
    query = select(ApiKey, User.email).join(User).where(ApiKey.prefix == prefix)
    if owner_id is not None:
        query = query.where(ApiKey.user_id == owner_id)
    row = (await session.execute(query)).first()
    if row is None:
        shown = prefix if len(prefix) <= len("tlk_") + 8 else "that prefix"
        raise errors.API_KEY_NOT_FOUND(f"No API key with prefix {shown}.")
    return row[0], row[1]


async def revoke(
    session: AsyncSession,
    prefix: str,
    *,
    actor: str,
    client_ip: str | None = None,
    owner_id: int | None = None,
) -> tuple[ApiKey, bool]:
    """Revoke a key by its prefix (or the whole key); ``owner_id``: only that user's key
    (a staff member revoking their own in the portal). Returns the key and whether it
    was revoked before."""
    record, _ = await find(session, prefix, owner_id=owner_id)
    if record.revoked_at is not None:
        return record, True
    record.revoked_at = utcnow()
    audit.record(session, actor, "apikey.revoked", record.prefix, client_ip)
    return record, False


# --- authentication ---------------------------------------------------------------------
async def authenticate(auth: Auth, key: str | None, client_ip: str | None) -> Caller:
    """The caller behind ``key``, or API_KEY_INVALID (uniform for every reason); a client
    address over its failure limit gets API_AUTH_LOCKED, also with a valid key."""
    if not key:
        raise errors.API_KEY_INVALID()  # no credentials at all: not a guess, not counted
    reservation = await _reserve(auth, client_ip)
    async with auth.sessions.begin() as session:
        caller = await _check(session, key, auth.now())
        if caller is None:
            prefix = prefix_of(key) if key.isascii() else None
            audit.record(session, "anonymous", "apikey.failed", prefix or "(malformed)", client_ip)
        else:
            await _note_use(session, caller.key_id, auth.now(), client_ip)
    if caller is None:
        raise errors.API_KEY_INVALID()
    await throttle.refund(auth, reservation)
    return caller


async def _reserve(auth: Auth, client_ip: str | None) -> throttle.Reservation:
    address = throttle.address_subject(client_ip)
    if address is None:
        return throttle.Reservation(())
    bucket = throttle.Bucket(FAILURE_KIND, address, auth.settings.api_auth_failure_limit)
    try:
        return await throttle.reserve(auth, [bucket])
    except errors.TuslogError as exc:
        raise errors.API_AUTH_LOCKED(retry_after=exc.retry_after) from None


async def _check(session: AsyncSession, key: str, now: datetime) -> Caller | None:
    key = key if key.isascii() else ""
    prefix = prefix_of(key)
    row = None
    if prefix is not None:
        query = select(ApiKey, User).join(User).where(ApiKey.prefix == prefix)
        row = (await session.execute(query)).first()
    expected = row[0].key_hash if row is not None else hash_key("")
    matches = hmac.compare_digest(expected, hash_key(key))
    if row is None or not matches:
        return None
    record, user = row
    if key_status(record, now) != "active" or not user.is_active:
        return None
    scopes = scope_set(record)
    if user.role is not UserRole.ADMIN:
        scopes -= {ADMIN}  # the owner is no longer an administrator
    return Caller(record.id, record.prefix, user.id, user.email, scopes)


async def _note_use(
    session: AsyncSession, key_id: int, now: datetime, client_ip: str | None
) -> None:
    """Record the last use, at most once a minute per key (not a write per request)."""
    await session.execute(
        update(ApiKey)
        .where(
            ApiKey.id == key_id,
            (ApiKey.last_used_at.is_(None))
            | (ApiKey.last_used_at < now - _LAST_USE_GRANULARITY)
            | (ApiKey.last_used_ip.is_distinct_from(client_ip)),
        )
        .values(last_used_at=now, last_used_ip=client_ip)
    )
