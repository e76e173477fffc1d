"""Running the server: one process, or N worker processes sharing one port (SO_REUSEPORT),
supervised by the parent, which restarts a worker that dies."""

import logging
import multiprocessing
import signal
import sys
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from typing import Any

from aiohttp import web

from tuslog.settings import Settings, load_settings

log = logging.getLogger("tuslog")


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(process)d %(name)s: %(message)s",
        stream=sys.stderr,
    )


def run_worker(settings: Settings, reuse_port: bool) -> None:
    from tuslog.server.app import create_app

    web.run_app(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        reuse_port=reuse_port,
        print=None,
        access_log_format='%a "%r" %s %b %Tf',
        handler_cancellation=False,
    )


def _worker_main(overrides: dict[str, Any]) -> None:
    settings = load_settings(**overrides)
    configure_logging(settings.log_level)
    run_worker(settings, reuse_port=True)


def supervise(settings: Settings, overrides: dict[str, Any]) -> int:
    context = multiprocessing.get_context("spawn")
    workers: list[BaseProcess] = []
    stopping = False

    def start() -> BaseProcess:
        process = context.Process(target=_worker_main, args=(overrides,), daemon=False)
        process.start()
        return process

    def stop(signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True
        for process in workers:
            if process.is_alive() and process.pid:
                process.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    workers.extend(start() for _ in range(settings.workers))
    log.info(
        "tuslog serving on http://%s:%d with %d workers",
        settings.host,
        settings.port,
        settings.workers,
    )
    while workers:
        wait([p.sentinel for p in workers])
        for process in [p for p in workers if not p.is_alive()]:
            workers.remove(process)
            if not stopping:
                log.warning(
                    "worker %s exited with %s; starting a new one", process.pid, process.exitcode
                )
                workers.append(start())
    return 0
