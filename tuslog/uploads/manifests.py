"""The ``archive_manifests`` table: the queue of manifest jobs and their results (SQL only;
the job itself is ``tuslog.uploads.inspection``).

The queue lives in the database so that it holds across worker processes, hosts and
restarts: a job is *claimed* by a conditional UPDATE (pending, or running with a claim
that ran out), which one process wins; the winner renews its claim while it works. A
claim that runs out (the process died) makes the row claimable again; after
``MAX_ATTEMPTS`` claims without a result the janitor records it as failed.
"""

import json
import sys
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, delete, exists, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from tuslog.archives import Manifest
from tuslog.db.models import (
    GONE_STATES,
    ArchiveManifest,
    ManifestState,
    Upload,
    UploadState,
    utcnow,
)

if sys.version_info >= (3, 14):  # pragma: no cover - Python 3.14's stdlib
    from compression import zstd
else:
    from backports import zstd

LEASE = timedelta(seconds=90)
"""How long a claim holds without renewal (the job renews it every third of that)."""
MAX_ATTEMPTS = 3
_ZSTD_LEVEL = 3


def eligible() -> ColumnElement[bool]:
    """Uploads that get a manifest: finished with a SHA-256 (complete, verified or corrupt:
    see ``tuslog.uploads.inspection``), and not a partial upload (a piece, not a file)."""
    return and_(
        Upload.state.in_((UploadState.COMPLETE, UploadState.VERIFIED, UploadState.CORRUPT)),
        Upload.sha256.is_not(None),
        or_(Upload.concat.is_(None), Upload.concat != "partial"),
    )


def _claimable(now: datetime) -> ColumnElement[bool]:
    """Pending (a pending row's ``claimed_until`` is when to try again after a storage
    failure), or running with a claim that ran out."""
    return or_(
        and_(
            ArchiveManifest.state == ManifestState.PENDING,
            or_(ArchiveManifest.claimed_until.is_(None), ArchiveManifest.claimed_until < now),
        ),
        and_(ArchiveManifest.state == ManifestState.RUNNING, ArchiveManifest.claimed_until < now),
    )


def _still_there(upload_id: str) -> ColumnElement[bool]:
    return exists().where(Upload.id == upload_id, Upload.state.not_in(GONE_STATES))


async def add_pending(session: AsyncSession, upload_id: str) -> None:
    """A pending row for ``upload_id``, unless it has a row already."""
    await _add(session, upload_id, state=ManifestState.PENDING, attempts=0)


async def add_claimed(session: AsyncSession, upload_id: str, holder: str) -> bool:
    """A row for ``upload_id`` that ``holder`` has claimed already: the process that
    finished the upload reads it next, without a transaction of its own to claim it.
    False if the upload had a row (then it is claimed by id as usual)."""
    now = utcnow()
    return await _add(
        session,
        upload_id,
        state=ManifestState.RUNNING,
        attempts=1,
        claimed_by=holder,
        claimed_until=now + LEASE,
        started_at=now,
    )


_ADDED_COLUMNS = (
    "upload_id",
    "state",
    "complete",
    "summary",
    "attempts",
    "claimed_by",
    "claimed_until",
    "created_at",
    "started_at",
)
# Written out because SQLAlchemy's dialect inserts (``on_conflict_do_nothing``) are never
# cached: every completion compiled this one afresh. Both dialects take this syntax, and
# the bound values go through the columns' own types.
_ADD = text(
    "INSERT INTO archive_manifests (upload_id, state, complete, summary, attempts,"
    " claimed_by, claimed_until, created_at, started_at)"
    " VALUES (:upload_id, :state, :complete, :summary, :attempts,"
    " :claimed_by, :claimed_until, :created_at, :started_at)"
    " ON CONFLICT (upload_id) DO NOTHING"
).bindparams(
    *(bindparam(name, type_=ArchiveManifest.__table__.c[name].type) for name in _ADDED_COLUMNS)
)


async def _add(session: AsyncSession, upload_id: str, **values: Any) -> bool:
    row: dict[str, Any] = dict.fromkeys(_ADDED_COLUMNS)
    row |= {"upload_id": upload_id, "complete": False, "summary": {}, "created_at": utcnow()}
    result = await session.execute(_ADD, row | values)
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


