"""The audit log: every action that matters, with actor and real client IP."""

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tuslog.db.models import AuditEvent


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
