"""One-time upload tokens: random, shown once, stored only as a SHA-256 hash.

A token is ``tlu_<8 base32>_<43 base64url>``: 256 random bits plus a readable prefix that
staff use to list and revoke it. SHA-256 (not a slow password hash) is right here because
the secret has 256 bits of entropy; lookups go by prefix and end in a timing-safe compare.
"""

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, select
from sqlalchemy import update as update_rows
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tuslog import errors
from tuslog.db.models import Ticket, TicketStatus, UploadToken, utcnow
from tuslog.services import audit, tickets

TOKEN_SCHEME = "tlu"  # noqa: S105 - a public prefix, not a secret


@dataclass(frozen=True)
class IssuedToken:
    token: str
    record: UploadToken
    ticket: str  # the ticket's number as it was first entered


# Bounds of what a token may be issued with: beyond them values stop meaning anything
# (and overflow the database's integers and dates).
MAX_UPLOADS = 1_000_000
MAX_TTL = timedelta(days=3650)
MAX_QUOTA = 2**63 - 1


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new_token() -> tuple[str, str]:
    prefix = f"{TOKEN_SCHEME}_" + base64.b32encode(secrets.token_bytes(5)).decode().lower()
    return prefix, f"{prefix}_{secrets.token_urlsafe(32)}"


def prefix_of(token: str) -> str | None:
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_SCHEME or len(parts[1]) != 8:
        return None
    return f"{parts[0]}_{parts[1]}"


async def issue(
    session: AsyncSession,
    number: str,
    *,
    uploads: int,
    ttl: timedelta,
    max_bytes: int | None,
    actor: str,
    client_ip: str | None = None,
) -> IssuedToken:
    ticket = await tickets.get(session, number)
    if ticket.status is not TicketStatus.OPEN:
        raise errors.INVALID_VALUE(
            f"Ticket {ticket.number} is resolved; reopen it "
            f"(tuslog ticket reopen {ticket.number}) to issue tokens."
        )
    _check_uploads(uploads)
    _check_ttl(ttl)
    if max_bytes is not None and not 1 <= max_bytes <= MAX_QUOTA:
        raise errors.INVALID_VALUE(f"A token's byte quota must be 1 to {MAX_QUOTA} bytes.")
    for _ in range(5):
        prefix, token = _new_token()
        record = UploadToken(
            ticket_id=ticket.id,
            prefix=prefix,
            token_hash=hash_token(token),
            expires_at=utcnow() + ttl,
            max_uses=uploads,
            uses=0,
            max_bytes=max_bytes,
            created_by=actor,
        )
        try:
            async with session.begin_nested():
                session.add(record)
        except IntegrityError:
            continue
        audit.record(
            session,
            actor,
            "token.issued",
            prefix,
            client_ip,
            ticket=ticket.number,
            uploads=uploads,
        )
        return IssuedToken(token, record, ticket.number)
    raise RuntimeError("could not find a free token prefix")


def _check_uploads(uploads: int) -> None:
    if not 1 <= uploads <= MAX_UPLOADS:
        raise errors.INVALID_VALUE(f"A token allows 1 to {MAX_UPLOADS} uploads, not {uploads}.")


def _check_ttl(ttl: timedelta) -> None:
    if not timedelta(0) < ttl <= MAX_TTL:
        raise errors.INVALID_VALUE(
            f"A token's lifetime must be positive and at most {MAX_TTL.days} days."
        )


def presented(record: UploadToken, token: str | None) -> bool:
    """Whether ``token`` is this (unrevoked) record's token: the fast check for a request
    that names an upload, whose token row came with it. A ``False`` is not an answer yet:
    the caller authenticates the token on its own to tell 401 from 403."""
    if not token or not token.isascii() or prefix_of(token) != record.prefix:
        return False
    return hmac.compare_digest(record.token_hash, hash_token(token)) and record.revoked_at is None


async def authenticate(session: AsyncSession, token: str | None) -> UploadToken:
    """The token's record if the token exists and is not revoked (expiry and uses are the
    caller's business: resuming ignores them). Uniform error otherwise."""
    token = token if token and token.isascii() else ""  # tokens are ASCII; anything else fails
    prefix = prefix_of(token) if token else None
    record = None
    if prefix is not None:
        record = await session.scalar(select(UploadToken).where(UploadToken.prefix == prefix))
    expected = record.token_hash if record is not None else hash_token("")
    matches = hmac.compare_digest(expected, hash_token(token))
    if record is None or not matches or record.revoked_at is not None:
        raise errors.TOKEN_INVALID()
    return record


