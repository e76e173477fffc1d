"""Storage figures and status; the audit log."""

from tuslog.api import schemas
from tuslog.api.routing import Call, Operation, Reply
from tuslog.db.models import AuditEvent
from tuslog.services import audit, space
from tuslog.services.apikeys import ADMIN, READ


async def get_storage(call: Call[None, None]) -> Reply:
    report = await call.engine.storage_report()
    threshold = call.settings.storage_low_space
    return Reply(
        schemas.Storage(
            total=report.total,
            used=report.used,
            free=report.free,
            promised=report.promised,
            reserve=report.reserve,
            available=report.available,
            uploads=report.uploads,
            upload_bytes=report.upload_bytes,
            low_space_threshold=threshold,
            status=space.status(report.available, threshold),
        )
    )


def event_out(event: AuditEvent) -> schemas.AuditEvent:
    return schemas.AuditEvent(
        id=event.id,
        at=event.at,
        actor=event.actor,
        action=event.action,
        subject=event.subject,
        client_ip=event.client_ip,
        details=dict(event.details or {}),
    )


async def list_events(call: Call[schemas.AuditQuery, None]) -> Reply:
    query = call.query
    actions = [a.strip() for a in (query.action or "").split(",") if a.strip()]
    filters = audit.AuditFilter(
        actions=actions,
        actor=query.actor,
        subject=query.subject,
        client_ip=query.client_ip,
        since=query.since,
        until=query.until,
    )
    async with call.db.session() as session:
        page = await audit.events(
            session, filters, limit=query.limit, cursor=query.cursor, with_total=query.total
        )
    items = [event_out(event) for event in page.items]
    return Reply(schemas.AuditList(items=items, next_cursor=page.next_cursor, total=page.total))


OPERATIONS = [
    Operation(
        "GET",
        "/storage",
        get_storage,
        "Storage: size, free, promised, reserve, status",
        READ,
        "Storage",
        response=schemas.Storage,
        errors=(401, 403, 429),
    ),
    Operation(
        "GET",
        "/audit-events",
        list_events,
        "List audit events",
        ADMIN,
        "Audit",
        query=schemas.AuditQuery,
        response=schemas.AuditList,
        errors=(401, 403, 422, 429),
        description="Newest first. Every change made over the API names the key and its "
        "owner as the actor: `alice@example.com (API key tlk_abcd2345)`.",
    ),
]
