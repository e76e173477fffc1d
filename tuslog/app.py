"""The app factory: everything is built here (the database, the upload engine, background
jobs), nothing at import time."""

import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

from tuslog.api.app import create_api_app, run_webhook_worker
from tuslog.db.database import Database
from tuslog.db.engine import session_factory
from tuslog.db.models import UserRole
from tuslog.http import ops, uploaders
from tuslog.http.capacity import RequestGate, raise_fd_limit, request_limit
from tuslog.http.client import client_ip_middleware, configured_base_url
from tuslog.http.logs import access_log_middleware, add_request_id, quiet_malformed_requests
from tuslog.http.metrics import serve_metrics
from tuslog.http.ratelimit import FailureLimiter
from tuslog.http.security import add_security_headers
from tuslog.keys import AUTH, DATABASE, ENGINE, LIMITER, SETTINGS
from tuslog.logs import events
from tuslog.services import accounts
from tuslog.services.auth_context import Auth
from tuslog.settings import Settings
from tuslog.storage.filestore import FileStore
from tuslog.storage.locks import UploadLocks
from tuslog.storage.store import Store
from tuslog.tus.app import collection_without_slash, create_tus_app, expect_continue
from tuslog.uploads.engine import UploadEngine
from tuslog.web import mount_web

log = logging.getLogger("tuslog")

# Headroom for aiohttp's own buffering; bodies are streamed, never read whole.
_CLIENT_MAX_SIZE = 1024 * 1024


def _limit_share(settings: Settings) -> int:
    """This worker's share of the failed-token limit: the workers count failures each on
    their own, so together they allow what the setting says (rounded up per worker)."""
    return -(-settings.auth_failure_limit // settings.workers)


def create_app(settings: Settings, store: Store | None = None) -> web.Application:
    """The root app. ``store``: the upload storage (default: a ``FileStore`` on
    TUSLOG_STORAGE_DIR; tests hand in a wrapped one to fake failures)."""
    quiet_malformed_requests()
    events.install()
    fd_limit = raise_fd_limit()
    gate = RequestGate(request_limit(settings.max_connections, fd_limit))
    app = web.Application(
        middlewares=[gate.middleware, client_ip_middleware, access_log_middleware],
        client_max_size=_CLIENT_MAX_SIZE,
        # Bodies are stored exactly as sent: aiohttp must never inflate one (a
        # decompression bomb); tuslog.tus.app refuses encoded bodies with a clear 415.
        handler_args={"auto_decompress": False},
    )
    app[SETTINGS] = settings
    app[LIMITER] = FailureLimiter(
        _limit_share(settings), settings.auth_failure_window.total_seconds()
    )
    app.cleanup_ctx.append(_engine(store or FileStore(settings.storage_dir)))
    app.on_startup.append(_announce_capacity(fd_limit, gate.limit))
    app.cleanup_ctx.append(run_webhook_worker)
    app.on_response_prepare.append(add_security_headers)
    app.on_response_prepare.append(add_request_id)
    app.on_shutdown.append(_stop_receiving)
    app.router.add_get("/healthz", ops.healthz)
    app.router.add_get("/readyz", ops.readyz)
    app.router.add_get("/metrics", serve_metrics)
    uploaders.add_routes(app.router)
    app.router.add_route("*", "/files", collection_without_slash, expect_handler=expect_continue)
    app.add_subapp("/files", create_tus_app())
    mount_web(app)
    app.add_subapp("/api/v1", create_api_app())
    return app


async def freeze_startup_objects(app: web.Application) -> None:
    """Move what start-up made (modules, routes, templates, the engine) out of the
    garbage collector's sight: a full collection then walks only what requests create.
    With 1,000-3,000 open uploads, full collections of everything took 50-140 ms each,
    a pause every request waited out. ``tuslog serve`` adds it last to each worker's
    start-up; tests that build many apps in one process do not (frozen garbage stays)."""
    gc.collect()
    gc.freeze()


def _engine(store: Store) -> Callable[[web.Application], AsyncIterator[None]]:
    async def run(app: web.Application) -> AsyncIterator[None]:
        settings = app[SETTINGS]
        database = Database(settings.database_url)
        locks = UploadLocks(settings.storage_dir / ".locks", settings.lock_release_timeout)
        engine = UploadEngine.build(settings, database, store, locks)
        app[DATABASE], app[ENGINE] = database, engine
        app[AUTH] = Auth(session_factory(database.engine), settings)
        await _tell_the_operator(app)
        try:
            async with engine.running(background=True):
                yield
        finally:
            await database.dispose()

    return run


def _announce_capacity(fd_limit: int, limit: int) -> Callable[[web.Application], Awaitable[None]]:
    async def announce(app: web.Application) -> None:
        log.info("open files allowed: %d; requests taken at once: %d", fd_limit, limit)

    return announce


async def _tell_the_operator(app: web.Application) -> None:
    """What a fresh install needs to hear at start: secrets stored in the clear, and how
    to create the first administrator."""
    settings = app[SETTINGS]
    if not settings.totp_keys:
        log.warning("TOTP secrets are stored unencrypted; set TUSLOG_TOTP_KEYS")
    try:
        async with app[AUTH].sessions() as session:
            users = await accounts.list_users(session)
    except Exception:  # the portal says so itself; serving uploads must not stop here
        log.exception("could not look for an administrator account")
        return
    if not any(user.active and user.role is UserRole.ADMIN for user in users):
        log.warning(
            "no active administrator yet: create the first one with "
            "`tuslog user create EMAIL --admin` (it asks for a password), then sign in at "
            "%s/staff/ with it and an authenticator app",
            configured_base_url(settings, warn=False),
        )


async def _stop_receiving(app: web.Application) -> None:
    """On shutdown, open PATCHes save what they have and answer instead of being cut."""
    app[ENGINE].parts.locks.release_all()
