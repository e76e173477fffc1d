"""A tiny scripted tus server for the uploader tests that need answers the real server
cannot be made to give on demand (507, 403 on resume, a redirect, a wrong hash, 5xx), or
a server change that is proposed but not made yet (a stream's declared SHA-256).

It follows the server contract closely enough for the uploaders: streamed PATCH bodies
that keep partial bytes, Tuslog-* headers, and one-attempt tokens. ``script`` lets a test
force the status of the next requests per method.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import ssl
import threading
import uuid
from collections import deque
from dataclasses import dataclass, field

from aiohttp import web


@dataclass
class StubUpload:
    token: str
    length: int | None  # None: deferred (creation-defer-length) until a PATCH declares it
    metadata: dict[str, str]
    data: bytearray = field(default_factory=bytearray)
    gone: bool = False
    lie_about_hash: bool = False

    @property
    def state(self) -> str:
        if self.length is None or len(self.data) < self.length:
            return "receiving"
        if self.lie_about_hash:
            return "corrupt"
        if "sha256" not in self.metadata:
            return "complete"
        return "verified" if self.sha256 == self.metadata.get("sha256") else "corrupt"

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass
class Scripted:
    status: int
    body: str = "scripted failure"
    headers: dict[str, str] = field(default_factory=dict)


class StubTusServer:
    """Run with ``start()``; ``base_url`` is then ``http://127.0.0.1:<port>``."""

    def __init__(
        self, ssl_context: ssl.SSLContext | None = None, *, takes_stream_sha256: bool = False
    ) -> None:
        self.ssl_context = ssl_context
        # The server change proposed for streams: a `Tuslog-Sha256` request header on the
        # PATCH that declares a deferred Upload-Length is the declared SHA-256.
        self.takes_stream_sha256 = takes_stream_sha256
        self.declared: list[str] = []  # Tuslog-Sha256 request headers seen
        self.tokens: dict[str, int] = {}  # token -> attempts left
        self.uploads: dict[str, StubUpload] = {}
        self.script: dict[str, deque[Scripted]] = {}
        self.requests: list[tuple[str, str]] = []
        self.corrupt_next_upload = False
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.port = 0

    # -- control ------------------------------------------------------------------------
    def add_token(self, token: str, attempts: int = 1) -> str:
        self.tokens[token] = attempts
        return token

    def push(
        self, method: str, status: int, body: str = "scripted failure", **headers: str
    ) -> None:
        self.script.setdefault(method, deque()).append(Scripted(status, body, headers))

    @property
    def base_url(self) -> str:
        scheme = "https" if self.ssl_context else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    def start(self) -> StubTusServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/files/", self._create)
        app.router.add_route("HEAD", "/files/{id}", self._head)
        app.router.add_patch("/files/{id}", self._patch)
        app.router.add_delete("/files/{id}", self._delete)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self.ssl_context)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    # -- protocol -----------------------------------------------------------------------
    def _scripted(self, request: web.Request) -> web.Response | None:
        self.requests.append((request.method, request.path))
        queue = self.script.get(request.method)
        if not queue:
            return None
        item = queue.popleft()
        return _plain(item.status, item.body, item.headers)

    def _token(self, request: web.Request) -> str | None:
        auth = request.headers.get("Authorization", "")
        return auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None

    def _upload(self, request: web.Request) -> StubUpload | web.Response:
        token = self._token(request)
        if token not in self.tokens:
            return _plain(401, "Upload token missing, unknown, expired, used up or revoked.")
        upload = self.uploads.get(request.match_info["id"])
        if upload is None:
            return _plain(404, "No such upload.")
        if upload.gone:
            return _plain(410, "This upload expired or was terminated; start a new one.")
        if upload.token != token:
            return _plain(403, "This upload belongs to another upload token.")
        return upload

    def _state_headers(self, upload: StubUpload) -> dict[str, str]:
        headers = {
            "Tus-Resumable": "1.0.0",
            "Upload-Offset": str(len(upload.data)),
            "Cache-Control": "no-store",
            "Tuslog-Upload-State": upload.state,
            "Tuslog-Ticket": "4711",
        }
        if upload.length is None:
            headers["Upload-Defer-Length"] = "1"
        else:
            headers["Upload-Length"] = str(upload.length)
        if upload.state != "receiving":
            digest = upload.sha256
            headers["Tuslog-Sha256"] = "0" * 64 if upload.lie_about_hash else digest
        return headers

    async def _create(self, request: web.Request) -> web.StreamResponse:
        if (scripted := self._scripted(request)) is not None:
            return scripted
        token = self._token(request)
        if token is None or self.tokens.get(token, 0) <= 0:
            return _plain(401, "Upload token missing, unknown, expired, used up or revoked.")
        self.tokens[token] -= 1
        metadata = {}
        for pair in request.headers.get("Upload-Metadata", "").split(","):
            key, _, value = pair.strip().partition(" ")
            metadata[key] = base64.b64decode(value).decode()
        upload_id = uuid.uuid4().hex
        deferred = request.headers.get("Upload-Defer-Length") == "1"
        self.uploads[upload_id] = StubUpload(
            token,
            None if deferred else int(request.headers["Upload-Length"]),
            metadata,
            lie_about_hash=self.corrupt_next_upload,
        )
        self.corrupt_next_upload = False
        location = f"{self.base_url}/files/{upload_id}"
        return web.Response(
            status=201,
            headers={"Location": location, "Upload-Offset": "0", "Tus-Resumable": "1.0.0"},
        )

    async def _head(self, request: web.Request) -> web.StreamResponse:
        if (scripted := self._scripted(request)) is not None:
            return scripted
        upload = self._upload(request)
        if isinstance(upload, web.Response):
            return upload
        return web.Response(status=200, headers=self._state_headers(upload))

    async def _patch(self, request: web.Request) -> web.StreamResponse:
        if (scripted := self._scripted(request)) is not None:
            await request.read()
            return scripted
        upload = self._upload(request)
        if isinstance(upload, web.Response):
            return upload
        if request.headers.get("Content-Type") != "application/offset+octet-stream":
            return _plain(415, "PATCH needs Content-Type: application/offset+octet-stream.")
        if int(request.headers.get("Upload-Offset", "-1")) != len(upload.data):
            return _plain(409, "offset mismatch", {"Upload-Offset": str(len(upload.data))})
        if "Upload-Length" in request.headers:
            length = int(request.headers["Upload-Length"])
            if upload.length not in (None, length):
                return _plain(400, "Upload-Length is already set and cannot change.")
            upload.length = length
            if "Tuslog-Sha256" in request.headers:
                self.declared.append(request.headers["Tuslog-Sha256"])
                if self.takes_stream_sha256:
                    upload.metadata["sha256"] = request.headers["Tuslog-Sha256"]
        try:
            async for chunk in request.content.iter_any():
                room = (upload.length if upload.length is not None else 1 << 62) - len(upload.data)
                upload.data += chunk[:room]
        except (OSError, asyncio.CancelledError):
            pass
        return web.Response(status=204, headers=self._state_headers(upload))

    async def _delete(self, request: web.Request) -> web.StreamResponse:
        upload = self._upload(request)
        if isinstance(upload, web.Response):
            return upload
        upload.gone = True
        return web.Response(status=204, headers={"Tus-Resumable": "1.0.0"})


def _plain(status: int, body: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status,
        text=body,
        headers={"Tus-Resumable": "1.0.0", **(headers or {})},
    )
