"""TOTP (RFC 6238) with pyotp: 6 digits, 30-second steps, SHA-1 (what every authenticator
app understands), a code of the previous or next step accepted for clock drift.

No code is accepted twice, also not by two worker processes at the same moment: a code is
accepted only by the conditional UPDATE in :func:`claim_step`, which moves the user's
last used time step forward and succeeds for exactly one request (the database decides;
an older step than the last accepted one is refused too).
"""

import hmac
from dataclasses import dataclass
from datetime import datetime

import pyotp
import segno
from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tuslog.db.models import User
from tuslog.services.totp_cipher import TotpCipher

DIGITS = 6
DRIFT_STEPS = 1


@dataclass(frozen=True)
class Enrolment:
    """What the enrolment page shows: the QR code (inline SVG, no user text inside, safe
    to embed), the secret as text for typing in, and the ``otpauth://`` URI."""

    secret: str
    uri: str
    qr_svg: str

    @property
    def secret_grouped(self) -> str:
        """The secret in groups of four, easier to type: ``ABCD EFGH …``."""
        return " ".join(self.secret[i : i + 4] for i in range(0, len(self.secret), 4))


def new_secret() -> str:
    return pyotp.random_base32()  # 32 base32 characters: 160 bits, RFC 4226's recommendation


def enrolment(secret: str, *, email: str, issuer: str) -> Enrolment:
    uri = pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=issuer)
    qr = segno.make(uri, error="m")
    return Enrolment(secret, uri, qr.svg_inline(scale=4, dark="#000", light="#fff"))


def normalise_code(code: str) -> str | None:
    """The 6 digits of a TOTP code as typed (spaces allowed: ``123 456``), or None when it
    is not shaped like one."""
    digits = "".join(code.split())
    return digits if len(digits) == DIGITS and digits.isascii() and digits.isdigit() else None


def matching_step(secret: str, code: str, now: datetime) -> int | None:
    """The time step whose code ``code`` is (now, or one step either side), else None.
    Every candidate is compared in constant time, also after a match."""
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    found = None
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            found = step
    return found


def code_at(secret: str, moment: datetime) -> str:
    """The code an authenticator app shows at ``moment`` (for tests and tooling)."""
    return pyotp.TOTP(secret).at(moment)


async def claim_step(
    session: AsyncSession,
    user_id: int,
    stored_secret: str,
    step: int,
    *,
    reseal_to: str | None = None,
) -> bool:
    """Accept ``step`` for this user, once: True for exactly one caller. ``stored_secret``
    is the stored value the code was checked against; if it changed meanwhile (2FA reset,
    re-enrolment) the claim fails. ``reseal_to`` replaces it in the same statement."""
    values: dict[str, object] = {"totp_last_step": step}
    if reseal_to is not None:
        values["totp_secret"] = reseal_to
    result = await session.execute(
        update(User)
        .where(
            User.id == user_id,
            User.totp_secret == stored_secret,
            or_(User.totp_last_step.is_(None), User.totp_last_step < step),
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


async def reseal_all(session: AsyncSession, cipher: TotpCipher) -> int:
    """Seal every stored TOTP secret with the first configured key (after a key rotation,
    before the old key is removed). Returns how many were sealed again."""
    changed = 0
    rows = await session.execute(
        select(User.id, User.totp_secret).where(User.totp_secret.is_not(None))
    )
    for user_id, stored in rows.all():
        if stored is None or not cipher.needs_reseal(stored):
            continue
        await session.execute(
            update(User)
            .where(User.id == user_id, User.totp_secret == stored)
            .values(totp_secret=cipher.seal(cipher.open(stored)))
            .execution_options(synchronize_session=False)
        )
        changed += 1
    return changed
