"""/healthz (the process answers) and /readyz (database, storage, free space)."""

import asyncio

from aiohttp import web
from sqlalchemy import text

from tuslog.keys import DATABASE, ENGINE, SETTINGS


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _database_ok(request: web.Request) -> str | None:
    try:
        async with request.app[DATABASE].engine.connect() as conn:
            await asyncio.wait_for(conn.execute(text("SELECT 1")), timeout=5)
    except Exception as exc:
        return f"database: {type(exc).__name__}"
    return None


async def _storage_ok(request: web.Request) -> list[str]:
    parts = request.app[ENGINE].parts
    problems = []
    try:
        await parts.io(parts.store.probe)
    except OSError as exc:
        problems.append(f"storage: not writable ({exc.strerror})")
    try:
        free = await parts.free_space()
    except OSError as exc:
        problems.append(f"storage: {exc.strerror}")
    else:
        reserve = request.app[SETTINGS].min_free_space
        if free <= reserve:
            problems.append(f"free space: {free} bytes left, reserve is {reserve}")
    return problems


async def readyz(request: web.Request) -> web.Response:
    problems = await _storage_ok(request)
    database = await _database_ok(request)
    if database:
        problems.insert(0, database)
    if problems:
        return web.json_response({"status": "unavailable", "problems": problems}, status=503)
    return web.json_response({"status": "ok"})
