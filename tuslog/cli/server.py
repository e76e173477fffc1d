"""``tuslog serve`` and ``tuslog migrate``."""

import argparse
import asyncio
import sys

from tuslog import __version__
from tuslog.cli import runtime
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
    from tuslog.cli import workers  # gunicorn: only this command needs it
    from tuslog.logs import config as log_config

    settings = load_settings(**overrides)
    log_config.configure(settings.log_level, settings.log_format)
    migrate(args, settings)
    try:
        FileStore(settings.storage_dir).prepare()
        (settings.storage_dir / ".locks").mkdir(exist_ok=True)
    except OSError as exc:
        raise CommandError(
            f"Cannot use {settings.storage_dir} (TUSLOG_STORAGE_DIR): {exc.strerror or exc}"
        ) from exc
    workers_shown = f"{settings.workers} worker" + ("s" if settings.workers > 1 else "")
    banner = (
        f"tuslog {__version__} serving on {listen_url(settings.host, settings.port)} "
        f"({workers_shown})"
    )
    try:
        status = workers.run(settings, banner)
    except workers.ListenError as exc:
        raise CommandError(str(exc)) from exc
    if status:
        sys.exit(status)
