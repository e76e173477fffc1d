"""A request body as the upload engine's byte source (``tuslog.uploads.source``)."""

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aiohttp import StreamReader, web

from tuslog.http.aio import StopReading, buffered_body, larger_reads
from tuslog.uploads.source import SourceStopped, Stop


class RequestBody:
    def __init__(self, content: StreamReader, length: int | None, transport: Any) -> None:
        self._content = content
        self._length = length
        self._transport = transport

    @classmethod
    def of(cls, request: web.Request) -> "RequestBody":
        return cls(request.content, request.content_length, request.transport)

    @property
    def length(self) -> int | None:
        return self._length

    async def read(self) -> bytes:
        try:
            return await self._content.readany()
        except StopReading as exc:
            reason = exc.payload if isinstance(exc.payload, Stop) else Stop.IDLE
            raise SourceStopped(reason) from None
        except asyncio.CancelledError:
            raise
        except Exception:  # OSError, EOF, aiohttp payload errors: a cut or malformed body
            raise SourceStopped(Stop.DISCONNECTED) from None

    def interrupt(self, reason: Stop) -> None:
        if self._content.exception() is None:
            self._content.set_exception(StopReading(reason.value, reason))

    def leftover(self) -> list[bytes]:
        return buffered_body(self._content)

    @contextmanager
    def reading(self) -> Iterator["RequestBody"]:
        """Read the socket in larger pieces while a long body streams in."""
        with larger_reads(self._transport, self._length):
            yield self
