"""Bigger socket reads while a large upload body streams in.

asyncio's selector transport reads at most 256 KiB per ``recv`` (its ``max_size``). For
a body of many megabytes every read becomes a chunk that the event loop, the writer and
the hash thread each take the GIL for: more, smaller chunks mean more thread hand-offs.
Reading 1 MiB at a time while such a body arrives took 3-10 % less server CPU per GiB
and gave 2-14 % more throughput (median of five runs: 7.5 %) with one PATCH, and 6 % and
37 % in two runs with 8 MiB PATCHes (alternating A/B runs on tmpfs; bench/README.md,
"What was tried"). Each larger read
also reaches the upload as one chunk, where aiohttp joined (copied) several 256 KiB ones.

``max_size`` is an attribute of asyncio's socket transport, not a documented setting:
other transports (TLS, uvloop) are left as they are, and the old value is put back when
the body ends, so small requests on the same connection read as before.

aiohttp's own buffer (``read_bufsize``, 64 KiB) stays small on purpose: it stops reading
the socket once 128 KiB wait, so a client's hang-up is mostly noticed only after the
bytes sent before it were handed to the upload. aiohttp drops a body's buffered bytes
when the connection is lost; ``receive.buffered_body`` takes them back from aiohttp's
private buffer, a fallback that should stay small. With a 1 MiB buffer (and without that
fallback) a PATCH cut early lost everything it had sent.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

BODY_READ_SIZE = 1024 * 1024
_WORTH_IT = 2 * BODY_READ_SIZE  # a shorter body would not make more than a few reads


@contextmanager
def larger_reads(transport: Any, body_length: int | None) -> Iterator[None]:
    """Read ``transport`` in ``BODY_READ_SIZE`` pieces inside the block, if it is asyncio's
    socket transport and the body is long (or of unknown length)."""
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
