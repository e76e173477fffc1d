"""A small, cheap tus client for the benchmarks: raw asyncio sockets, HTTP/1.1 keep-alive,
bodies sent as memoryview slices of one preallocated random buffer (no per-byte Python work,
no copies in user space). The same client drives tuslog and the bare baseline server.
"""

import asyncio
import os
import socket
import time
from dataclasses import dataclass

RECV_SIZE = 64 * 1024


class UploadError(Exception):
    pass


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


class Payload:
    """``size`` bytes of random data, repeated to make bodies of any length."""

    def __init__(self, size: int) -> None:
        self.view = memoryview(os.urandom(size))


class Connection:
    def __init__(self, host: str, port: int, token: str | None) -> None:
        self.host = host
        self.port = port
        self.token = token
        self._sock: socket.socket | None = None
        self._pending = b""

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        await loop.sock_connect(sock, (self.host, self.port))
        self._sock = sock

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    async def request(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        body: list[memoryview] | None = None,
    ) -> Response:
        if self._sock is None:
            await self.open()
        assert self._sock is not None
        loop = asyncio.get_running_loop()
        length = sum(len(part) for part in body) if body else 0
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        merged = {"Tus-Resumable": "1.0.0", "Content-Length": str(length), **headers}
        if self.token:
            merged["Authorization"] = f"Bearer {self.token}"
        lines += [f"{name}: {value}" for name, value in merged.items()]
        await loop.sock_sendall(self._sock, ("\r\n".join(lines) + "\r\n\r\n").encode())
        for part in body or []:
            await loop.sock_sendall(self._sock, part)
        return await self._read_response(head_only=method == "HEAD")

    async def _read_response(self, head_only: bool = False) -> Response:
        assert self._sock is not None
        data = await self._recv_until(self._pending, b"\r\n\r\n")
        head, _, rest = data.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if head_only or status in (204, 304):
            body, self._pending = b"", rest
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            body, self._pending = await self._read_chunked(rest)
        else:
            size = int(headers.get("content-length", "0"))
            rest = await self._recv_at_least(rest, size)
            body, self._pending = rest[:size], rest[size:]
        if headers.get("connection", "").lower() == "close":
            self.close()
        return Response(status, headers, body)

    async def _read_chunked(self, data: bytes) -> tuple[bytes, bytes]:
        """A chunked body (Node's answers have one): the body and what follows it."""
        body = b""
        while True:
            data = await self._recv_until(data, b"\r\n")
            line, _, data = data.partition(b"\r\n")
            size = int(line.split(b";", 1)[0], 16)
            if size == 0:
                data = await self._recv_until(data, b"\r\n")  # no trailers are sent
                return body, data.partition(b"\r\n")[2]
            data = await self._recv_at_least(data, size + 2)
            body += data[:size]
            data = data[size + 2 :]

    async def _recv_until(self, data: bytes, marker: bytes) -> bytes:
        while marker not in data:
            data += await self._recv()
        return data

    async def _recv_at_least(self, data: bytes, size: int) -> bytes:
        while len(data) < size:
            data += await self._recv()
        return data

    async def _recv(self) -> bytes:
        assert self._sock is not None
        chunk = await asyncio.get_running_loop().sock_recv(self._sock, RECV_SIZE)
        if not chunk:
            raise UploadError("connection closed before the end of a response")
        return chunk


@dataclass
class Upload:
    upload_id: str
    seconds: float
    requests: int
    last_headers: dict[str, str]


async def upload(
    host: str,
    port: int,
    token: str | None,
    payload: Payload,
    length: int,
    patch_size: int | None = None,
    create_headers: dict[str, str] | None = None,
) -> Upload:
    """POST then PATCH ``length`` bytes (in one request, or in ``patch_size`` requests) on
    one keep-alive connection; the time covers everything up to the last response.
    ``create_headers`` are added to the POST (e.g. ``Upload-Metadata``)."""
    conn = Connection(host, port, token)
    started = time.perf_counter()
    try:
        created = await conn.request(
            "POST", "/files/", {"Upload-Length": str(length), **(create_headers or {})}
        )
        if created.status != 201:
            raise UploadError(f"POST: {created.status} {created.body[:200]!r}")
        location = created.headers["location"]
        path = location[location.index("/files/") :]
        offset = 0
        requests = 1
        answer = created
        step = patch_size or length
        while offset < length:
            size = min(step, length - offset)
            body = _window(payload, offset, size)
            answer = await conn.request(
                "PATCH",
                path,
                {
                    "Content-Type": "application/offset+octet-stream",
                    "Upload-Offset": str(offset),
                },
                body,
            )
            requests += 1
            if answer.status != 204:
                raise UploadError(f"PATCH: {answer.status} {answer.body[:200]!r}")
            offset = int(answer.headers["upload-offset"])
    finally:
        conn.close()
    return Upload(path.rsplit("/", 1)[1], time.perf_counter() - started, requests, answer.headers)


def _window(payload: Payload, offset: int, size: int) -> list[memoryview]:
    """The bytes ``offset .. offset+size`` of the endless repetition of ``payload``."""
    view = payload.view
    start = offset % len(view)
    parts = []
    while size > 0:
        take = min(size, len(view) - start)
        parts.append(view[start : start + take])
        size -= take
        start = 0
    return parts
