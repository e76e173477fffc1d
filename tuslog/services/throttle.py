"""Sign-in failure limits that hold across worker processes and concurrent requests.

Each attempt first *reserves* a slot in every counter it falls under (its account, its
client address), in the database and committed, before the password or code is checked;
a success gives its slots back. So N concurrent wrong attempts can never check more than
the limit, however the requests are spread over workers: the reservation is one atomic
upsert whose condition (window over, or fewer attempts than the limit) the database
evaluates against the latest row (PostgreSQL's ON CONFLICT locks the row; SQLite has one
writer). Counters are fixed windows from the first failure (``TUSLOG_SIGNIN_FAILURE_WINDOW``).
"""

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from ipaddress import IPv6Address, ip_address, ip_network

from sqlalchemy import case, delete, literal, or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import ReturningInsert

from tuslog import errors
from tuslog.db.models import FailureCounter, UTCDateTime
from tuslog.services.auth_context import Auth

PASSWORD = "password"  # noqa: S105 - a counter's kind, not a secret
CODE = "code"
ADDRESS = "address"


@dataclass(frozen=True)
class Bucket:
    kind: str
    subject: str
    limit: int

    @property
    def key(self) -> str:
        return hashlib.sha256(f"{self.kind}\0{self.subject}".encode()).hexdigest()


@dataclass(frozen=True)
class Slot:
    bucket: Bucket
    window_start: datetime
    attempts: int

    @property
    def last(self) -> bool:
        """This attempt took the last slot: if it fails, the bucket is locked."""
        return self.attempts >= self.bucket.limit


@dataclass(frozen=True)
class Reservation:
    slots: tuple[Slot, ...]

    def without(self, kind: str) -> "Reservation":
        return Reservation(tuple(slot for slot in self.slots if slot.bucket.kind != kind))


def address_subject(client_ip: str | None) -> str | None:
    """The client's address as counted: IPv6 clients per /64 (one host usually has a
    whole /64 to pick addresses from), IPv4 (also IPv4-mapped IPv6) per address."""
    if not client_ip:
        return None
    try:
        address = ip_address(client_ip)
    except ValueError:
        return client_ip[:64]
    if isinstance(address, IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ip_network(f"{address}/64", strict=False))
    return str(address)


def buckets(auth: Auth, client_ip: str | None, **subjects: str) -> list[Bucket]:
    """The buckets of an attempt: ``password=email`` and/or ``code=str(user_id)``, plus
    the client's address when known."""
    limits = {
        PASSWORD: auth.settings.signin_failure_limit,
        CODE: auth.settings.second_factor_failure_limit,
    }
    found = [Bucket(kind, subject, limits[kind]) for kind, subject in subjects.items()]
    address = address_subject(client_ip)
    if address is not None:
        found.append(Bucket(ADDRESS, address, auth.settings.signin_ip_failure_limit))
    return found


async def reserve(auth: Auth, wanted: list[Bucket]) -> Reservation:
    """Take one slot in each bucket, all or none; SIGN_IN_LOCKED if one is full."""
    now = auth.now()
    window = auth.settings.signin_failure_window
    slots: list[Slot] = []
    locked_until: datetime | None = None
    async with auth.sessions() as session:
        for bucket in sorted(wanted, key=lambda b: b.key):  # one lock order: no deadlocks
            row = (await session.execute(_take_slot(session, bucket, now, window))).first()
            if row is None:
                start = await session.get(FailureCounter, bucket.key)
                until = (start.window_start if start else now) + window
                locked_until = max(locked_until or until, until)
            else:
                slots.append(Slot(bucket, row.window_start, row.attempts))
        if locked_until is not None:
            await session.rollback()
            seconds = max(1, math.ceil((locked_until - now).total_seconds()))
            raise errors.SIGN_IN_LOCKED(
                f"Too many failed attempts; try again in {_minutes(seconds)}.",
                retry_after=seconds,
            )
        await session.commit()
    return Reservation(tuple(slots))


def _take_slot(
    session: AsyncSession, bucket: Bucket, now: datetime, window: timedelta
) -> ReturningInsert[tuple[datetime, int]]:
    """The atomic reservation: insert, or count one more in the window, or (window
    over) start a new window; no row comes back when the bucket is full."""
    postgres = session.get_bind().dialect.name == "postgresql"
    insert = postgresql.insert if postgres else sqlite.insert
    window_over = FailureCounter.window_start <= now - window
    now_value = literal(now, UTCDateTime())
    return (
        insert(FailureCounter)
        .values(key=bucket.key, window_start=now, attempts=1)
        .on_conflict_do_update(
            index_elements=[FailureCounter.key],
            set_={
                "attempts": case((window_over, 1), else_=FailureCounter.attempts + 1),
                "window_start": case((window_over, now_value), else_=FailureCounter.window_start),
            },
            where=or_(window_over, FailureCounter.attempts < bucket.limit),
        )
        .returning(FailureCounter.window_start, FailureCounter.attempts)
    )


def _minutes(seconds: int) -> str:
    if seconds < 90:
        return f"{seconds} seconds"
    return f"{math.ceil(seconds / 60)} minutes"


async def refund(auth: Auth, reservation: Reservation, *kinds: str) -> None:
    """Give back the slots of the given kinds (all when none are named): those checks
    passed. A slot of a window that has since been reset is not given back."""
    slots = [s for s in reservation.slots if not kinds or s.bucket.kind in kinds]
    if not slots:
        return
    async with auth.sessions.begin() as session:
        for slot in sorted(slots, key=lambda s: s.bucket.key):
            await session.execute(
                update(FailureCounter)
                .where(
                    FailureCounter.key == slot.bucket.key,
                    FailureCounter.window_start == slot.window_start,
                    FailureCounter.attempts > 0,
                )
                .values(attempts=FailureCounter.attempts - 1)
            )


async def purge(auth: Auth) -> int:
    """Delete counters whose window is over (they count as empty anyway). For the janitor."""
    cutoff = auth.now() - auth.settings.signin_failure_window
    async with auth.sessions.begin() as session:
        result = await session.execute(
            delete(FailureCounter).where(FailureCounter.window_start <= cutoff)
        )
    return int(result.rowcount)  # type: ignore[attr-defined]
