"""The ``tuslog`` command. Every command that prints data takes ``--json``; failures print
one line on stderr and exit non-zero (codes: ``tuslog.cli.output``)."""

import argparse
import os
import sys

from tuslog import errors
from tuslog.cli.output import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, CommandError
from tuslog.settings import SettingsError, load_settings


def _fail(message: str, code: int) -> None:
    print(f"tuslog: {message}", file=sys.stderr)
    sys.exit(code)


def _quiet_broken_pipe() -> None:
    """``tuslog … | head``: the reader left. Say nothing more (Python would print
    "Broken pipe" when flushing stdout at exit)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    sys.exit(EXIT_FAILED)


def main(argv: list[str] | None = None) -> None:
    from tuslog.cli.parser import build
    from tuslog.cli.values import join_option_values

    parser = build()
    args = parser.parse_args(join_option_values(sys.argv[1:] if argv is None else argv))
    try:
        settings = load_settings()
        args.func(args, settings)
        sys.stdout.flush()
    except SettingsError as exc:
        _fail(str(exc), EXIT_FAILED)
    except argparse.ArgumentTypeError as exc:
        _fail(f"{exc} (see tuslog {args.command} --help)", EXIT_USAGE)
    except CommandError as exc:
        _fail(str(exc), exc.exit_code)
    except errors.TuslogError as exc:
        bad_value = exc.code == errors.INVALID_VALUE.code
        _fail(exc.message, EXIT_USAGE if bad_value else EXIT_FAILED)
    except BrokenPipeError:
        _quiet_broken_pipe()
    except KeyboardInterrupt:
        _fail("interrupted", EXIT_INTERRUPTED)
    except OSError as exc:
        _fail(str(exc.strerror or exc) + (f": {exc.filename}" if exc.filename else ""), EXIT_FAILED)
