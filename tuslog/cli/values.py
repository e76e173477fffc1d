"""Argument values: sizes, durations and counts checked where they are typed, so that a
bad value is one line and exit 2, never a traceback."""

import argparse
from datetime import timedelta

from tuslog.services.tokens import MAX_TTL, MAX_UPLOADS
from tuslog.units import format_size, parse_duration, parse_size

# Options whose value may look like an option ("--expires -1d"): argparse would say
# "expected one argument"; they are joined ("--expires=-1d") so the value is judged.
VALUE_OPTIONS = ("--expires", "--uploads", "--max-bytes")


def join_option_values(argv: list[str]) -> list[str]:
    joined: list[str] = []
    items = iter(argv)
    for item in items:
        if item in VALUE_OPTIONS:
            value = next(items, None)
            if value is not None and value.startswith("-") and value[1:2].isdigit():
                joined.append(f"{item}={value}")
                continue
            joined.append(item)
            if value is not None:
                joined.append(value)
            continue
        joined.append(item)
    return joined


def size(value: str) -> int:
    if value.strip().startswith("-"):
        raise argparse.ArgumentTypeError(f"{value!r}: a size must be positive")
    try:
        parsed = parse_size(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if parsed <= 0:
        raise argparse.ArgumentTypeError(f"{value!r}: a size must be positive")
    return parsed


def lifetime(value: str) -> timedelta:
    if value.strip().startswith("-"):
        raise argparse.ArgumentTypeError(f"{value!r}: a lifetime must be positive, e.g. 7d")
    try:
        parsed = parse_duration(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if not timedelta(0) < parsed <= MAX_TTL:
        raise argparse.ArgumentTypeError(
            f"{value!r}: a lifetime must be positive and at most {MAX_TTL.days} days"
        )
    return parsed


def uploads(value: str) -> int:
    try:
        count = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if not 1 <= count <= MAX_UPLOADS:
        raise argparse.ArgumentTypeError(f"{value!r}: a token allows 1 to {MAX_UPLOADS} uploads")
    return count


def describe_size(n: int) -> str:
    """``53687091200 bytes (50.0 GiB)``: the exact figure, and the unit it was meant in."""
    return f"{n} bytes ({format_size(n)})"