def usable_for_new_upload(record: UploadToken, now: datetime) -> bool:
    return record.revoked_at is None and record.expires_at > now and record.uses < record.max_uses


async def consume_attempt(
    session: AsyncSession, record: UploadToken, client_ip: str | None
) -> None:
    """Atomically use one of the token's uploads; uniform 401 if none is left."""
    now = utcnow()
    result = await session.execute(
        update_rows(UploadToken)
        .where(
            and_(
                UploadToken.id == record.id,
                UploadToken.uses < UploadToken.max_uses,
                UploadToken.revoked_at.is_(None),
                UploadToken.expires_at > now,
            )
        )
        .values(uses=UploadToken.uses + 1, last_used_at=now, last_used_ip=client_ip)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise errors.TOKEN_INVALID()


@dataclass(frozen=True)
class Revoked:
    record: UploadToken
    already: bool  # it was revoked before this call


async def find(session: AsyncSession, prefix: str) -> UploadToken:
    """The token by its prefix; a whole token pasted instead is accepted (only its prefix
    is used for the lookup, and it is never echoed back)."""
    given = prefix.strip()
    prefix = prefix_of(given) or given
    record = await session.scalar(select(UploadToken).where(UploadToken.prefix == prefix))
    if record is None:
        shown = prefix if len(prefix) <= len("tlu_") + 8 else "that prefix"  # no secrets
        raise errors.TOKEN_NOT_FOUND(f"No upload token with prefix {shown}.")
    return record


async def revoke(
    session: AsyncSession, prefix: str, *, actor: str, client_ip: str | None = None
) -> Revoked:
    record = await find(session, prefix)
    if record.revoked_at is not None:
        return Revoked(record, already=True)
    record.revoked_at = utcnow()
    audit.record(session, actor, "token.revoked", record.prefix, client_ip)
    return Revoked(record, already=False)


async def update(
    session: AsyncSession,
    prefix: str,
    *,
    uploads: int | None = None,
    ttl: timedelta | None = None,
    actor: str,
    client_ip: str | None = None,
) -> UploadToken:
    """Change how many uploads a token allows in all, or give it a new lifetime counted
    from now. A revoked token stays revoked (issue a new one instead)."""
    record = await find(session, prefix)
    if record.revoked_at is not None:
        raise errors.INVALID_VALUE(f"Token {record.prefix} is revoked; issue a new token.")
    changes: dict[str, Any] = {}
    if uploads is not None:
        _check_uploads(uploads)
        if uploads < record.uses:
            raise errors.INVALID_VALUE(
                f"Token {record.prefix} has already been used for {record.uses} upload(s); "
                f"it cannot allow fewer ({uploads})."
            )
        record.max_uses = changes["uploads"] = uploads
    if ttl is not None:
        _check_ttl(ttl)
        record.expires_at = utcnow() + ttl
        changes["expires_at"] = record.expires_at.isoformat()
    if changes:
        audit.record(session, actor, "token.updated", record.prefix, client_ip, **changes)
    return record


async def ticket_number(session: AsyncSession, record: UploadToken) -> str:
    number = await session.scalar(select(Ticket.number).where(Ticket.id == record.ticket_id))
    return number or ""


def revoked_since(conn: Connection, since: datetime) -> list[int]:
    """Ids of tokens revoked at or after ``since`` (the revocation watch, via quick)."""
    query = select(UploadToken.id).where(UploadToken.revoked_at >= since)
    return list(conn.scalars(query))


async def list_for(session: AsyncSession, number: str | None) -> list[tuple[UploadToken, str]]:
    query = select(UploadToken, Ticket.number).join(Ticket).order_by(UploadToken.created_at.desc())
    if number is not None:
        ticket = await tickets.get(session, number)  # unknown: an error, not "(none)"
        query = query.where(Ticket.id == ticket.id)
    return [(token, ticket_number) for token, ticket_number in await session.execute(query)]
