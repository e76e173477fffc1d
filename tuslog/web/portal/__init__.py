"""The staff portal: a sub-app at ``/staff/`` (Jinja2 pages, server-side sessions, CSRF,
password → TOTP gate). Handlers parse, authorise and render; the work is done by
``tuslog.services`` and the upload engine (``app[ENGINE]``), never by the tus handlers.

Modules: ``routes`` (every route and who may reach it), ``guard`` (the gate: sessions,
cookies, origins, CSRF), ``render`` (page context, headers, error pages), one module of
views per area, ``formatting`` (Jinja filters) and ``forms`` (reading posted values)."""

from aiohttp import web

from tuslog.web.portal.guard import LINKS, guard
from tuslog.web.portal.links import MOUNT, Links
from tuslog.web.portal.render import render_errors
from tuslog.web.portal.routes import add_routes

__all__ = ["MOUNT", "create_portal"]


def create_portal(prefix: str) -> web.Application:
    """``prefix``: the path of TUSLOG_PUBLIC_URL ('' or e.g. ``/tuslog``)."""
    portal = web.Application(middlewares=[render_errors, guard])
    portal[LINKS] = Links(prefix)
    add_routes(portal.router)
    return portal
