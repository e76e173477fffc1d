"""Every place tuslog relies on aiohttp's or asyncio's internals, in one module. Each has
a test in ``tests/test_aio_compat.py`` that fails if the library changes under it; each
falls back to plain behaviour when the shape is not what it expects.

1. ``StopReading``: how a running body read is interrupted. It is a ``TimeoutError``
   because aiohttp, draining the unread body after the response, treats that one quietly
   (it lingers, then closes the connection) instead of logging an unhandled exception.
2. ``buffered_body``: body bytes aiohttp had received but not handed over when the
   connection was lost (its private ``StreamReader`` buffer).
3. ``larger_reads``: bigger socket reads while a large body streams in (asyncio's selector
   transport ``max_size``).
4. ``send_continue``: a raw ``100 Continue`` written on the request's writer, once the
   request is known good (aiohttp's own expect handler cannot refuse after checking).

Why 3: asyncio's selector transport reads at most 256 KiB per ``recv``. For a body of many
megabytes every read becomes a chunk that the event loop, the writer and the hash thread
each take the GIL for. Reading 1 MiB at a time took 3-10 % less server CPU per GiB and gave
2-14 % more throughput with one PATCH (median of five A/B runs: 7.5 %; bench/README.md,
"What was tried"); each larger read also reaches the upload as one chunk, where aiohttp
joined (copied) several 256 KiB ones. aiohttp's own buffer (``read_bufsize``, 64 KiB) stays
small on purpose: it stops reading the socket once 128 KiB wait, so a client's hang-up is
mostly noticed only after the bytes sent before it were handed to the upload; with a 1 MiB
buffer (and without ``buffered_body``) a PATCH cut early lost everything it had sent.
"""

from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aiohttp import StreamReader, web

BODY_READ_SIZE = 1024 * 1024
_WORTH_IT = 2 * BODY_READ_SIZE  # a shorter body would not make more than a few reads


class StopReading(TimeoutError):
    """Set as a request body's exception to make its pending read end (see above)."""

    def __init__(self, why: str, payload: object = None) -> None:
        super().__init__(why)
        self.payload = payload


def buffered_body(content: StreamReader) -> list[bytes]:
    """The body bytes aiohttp had received but not yet handed over when the read stopped.

    On a lost connection aiohttp fails the next read even though body bytes wait in its
    buffer (up to one socket read, plus 128 KiB). They arrived in order right after the
    bytes already read. Bytes of a chunked body that aiohttp's parser had not decoded yet
    are lost with the connection; the client sends them again. This reads aiohttp's
    private buffer without changing it; if the buffer does not have the shape and size
    aiohttp reports, nothing is taken."""
    chunks = getattr(content, "_buffer", None)
    offset = getattr(content, "_buffer_offset", 0)
    size = getattr(content, "_size", None)
    if not isinstance(chunks, deque) or not isinstance(offset, int) or not isinstance(size, int):
        return []
    salvaged = [bytes(chunk) for chunk in chunks]
    if salvaged and offset:
        salvaged[0] = salvaged[0][offset:]
    if sum(map(len, salvaged)) != size:
        return []
    return [chunk for chunk in salvaged if chunk]


@contextmanager
def larger_reads(transport: Any, body_length: int | None) -> Iterator[None]:
    """Read ``transport`` in ``BODY_READ_SIZE`` pieces inside the block, if it is asyncio's
    socket transport and the body is long (or of unknown length). ``max_size`` is not a
    documented setting: other transports (TLS, uvloop) are left as they are, and the old
    value is put back when the body ends, so small requests read as before."""
    default = getattr(type(transport), "max_size", None)
    long_body = body_length is None or body_length >= _WORTH_IT
    if not isinstance(default, int) or default >= BODY_READ_SIZE or not long_body:
        yield
        return
    try:
        transport.max_size = BODY_READ_SIZE
    except (AttributeError, TypeError):  # a transport without instance attributes
        yield
        return
    try:
        yield
    finally:
        vars(transport).pop("max_size", None)


async def send_continue(request: web.Request) -> None:
    """Tell an ``Expect: 100-continue`` client to send its body (the caller checked it)."""
    await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    request.writer.output_size = 0  # not part of the response's size in the access log
