"""The audit log: filter by actor, action, ticket (or any subject) and date; keyset pages."""

from datetime import UTC, date, datetime, time, timedelta

from aiohttp import web

from tuslog import errors
from tuslog.keys import DATABASE
from tuslog.services import audit
from tuslog.web.portal.forms import search_text
from tuslog.web.portal.guard import LINKS
from tuslog.web.portal.render import portal_page

PAGE_SIZE = 50
_LIMIT = 200
# Offered in the action field's suggestions; any other exact action works too.
KNOWN_ACTIONS = (
    "signin",
    "signin.password",
    "signin.failed",
    "signin.locked",
    "signout",
    "sessions.revoked",
    "password.changed",
    "recovery_codes.regenerated",
    "user.created",
    "user.deactivated",
    "user.reactivated",
    "user.2fa_enrolled",
    "user.2fa_reset",
    "user.password_set",
    "ticket.created",
    "ticket.updated",
    "ticket.resolved",
    "ticket.reopened",
    "ticket.deleted",
    "token.issued",
    "token.updated",
    "token.revoked",
    "upload.created",
    "upload.concatenated",
    "upload.completed",
    "upload.verified",
    "upload.corrupt",
    "upload.downloaded",
    "upload.deleted",
    "upload.expired",
    "upload.terminated",
    "apikey.created",
    "apikey.revoked",
    "apikey.failed",
    "webhook.created",
    "webhook.updated",
    "webhook.deleted",
    "webhook.redelivered",
)


def _day(raw: str, field: str) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise errors.INVALID_VALUE(f"{field}: enter a date like 2026-12-01.") from None


def _filters(wanted: dict[str, str]) -> audit.AuditFilter:
    since, until = _day(wanted["from"], "From"), _day(wanted["to"], "To")
    return audit.AuditFilter(
        actions=(wanted["action"],) if wanted["action"] else (),
        actor=wanted["actor"] or None,
        subject=wanted["subject"] or None,
        since=datetime.combine(since, time(), UTC) if since else None,
        until=datetime.combine(until, time(), UTC) + timedelta(days=1) if until else None,
    )


async def audit_log(request: web.Request) -> web.StreamResponse:
    query = request.query
    wanted = {
        key: search_text(query.get(key, ""), _LIMIT)
        for key in ("actor", "action", "subject", "from", "to")
    }
    error = None
    page = None
    async with request.config_dict[DATABASE].session() as session:
        try:
            page = await audit.events(
                session, _filters(wanted), limit=PAGE_SIZE, cursor=query.get("after")
            )
        except errors.TuslogError as exc:
            error = exc.message.replace("since/until: ", "Dates: ")
            if exc.message.startswith("cursor:"):
                error = "That page link is out of date; start again from the first page."
    links = request.app[LINKS]
    next_url = None
    if page is not None and page.next_cursor:
        next_url = links("audit", **wanted, after=page.next_cursor)
    return portal_page(
        request,
        "audit.html",
        status=422 if error else 200,
        nav="audit",
        events=page.items if page is not None else [],
        wanted=wanted,
        error=error,
        actions=KNOWN_ACTIONS,
        filtered=any(wanted.values()),
        next_url=next_url,
        first_url=links("audit", **wanted) if query.get("after") else None,
    )
