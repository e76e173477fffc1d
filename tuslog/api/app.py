"""The REST API sub-app, mounted at /api/v1/ by ``tuslog.app``."""

import asyncio
import json
from collections.abc import AsyncIterator

from aiohttp import web

from tuslog.api import docs, openapi, routing, storage, tickets, tokens, uploads, webhooks
from tuslog.api.routing import Call, Operation
from tuslog.http.webhook_client import WebhookClient
from tuslog.keys import DATABASE, ENGINE, SETTINGS
from tuslog.services.webhook_delivery import WebhookWorker


async def openapi_json(call: Call[None, None]) -> web.Response:
    return web.json_response(openapi.document(), headers={"Cache-Control": "no-cache"})


async def reference(call: Call[None, None]) -> web.Response:
    page = docs.render(json.dumps(openapi.document()))
    return web.Response(
        text=page,
        content_type="text/html",
        charset="utf-8",
        headers={"Content-Security-Policy": docs.CSP, "Cache-Control": "no-cache"},
    )


OPERATIONS: list[Operation] = [
    Operation(
        "GET",
        "/openapi.json",
        openapi_json,
        "This API's OpenAPI 3.1 document",
        None,
        "Reference",
        content={"200": "The document."},
        media="application/json",
    ),
    Operation(
        "GET",
        "/docs",
        reference,
        "This API's reference, for people",
        None,
        "Reference",
        content={"200": "The reference page."},
        media="text/html",
    ),
    *tickets.OPERATIONS,
    *tokens.OPERATIONS,
    *uploads.OPERATIONS,
    *storage.OPERATIONS,
    *webhooks.OPERATIONS,
]


def create_api_app() -> web.Application:
    app = web.Application(middlewares=[routing.problem_middleware])
    for operation in OPERATIONS:
        handler = routing.bind(operation)
        app.router.add_route(operation.method, operation.path, handler)
        if operation.content is not None:  # downloads answer HEAD too
            app.router.add_route("HEAD", operation.path, handler)
    return app


async def run_webhook_worker(app: web.Application) -> AsyncIterator[None]:
    """The webhook worker, beside the engine (the app's cleanup context after it); only
    the holder of the database lease sends, so one is active across workers."""
    engine = app[ENGINE]
    async with WebhookClient(app[SETTINGS]) as client:
        worker = WebhookWorker(app[DATABASE], app[SETTINGS], engine.storage_report, client)
        stopping = asyncio.Event()
        task = asyncio.create_task(worker.run_forever(stopping))
        try:
            yield
        finally:
            stopping.set()
            await task
