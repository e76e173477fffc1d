"""The upload list that the REST API and the portal page through: filters by ticket, shown
state and creation time, newest first, keyset pages (tuslog.services.paging)."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from tuslog import errors
from tuslog.db.models import GONE_STATES, Ticket, Upload, UploadState
from tuslog.services import paging

SHOWN_STATES = (
    "receiving",
    "verifying",
    "complete",
    "verified",
    "corrupt",
    *sorted(state.value for state in GONE_STATES),
)


@dataclass(frozen=True)
class UploadFilter:
    """What ``search`` narrows to; fields combine with AND. ``ticket_id``: one ticket's
    uploads; ``states``: any of these shown states (``SHOWN_STATES``: "verifying" is a
    received upload whose SHA-256 is being computed, "complete" one that has it);
    ``created_from`` (inclusive) and ``created_to`` (exclusive): aware datetimes."""

    ticket_id: int | None = None
    states: Sequence[str] = ()
    created_from: datetime | None = None
    created_to: datetime | None = None


def _shown_state_clause(shown: str) -> ColumnElement[bool]:
    if shown == "verifying":
        return and_(Upload.state == UploadState.COMPLETE, Upload.sha256.is_(None))
    if shown == "complete":
        return and_(Upload.state == UploadState.COMPLETE, Upload.sha256.is_not(None))
    if shown not in SHOWN_STATES:
        raise errors.INVALID_VALUE(f"state: one of {', '.join(SHOWN_STATES)}; not {shown[:40]!r}.")
    return Upload.state == UploadState(shown)


def _search_conditions(filters: UploadFilter) -> list[ColumnElement[bool]]:
    paging.check_range(filters.created_from, filters.created_to, "created")
    found: list[ColumnElement[bool]] = []
    if filters.ticket_id is not None:
        found.append(Upload.ticket_id == filters.ticket_id)
    if filters.states:
        found.append(or_(*(_shown_state_clause(state) for state in sorted(set(filters.states)))))
    if filters.created_from is not None:
        found.append(Upload.created_at >= filters.created_from)
    if filters.created_to is not None:
        found.append(Upload.created_at < filters.created_to)
    return found


async def search(
    session: AsyncSession,
    filters: UploadFilter = UploadFilter(),
    *,
    limit: int = paging.DEFAULT_LIMIT,
    cursor: str | None = None,
    with_total: bool = False,
) -> paging.Page[tuple[Upload, str]]:
    """Uploads matching ``filters`` with their ticket numbers ("" for a tombstone whose
    ticket was deleted), newest first, one page after ``cursor``."""
    rows, next_cursor, total = await paging.fetch(
        session,
        select(Upload, Ticket.number).outerjoin(Ticket, Upload.ticket_id == Ticket.id),
        _search_conditions(filters),
        (Upload.created_at, Upload.id),
        after=paging.decode(cursor, str),
        limit=paging.check_limit(limit),
        with_total=with_total,
    )
    return paging.Page([(upload, number or "") for upload, number in rows], next_cursor, total)
