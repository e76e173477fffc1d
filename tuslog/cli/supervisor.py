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


class ListenError(Exception):
    """The listening socket could not be opened (address in use, unknown host)."""


def run_worker(settings: Settings, reuse_port: bool, announce: str | None = None) -> None:
    """Serve until stopped; ``announce`` is printed once the socket listens."""
    from tuslog.app import create_app

    listening = False

    def started(_aiohttp_banner: str) -> None:
        nonlocal listening
        listening = True
        if announce:
            print(announce, flush=True)

    try:
        web.run_app(
            create_app(settings),
            host=settings.host,
            port=settings.port,
            reuse_port=reuse_port,
            print=started,
            access_log_format='%a "%r" %s %b %Tf',
            handler_cancellation=False,
        )
    except OSError as exc:
        if listening:
            raise
        raise ListenError(
            f"cannot listen on {settings.host}:{settings.port} (TUSLOG_HOST/TUSLOG_PORT or "
            f"--host/--port): {exc.strerror or exc}"
        ) from exc


EXIT_CANNOT_LISTEN = 78  # sysexits EX_CONFIG: restarting the worker would not help


def _worker_main(overrides: dict[str, Any]) -> None:
    settings = load_settings(**overrides)
    configure_logging(settings.log_level)
    try:
        run_worker(settings, reuse_port=True)
    except ListenError as exc:
        log.error("%s", exc)
        sys.exit(EXIT_CANNOT_LISTEN)


def supervise(settings: Settings, overrides: dict[str, Any]) -> int:
    context = multiprocessing.get_context("spawn")
    workers: list[BaseProcess] = []
    stopping = failed = False

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
        "tuslog starting %d workers on http://%s:%d",
        settings.workers,
        settings.host,
        settings.port,
    )
    while workers:
        wait([p.sentinel for p in workers])
        for process in [p for p in workers if not p.is_alive()]:
            workers.remove(process)
            if process.exitcode == EXIT_CANNOT_LISTEN and not stopping:
                stop(signal.SIGTERM, None)  # the others could not listen either
                failed = True
            elif not stopping:
                log.warning(
                    "worker %s exited with %s; starting a new one", process.pid, process.exitcode
                )
                workers.append(start())
    return 1 if failed else 0
