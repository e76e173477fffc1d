"""Bigger socket reads while a long body streams in, on a real asyncio socket transport,
and in a real PATCH."""

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests import tus
from tests.conftest import issue_token
from tuslog.server.app import create_app
from tuslog.server.socket_reads import BODY_READ_SIZE, larger_reads
from tuslog.settings import Settings
from tuslog.storage.filestore import DataFile, FileStore

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


class _ReadSizeSeenByWrites(FileStore):
    """The storage seam, observed: the connection's socket read size while the body's
    bytes are being written (the writes run while the body streams in)."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.transports: list[Any] = []
        self.seen: set[int] = set()

    def open(self, upload_id: str) -> DataFile:
        return _ObservedFile(self, os.open(self.path(upload_id), os.O_WRONLY))


class _ObservedFile(DataFile):
    def __init__(self, store: _ReadSizeSeenByWrites, fd: int) -> None:
        super().__init__(fd)
        self._store = store

    def write_at(self, data: Any, position: int) -> None:
        self._store.seen.add(self._store.transports[-1].max_size)
        super().write_at(data, position)


async def test_a_long_patch_body_is_read_in_larger_pieces_then_reads_return_to_normal(
    aiohttp_client: Any, settings: Settings
) -> None:
    store = _ReadSizeSeenByWrites(settings.storage_dir)
    app = create_app(settings, store=store)

    @web.middleware
    async def remember_transport(request: web.Request, handler: Any) -> web.StreamResponse:
        store.transports.append(request.transport)
        return await handler(request)

    app.middlewares.insert(0, remember_transport)
    client = await aiohttp_client(app)
    issued = await issue_token(settings)
    body = bytes(range(256)) * (8 * MiB // 256)
    path = await tus.create_path(client, issued.auth, len(body) + 10)
    assert (await tus.patch(client, path, issued.auth, 0, body)).status == 204
    assert store.seen == {BODY_READ_SIZE}
    assert store.transports[-1].max_size == ASYNCIO_READ_SIZE

    store.seen.clear()  # a short body on the same connection: asyncio's reads
    assert (await tus.patch(client, path, issued.auth, len(body), b"0123456789")).status == 204
    assert store.seen == {ASYNCIO_READ_SIZE}
    stored = settings.storage_dir / path[-32:-30] / path[-32:]
    assert stored.read_bytes() == body + b"0123456789"
