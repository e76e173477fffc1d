"""Reading portal forms: text fields only (a file part or a repeated field is ignored), each
cut to a length that no real value needs, so nothing a browser posts reaches a service
unbounded. Parsing of sizes, durations and counts says what to type instead."""

from datetime import timedelta

from aiohttp import web

from tuslog.units import parse_duration, parse_size

FIELD_LIMIT = 2000


class FormError(ValueError):
    """A value that cannot be used, with the field it belongs to."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


async def read_form(request: web.Request) -> dict[str, str]:
    form = await request.post()
    found: dict[str, str] = {}
    for name, value in form.items():
        if isinstance(value, str) and name not in found:
            found[name] = value[:FIELD_LIMIT]
    return found


def search_text(value: str, limit: int = 200) -> str:
    """A search or filter value from a query string: printable characters only (no
    ticket field, email or action holds others), trimmed and cut to ``limit``."""
    return "".join(ch for ch in value if ch.isprintable()).strip()[:limit]


def count(form: dict[str, str], name: str, *, default: int | None = None) -> int | None:
    raw = form.get(name, "").strip()
    if not raw:
        return default
    if not raw.isascii() or not raw.isdigit() or len(raw) > 9:
        raise FormError(name, "Enter a whole number, for example 1.")
    return int(raw)


def duration(
    form: dict[str, str], name: str, *, default: timedelta | None = None
) -> timedelta | None:
    raw = form.get(name, "").strip()
    if not raw:
        return default
    try:
        value = parse_duration(raw)
    except ValueError:
        raise FormError(name, "Enter a duration like 30m, 12h, 7d or 2w.") from None
    if value <= timedelta(0):
        raise FormError(name, "Enter a duration longer than zero, like 7d.")
    return value


def size(form: dict[str, str], name: str) -> int | None:
    raw = form.get(name, "").strip()
    if not raw:
        return None
    try:
        value = parse_size(raw)
    except ValueError:
        raise FormError(
            name, "Enter a size like 500M, 50G or 2T (binary units), or leave it empty."
        ) from None
    if value <= 0:
        raise FormError(name, "Enter a size above zero, or leave it empty for no limit.")
    return value
