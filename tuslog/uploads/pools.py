"""The engine's worker threads, created and closed by whoever runs the engine (the app's
cleanup context, a CLI command): bounded, and named so that a thread dump says who is who.
"""

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")

WRITE_THREADS = 8
HASH_LANES = 4
IO_THREADS = 8


@dataclass
class Pools:
    # Writes of all uploads: a FIFO queue, so a write that waits for the one before it
    # (tuslog.uploads.writes) only ever waits for one that has started.
    writes: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(WRITE_THREADS, "tuslog-write")
    )
    # One thread per lane: an upload always hashes on the same lane, in order.
    hash_lanes: list[ThreadPoolExecutor] = field(
        default_factory=lambda: [
            ThreadPoolExecutor(1, f"tuslog-hash-{n}") for n in range(HASH_LANES)
        ]
    )
    # Background verification: one at a time, never on the threads requests need.
    verify: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(1, "tuslog-verify")
    )
    # Short storage calls: open, size, truncate, delete, free space, reads for downloads.
    io: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(IO_THREADS, "tuslog-io")
    )

    async def run(self, function: Callable[..., T], *args: object) -> T:
        """``function(*args)`` on an I/O thread."""
        return await asyncio.get_running_loop().run_in_executor(self.io, function, *args)

    def shutdown(self) -> None:
        for pool in (self.writes, *self.hash_lanes, self.verify, self.io):
            pool.shutdown(wait=True, cancel_futures=True)
