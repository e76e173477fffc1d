"""A call on a worker thread, awaited on the event loop: ``loop.run_in_executor`` with a
cheaper way back.

``run_in_executor`` returns an asyncio future chained to the executor's
``concurrent.futures.Future``: when the call ends, the thread schedules a callback on the
loop, which copies the concurrent future's state, taking its lock four times (done,
cancelled, exception, result). ``in_thread`` has the thread hand its result to the loop
directly, in one ``call_soon_threadsafe``. Several such hand-offs make up every PATCH
(the look-up, the re-read under the lock, the offset record), so the loop's share of each
counts (``bench/README.md``, "What the fourth round changed").
"""

import asyncio
import contextlib
import functools
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any, TypeVar

T = TypeVar("T")


def in_thread(executor: Executor, function: Callable[..., T], *args: Any) -> "asyncio.Future[T]":
    """``function(*args)`` on one of ``executor``'s threads, as a future of the running
    loop. As with ``run_in_executor``: cancelled before the thread starts it, the call is
    dropped; once started, it runs to its end and its outcome is dropped; dropped by the
    executor's shutdown, the future is cancelled."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def run() -> None:
        if future.cancelled():  # a plain read of the future's state, as run_in_executor's
            return
        try:
            result = function(*args)
        except BaseException as exc:  # handed to the awaiting task, which re-raises it
            _hand_back(loop, _fail, future, exc)
        else:
            _hand_back(loop, _succeed, future, result)

    job = executor.submit(run)
    job.add_done_callback(functools.partial(_dropped, loop, future))
    return future


def _dropped(
    loop: asyncio.AbstractEventLoop, future: "asyncio.Future[Any]", job: "Future[None]"
) -> None:
    """An executor shut down with ``cancel_futures`` drops the calls it had not started:
    their callers are cancelled, as with ``run_in_executor``, instead of waiting forever."""
    if job.cancelled():
        _hand_back(loop, _cancel, future, None)


def _hand_back(
    loop: asyncio.AbstractEventLoop,
    setter: Callable[["asyncio.Future[T]", Any], None],
    future: "asyncio.Future[T]",
    outcome: Any,
) -> None:
    with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody waits
        loop.call_soon_threadsafe(setter, future, outcome)


def _cancel(future: "asyncio.Future[Any]", _: None) -> None:
    future.cancel()


def _succeed(future: "asyncio.Future[T]", result: T) -> None:
    if not future.done():  # cancelled while the thread ran
        future.set_result(result)


def _fail(future: "asyncio.Future[T]", error: BaseException) -> None:
    if isinstance(error, StopIteration):  # a future refuses it (it would end a coroutine)
        wrapped = RuntimeError(f"a thread's call raised StopIteration: {error!r}")
        wrapped.__cause__ = error
        error = wrapped
    if not future.done():
        future.set_exception(error)
