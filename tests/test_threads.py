"""``tuslog.threads.in_thread``: what ``loop.run_in_executor`` promises, kept."""

import asyncio
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest

from tuslog.threads import in_thread


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    executor = ThreadPoolExecutor(1)
    yield executor
    executor.shutdown(wait=True)


async def test_the_result_and_the_thread(pool: ThreadPoolExecutor) -> None:
    result = await in_thread(pool, lambda a, b: (a + b, threading.current_thread()), 2, 3)
    assert result[0] == 5 and result[1] is not threading.current_thread()


async def test_an_exception_reaches_the_caller(pool: ThreadPoolExecutor) -> None:
    def fail() -> None:
        raise OSError(5, "I/O error")

    with pytest.raises(OSError, match="I/O error"):
        await in_thread(pool, fail)


async def test_stop_iteration_arrives_as_a_runtime_error(pool: ThreadPoolExecutor) -> None:
    """A future refuses StopIteration; the call's must not leave its caller waiting."""

    def stop() -> None:
        raise StopIteration

    with pytest.raises(RuntimeError, match="StopIteration") as caught:
        await asyncio.wait_for(in_thread(pool, stop), 5)
    assert isinstance(caught.value.__cause__, StopIteration)


async def test_cancelled_before_it_starts_the_call_is_dropped(pool: ThreadPoolExecutor) -> None:
    gate, ran = threading.Event(), threading.Event()
    blocker = in_thread(pool, gate.wait, 10)  # the only thread is busy
    queued = in_thread(pool, ran.set)
    queued.cancel()
    gate.set()
    assert await blocker is True
    await in_thread(pool, lambda: None)  # everything queued before it has run
    assert not ran.is_set()


async def test_cancelled_while_it_runs_the_call_ends_and_its_result_is_dropped(
    pool: ThreadPoolExecutor,
) -> None:
    started, gate, ended = threading.Event(), threading.Event(), threading.Event()

    def work() -> int:
        started.set()
        gate.wait(10)
        ended.set()
        return 1

    job = in_thread(pool, work)
    assert await asyncio.to_thread(started.wait, 10)
    job.cancel()
    with pytest.raises(asyncio.CancelledError):
        await job
    gate.set()
    await in_thread(pool, lambda: None)
    await asyncio.sleep(0)  # the dropped result's hand-back runs without an error
    assert ended.is_set() and job.cancelled()


async def test_a_call_the_executor_drops_at_shutdown_cancels_its_caller() -> None:
    """``shutdown(cancel_futures=True)`` (the engine's pools at a stop) drops queued calls:
    their callers must hear of it, not wait forever."""
    pool, gate, ran = ThreadPoolExecutor(1), threading.Event(), threading.Event()
    blocker = in_thread(pool, gate.wait, 10)
    queued = in_thread(pool, ran.set)
    stopping = asyncio.ensure_future(asyncio.to_thread(pool.shutdown, True, cancel_futures=True))
    await asyncio.sleep(0.1)  # the queue is emptied at once; the running call goes on
    gate.set()
    await stopping
    assert await blocker is True
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(queued, 5)
    assert queued.cancelled() and not ran.is_set()


class _Recording(ThreadPoolExecutor):
    """Keeps the concurrent futures of its calls: what the thread itself raised."""

    def __init__(self) -> None:
        super().__init__(1)
        self.submitted: list[Future[Any]] = []

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future = super().submit(fn, *args, **kwargs)
        self.submitted.append(future)
        return future


def test_a_loop_closed_before_the_call_ends_is_no_error() -> None:
    """The thread's hand-back to a closed loop is dropped, not raised in the thread."""
    pool, gate = _Recording(), threading.Event()
    loop = asyncio.new_event_loop()

    async def start() -> None:
        in_thread(pool, gate.wait, 10)

    try:
        loop.run_until_complete(start())
        loop.close()
        gate.set()
        assert pool.submitted[0].exception(timeout=10) is None
    finally:
        pool.shutdown(wait=True)
