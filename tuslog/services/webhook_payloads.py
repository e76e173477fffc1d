"""What a webhook says (the JSON body), built when the worker dispatches an event:

    {"type": "upload.completed", "timestamp": "2026-12-05T09:30:00Z",
     "data": {"ticket": "SR-1234", "upload": {…}, "details": {…}}}

``data.ticket`` is the ticket number when the event happened; ``data.upload`` the
upload with the state the event means (its other fields as they are when the event is
dispatched, usually within a second); ``data.details`` what the audit event recorded
(e.g. the SHA-256). Never a token.
"""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tuslog.db.models import Upload, WebhookEvent


def rfc3339(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def upload_data(upload: Upload) -> dict[str, Any]:
    return {
        "id": upload.id,
        "filename": upload.filename,
        "state": upload.shown_state,
        "length": upload.length,
        "offset": upload.offset,
        "declared_sha256": upload.declared_sha256,
        "sha256": upload.sha256,
        "client_ip": upload.client_ip,
        "created_at": rfc3339(upload.created_at),
        "completed_at": rfc3339(upload.completed_at),
        "content_url": f"/api/v1/uploads/{upload.id}/content" if upload.state.finished else None,
    }


async def build(session: AsyncSession, event: WebhookEvent) -> dict[str, Any]:
    details = dict(event.details or {})
    data: dict[str, Any]
    if event.type == "storage.low":
        data = {"status": event.subject, **details}
    else:
        data = {"ticket": event.ticket, "details": details}
        if event.upload_id is not None:
            upload = await session.get(Upload, event.upload_id)
            data["upload"] = upload_data(upload) if upload is not None else {"id": event.upload_id}
            data["upload"]["state"] = details.pop("state", data["upload"].get("state"))
    return {"type": event.type, "timestamp": rfc3339(event.at), "data": data}
