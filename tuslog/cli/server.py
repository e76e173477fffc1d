"""``tuslog serve`` and ``tuslog migrate``."""

import argparse
import asyncio
import sys

from tuslog import __version__
from tuslog.cli import runtime, supervisor
from tuslog.cli.output import CommandError
from tuslog.http.client import listen_url
from tuslog.settings import Settings, load_settings
from tuslog.storage.filestore import FileStore


def migrate(args: argparse.Namespace, settings: Settings) -> None:
    asyncio.run(runtime.migrate(settings))
    print("database schema is up to date")


def serve(args: argparse.Namespace, settings: Settings) -> None:
    overrides = {
        key: value
        for key, value in (("host", args.host), ("port", args.port), ("workers", args.workers))
        if value is not None
    }
    settings = load_settings(**overrides)
    supervisor.configure_logging(settings.log_level)
    migrate(args, settings)
    try:
        FileStore(settings.storage_dir).prepare()
        (settings.storage_dir / ".locks").mkdir(exist_ok=True)
    except OSError as exc:
        raise CommandError(
            f"Cannot use {settings.storage_dir} (TUSLOG_STORAGE_DIR): {exc.strerror or exc}"
        ) from exc
    if settings.workers > 1:
        sys.exit(supervisor.supervise(settings, overrides))
    banner = f"tuslog {__version__} serving on {listen_url(settings.host, settings.port)}"
    try:
        supervisor.run_worker(settings, reuse_port=False, announce=banner)
    except supervisor.ListenError as exc:
        raise CommandError(str(exc)) from exc
