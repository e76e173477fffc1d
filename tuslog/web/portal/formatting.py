"""How values look on portal pages: sizes, times, states, and text from customers and
staff made inert. Jinja's autoescaping already keeps markup out; :func:`plain` also
shows invisible format characters (bidirectional overrides such as U+202E, which can make
``exe.txt`` read as ``txt.exe``, zero-width characters) as a visible U+FFFD, and the
templates put such text in ``<bdi>`` so right-to-left names cannot reorder what is
around them."""

import unicodedata
from datetime import UTC, datetime, timedelta
from typing import Any

from jinja2 import Environment
from markupsafe import Markup

from tuslog.db.models import UploadToken, utcnow
from tuslog.units import format_size

REPLACEMENT = "\ufffd"
STATE_STYLES = {
    "receiving": "primary",
    "verifying": "info",
    "complete": "success",
    "verified": "success",
    "corrupt": "danger",
    "expired": "secondary",
    "terminated": "secondary",
    "deleted": "secondary",
    "active": "success",
    "expired token": "secondary",
    "used up": "secondary",
    "revoked": "danger",
    "open": "primary",
    "resolved": "secondary",
}


_HIDDEN = ("Cc", "Cf", "Zl", "Zp")


def plain(text: object) -> str:
    """One line of text with control and format characters made visible."""
    value = "" if text is None else str(text)
    if value.isprintable():  # the usual case, checked in C: none of those characters
        return value
    return "".join(REPLACEMENT if unicodedata.category(ch) in _HIDDEN else ch for ch in value)


def bdi(text: object) -> Markup:
    """Text from people, isolated from the direction of what is around it."""
    return Markup("<bdi>%s</bdi>") % plain(text)


def badge(state: str) -> Markup:
    return Markup('<span class="badge text-bg-%s">%s</span>') % (style(state), state)


def size(value: int | None) -> str:
    if value is None:
        return "unknown"
    return format_size(value) if value >= 1024 else f"{value} B"


def exact_bytes(value: int | None) -> str:
    return "unknown" if value is None else f"{value:,} bytes"


def when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment is not None else "—"


def epoch_when(seconds: int | None) -> str:
    """A modification time from an archive (seconds since 1970; may be absurd)."""
    if seconds is None:
        return "—"
    try:
        return when(datetime.fromtimestamp(seconds, UTC))
    except (OverflowError, OSError, ValueError):
        return f"{seconds} (not a usable time)"


def iso(moment: datetime | None) -> str:
    return moment.isoformat() if moment is not None else ""


def ago(moment: datetime | None, now: datetime | None = None) -> str:
    """``5 min ago``, ``in 3 days``: short relative times for tables."""
    if moment is None:
        return "—"
    delta = (now or utcnow()) - moment
    future = delta < timedelta(0)
    seconds = abs(int(delta.total_seconds()))
    for unit, length in (("day", 86400), ("h", 3600), ("min", 60)):
        if seconds >= length:
            count = seconds // length
            text = f"{count} {unit}{'s' if unit == 'day' and count != 1 else ''}"
            return f"in {text}" if future else f"{text} ago"
    return "in a moment" if future else "just now"


def duration_text(value: timedelta) -> str:
    """A duration as typed in forms: the largest unit that states it exactly (``7d``)."""
    seconds = int(value.total_seconds())
    for unit, length in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % length == 0:
            return f"{seconds // length}{unit}"
    return f"{seconds}s"


def percent(part: int, whole: int | None) -> int:
    """Whole percent for bars (0-100); 0 when the whole is unknown or empty."""
    if not whole or whole <= 0:
        return 0
    return max(0, min(100, int(part * 100 // whole)))


def token_status(token: UploadToken, now: datetime | None = None) -> str:
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at <= (now or utcnow()):
        return "expired token"
    if token.uses >= token.max_uses:
        return "used up"
    return "active"


def style(state: str) -> str:
    return STATE_STYLES.get(state, "secondary")


def details(values: Any) -> str:
    """An audit event's details as ``key=value`` text."""
    if not isinstance(values, dict) or not values:
        return ""
    return ", ".join(f"{key}={plain(value)}" for key, value in sorted(values.items()))


def install(environment: Environment) -> None:
    environment.filters.update(
        plain=plain,
        bdi=bdi,
        badge=badge,
        size=size,
        exact_bytes=exact_bytes,
        when=when,
        epoch_when=epoch_when,
        iso=iso,
        ago=ago,
        style=style,
        details=details,
    )
    environment.globals.update(percent=percent, token_status=token_status)
