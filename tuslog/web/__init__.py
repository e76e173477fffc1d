"""Browser pages: the customer's upload page now, the staff portal later.

``mount_web(app)`` adds the routes to the root app: ``GET /upload`` and
``GET /static/<content-hash>/<name>``. Call it after ``app[SETTINGS]`` is set."""

import aiohttp_jinja2
import jinja2
from aiohttp import web

from tuslog.keys import ASSETS, SETTINGS
from tuslog.web.assets import DIGEST_LENGTH, load_assets, serve_asset
from tuslog.web.pages import upload_page, upload_page_slash, url_prefix

__all__ = ["mount_web"]


def mount_web(app: web.Application) -> None:
    assets = load_assets(url_prefix(app[SETTINGS].public_url))
    app[ASSETS] = assets
    environment = aiohttp_jinja2.setup(
        app,
        loader=jinja2.PackageLoader("tuslog.web", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,  # a typo in a template fails its test, not silently
        default_helpers=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.globals["static_url"] = assets.url
    environment.globals["has_static"] = assets.has
    app.router.add_get("/upload", upload_page)
    app.router.add_get("/upload/", upload_page_slash)
    app.router.add_get(f"/static/{{digest:[0-9a-f]{{{DIGEST_LENGTH}}}}}/{{name:.+}}", serve_asset)
