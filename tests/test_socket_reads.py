"""Bigger socket reads while a long body streams in, on a real asyncio socket transport."""

import asyncio
from collections.abc import AsyncIterator

import pytest

from tuslog.server.socket_reads import BODY_READ_SIZE, larger_reads


@pytest.fixture
async def transport() -> AsyncIterator[asyncio.Transport]:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
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

    for other in (None, object(), Slotted()):
        with larger_reads(other, None):
            pass
    assert Slotted.max_size == 256 * 1024
