""" "Expired" is defined once, in Python for a request and in SQL for the janitor's query:
the two must agree on every kind of upload."""

from datetime import timedelta

from sqlalchemy import select

from tests.conftest import sessions
from tuslog.db.models import Ticket, Upload, UploadState, utcnow
from tuslog.settings import Settings
from tuslog.uploads import records

NOW = utcnow()
PAST, FUTURE = NOW - timedelta(hours=1), NOW + timedelta(hours=1)
STATES = list(UploadState)
KINDS = [(None, "whole"), ("partial", "partial"), ("final;/files/x", "final")]


async def test_is_expired_and_the_janitors_query_agree(
    settings: Settings, assertion_db: None
) -> None:
    uploads = []
    async with sessions(settings).begin() as session:
        ticket = Ticket(number="SR-1", number_key="sr-1")
        session.add(ticket)
        await session.flush()
        n = 0
        for state in STATES:
            for concat, _ in KINDS:
                for expires_at in (PAST, FUTURE, None):
                    n += 1
                    upload = Upload(
                        id=f"{n:032x}",
                        ticket_id=ticket.id,
                        state=state,
                        concat=concat,
                        expires_at=expires_at,
                    )
                    uploads.append(upload)
                    session.add(upload)
    async with sessions(settings)() as session:
        due = set(await session.scalars(select(Upload.id).where(records.expired_clause(NOW))))
    in_python = {u.id for u in uploads if records.is_expired(u, NOW)}
    assert due == in_python
    kinds = {(u.state, u.concat) for u in uploads if u.id in due}
    assert kinds == {
        (UploadState.RECEIVING, None),
        (UploadState.RECEIVING, "partial"),
        (UploadState.RECEIVING, "final;/files/x"),
        (UploadState.COMPLETE, "partial"),
        (UploadState.VERIFIED, "partial"),
        (UploadState.CORRUPT, "partial"),
    }
