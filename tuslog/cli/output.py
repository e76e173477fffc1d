"""How commands talk to people and scripts: text or ``--json`` on stdout, one-line errors
on stderr, confirmations only on a terminal, and the exit codes.

Exit codes: 0 done; 1 failed (not found, refused, database or storage unusable); 2 usage
mistake or bad value (also ``--yes`` missing where a terminal would have asked);
130 interrupted."""

import argparse
import json
import sys
from collections.abc import Callable
from datetime import datetime
from typing import Any

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class CommandError(Exception):
    """A command's own failure: one line, and the exit code to leave with."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def emit(args: argparse.Namespace, data: Any, text: Callable[[], str]) -> None:
    print(json.dumps(data, indent=2) if args.json else text())


def warn(message: str) -> None:
    print(f"tuslog: warning: {message}", file=sys.stderr)


def table(rows: list[list[str]], header: list[str]) -> str:
    if not rows:
        return "(none)"
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=False)]
    lines = [header, *rows]
    return "\n".join(
        "  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=False)).rstrip()
        for line in lines
    )


def confirm(args: argparse.Namespace, question: str) -> None:
    """Go on only if ``--yes`` was given or the person at the terminal says yes."""
    if getattr(args, "yes", False):
        return
    if not sys.stdin.isatty():
        raise CommandError(
            f"{question.rstrip('?')}: refused without a terminal to ask; add --yes.", EXIT_USAGE
        )
    print(f"{question} [y/N] ", end="", file=sys.stderr, flush=True)
    answer = sys.stdin.readline().strip().lower()
    if answer not in ("y", "yes"):
        raise CommandError("nothing was changed.", EXIT_FAILED)