async def add_missing(session: AsyncSession, limit: int = 100) -> int:
    """Pending rows for up to ``limit`` eligible uploads that have none (finished before
    this feature, by a final concatenation, or in a process that died before adding it),
    the most recent first: those are the ones staff are looking at."""
    found = await session.scalars(
        select(Upload.id)
        .where(eligible(), ~exists().where(ArchiveManifest.upload_id == Upload.id))
        .order_by(Upload.completed_at.desc())
        .limit(limit)
    )
    missing = list(found)
    for upload_id in missing:
        await add_pending(session, upload_id)
    return len(missing)


async def forget_gone(session: AsyncSession) -> int:
    """Delete the manifests of uploads that were deleted, expired or terminated."""
    gone = exists().where(Upload.id == ArchiveManifest.upload_id, Upload.state.in_(GONE_STATES))
    result = await session.execute(delete(ArchiveManifest).where(gone))
    return int(result.rowcount)  # type: ignore[attr-defined]


async def give_up(session: AsyncSession, now: datetime) -> int:
    """Record as failed the jobs that were claimed ``MAX_ATTEMPTS`` times without a result."""
    result = await session.execute(
        update(ArchiveManifest)
        .where(_claimable(now), ArchiveManifest.attempts >= MAX_ATTEMPTS)
        .values(
            state=ManifestState.FAILED,
            claimed_by=None,
            claimed_until=None,
            finished_at=now,
            problem=(
                f"could not read fully: gave up after {MAX_ATTEMPTS} attempts that ended "
                "without a result (the process stopped or crashed while reading)"
            ),
        )
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def claim(
    session: AsyncSession, holder: str, now: datetime, upload_id: str | None = None
) -> str | None:
    """Claim the oldest claimable job (or ``upload_id``'s); its id, or None if none."""
    query = select(ArchiveManifest.upload_id).where(
        _claimable(now), ArchiveManifest.attempts < MAX_ATTEMPTS
    )
    if upload_id is not None:
        query = query.where(ArchiveManifest.upload_id == upload_id)
    candidates = list(await session.scalars(query.order_by(ArchiveManifest.created_at).limit(5)))
    for candidate in candidates:
        if await claim_mine(session, candidate, holder, now):
            return candidate
    return None


async def claim_mine(session: AsyncSession, upload_id: str, holder: str, now: datetime) -> bool:
    """Claim ``upload_id``'s job (one this process queued itself, or a candidate ``claim``
    found): one statement. False if it is not claimable (another process has it, it is
    done, gone, or given up)."""
    result = await session.execute(
        update(ArchiveManifest)
        .where(
            ArchiveManifest.upload_id == upload_id,
            _claimable(now),
            ArchiveManifest.attempts < MAX_ATTEMPTS,
        )
        .values(
            state=ManifestState.RUNNING,
            claimed_by=holder,
            claimed_until=now + LEASE,
            attempts=ArchiveManifest.attempts + 1,
            started_at=now,
        )
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def _held_by(upload_id: str, holder: str) -> ColumnElement[bool]:
    return and_(
        ArchiveManifest.upload_id == upload_id,
        ArchiveManifest.claimed_by == holder,
        ArchiveManifest.state == ManifestState.RUNNING,
    )


async def renew(session: AsyncSession, upload_id: str, holder: str) -> bool:
    """Extend the claim; False if it is no longer ours (or the row is gone)."""
    result = await session.execute(
        update(ArchiveManifest)
        .where(_held_by(upload_id, holder))
        .values(claimed_until=utcnow() + LEASE)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


async def upload_is_gone(session: AsyncSession, upload_id: str) -> bool:
    state = await session.scalar(select(Upload.state).where(Upload.id == upload_id))
    return state is None or state in GONE_STATES


async def finish(
    session: AsyncSession, upload_id: str, holder: str, manifest: Manifest, data: bytes | None
) -> bool:
    """Store the result of a claimed job; False if the claim was lost or the upload went."""
    state = ManifestState.DONE if manifest.is_archive else ManifestState.NOT_AN_ARCHIVE
    result = await session.execute(
        update(ArchiveManifest)
        .where(_held_by(upload_id, holder), _still_there(upload_id))
        .values(
            state=state,
            format=manifest.format,
            complete=manifest.complete,
            problem=manifest.problem,
            summary=summary_of(manifest),
            data=data,
            claimed_by=None,
            claimed_until=None,
            finished_at=utcnow(),
        )
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


async def fail(session: AsyncSession, upload_id: str, holder: str, problem: str) -> None:
    await session.execute(
        update(ArchiveManifest)
        .where(_held_by(upload_id, holder))
        .values(
            state=ManifestState.FAILED,
            problem=problem,
            claimed_by=None,
            claimed_until=None,
            finished_at=utcnow(),
        )
    )


async def release(
    session: AsyncSession,
    upload_id: str,
    holder: str,
    *,
    problem: str | None,
    counts: bool,
    not_before: datetime | None = None,
) -> None:
    """Back to pending: the job stopped without a result (``counts``: as a failed attempt,
    e.g. the storage failed; not when the server is stopping), to be claimed again from
    ``not_before`` on."""
    values: dict[str, Any] = {"state": ManifestState.PENDING, "claimed_by": None}
    values["claimed_until"] = not_before
    values["problem"] = problem
    if not counts:
        values["attempts"] = ArchiveManifest.attempts - 1
    await session.execute(update(ArchiveManifest).where(_held_by(upload_id, holder)).values(values))


async def forget(session: AsyncSession, upload_id: str) -> None:
    await session.execute(delete(ArchiveManifest).where(ArchiveManifest.upload_id == upload_id))


async def load(session: AsyncSession, upload_id: str) -> ArchiveManifest | None:
    """The row without its data (a few hundred bytes)."""
    return await session.get(ArchiveManifest, upload_id)


async def load_data(session: AsyncSession, upload_id: str) -> bytes | None:
    data: bytes | None = await session.scalar(
        select(ArchiveManifest.data).where(ArchiveManifest.upload_id == upload_id)
    )
    return data


# --- what surfaces show ---------------------------------------------------------------------
@dataclass(frozen=True)
class ManifestStatus:
    """Where an upload's manifest stands; ``state`` is pending, running, done, failed or
    not_an_archive (``ready`` when done). ``problem``: "could not read fully: why"."""

    upload_id: str
    filename: str
    upload_state: str
    state: str
    format: str | None = None
    complete: bool = False
    problem: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    bytes_read: int | None = None
    seconds: float | None = None
    queued_at: datetime | None = None
    """None: not queued yet (the janitor queues finished uploads that have no manifest)."""
    finished_at: datetime | None = None

    @property
    def ready(self) -> bool:
        return self.state == ManifestState.DONE

    def as_dict(self) -> dict[str, Any]:
        return {
            "upload_id": self.upload_id,
            "filename": self.filename,
            "upload_state": self.upload_state,
            "state": self.state,
            "format": self.format,
            "complete": self.complete,
            "problem": self.problem,
            "counts": self.counts,
            "bytes_read": self.bytes_read,
            "seconds": self.seconds,
            "queued_at": self.queued_at.isoformat() if self.queued_at else None,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
        }


def status_of(upload: Upload, row: ArchiveManifest | None) -> ManifestStatus:
    shown = upload.shown_state
    if row is None:
        return ManifestStatus(upload.id, upload.filename, shown, ManifestState.PENDING.value)
    summary = row.summary or {}
    return ManifestStatus(
        upload.id,
        upload.filename,
        shown,
        row.state.value,
        row.format,
        row.complete,
        row.problem,
        summary.get("counts", {}),
        summary.get("bytes_read"),
        summary.get("seconds"),
        row.created_at,
        row.finished_at,
    )


# --- the stored form ------------------------------------------------------------------------
def summary_of(manifest: Manifest) -> dict[str, Any]:
    """What a listing header shows, readable without decompressing the entries."""
    counts = asdict(manifest.counts) if manifest.is_archive else {}
    return {
        "counts": counts,
        "bytes_read": manifest.bytes_read,
        "bytes_decompressed": manifest.bytes_decompressed,
        "seconds": round(manifest.seconds, 3),
    }


def pack(manifest: Manifest) -> bytes:
    """The compact JSON, zstd-compressed: 100,000 entries are about 1 MiB."""
    text = json.dumps(manifest.to_json(), separators=(",", ":"), ensure_ascii=False)
    return bytes(zstd.compress(text.encode("utf-8"), _ZSTD_LEVEL))


def unpack(data: bytes) -> dict[str, Any]:
    """The compact JSON back (``Manifest.from_json`` builds objects from it)."""
    loaded: dict[str, Any] = json.loads(zstd.decompress(data))
    return loaded
