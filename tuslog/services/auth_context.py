"""What the sign-in and session services need besides the database: one per app.

Sign-in steps run several short transactions of their own instead of one in the caller's
session: a failed attempt must be counted and audited although the step then raises,
and no transaction (nor SQLite's write lock) may stay open while a password is hashed.
So these services take an :class:`Auth` (a session factory, the settings and a clock)
where the other services take an ``AsyncSession``.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tuslog.db.models import utcnow
from tuslog.services.totp_cipher import TotpCipher
from tuslog.settings import Settings


@dataclass(frozen=True)
class Auth:
    sessions: async_sessionmaker[AsyncSession]
    settings: Settings
    clock: Callable[[], datetime] = utcnow
    cipher: TotpCipher = field(init=False)

    def __post_init__(self) -> None:
        keys = [key.get_secret_value() for key in self.settings.totp_keys]
        object.__setattr__(self, "cipher", TotpCipher(keys))

    def now(self) -> datetime:
        return self.clock()
