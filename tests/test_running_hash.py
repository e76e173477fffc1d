"""The running SHA-256 stays in byte order whichever thread hashes: small feeds are hashed
on the loop only when none of the upload's earlier bytes still wait for its hash lane."""

import asyncio
import hashlib
import threading
from concurrent.futures import ThreadPoolExecutor

from tuslog.uploads.digests import INLINE_HASH, RunningHash


async def _blocked_lane() -> tuple[ThreadPoolExecutor, threading.Event]:
    lane = ThreadPoolExecutor(1)
    gate = threading.Event()
    lane.submit(gate.wait, 10)
    return lane, gate


async def test_a_small_feed_waits_behind_bytes_still_queued() -> None:
    lane, gate = await _blocked_lane()
    running = RunningHash(lane)
    big, small = b"a" * (INLINE_HASH + 1), b"b" * 10
    running.feed([big], len(big))  # queued behind the blocked job
    running.feed([small], len(small))  # must not overtake it
    gate.set()
    assert await running.hexdigest() == hashlib.sha256(big + small).hexdigest()
    assert running.position == len(big) + len(small)
    lane.shutdown()


async def test_a_small_feed_with_nothing_queued_is_hashed_at_once() -> None:
    lane, gate = await _blocked_lane()  # busy with someone else's work
    running = RunningHash(lane)
    running.feed([b"x" * 1000, b"y" * 24], 1024)
    digest = await asyncio.wait_for(running.hexdigest(), 1)  # no wait for the lane
    assert digest == hashlib.sha256(b"x" * 1000 + b"y" * 24).hexdigest()
    gate.set()
    lane.shutdown()


async def test_after_the_lane_caught_up_small_feeds_go_on_in_order() -> None:
    lane = ThreadPoolExecutor(1)
    running, expected = RunningHash(lane), hashlib.sha256()
    for size in (3 * INLINE_HASH, 100, INLINE_HASH, 5 * INLINE_HASH + 3, 1):
        piece = bytes([size % 251]) * size
        running.feed([piece], size)
        expected.update(piece)
        if size == INLINE_HASH:
            await running.settled()
    assert await running.hexdigest() == expected.hexdigest()
    lane.shutdown()
