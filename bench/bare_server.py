"""Baseline: the least an aiohttp server can do to take an upload — stream each request
body chunk straight into a file (no fsync, no hashing, no database, no locks, no thread).
With ``--sha256`` it also feeds every chunk to a SHA-256 (on the event loop), the one piece
of work tuslog cannot skip: the gap between the two baselines is the price of integrity.
The hash runs over the whole upload, continued from PATCH to PATCH (kept in memory, per
upload, until the last byte). With ``--fdatasync`` each PATCH is also made durable
(``os.fdatasync``, in a thread) before its offset is answered, as tuslog must: the durable
hashing handler that bench/peers.py compares tuslog with.

It speaks just enough tus for bench/bench_client.py (POST → 201 Location, PATCH at an
offset → 204 Upload-Offset), so both servers are driven by the very same client.

    python bench/bare_server.py --port 8099 --dir /dev/shm/bare [--sha256] [--fdatasync]
"""

import argparse
import asyncio
import hashlib
import os
import secrets
from pathlib import Path
from typing import Any

from aiohttp import web

DIR = web.AppKey("dir", Path)
SHA256 = web.AppKey("sha256", bool)
FDATASYNC = web.AppKey("fdatasync", bool)
# upload id -> [declared length, running SHA-256] while an upload is unfinished
HASHES = web.AppKey("hashes", dict)


async def create(request: web.Request) -> web.Response:
    upload_id = secrets.token_hex(16)
    (request.app[DIR] / upload_id).touch()
    if request.app[SHA256]:
        length = int(request.headers.get("Upload-Length", "-1"))
        request.app[HASHES][upload_id] = [length, hashlib.sha256()]
    return web.Response(status=201, headers={"Location": f"/files/{upload_id}"})


async def patch(request: web.Request) -> web.Response:
    upload_id = request.match_info["upload_id"]
    path = request.app[DIR] / upload_id
    offset = int(request.headers["Upload-Offset"])
    state: list[Any] | None = request.app[HASHES].get(upload_id)
    digest = state[1] if state is not None else None
    fd = os.open(path, os.O_WRONLY)
    try:
        os.lseek(fd, offset, os.SEEK_SET)
        async for chunk in request.content.iter_any():
            if digest is not None:
                digest.update(chunk)
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view) :]
            offset += len(chunk)
        if request.app[FDATASYNC]:
            await asyncio.to_thread(os.fdatasync, fd)
    finally:
        os.close(fd)
    headers = {"Upload-Offset": str(offset)}
    if state is not None and offset == state[0]:
        headers["Bare-Sha256"] = request.app[HASHES].pop(upload_id)[1].hexdigest()
    return web.Response(status=204, headers=headers)


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", type=Path, required=True, help="where bodies are written")
    parser.add_argument("--sha256", action="store_true", help="also hash every upload")
    parser.add_argument("--fdatasync", action="store_true", help="fdatasync every PATCH")
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    app = web.Application()
    app[DIR] = args.dir
    app[SHA256] = args.sha256
    app[FDATASYNC] = args.fdatasync
    app[HASHES] = {}
    app.router.add_post("/files/", create)
    app.router.add_patch("/files/{upload_id}", patch)
    app.router.add_get("/healthz", healthz)
    web.run_app(app, host=args.host, port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
