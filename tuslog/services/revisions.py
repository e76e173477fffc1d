"""Optimistic concurrency for staff-side changes: a *revision* names the state of a ticket
or an upload token as someone last saw it (the REST API sends it as the ETag), and a
change made with one goes through only if the row is still in that state.

``claim_*`` checks that in a conditional UPDATE that touches nothing, as the first write
of the caller's transaction: the row stays locked (PostgreSQL: the row; SQLite: the one
writer) until the caller commits, so the service function that makes the change next
sees the row as claimed. Two integrators who saw the same revision cannot both change
it; the second gets PRECONDITION_FAILED.
"""

import base64
import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from tuslog import errors
from tuslog.db.models import Ticket, UploadToken

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _micros(moment: datetime | None) -> int | None:
    return None if moment is None else (moment - _EPOCH) // timedelta(microseconds=1)


def _moment(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


def _encode(kind: str, *values: int | None) -> str:
    raw = json.dumps([kind, *values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(kind: str, revision: str, count: int) -> list[int | None] | None:
    try:
        padded = revision + "=" * (-len(revision) % 4)
        found = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, UnicodeError):
        return None
    if not isinstance(found, list) or len(found) != count + 1 or found[0] != kind:
        return None
    values = found[1:]
    if not all(
        value is None or (isinstance(value, int) and not isinstance(value, bool))
        for value in values
    ):
        return None
    return values


def ticket_revision(ticket: Ticket) -> str:
    """Changes with every change of the ticket (``updated_at`` moves with each)."""
    return _encode("ticket", ticket.id, _micros(ticket.updated_at))


def token_revision(token: UploadToken) -> str:
    """Changes with every change of the token's shown state (also a use)."""
    return _encode(
        "token",
        token.id,
        token.max_uses,
        token.uses,
        _micros(token.expires_at),
        _micros(token.revoked_at),
    )


async def claim_ticket(session: AsyncSession, ticket: Ticket, revision: str) -> None:
    values = _decode("ticket", revision, 2)
    if values is None or values[0] != ticket.id or values[1] is None:
        raise errors.PRECONDITION_FAILED()
    result = await session.execute(
        update(Ticket)
        .where(Ticket.id == ticket.id, Ticket.updated_at == _moment(values[1]))
        .values(updated_at=Ticket.updated_at)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise errors.PRECONDITION_FAILED()


async def claim_token(session: AsyncSession, token: UploadToken, revision: str) -> None:
    values = _decode("token", revision, 5)
    if values is None or values[0] != token.id or None in values[1:4]:
        raise errors.PRECONDITION_FAILED()
    _, max_uses, uses, expires, revoked = values
    assert expires is not None
    revoked_clause = (
        UploadToken.revoked_at.is_(None)
        if revoked is None
        else UploadToken.revoked_at == _moment(revoked)
    )
    result = await session.execute(
        update(UploadToken)
        .where(
            UploadToken.id == token.id,
            UploadToken.max_uses == max_uses,
            UploadToken.uses == uses,
            UploadToken.expires_at == _moment(expires),
            revoked_clause,
        )
        .values(max_uses=UploadToken.max_uses)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise errors.PRECONDITION_FAILED()
