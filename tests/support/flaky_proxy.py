"""A loopback TCP proxy that misbehaves like a customer's VPN, for end-to-end upload tests.

Modes (counted on client→server bytes, across connections, so "every few MB of upload"):

- ``pass``  forwards everything (optionally rate-limited);
- ``cut``   aborts both sides of the connection after every ``every`` bytes (a random
            amount within the range), like a VPN that drops;
- ``stall`` stops forwarding in both directions after every ``every`` bytes *without*
            closing anything, like a dead NAT mapping: only the client's own timeout
            gets it out. The stalled sockets are closed after ``stall_hold`` seconds.

It listens on 127.0.0.1 only, accepts at most ``max_connections`` connections in its
life, and shuts itself down after ``lifetime`` seconds, so a broken test cannot leave it
running. Use as a context manager, or ``start()``/``stop()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
from dataclasses import dataclass, field
from typing import Literal

Mode = Literal["pass", "cut", "stall"]
_READ = 256 * 1024


@dataclass
class ProxyStats:
    connections: int = 0
    cuts: int = 0
    stalls: int = 0
    bytes_up: int = 0
    bytes_down: int = 0
    refused: int = 0


@dataclass(eq=False)
class _Conn:
    writers: list[asyncio.StreamWriter] = field(default_factory=list)
    stalled: asyncio.Event = field(default_factory=asyncio.Event)
    closed: bool = False

    def abort(self) -> None:
        self.closed = True
        for writer in self.writers:
            with contextlib.suppress(Exception):
                writer.transport.abort()


class FlakyProxy:
    def __init__(
        self,
        upstream_port: int,
        *,
        mode: Mode = "pass",
        every: tuple[int, int] = (3 << 20, 6 << 20),
        stall_hold: float = 30.0,
        rate: int | None = None,
        seed: int = 1,
        upstream_host: str = "127.0.0.1",
        max_connections: int = 5000,
        lifetime: float = 900.0,
    ) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.mode: Mode = mode
        self.every = every
        self.stall_hold = stall_hold
        self.rate = rate
        self.max_connections = max_connections
        self.lifetime = lifetime
        self.stats = ProxyStats()
        self.port = 0
        self._rng = random.Random(seed)
        self._remaining = self._draw()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.base_events.Server | None = None
        self._conns: set[_Conn] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._shutdown: asyncio.Event | None = None

    # -- lifecycle ----------------------------------------------------------------------
    def start(self) -> FlakyProxy:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def __enter__(self) -> FlakyProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def set_mode(self, mode: Mode) -> None:
        """Switch behaviour for the following bytes (thread-safe enough for tests)."""
        self.mode = mode

    async def _start(self) -> None:
        self._shutdown = asyncio.Event()
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        self._loop.call_later(self.lifetime, lambda: self._loop.create_task(self._stop()))

    async def _stop(self) -> None:
        if self._shutdown is not None:
            self._shutdown.set()
        if self._server is not None:
            self._server.close()
        for conn in list(self._conns):
            conn.abort()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- forwarding ---------------------------------------------------------------------
    def _draw(self) -> int:
        low, high = self.every
        return self._rng.randint(low, high)

    async def _handle(self, creader: asyncio.StreamReader, cwriter: asyncio.StreamWriter) -> None:
        conn = _Conn(writers=[cwriter])
        if self.stats.connections >= self.max_connections or (
            self._shutdown is not None and self._shutdown.is_set()
        ):
            self.stats.refused += 1
            conn.abort()
            return
        self.stats.connections += 1
        try:
            sreader, swriter = await asyncio.open_connection(*self.upstream)
        except OSError:
            conn.abort()
            return
        conn.writers.append(swriter)
        self._conns.add(conn)
        up = asyncio.create_task(self._pump(creader, swriter, conn, upstream=True))
        down = asyncio.create_task(self._pump(sreader, cwriter, conn, upstream=False))
        self._tasks.update((up, down))
        try:
            await asyncio.wait({up, down}, return_when=asyncio.ALL_COMPLETED)
        finally:
            self._tasks.difference_update((up, down))
            self._conns.discard(conn)
            conn.abort()

    async def _pump(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        conn: _Conn,
        *,
        upstream: bool,
    ) -> None:
        try:
            while not conn.closed:
                if conn.stalled.is_set():
                    await self._hold(conn)
                    return
                data = await reader.read(_READ)
                if not data:
                    with contextlib.suppress(Exception):
                        writer.write_eof()
                    return
                if conn.stalled.is_set():
                    await self._hold(conn)
                    return
                if upstream and self.mode in ("cut", "stall") and len(data) >= self._remaining:
                    head = data[: self._remaining]
                    writer.write(head)
                    self.stats.bytes_up += len(head)
                    with contextlib.suppress(Exception):
                        await writer.drain()
                    self._remaining = self._draw()
                    if self.mode == "cut":
                        self.stats.cuts += 1
                        conn.abort()
                        return
                    self.stats.stalls += 1
                    conn.stalled.set()
                    await self._hold(conn)
                    return
                if upstream:
                    if self.mode in ("cut", "stall"):
                        self._remaining -= len(data)
                    self.stats.bytes_up += len(data)
                else:
                    self.stats.bytes_down += len(data)
                writer.write(data)
                await writer.drain()
                if upstream and self.rate:
                    await asyncio.sleep(len(data) / self.rate)
        except (OSError, asyncio.IncompleteReadError):
            conn.abort()

    async def _hold(self, conn: _Conn) -> None:
        """A stalled connection: read nothing, write nothing, close nothing until the hold
        time is over (or the proxy stops)."""
        assert self._shutdown is not None
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._shutdown.wait(), self.stall_hold)
        conn.abort()
