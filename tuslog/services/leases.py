"""Named, expiring leases in the database: exactly one holder of a background job per
deployment (the webhook worker; the janitor holds its own the same way)."""

from datetime import timedelta

from sqlalchemy import or_, update
from sqlalchemy.exc import IntegrityError

from tuslog.db.database import Database
from tuslog.db.models import Lease, utcnow


async def take(db: Database, name: str, holder: str, duration: timedelta) -> bool:
    """Hold or renew lease ``name`` for ``duration``; True if ``holder`` has it now."""
    now = utcnow()
    until = now + duration
    async with db.begin() as session:
        result = await session.execute(
            update(Lease)
            .where(Lease.name == name)
            .where(or_(Lease.holder == holder, Lease.expires_at < now))
            .values(holder=holder, expires_at=until)
        )
        if result.rowcount == 1:  # type: ignore[attr-defined]
            return True
    try:
        async with db.begin() as session:
            session.add(Lease(name=name, holder=holder, expires_at=until))
    except IntegrityError:
        return False
    return True


async def release(db: Database, name: str, holder: str) -> None:
    """Let the lease go at a clean stop, so another process takes over at once."""
    async with db.begin() as session:
        await session.execute(
            update(Lease)
            .where(Lease.name == name, Lease.holder == holder)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
