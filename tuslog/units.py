"""Parsing of human-friendly sizes ("50G") and durations ("7d") used by settings and the CLI."""

import re
from datetime import timedelta

_SIZE_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
_SIZE_RE = re.compile(r"^\s*(\d+)\s*([KMGT]?)(?:I?B)?\s*$", re.IGNORECASE)
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION_RE = re.compile(r"^\s*(\d+)\s*([smhdw]?)\s*$", re.IGNORECASE)


def parse_size(value: str | int) -> int:
    """Bytes from an integer or a string like ``512M``, ``50G``, ``1TiB`` (binary units)."""
    if isinstance(value, int):
        if value < 0:
            raise ValueError("size must not be negative")
        return value
    match = _SIZE_RE.match(value)
    if not match:
        raise ValueError(f"invalid size {value!r}: use bytes or a number with K, M, G or T")
    return int(match.group(1)) * _SIZE_UNITS[match.group(2).upper()]


def parse_duration(value: str | int | float | timedelta) -> timedelta:
    """A duration from seconds or a string like ``90s``, ``30m``, ``24h``, ``7d``, ``2w``."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("duration must not be negative")
        return timedelta(seconds=value)
    match = _DURATION_RE.match(value)
    if not match:
        raise ValueError(
            f"invalid duration {value!r}: use seconds or a number with s, m, h, d or w"
        )
    unit = match.group(2).lower() or "s"
    return timedelta(seconds=int(match.group(1)) * _DURATION_UNITS[unit])


def format_size(n: int) -> str:
    """Short binary size for humans: ``1.5 GiB``."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"
