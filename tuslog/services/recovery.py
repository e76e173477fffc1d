"""Recovery codes: ten per user, shown once, each usable once instead of a TOTP code.

A code is 16 characters from a 31-letter alphabet without look-alikes (no 0/o, 1/l/i),
shown as ``abcd-efgh-jkmn-pqrs``: about 79 random bits. That is far beyond guessing or
offline search, so the stored form is a plain SHA-256 (as for upload tokens) and a code
is found by its hash. Using one is a single conditional UPDATE (``used_at IS NULL``):
two requests with the same code, on any workers, succeed once between them.
"""

import hashlib
import secrets
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tuslog.db.models import RecoveryCode

COUNT = 10
ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
LENGTH = 16
GROUP = 4


def _new_code() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
    return "-".join(raw[i : i + GROUP] for i in range(0, LENGTH, GROUP))


def normalise(code: str) -> str | None:
    """The code without separators and in lower case, or None if it cannot be one."""
    text = "".join(code.split()).replace("-", "").lower()
    if len(text) != LENGTH or any(ch not in ALPHABET for ch in text):
        return None
    return text


def hash_code(normalised: str) -> str:
    return hashlib.sha256(f"tuslog-recovery:{normalised}".encode()).hexdigest()


async def replace(session: AsyncSession, user_id: int, now: datetime) -> list[str]:
    """Forget the user's codes and make :data:`COUNT` new ones; return them (to show once)."""
    await session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    codes = [_new_code() for _ in range(COUNT)]
    session.add_all(
        RecoveryCode(user_id=user_id, code_hash=hash_code(normalise(code) or ""), created_at=now)
        for code in codes
    )
    await session.flush()
    return codes


async def use(session: AsyncSession, user_id: int, normalised: str, now: datetime) -> bool:
    """Spend the code if it is the user's and unused: True for exactly one caller."""
    result = await session.execute(
        update(RecoveryCode)
        .where(
            RecoveryCode.user_id == user_id,
            RecoveryCode.code_hash == hash_code(normalised),
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


async def remaining(session: AsyncSession, user_id: int) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(RecoveryCode)
        .where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))
    )
    return int(count or 0)
