"""Browser pages: the customer's upload page and the staff portal.

``mount_web(app)`` adds the routes to the root app: ``GET /upload``,
``GET /static/<content-hash>/<name>``, and the staff portal as a sub-app at ``/staff/``
(``/`` and ``/staff`` lead there). Call it after ``app[SETTINGS]`` is set."""

import aiohttp_jinja2
import jinja2
from aiohttp import web

from tuslog.keys import ASSETS, SETTINGS
from tuslog.web.assets import DIGEST_LENGTH, load_assets, serve_asset
from tuslog.web.pages import upload_page, upload_page_slash, url_prefix
from tuslog.web.portal import MOUNT, create_portal, formatting

__all__ = ["mount_web"]


def mount_web(app: web.Application) -> None:
    prefix = url_prefix(app[SETTINGS].public_url)
    assets = load_assets(prefix)
    app[ASSETS] = assets
    environment = aiohttp_jinja2.setup(
        app,
        loader=jinja2.PackageLoader("tuslog.web", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,  # a typo in a template fails its test, not silently
        default_helpers=False,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,  # templates ship with the package: no stat() of each per page
    )
    environment.globals["static_url"] = assets.url
    environment.globals["has_static"] = assets.has
    formatting.install(environment)
    app.router.add_get("/upload", upload_page)
    app.router.add_get("/upload/", upload_page_slash)
    app.router.add_get(f"/static/{{digest:[0-9a-f]{{{DIGEST_LENGTH}}}}}/{{name:.+}}", serve_asset)

    async def to_portal(request: web.Request) -> web.Response:
        raise web.HTTPFound(f"{prefix}{MOUNT}/")

    app.router.add_get("/", to_portal)
    app.router.add_get(MOUNT, to_portal)
    app.add_subapp(MOUNT, create_portal(prefix))
