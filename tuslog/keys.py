"""Typed application keys, in one leaf module so that every layer can use them. It imports
no tuslog module at run time (the types are for the type checker only), so importing it
never pulls in a layer."""

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from tuslog.db.database import Database
    from tuslog.http.ratelimit import FailureLimiter
    from tuslog.services.auth_context import Auth
    from tuslog.settings import Settings
    from tuslog.uploads.engine import UploadEngine
    from tuslog.web.assets import Assets

SETTINGS: "web.AppKey[Settings]" = web.AppKey("settings")
DATABASE: "web.AppKey[Database]" = web.AppKey("database")
ENGINE: "web.AppKey[UploadEngine]" = web.AppKey("engine")
LIMITER: "web.AppKey[FailureLimiter]" = web.AppKey("limiter")
ASSETS: "web.AppKey[Assets]" = web.AppKey("assets")
AUTH: "web.AppKey[Auth]" = web.AppKey("auth")
