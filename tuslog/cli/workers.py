"""``tuslog serve`` runs gunicorn with aiohttp's worker class, driven from here: one
command, whatever the number of workers.

Settings chosen for multi-hour uploads:
- gunicorn's ``timeout`` is a heartbeat of the worker's event loop (every second), not a
  limit on a request: a PATCH may stream for hours;
- a stop (SIGTERM, SIGINT) or a reload (SIGHUP) lets each old worker's open PATCHes save
  what they received and answer 503 + ``Retry-After`` (``tuslog.app._stop_receiving``)
  within ``GRACEFUL_TIMEOUT``; the client resumes on the new workers;
- the listening socket is opened here (so that a busy port is one clear line) with
  ``TUSLOG_LISTEN_BACKLOG`` and handed to gunicorn;
- workers die with a master that was killed outright (SIGKILL, OOM): orphans would keep
  accepting on the port and hold it against the restarted server;
- the workers' Prometheus values live in one directory (prometheus-client's
  multiprocess mode), made fresh at start and removed at exit;
- glibc's allocator keeps buffers of a few MiB in its heap (``_steady_malloc``).
"""

import contextlib
import ctypes
import logging
import os
import shutil
import signal
import socket
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from aiohttp import web
from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger

from tuslog import metrics
from tuslog.settings import Settings

GRACEFUL_TIMEOUT = 30  # seconds old workers get at a stop or reload
HEARTBEAT_TIMEOUT = 120  # a worker whose event loop is stuck this long is restarted
_PR_SET_PDEATHSIG = 1

log = logging.getLogger("tuslog.serve")


class ListenError(Exception):
    """The listening socket could not be opened (address in use, unknown host)."""


def open_listener(host: str, port: int, backlog: int) -> socket.socket:
    try:
        infos = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
        family, kind, proto, _, address = infos[0]
        listener = socket.socket(family, kind, proto)
    except OSError as exc:
        raise _cannot_listen(host, port, exc) from exc
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(address)
        listener.listen(backlog)
    except OSError as exc:
        listener.close()
        raise _cannot_listen(host, port, exc) from exc
    return listener


def _cannot_listen(host: str, port: int, exc: OSError) -> ListenError:
    return ListenError(
        f"cannot listen on {host}:{port} (TUSLOG_HOST/TUSLOG_PORT or --host/--port): "
        f"{exc.strerror or exc}"
    )


class _GunicornLog(Logger):  # type: ignore[misc]
    """gunicorn's messages through tuslog's handler (same format, same filters)."""

    def setup(self, cfg: Any) -> None:
        self.cfg = cfg
        self._access_log_enabled = False
        self.loglevel = self.LOG_LEVELS.get(cfg.loglevel.lower(), logging.INFO)
        for logger in (self.error_log, self.access_log):
            for handler in list(logger.handlers):
                logger.removeHandler(handler)
            logger.propagate = True
        self.error_log.setLevel(self.loglevel)


def _die_with_master(master_pid: int) -> None:
    """Linux: SIGKILL this worker when the master dies without stopping it."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != master_pid:  # it died before the line above
        os._exit(1)


# glibc's mallopt() parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 4 * 1024 * 1024
TRIM_THRESHOLD = 8 * 1024 * 1024  # 32 MiB kept W3's memory after it: W1's peak RSS 175 MiB, not 130


def _steady_malloc() -> None:
    """Linux/glibc: serve allocations below ``MMAP_THRESHOLD`` from the heap, and give
    free heap back only above ``TRIM_THRESHOLD``. A body arrives in 1 MiB socket reads; by
    default each became a fresh ``mmap`` (glibc's threshold is 128 KiB, and its dynamic
    raise stops just short of a same-sized request), faulted in page by page, zeroed by
    the kernel and unmapped when written: 7 % of a worker's CPU during 8 MiB PATCHes, and
    about 4 ms of server CPU per such PATCH (bench/README.md, "Per-PATCH cost")."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
        libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)


def _post_fork(server: Any, worker: Any) -> None:
    _die_with_master(server.pid)
    _steady_malloc()


class _KeepBacklog:
    """A listening socket whose ``listen()`` keeps TUSLOG_LISTEN_BACKLOG: aiohttp's site
    calls it again with its own default (128), which would undo the setting."""

    def __init__(self, sock: Any, backlog: int) -> None:
        self._sock = sock
        self._backlog = backlog

    def listen(self, _backlog: int | None = None) -> None:
        self._sock.listen(self._backlog)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def _post_worker_init(worker: Any) -> None:
    worker.sockets = [_KeepBacklog(sock, worker.cfg.backlog) for sock in worker.sockets]


def _child_exit(server: Any, worker: Any) -> None:
    if metrics.multiprocess():
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def app_factory(settings: Settings) -> Callable[[], Awaitable[web.AppRunner]]:
    async def make() -> web.AppRunner:
        from tuslog.app import create_app, freeze_startup_objects  # in the worker (metrics)

        app = create_app(settings)
        app.on_startup.append(freeze_startup_objects)  # last: after the engine is built
        return web.AppRunner(
            app,
            access_log=None,  # tuslog.http.logs writes the access log
            handler_cancellation=False,
            shutdown_timeout=GRACEFUL_TIMEOUT * 0.8,
        )

    return make


class TuslogServer(BaseApplication):  # type: ignore[misc]
    def __init__(self, settings: Settings, listener_fd: int, announce: str) -> None:
        self.settings = settings
        self.listener_fd = listener_fd
        self.announce = announce
        super().__init__()

    def load_config(self) -> None:
        settings = self.settings
        options: dict[str, Any] = {
            "bind": [f"fd://{self.listener_fd}"],
            "backlog": settings.listen_backlog,
            "workers": settings.workers,
            "worker_class": "aiohttp.GunicornWebWorker",
            "timeout": HEARTBEAT_TIMEOUT,
            "graceful_timeout": GRACEFUL_TIMEOUT,
            "max_requests": 0,
            "proc_name": "tuslog",
            "logger_class": _GunicornLog,
            "loglevel": settings.log_level.lower(),
            "accesslog": None,
            "control_socket_disable": True,
            "post_fork": _post_fork,
            "post_worker_init": _post_worker_init,
            "child_exit": _child_exit,
            "when_ready": lambda server: print(self.announce, flush=True),
        }
        if Path("/dev/shm").is_dir() and os.access("/dev/shm", os.W_OK):  # noqa: S108
            options["worker_tmp_dir"] = "/dev/shm"  # noqa: S108 - heartbeats off the disk
        for key, value in options.items():
            if key in self.cfg.settings:  # an older gunicorn may lack a setting
                self.cfg.set(key, value)

    def load(self) -> Callable[[], Awaitable[web.AppRunner]]:
        return app_factory(self.settings)


@contextlib.contextmanager
def metrics_directory() -> Iterator[Path]:
    """A fresh directory for the workers' metric files, for the life of the server."""
    base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None  # noqa: S108
    path = Path(tempfile.mkdtemp(prefix="tuslog-metrics-", dir=base))
    os.environ[metrics.MULTIPROC_ENV] = str(path)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def run(settings: Settings, announce: str) -> int:
    """Serve until stopped; returns the exit status."""
    listener = open_listener(settings.host, settings.port, settings.listen_backlog)
    master = os.getpid()
    with metrics_directory():
        server = TuslogServer(settings, listener.detach(), announce)
        try:
            server.run()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
            if os.getpid() != master:
                # A worker (forked inside server.run()) leaves with SystemExit: the code
                # around here is the master's (it would remove the metrics directory).
                os._exit(code)
            return code
    return 0
