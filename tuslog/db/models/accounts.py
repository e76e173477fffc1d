"""Staff accounts (tuslog.services.accounts, .sessions, .signin), recovery codes, failure
counters and REST API keys (tuslog.services.apikeys)."""

import enum
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Integer,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from tuslog.db.models.base import Base, UTCDateTime, enum_type, utcnow


class UserRole(enum.StrEnum):
    ADMIN = "admin"
    STAFF = "staff"


class SessionStage(enum.StrEnum):
    """A session starts after the password as ``pending`` (only enrolment and the code
    check are reachable) and becomes ``signed_in`` with a new id after the second factor."""

    PENDING = "pending"
    SIGNED_IN = "signed_in"


class User(Base):
    """A staff member. ``email`` is stored normalised (see accounts.normalise_email) and is
    unique; ``totp_secret`` is sealed by tuslog.services.totp_cipher (None: not enrolled);
    ``totp_last_step`` is the last accepted TOTP time step, so no code is accepted twice."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[UserRole] = mapped_column(enum_type(UserRole, "user_role"), default=UserRole.STAFF)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    totp_secret: Mapped[str | None] = mapped_column(String(255), nullable=True)
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    totp_enrolled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    deactivated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_by: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StaffSession(Base):
    """A server-side portal session. The cookie holds ``selector.verifier``; only the
    verifier's SHA-256 is stored. Revoking a session deletes its row."""

    __tablename__ = "staff_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    selector: Mapped[str] = mapped_column(String(32), unique=True)
    verifier_hash: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    stage: Mapped[SessionStage] = mapped_column(enum_type(SessionStage, "session_stage"))
    csrf_secret: Mapped[str] = mapped_column(String(64))
    enrol_secret: Mapped[str | None] = mapped_column(String(255), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    signed_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    client_ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    user_agent: Mapped[str] = mapped_column(String(200), default="")


class RecoveryCode(Base):
    """One single-use recovery code, stored as the SHA-256 of its normalised text (the
    codes carry ~79 random bits, so a fast hash is as safe as for upload tokens)."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class FailureCounter(Base):
    """Failed sign-in attempts in a fixed window, per account or client address; shared
    by all workers (tuslog.services.throttle). ``key`` is a SHA-256 of kind and subject."""

    __tablename__ = "failure_counters"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    attempts: Mapped[int] = mapped_column(Integer)


class ApiKey(Base):
    """An integrator's key: ``tlk_<8>_<secret>``, stored as the SHA-256 of the whole key
    (256 random bits: a fast hash is enough, as for upload tokens). ``scopes`` is a
    space-separated, sorted list of read, write, download, admin."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(100), default="")
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    scopes: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_used_ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
