"""The app factory: everything is built here, nothing at import time."""

import asyncio
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from tuslog.db.engine import create_engine, session_factory
from tuslog.db.quick import QuickTransactions
from tuslog.janitor import Janitor
from tuslog.keys import (
    DIGESTS,
    ENGINE,
    LIMITER,
    LOCKS,
    QUICK,
    SESSIONS,
    SETTINGS,
    STORE,
    VERIFIER,
)
from tuslog.server import ops, uploaders
from tuslog.server.digests import RunningDigests
from tuslog.server.logs import quiet_malformed_requests
from tuslog.server.net import add_security_headers, client_ip_middleware
from tuslog.server.ratelimit import FailureLimiter
from tuslog.server.tus_app import collection_without_slash, create_tus_app, expect_continue
from tuslog.settings import Settings
from tuslog.storage.filestore import FileStore
from tuslog.storage.locks import UploadLocks
from tuslog.verifier import Verifier
from tuslog.web import mount_web

log = logging.getLogger(__name__)
_JANITOR_STOP_TIMEOUT = 15.0  # seconds a janitor pass under way may take at shutdown
# Headroom for aiohttp's own buffering; bodies are streamed, never read whole.
_CLIENT_MAX_SIZE = 1024 * 1024


def _limit_share(settings: Settings) -> int:
    """This worker's share of the failed-token limit: the workers count failures each on
    their own, so together they allow what the setting says (rounded up per worker)."""
    return -(-settings.auth_failure_limit // settings.workers)


def create_app(settings: Settings, store: FileStore | None = None) -> web.Application:
    quiet_malformed_requests()
    app = web.Application(middlewares=[client_ip_middleware], client_max_size=_CLIENT_MAX_SIZE)
    app[SETTINGS] = settings
    app[STORE] = store or FileStore(settings.storage_dir)
    app[LOCKS] = UploadLocks(app[STORE].lock_dir, settings.lock_release_timeout)
    app[DIGESTS] = RunningDigests()
    app[LIMITER] = FailureLimiter(
        _limit_share(settings), settings.auth_failure_window.total_seconds()
    )
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(_verifier)
    app.cleanup_ctx.append(_janitor)
    app.on_response_prepare.append(add_security_headers)
    app.on_shutdown.append(_stop_receiving)
    app.on_cleanup.append(_stop_hash_lanes)
    app.router.add_get("/healthz", ops.healthz)
    app.router.add_get("/readyz", ops.readyz)
    uploaders.add_routes(app.router)
    app.router.add_route("*", "/files", collection_without_slash, expect_handler=expect_continue)
    app.add_subapp("/files", create_tus_app())
    mount_web(app)
    return app


async def _stop_receiving(app: web.Application) -> None:
    """On shutdown, open PATCHes save what they have and answer instead of being cut."""
    app[LOCKS].release_all()


async def _stop_hash_lanes(app: web.Application) -> None:
    app[DIGESTS].shutdown()


async def _database(app: web.Application) -> AsyncIterator[None]:
    app[STORE].prepare()
    engine = create_engine(app[SETTINGS].database_url)
    app[ENGINE] = engine
    app[SESSIONS] = session_factory(engine)
    app[QUICK] = QuickTransactions(engine)
    yield
    await asyncio.to_thread(app[QUICK].dispose)
    await engine.dispose()


async def _verifier(app: web.Application) -> AsyncIterator[None]:
    app[VERIFIER] = Verifier(app[SESSIONS], app[STORE], app[LOCKS])
    yield
    await app[VERIFIER].stop()


async def _janitor(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    janitor = Janitor(
        app[SESSIONS], app[STORE], app[LOCKS], settings.janitor_interval, app[VERIFIER]
    )
    stopping = asyncio.Event()
    task = asyncio.create_task(janitor.run_forever(stopping))
    yield
    stopping.set()
    try:
        await asyncio.wait_for(task, _JANITOR_STOP_TIMEOUT)  # a pass under way ends first
    except TimeoutError:
        log.warning("janitor pass still running at shutdown; cancelled")
