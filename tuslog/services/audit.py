"""The audit log: every action that matters, with actor and real client IP. Also where
webhook events enter the outbox: an action that is a webhook event adds its outbox row
in the same transaction as its audit event (``tuslog.services.outbox``)."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from tuslog.db.models import AuditEvent
from tuslog.services import outbox, paging


def record(
    session: AsyncSession,
    actor: str,
    action: str,
    subject: str = "",
    client_ip: str | None = None,
    **details: Any,
) -> None:
    """Add an audit event to the caller's transaction (it lands when the caller commits)."""
    session.add(
        AuditEvent(
            actor=actor, action=action, subject=subject, client_ip=client_ip, details=details
        )
    )
    outbox.add(session, action, subject, details)


# --- listing (the REST API's and the portal's audit log) -----------------------------------
@dataclass(frozen=True)
class AuditFilter:
    """What ``events`` narrows to; fields combine with AND. ``actions``: any of these
    exact actions (e.g. ``upload.deleted``); ``actor``, ``subject`` (a ticket number,
    upload id or token prefix), ``client_ip``: exact; ``since`` (inclusive) and ``until``
    (exclusive): aware datetimes."""

    actions: Sequence[str] = ()
    actor: str | None = None
    subject: str | None = None
    client_ip: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def _conditions(filters: AuditFilter) -> list[ColumnElement[bool]]:
    paging.check_range(filters.since, filters.until, "since/until")
    found: list[ColumnElement[bool]] = []
    if filters.actions:
        actions = sorted(set(filters.actions))
        found.append(
            AuditEvent.action == actions[0] if len(actions) == 1 else AuditEvent.action.in_(actions)
        )
    for column, value in (
        (AuditEvent.actor, filters.actor),
        (AuditEvent.subject, filters.subject),
        (AuditEvent.client_ip, filters.client_ip),
    ):
        if value is not None:
            found.append(column == value)
    if filters.since is not None:
        found.append(AuditEvent.at >= filters.since)
    if filters.until is not None:
        found.append(AuditEvent.at < filters.until)
    return found


async def events(
    session: AsyncSession,
    filters: AuditFilter = AuditFilter(),
    *,
    limit: int = paging.DEFAULT_LIMIT,
    cursor: str | None = None,
    with_total: bool = False,
) -> paging.Page[AuditEvent]:
    """Audit events matching ``filters``, newest first, one page after ``cursor``."""
    rows, next_cursor, total = await paging.fetch(
        session,
        select(AuditEvent),
        _conditions(filters),
        (AuditEvent.at, AuditEvent.id),
        after=paging.decode(cursor, int),
        limit=paging.check_limit(limit),
        with_total=with_total,
    )
    return paging.Page([row[0] for row in rows], next_cursor, total)
