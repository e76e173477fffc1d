"""Upload rows: what the engine reads and writes in the database. The engine decides
when (and under which lock); these only run the statements."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, case, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tuslog import errors
from tuslog.db.models import GONE_STATES, Ticket, Upload, UploadState, UploadToken, utcnow
from tuslog.services import audit

_FINISHED = (UploadState.COMPLETE, UploadState.VERIFIED, UploadState.CORRUPT)


@dataclass(frozen=True)
class NewUpload:
    upload_id: str
    length: int | None
    metadata_raw: str
    filename: str
    declared_sha256: str | None
    concat: str | None
    client_ip: str | None
    retry_key: str | None = None  # metadata stream_id: a stream asked again after a lost 201


# --- what "expired" means: the one definition, in Python and in SQL --------------------------
def is_expired(upload: Upload, now: datetime) -> bool:
    """An unfinished upload, or a finished partial upload that no final claimed (a partial
    alone is no archive), inactive past its ``expires_at``."""
    waiting = upload.state is UploadState.RECEIVING or (upload.is_partial and upload.state.finished)
    return waiting and upload.expires_at is not None and upload.expires_at < now


def expired_clause(now: datetime) -> ColumnElement[bool]:
    """``is_expired`` as a WHERE clause (the janitor's query; tested to agree)."""
    finished_partial = and_(Upload.concat == "partial", Upload.state.in_(_FINISHED))
    return and_(
        or_(Upload.state == UploadState.RECEIVING, finished_partial), Upload.expires_at < now
    )


# --- reads ------------------------------------------------------------------------------------
async def load(session: AsyncSession, upload_id: str) -> tuple[Upload, str] | None:
    """The upload and its ticket's number ("" for a tombstone whose ticket is gone)."""
    row = (
        await session.execute(
            select(Upload, Ticket.number).outerjoin(Ticket).where(Upload.id == upload_id)
        )
    ).first()
    return (row[0], row[1] or "") if row is not None else None


async def token_bytes(session: AsyncSession, token_id: int) -> int:
    """What a token's uploads hold or will hold: its byte quota counts these."""
    total = await session.scalar(
        select(func.coalesce(func.sum(func.coalesce(Upload.length, Upload.offset)), 0)).where(
            Upload.token_id == token_id,
            Upload.state.not_in([UploadState.EXPIRED, UploadState.TERMINATED]),
        )
    )
    return int(total or 0)


def may_repeat(new: NewUpload) -> bool:
    """Whether ``find_same`` can find anything for ``new`` (it looks only for a declared
    whole file or a stream): the caller may skip the round trip."""
    if new.concat is not None:
        return False
    stream = new.retry_key is not None and new.length is None
    return stream or (new.declared_sha256 is not None and new.length is not None)


async def find_same(session: AsyncSession, token_id: int, new: NewUpload) -> str | None:
    """An upload of this token for the same file (same length and declared SHA-256), or the
    same stream (same metadata with a ``stream_id``), that is still alive: a client whose
    201 answer was lost asks again and must get it back instead of spending another
    attempt."""
    if new.retry_key is not None and new.length is None and new.concat is None:
        return await _same_stream(session, token_id, new)
    if new.declared_sha256 is None or new.length is None or new.concat is not None:
        return None
    found: str | None = await session.scalar(
        select(Upload.id)
        .where(
            Upload.token_id == token_id,
            Upload.declared_sha256 == new.declared_sha256,
            Upload.length == new.length,
            Upload.concat.is_(None),  # never hand a partial back for a whole file
            Upload.state.in_([UploadState.RECEIVING, UploadState.VERIFIED]),
        )
        .order_by(Upload.created_at.desc())
        .limit(1)
    )
    return found


async def _same_stream(session: AsyncSession, token_id: int, new: NewUpload) -> str | None:
    found: str | None = await session.scalar(
        select(Upload.id)
        .where(
            Upload.token_id == token_id,
            Upload.metadata_raw == new.metadata_raw,
            Upload.length.is_(None),
            Upload.concat.is_(None),
            Upload.state == UploadState.RECEIVING,
        )
        .order_by(Upload.created_at.desc())
        .limit(1)
    )
    return found


async def partial_usage(session: AsyncSession, token_id: int) -> tuple[int, int]:
    """How many partial uploads the token has open, and the bytes they hold or will hold."""
    count, total = (
        await session.execute(
            select(func.count(), func.coalesce(func.sum(func.coalesce(Upload.length, 0)), 0))
            .select_from(Upload)
            .where(
                Upload.token_id == token_id,
                Upload.concat == "partial",
                Upload.state.not_in([UploadState.EXPIRED, UploadState.TERMINATED]),
            )
        )
    ).one()
    return int(count or 0), int(total or 0)


async def due_for_expiry(session: AsyncSession, now: datetime, limit: int = 500) -> list[str]:
    return list(await session.scalars(select(Upload.id).where(expired_clause(now)).limit(limit)))


async def awaiting_verification(session: AsyncSession, limit: int = 100) -> list[str]:
    """Received uploads whose hash is still missing (a verification a restart cut short)."""
    return list(
        await session.scalars(
            select(Upload.id)
            .where(Upload.state == UploadState.COMPLETE, Upload.sha256.is_(None))
            .limit(limit)
        )
    )


async def leftovers(session: AsyncSession, stored: list[str]) -> tuple[list[str], list[str]]:
    """Of the ``stored`` upload ids (data on disk): those of uploads that ended (their bytes
    are never read again), and those with no upload row at all. The latter are never
    deleted: a creation makes its file before its row, and a database that is not this
    storage's (a wrong ``TUSLOG_DATABASE_URL``) must never make the janitor delete
    customer files."""
    query = select(Upload.id, Upload.state).where(Upload.id.in_(stored))
    states = dict((await session.execute(query)).tuples().all())
    ended = [upload_id for upload_id, state in states.items() if state.gone]
    return ended, [upload_id for upload_id in stored if upload_id not in states]


async def list_for(session: AsyncSession, ticket_id: int | None) -> list[tuple[Upload, str]]:
    query = select(Upload, Ticket.number).join(Ticket).order_by(Upload.created_at.desc())
    if ticket_id is not None:
        query = query.where(Upload.ticket_id == ticket_id)
    return [(upload, number) for upload, number in await session.execute(query)]


# --- writes -----------------------------------------------------------------------------------
def insert(session: AsyncSession, token: UploadToken, new: NewUpload, expiry: timedelta) -> Upload:
    now = utcnow()
    upload = Upload(
        id=new.upload_id,
        ticket_id=token.ticket_id,
        token_id=token.id,
        metadata_raw=new.metadata_raw,
        filename=new.filename,
        length=new.length,
        offset=0,
        declared_sha256=new.declared_sha256,
        state=UploadState.RECEIVING,
        concat=new.concat,
        client_ip=new.client_ip,
        created_at=now,
        updated_at=now,
        expires_at=now + expiry,
    )
    session.add(upload)
    audit.record(
        session,
        f"token:{token.prefix}",
        "upload.created",
        new.upload_id,
        new.client_ip,
        filename=new.filename,
        length=new.length,
    )
    return upload


async def set_length(
    session: AsyncSession, upload_id: str, length: int, declared_sha256: str | None = None
) -> None:
    """The deferred length, and the SHA-256 the client declares with it (kept if one was
    declared at creation)."""
    values: dict[str, object] = {"length": length}
    if declared_sha256 is not None:
        values["declared_sha256"] = func.coalesce(Upload.declared_sha256, declared_sha256)
    await session.execute(update(Upload).where(Upload.id == upload_id).values(**values))


async def claim_partials(session: AsyncSession, token_id: int, upload_ids: list[str]) -> None:
    """Atomically take finished partial uploads for a final concatenation."""
    result = await session.execute(
        update(Upload)
        .where(
            Upload.id.in_(upload_ids),
            Upload.token_id == token_id,
            Upload.concat == "partial",
            Upload.state.in_([UploadState.COMPLETE, UploadState.VERIFIED]),
        )
        .values(state=UploadState.TERMINATED, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    # A partial may be named more than once in one final (tus allows reuse).
    if result.rowcount != len(set(upload_ids)):  # type: ignore[attr-defined]
        raise errors.CONCAT_INVALID("These partial uploads are already used or not finished.")


# A finished upload never expires, except a partial one that waits for its final.
_EXPIRY_WHEN_FINISHED = case((Upload.concat == "partial", Upload.expires_at), else_=None)


def verification_state(declared: str | None, computed: str) -> UploadState:
    if declared is None:
        return UploadState.COMPLETE
    return UploadState.VERIFIED if declared == computed else UploadState.CORRUPT


async def mark_complete(
    session: AsyncSession, upload: Upload, sha256: str | None, actor: str, client_ip: str | None
) -> UploadState:
    """Every byte is here and durable. With ``sha256`` the upload is final (verified,
    corrupt or complete); without, it waits for the background hash (state complete
    without a SHA-256, shown as "verifying")."""
    state = (
        UploadState.COMPLETE
        if sha256 is None
        else verification_state(upload.declared_sha256, sha256)
    )
    now = utcnow()
    result = await session.execute(
        update(Upload)
        .where(Upload.id == upload.id, Upload.state == UploadState.RECEIVING)
        .values(
            state=state,
            sha256=sha256,
            completed_at=now,
            updated_at=now,
            expires_at=_EXPIRY_WHEN_FINISHED,
        )
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise errors.UPLOAD_GONE("This upload was deleted or ended while it was being written.")
    if sha256 is not None:
        _audit_completion(session, upload, state, sha256, actor, client_ip)
    return state


def _audit_completion(
    session: AsyncSession,
    upload: Upload,
    state: UploadState,
    sha256: str,
    actor: str,
    client_ip: str | None,
) -> None:
    # verified / corrupt: checked against the SHA-256 the client declared; completed:
    # none was declared. (Webhooks: each raises upload.completed, tuslog.services.outbox.)
    action = {UploadState.CORRUPT: "upload.corrupt", UploadState.VERIFIED: "upload.verified"}.get(
        state, "upload.completed"
    )
    audit.record(
        session,
        actor,
        action,
        upload.id,
        client_ip,
        sha256=sha256,
        length=upload.length,
        state=state.value,
    )


async def record_verification(session: AsyncSession, upload: Upload, sha256: str) -> bool:
    """The background hash of a received upload: verified, corrupt or complete. False if
    the upload is no longer waiting for it (deleted, or verified elsewhere)."""
    state = verification_state(upload.declared_sha256, sha256)
    result = await session.execute(
        update(Upload)
        .where(
            Upload.id == upload.id,
            Upload.state == UploadState.COMPLETE,
            Upload.sha256.is_(None),
        )
        .values(state=state, sha256=sha256, updated_at=utcnow())
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    _audit_completion(session, upload, state, sha256, "server", upload.client_ip)
    return True


def may_end(state: UploadState, now: datetime) -> ColumnElement[bool]:
    """Which uploads an end to ``state`` applies to, decided in the UPDATE itself (a
    request that got there first wins): a client terminates only an unfinished upload,
    the janitor expires only what is expired, staff delete anything not yet gone."""
    if state is UploadState.TERMINATED:
        return Upload.state == UploadState.RECEIVING
    if state is UploadState.EXPIRED:
        return expired_clause(now)
    return Upload.state.not_in(GONE_STATES)


async def mark_gone(
    session: AsyncSession,
    upload_id: str,
    state: UploadState,
    actor: str,
    client_ip: str | None,
) -> bool:
    """End the upload (``state`` is one of the gone states) if that still applies."""
    now = utcnow()
    result = await session.execute(
        update(Upload)
        .where(Upload.id == upload_id, may_end(state, now))
        .values(state=state, updated_at=now)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    audit.record(session, actor, f"upload.{state.value}", upload_id, client_ip)
    return True
