"""Every use of aiohttp's and asyncio's internals (``tuslog.http.aio``), each tested
against the real library: these fail if aiohttp or asyncio change under them."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import StreamReader, web
from aiohttp.base_protocol import BaseProtocol

from tests import tus
from tests.conftest import issue_token
from tests.fakes import FaultyStore, data_path
from tuslog.app import create_app
from tuslog.http.aio import (
    BODY_READ_SIZE,
    StopReading,
    buffered_body,
    larger_reads,
    send_continue,
)
from tuslog.settings import Settings

MiB = 1024 * 1024
ASYNCIO_READ_SIZE = 256 * 1024


@pytest.fixture
async def transport() -> AsyncIterator[asyncio.Transport]:
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    yield writer.transport  # type: ignore[misc]
    writer.close()
    server.close()
    await server.wait_closed()


async def test_long_body_reads_bigger_pieces_then_restores(transport: asyncio.Transport) -> None:
    default = transport.max_size  # type: ignore[attr-defined]
    assert default < BODY_READ_SIZE
    with larger_reads(transport, 64 * 1024 * 1024):
        assert transport.max_size == BODY_READ_SIZE  # type: ignore[attr-defined]
    assert transport.max_size == default  # type: ignore[attr-defined]
    assert "max_size" not in vars(transport)


async def test_unknown_length_counts_as_long(transport: asyncio.Transport) -> None:
    with larger_reads(transport, None):
        assert transport.max_size == BODY_READ_SIZE  # type: ignore[attr-defined]


async def test_restored_when_the_body_fails(transport: asyncio.Transport) -> None:
    default = transport.max_size  # type: ignore[attr-defined]
    with pytest.raises(ConnectionResetError), larger_reads(transport, None):
        raise ConnectionResetError
    assert transport.max_size == default  # type: ignore[attr-defined]


async def test_short_body_left_alone(transport: asyncio.Transport) -> None:
    default = transport.max_size  # type: ignore[attr-defined]
    with larger_reads(transport, 100 * 1024):
        assert transport.max_size == default  # type: ignore[attr-defined]


def test_other_transports_left_alone() -> None:
    class Slotted:  # like a C transport (uvloop): a class default, no instance attributes
        __slots__ = ()
        max_size = 256 * 1024

    others = [None, object(), Slotted()]
    bodies_run = []
    for other in others:
        with larger_reads(other, None):  # no error, and the body still runs
            bodies_run.append(other)
    assert bodies_run == others


async def test_a_long_patch_body_is_read_in_larger_pieces_then_reads_return_to_normal(
    aiohttp_client: Any, settings: Settings
) -> None:
    """The storage seam, observed: the connection's socket read size while the body's
    bytes are being written (the writes run while the body streams in)."""
    store = FaultyStore(settings.storage_dir)
    transports: list[Any] = []
    seen: set[int] = set()

    def observed_write(real: Any, data: Any, position: int) -> None:
        seen.add(transports[-1].max_size)
        real(data, position)

    store.intercept("writer.write_at", observed_write)
    app = create_app(settings, store=store)

    @web.middleware
    async def remember_transport(request: web.Request, handler: Any) -> web.StreamResponse:
        transports.append(request.transport)
        return await handler(request)

    app.middlewares.insert(0, remember_transport)
    client = await aiohttp_client(app)
    issued = await issue_token(settings)
    body = bytes(range(256)) * (8 * MiB // 256)
    path = await tus.create_path(client, issued.auth, len(body) + 10)
    assert (await tus.patch(client, path, issued.auth, 0, body)).status == 204
    assert seen == {BODY_READ_SIZE}
    assert transports[-1].max_size == ASYNCIO_READ_SIZE

    seen.clear()  # a short body on the same connection: asyncio's reads
    assert (await tus.patch(client, path, issued.auth, len(body), b"0123456789")).status == 204
    assert seen == {ASYNCIO_READ_SIZE}
    stored = data_path(settings.storage_dir, path[-32:])
    assert stored.read_bytes() == body + b"0123456789"


# --- buffered_body: aiohttp's StreamReader buffer -----------------------------------------------
def _reader() -> StreamReader:
    protocol = BaseProtocol(asyncio.get_running_loop())
    return StreamReader(protocol, 1 << 30, loop=asyncio.get_running_loop())


async def test_buffered_body_takes_back_what_was_not_read_yet() -> None:
    content = _reader()
    for piece in (b"abc", b"defgh", b"ij"):
        content.feed_data(piece)
    assert await content.readexactly(4) == b"abcd"  # leaves an offset into a chunk
    content.set_exception(ConnectionResetError())  # the connection went
    assert b"".join(buffered_body(content)) == b"efghij"
    assert buffered_body(content) != []  # this shape of aiohttp's buffer is what we know


async def test_buffered_body_takes_nothing_from_an_unknown_shape() -> None:
    class Other:
        _buffer = (b"not a deque",)
        _size = 11

    assert buffered_body(Other()) == []  # type: ignore[arg-type]


# --- StopReading: a stopped body drains quietly -------------------------------------------------
async def test_a_stopped_body_is_answered_without_an_error_in_the_log(
    aiohttp_client: Any, caplog: Any
) -> None:
    async def handler(request: web.Request) -> web.Response:
        await request.content.readany()
        request.content.set_exception(StopReading("idle"))
        with pytest.raises(StopReading):
            await request.content.readany()
        return web.Response(status=408, headers={"Connection": "close"})

    app = web.Application()
    app.router.add_patch("/", handler)
    client = await aiohttp_client(app)

    async def slow_body() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b"x" * 65536
            await asyncio.sleep(0.01)

    caplog.set_level("DEBUG", logger="aiohttp")
    response = await client.patch("/", data=slow_body())
    assert response.status == 408
    await asyncio.sleep(0.2)
    errors = [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]
    assert errors == [], [r.getMessage() for r in errors]


# --- send_continue: a raw 100 Continue on the request's writer ----------------------------------
async def test_send_continue_lets_the_client_send_its_body(aiohttp_client: Any) -> None:
    async def expect(request: web.Request) -> None:
        await send_continue(request)

    async def handler(request: web.Request) -> web.Response:
        return web.Response(text=str(len(await request.read())))

    app = web.Application()
    app.router.add_route("PUT", "/", handler, expect_handler=expect)
    client = await aiohttp_client(app)
    reader, writer = await asyncio.open_connection(client.host, client.port)
    try:
        writer.write(
            b"PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
        )
        await writer.drain()
        interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        writer.write(b"hello")
        await writer.drain()
        final = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert final.startswith(b"HTTP/1.1 200")
    finally:
        writer.close()
