"""Lifecycle events (upload created, completed, verified, corrupt, expired, deleted; token
revoked; user signed in; ...) as log lines of their own, and the upload counters of
``tuslog.metrics``, both taken from the audit log when its rows are committed.

Every such event is already recorded by ``tuslog.services.audit.record`` inside the
transaction that makes it true, so hooking the commit gives each event exactly once, only
if it really happened (a rolled-back transaction logs nothing), with no call in the
engine. Audit details hold no secrets (token prefixes, never tokens)."""

import logging
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, UOWTransaction

from tuslog import metrics
from tuslog.db.models import AuditEvent

log = logging.getLogger("tuslog.events")
_PENDING = "tuslog_pending_events"
_ENDED = {"upload.expired": "expired", "upload.terminated": "terminated"}
_ENDED_BY_STAFF = "upload.deleted"


def _collect(session: Session, _flush: UOWTransaction) -> None:
    added = [row for row in session.new if isinstance(row, AuditEvent)]
    if added:
        session.info.setdefault(_PENDING, []).extend(added)


def _emit(session: Session) -> None:
    for row in session.info.pop(_PENDING, []):
        announce(row.action, row.actor, row.subject, row.client_ip, dict(row.details or {}))


def _drop(session: Session, previous: Any) -> None:
    if not getattr(previous, "nested", False):  # a savepoint's rollback keeps the rest
        session.info.pop(_PENDING, None)


def announce(
    action: str, actor: str, subject: str, client_ip: str | None, details: dict[str, Any]
) -> None:
    """One line per event, and the upload counters."""
    extra = {"event": action, "actor": actor, "subject": subject, "client_ip": client_ip}
    extra.update({f"detail_{key}": value for key, value in details.items()})
    shown = " ".join(f"{key}={value}" for key, value in details.items())
    log.info(
        "%s %s by %s from %s%s",
        action,
        subject,
        actor,
        client_ip or "-",
        f" ({shown})" if shown else "",
        extra=extra,
    )
    _count(action, details)


def _count(action: str, details: dict[str, Any]) -> None:
    instruments = metrics.get()
    if action == "upload.created":
        instruments.created.inc()
    elif action in ("upload.completed", "upload.verified", "upload.corrupt"):
        # Every finished upload is completed; verified and corrupt ones also count as such
        # (the audit action says which, and so does its state detail).
        instruments.completed.inc()
        state = details.get("state")
        if action == "upload.corrupt" or state == "corrupt":
            instruments.corrupt.inc()
        elif action == "upload.verified" or state == "verified":
            instruments.verified.inc()
    elif action in _ENDED:
        instruments.ended.labels(_ENDED[action]).inc()
    elif action == _ENDED_BY_STAFF:
        instruments.ended.labels("deleted").inc()


def install() -> None:
    """Hook every ORM session of this process (idempotent)."""
    if event.contains(Session, "after_flush", _collect):
        return
    event.listen(Session, "after_flush", _collect)
    event.listen(Session, "after_commit", _emit)
    event.listen(Session, "after_soft_rollback", _drop)
