"""Typed application keys, in one leaf module so that every layer can import them."""

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tuslog.db.quick import QuickTransactions
from tuslog.server.digests import RunningDigests
from tuslog.server.ratelimit import FailureLimiter
from tuslog.settings import Settings
from tuslog.storage.filestore import FileStore
from tuslog.storage.locks import UploadLocks
from tuslog.verifier import Verifier

SETTINGS = web.AppKey("settings", Settings)
ENGINE = web.AppKey("engine", AsyncEngine)
SESSIONS = web.AppKey("sessions", async_sessionmaker[AsyncSession])
QUICK = web.AppKey("quick", QuickTransactions)
VERIFIER = web.AppKey("verifier", Verifier)
STORE = web.AppKey("store", FileStore)
LOCKS = web.AppKey("locks", UploadLocks)
DIGESTS = web.AppKey("digests", RunningDigests)
LIMITER = web.AppKey("limiter", FailureLimiter)
