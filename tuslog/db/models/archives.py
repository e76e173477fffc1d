"""Archive manifests: the background entry lists of finished uploads
(tuslog.uploads.inspection, .manifests, .archive_reading)."""

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from tuslog.db.models.base import Base, UTCDateTime, enum_type, utcnow


class ManifestState(enum.StrEnum):
    PENDING = "pending"  # waiting for a worker (also after a stop or crash cut it short)
    RUNNING = "running"  # claimed by ``claimed_by`` until ``claimed_until`` (renewed)
    DONE = "done"  # listed: ``complete`` says whether fully (else ``problem`` says why)
    FAILED = "failed"  # could not be listed at all (``problem`` says why)
    NOT_AN_ARCHIVE = "not_an_archive"


class ArchiveManifest(Base):
    """The entry list of one finished upload, made once in the background. ``data`` is the
    manifest's compact JSON (``tuslog.archives.Manifest.to_json``), zstd-compressed;
    ``summary`` holds its counts and costs, readable without it."""

    __tablename__ = "archive_manifests"

    upload_id: Mapped[str] = mapped_column(
        ForeignKey("uploads.id", ondelete="CASCADE"), primary_key=True
    )
    state: Mapped[ManifestState] = mapped_column(
        enum_type(ManifestState, "manifest_state"), default=ManifestState.PENDING
    )
    format: Mapped[str | None] = mapped_column(String(16), nullable=True)
    complete: Mapped[bool] = mapped_column(Boolean, default=False)
    problem: Mapped[str | None] = mapped_column(Text, nullable=True)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    data: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True, deferred=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


# The queue: pending (and running, to find expired claims) rows, oldest first.
Index("ix_archive_manifests_state_created_at", ArchiveManifest.state, ArchiveManifest.created_at)
