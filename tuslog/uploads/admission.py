"""Admission: whether bytes may still come, decided before they do (DESIGN §2.5).

Every way an upload grows asks here, with the same rules: a creation with a length, a
deferred length declared later, a deferred-length body while it streams, and a final
concatenation. The rules: the server's largest upload, the token's byte quota, and the
free space minus the reserve minus what unfinished uploads were already promised.
"""

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tuslog import errors
from tuslog.db.models import UploadToken
from tuslog.services import storage
from tuslog.uploads import records

# Any constant works; it only has to be the same in every process (PostgreSQL advisory lock).
_ADMISSION_LOCK_KEY = 0x7475736C
_UNBOUNDED = 2**63 - 1


@dataclass(frozen=True)
class Limits:
    max_size: int  # TUSLOG_MAX_UPLOAD_SIZE
    reserve: int  # TUSLOG_MIN_FREE_SPACE


@dataclass(frozen=True)
class Room:
    """How much more the server and the token take right now."""

    max_size: int
    quota: int | None  # the token's byte quota, if it has one
    quota_left: int | None  # bytes the token may still add
    space_left: int  # free space minus reserve minus promised bytes (may be negative)

    def check(
        self,
        total: int,
        *,
        new_on_disk: int,
        new_for_quota: int,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Refuse an upload growing to ``total`` bytes, which puts ``new_on_disk`` more
        bytes on the disk and counts ``new_for_quota`` more against the token."""
        if total > self.max_size:
            raise errors.TOO_LARGE(
                f"The upload ({total} bytes) is larger than the server accepts "
                f"({self.max_size} bytes).",
                headers=headers,
            )
        if self.quota_left is not None and new_for_quota > self.quota_left:
            raise errors.QUOTA_EXCEEDED(
                f"This token allows {self.quota} bytes in all; {max(self.quota_left, 0)} are left.",
                headers=headers,
            )
        if new_on_disk > self.space_left:
            raise errors.NO_SPACE(
                f"Not enough free space on the server for {new_on_disk} bytes "
                f"({max(self.space_left, 0)} available); ask support to free space.",
                headers=headers,
            )

    def bound(self, offset: int) -> "Bound":
        """How far an upload of unknown length, now at ``offset``, may grow, and what
        stops it there."""
        limits = [Bound(offset + self.space_left, "space"), Bound(self.max_size, "size")]
        if self.quota_left is not None:
            limits.append(Bound(offset + self.quota_left, "quota"))
        tightest = min(limits, key=lambda bound: bound.limit)
        return Bound(max(offset, tightest.limit), tightest.reason)

    def refusal(self, reason: str, headers: dict[str, str]) -> errors.TuslogError:
        """What a deferred-length body that reached ``bound`` is told: a full disk is to be
        retried later, a quota or the size limit is final."""
        if reason == "space":
            return errors.DISK_FULL(headers=headers)
        if reason == "quota":
            return errors.QUOTA_EXCEEDED(
                f"This token allows {self.quota} bytes in all; the upload reached them.",
                headers=headers,
            )
        return errors.TOO_LARGE(
            f"The upload reached the largest size the server accepts ({self.max_size} bytes).",
            headers=headers,
        )


@dataclass(frozen=True)
class Bound:
    limit: int
    reason: str  # "length" (declared), "space", "quota" or "size" (TUSLOG_MAX_UPLOAD_SIZE)


async def measure(
    session: AsyncSession,
    token: UploadToken,
    limits: Limits,
    free: int | None,
    *,
    serialise: bool = False,
) -> Room:
    """The room left for ``token`` with ``free`` bytes free on the disk (None: the disk is
    not the question, the bytes are already on it). ``serialise``: in
    a transaction that will record the growth, make concurrent admissions take turns, so
    that two cannot both claim the last free bytes (SQLite already serialises writers;
    PostgreSQL needs a transaction-scoped advisory lock)."""
    if serialise and session.bind.dialect.name == "postgresql":
        await session.execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADMISSION_LOCK_KEY}
        )
    space_left = _UNBOUNDED
    if free is not None:
        space_left = free - limits.reserve - await storage.promised_bytes(session)
    quota_left = None
    if token.max_bytes is not None:
        quota_left = token.max_bytes - await records.token_bytes(session, token.id)
    return Room(limits.max_size, token.max_bytes, quota_left, space_left)
