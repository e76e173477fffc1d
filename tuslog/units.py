"""Human-friendly sizes ("50G", "50GB", "1.5TiB") and durations ("7d"), for settings and
the CLI, with one rule for units everywhere (the GNU coreutils convention):
``K``/``KiB``, ``M``/``MiB``, ``G``/``GiB``, ``T``/``TiB`` are binary (1024ⁿ);
``KB``, ``MB``, ``GB``, ``TB`` are decimal (1000ⁿ)."""

import re
from datetime import timedelta

_PREFIXES = "KMGT"
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:([KMGT])(i?)(B?))?\s*(B?)\s*$", re.IGNORECASE)
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION_RE = re.compile(r"^\s*(\d+)\s*([smhdw]?)\s*$", re.IGNORECASE)
MAX_DURATION = timedelta(days=36500)  # beyond a century a duration means nothing here
MAX_SIZE = 2**63 - 1  # what the database stores


def _multiplier(prefix: str, binary_marker: str, byte_marker: str) -> int:
    if not prefix:
        return 1
    power = _PREFIXES.index(prefix.upper()) + 1
    decimal = byte_marker != "" and binary_marker == ""  # "GB", not "G", "GiB" or "GiB"
    base = 1000 if decimal else 1024
    return int(base**power)


def parse_size(value: str | int) -> int:
    """Bytes from an integer or a string like ``512M``, ``50G``, ``50GB``, ``1.5TiB``."""
    if isinstance(value, int):
        if value < 0:
            raise ValueError("size must not be negative")
        return value
    match = _SIZE_RE.match(value)
    whole_bytes = match is not None and (match.group(2) or "." not in match.group(1))
    if not match or (match.group(5) and match.group(2)) or not whole_bytes:
        raise ValueError(
            f"invalid size {value[:40]!r}: use bytes or a number with K, M, G, T "
            "(binary, also KiB…TiB) or KB, MB, GB, TB (decimal)"
        )
    prefix, binary, byte = match.group(2) or "", match.group(3), match.group(4)
    size = int(float(match.group(1)) * _multiplier(prefix, binary, byte))
    if size > MAX_SIZE:
        raise ValueError(f"size {value[:40]!r} is too large")
    return size


def parse_duration(value: str | int | float | timedelta) -> timedelta:
    """A duration from seconds or a string like ``90s``, ``30m``, ``24h``, ``7d``, ``2w``."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("duration must not be negative")
        seconds = float(value)
    else:
        match = _DURATION_RE.match(value)
        if not match:
            raise ValueError(
                f"invalid duration {value[:40]!r}: use seconds or a number with s, m, h, d or w"
            )
        unit = match.group(2).lower() or "s"
        seconds = int(match.group(1)) * _DURATION_UNITS[unit]
    if seconds > MAX_DURATION.total_seconds():
        raise ValueError(f"duration {value!s:.40} is too long (at most {MAX_DURATION.days} days)")
    return timedelta(seconds=seconds)


def format_size(n: int) -> str:
    """Short binary size for humans: ``1.5 GiB``."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"
