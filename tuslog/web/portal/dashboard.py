"""The dashboard: the storage bar, uploads in progress (kept live by a small JSON endpoint
that ``portal-dashboard.js`` polls), recently finished uploads and open tickets."""

from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tuslog.db.models import TicketStatus, Upload
from tuslog.keys import DATABASE, ENGINE, SETTINGS
from tuslog.services import tickets
from tuslog.settings import Settings
from tuslog.uploads import listing
from tuslog.uploads.engine import StorageReport
from tuslog.web.portal.formatting import iso, percent, plain, size
from tuslog.web.portal.guard import LINKS
from tuslog.web.portal.links import Links
from tuslog.web.portal.render import portal_page

ACTIVE_LIMIT = 50
RECENT_LIMIT = 10
FINISHED_STATES = ("verifying", "complete", "verified", "corrupt")
POLL_SECONDS = 2


@dataclass(frozen=True)
class StorageView:
    """The storage as the bar shows it: what is used on the volume (uploads and anything
    else), what unfinished uploads are still promised, the reserve, and what is left.
    ``committed`` (used + promised, of the volume's size) sets the bar's colour."""

    report: StorageReport
    warning: int
    danger: int

    @property
    def committed(self) -> int:
        return percent(self.report.used + self.report.promised, self.report.total)

    @property
    def level(self) -> str:
        if self.committed >= self.danger:
            return "danger"
        return "warning" if self.committed >= self.warning else "ok"

    def segments(self) -> dict[str, int]:
        """Whole percents of the volume for used, promised and reserve (never above 100
        together: promised and reserve are cut to what is free)."""
        total = self.report.total
        used = percent(self.report.used, total)
        promised = min(percent(self.report.promised, total), 100 - used)
        reserve = min(percent(self.report.reserve, total), 100 - used - promised)
        return {"used": used, "promised": promised, "reserve": reserve}

    def as_json(self) -> dict[str, Any]:
        report = self.report
        return {
            "total": report.total,
            "used": report.used,
            "free": report.free,
            "promised": report.promised,
            "reserve": report.reserve,
            "available": report.available,
            "uploads": report.uploads,
            "upload_bytes": report.upload_bytes,
            "committed_percent": self.committed,
            "level": self.level,
            "segments": self.segments(),
            "text": {
                "used": size(report.used),
                "total": size(report.total),
                "free": size(report.free),
                "promised": size(report.promised),
                "reserve": size(report.reserve),
                "available": size(report.available),
            },
        }


async def storage_view(request: web.Request) -> StorageView:
    settings: Settings = request.config_dict[SETTINGS]
    report = await request.config_dict[ENGINE].storage_report()
    return StorageView(report, settings.storage_warning_percent, settings.storage_danger_percent)


def upload_json(upload: Upload, ticket: str, links: Links) -> dict[str, Any]:
    return {
        "id": upload.id,
        "ticket": ticket,
        "ticket_url": links("tickets", ticket) if ticket else None,
        "filename": plain(upload.filename) or "(no name)",
        "offset": upload.offset,
        "length": upload.length,
        "state": upload.shown_state,
        "percent": percent(upload.offset, upload.length) if upload.length else None,
        "received": size(upload.offset),
        "size": size(upload.length) if upload.length is not None else None,
        "created_at": iso(upload.created_at),
        "updated_at": iso(upload.updated_at),
    }


async def _active(request: web.Request) -> list[tuple[Upload, str]]:
    async with request.config_dict[DATABASE].session() as session:
        page = await listing.search(
            session, listing.UploadFilter(states=("receiving",)), limit=ACTIVE_LIMIT
        )
    return page.items


async def dashboard(request: web.Request) -> web.StreamResponse:
    async with request.config_dict[DATABASE].session() as session:
        recent = await listing.search(
            session, listing.UploadFilter(states=FINISHED_STATES), limit=RECENT_LIMIT
        )
        open_tickets = await tickets.search(
            session, tickets.TicketFilter(status=TicketStatus.OPEN), limit=1, with_total=True
        )
    settings: Settings = request.config_dict[SETTINGS]
    return portal_page(
        request,
        "dashboard.html",
        nav="dashboard",
        storage=await storage_view(request),
        active=await _active(request),
        active_limit=ACTIVE_LIMIT,
        recent=recent.items,
        open_tickets=open_tickets.total or 0,
        poll_seconds=POLL_SECONDS,
        idle_seconds=int(settings.session_idle_timeout.total_seconds()),
    )


async def activity(request: web.Request) -> web.StreamResponse:
    """What the dashboard polls: uploads in progress and the storage, small and cheap."""
    links = request.app[LINKS]
    active = await _active(request)
    body = {
        "uploads": [upload_json(upload, ticket, links) for upload, ticket in active],
        "storage": (await storage_view(request)).as_json(),
    }
    return web.json_response(body, headers={"Cache-Control": "no-store"})
