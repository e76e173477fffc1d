"""One logging configuration for every tuslog process: lines on stderr, as text or as
JSON (``TUSLOG_LOG_FORMAT``), with repeated conditions throttled and secrets scrubbed.
gunicorn's own messages go through the same handler (``tuslog.cli.workers``)."""

import logging
import sys
from typing import Literal

from pythonjsonlogger.json import JsonFormatter

from tuslog.logs.repeats import RepeatFilter
from tuslog.logs.secrets import SecretFilter

REPEAT_INTERVAL = 60.0  # seconds between two lines about the same repeated condition
TEXT_FORMAT = "%(asctime)s %(levelname)s %(process)d %(name)s: %(message)s"
JSON_FIELDS = "%(asctime)s %(levelname)s %(process)d %(name)s %(message)s"

LogFormat = Literal["text", "json"]


def _formatter(log_format: LogFormat) -> logging.Formatter:
    if log_format == "json":
        return JsonFormatter(
            JSON_FIELDS,
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            json_ensure_ascii=False,
        )
    return logging.Formatter(TEXT_FORMAT)


def configure(level: str, log_format: LogFormat) -> None:
    """Replace the root logger's handlers with tuslog's one (safe to call again)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_formatter(log_format))
    handler.addFilter(RepeatFilter(REPEAT_INTERVAL))
    handler.addFilter(SecretFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # The access log is tuslog's own (tuslog.http.logs); aiohttp's would show the proxy.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(max(logging.WARNING, root.level))
    # aiosqlite's DEBUG lines carry every statement's parameters: password and token
    # hashes, TOTP secrets. Never, whatever TUSLOG_LOG_LEVEL says.
    logging.getLogger("aiosqlite").setLevel(max(logging.INFO, root.level))
