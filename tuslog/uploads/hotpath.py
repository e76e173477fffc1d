"""The hot path's statements (every HEAD, PATCH and checkpoint): built once, because
building a statement costs more than running it on SQLite, and run synchronously in one
short transaction through ``Database.quick``."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, bindparam, select, update
from sqlalchemy.orm import Session

from tuslog import errors
from tuslog.db.models import Ticket, Upload, UploadState, UploadToken, utcnow

_LOAD_WITH_TOKEN = (
    select(Upload, UploadToken, Ticket.number)
    .join(UploadToken, Upload.token_id == UploadToken.id)
    .join(Ticket, Upload.ticket_id == Ticket.id)
    .where(Upload.id == bindparam("upload_id"))
)
_LOCKED_FIELDS = select(
    Upload.offset, Upload.length, Upload.state, Upload.expires_at, Upload.sha256
).where(Upload.id == bindparam("upload_id"))
_RECORD_OFFSET = (
    update(Upload)
    .where(Upload.id == bindparam("upload_id"), Upload.state == UploadState.RECEIVING)
    .values(
        offset=bindparam("new_offset"),
        updated_at=bindparam("now"),
        expires_at=bindparam("expires_at"),
    )
    .returning(
        select(UploadToken.revoked_at).where(UploadToken.id == Upload.token_id).scalar_subquery()
    )
)


def load_with_token(conn: Connection, upload_id: str) -> tuple[Upload, UploadToken, str] | None:
    """The upload, its token and its ticket number in one round trip (every HEAD and PATCH).
    The objects come detached, with every column loaded."""
    with Session(conn, expire_on_commit=False) as session:
        row = session.execute(_LOAD_WITH_TOKEN, {"upload_id": upload_id}).first()
    return (row[0], row[1], row[2]) if row is not None else None


def refresh_locked_fields(conn: Connection, upload: Upload) -> bool:
    """Re-read what only a lock holder changes (offset, length, state...) into ``upload``,
    once the lock is held: the rest was read just before. False if the row is gone."""
    row = conn.execute(_LOCKED_FIELDS, {"upload_id": upload.id}).first()
    if row is None:
        return False
    upload.offset, upload.length, upload.state, upload.expires_at, upload.sha256 = row
    return True


@dataclass(frozen=True)
class Recorded:
    expires_at: datetime
    token_revoked: bool


def record_offset(conn: Connection, upload_id: str, offset: int, expiry: timedelta) -> Recorded:
    """Record a durable offset (the bytes are already fdatasync'ed), slide the expiry, and
    tell whether the upload's token was revoked meanwhile: one statement, as this runs at
    every checkpoint and PATCH. An upload ended meanwhile (by staff) is gone."""
    now = utcnow()
    expires_at = now + expiry
    values = {"upload_id": upload_id, "new_offset": offset, "now": now, "expires_at": expires_at}
    row = conn.execute(_RECORD_OFFSET, values).first()
    if row is None:
        raise errors.UPLOAD_GONE("This upload was deleted or ended while it was being written.")
    return Recorded(expires_at, row[0] is not None)
