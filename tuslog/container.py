"""The Docker image's entry point, ``python -m tuslog.container`` (the image has no shell).

    (no arguments), serve [OPTIONS], --OPTION …   ``tuslog serve``: migrations, then the server
    healthcheck                                   exit 0 if /healthz answers 200, else 1, quietly
    anything else                                 that tuslog command, e.g. ``doctor``

The server runs in this process (``tuslog serve`` applies the migrations before it starts
gunicorn): in the container it is PID 1, so gunicorn's master receives the stop signal
itself, as with the ``exec`` of a shell entrypoint. Outside ``tuslog.cli`` on purpose: the
health check, run every 30 s, imports only the standard library (0.03 s, not 0.3 s).
"""

import os
import sys
import urllib.request

HEALTH_TIMEOUT = 4  # seconds; the image's HEALTHCHECK gives the command 5


def healthcheck() -> int:
    """0 if the server on 127.0.0.1:$TUSLOG_PORT answers /healthz with 200, else 1 (never 2,
    which Docker reserves)."""
    url = f"http://127.0.0.1:{os.environ.get('TUSLOG_PORT', '8080')}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=HEALTH_TIMEOUT) as answer:
            return 0 if answer.status == 200 else 1
    except (OSError, ValueError):  # refused, timed out, an error status, a bad port
        return 1


def tuslog_arguments(args: list[str]) -> list[str]:
    """The container's arguments as a tuslog command line: serving is the default."""
    if not args or args[0].startswith("-"):
        return ["serve", *args]
    return args


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["healthcheck"]:
        sys.exit(healthcheck())
    from tuslog.cli import main as tuslog

    tuslog(tuslog_arguments(args))


if __name__ == "__main__":
    main()
