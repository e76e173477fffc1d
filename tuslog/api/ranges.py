"""Byte ranges for downloads (RFC 9110 §14): one ``bytes=`` range, ``If-Range`` with the
strong ETag or the exact Last-Modified date, ``If-None-Match``, and 416 with
``Content-Range: bytes */size`` when nothing asked for exists. Several ranges are
answered with the whole upload (a server may ignore Range), as is a malformed one."""

import re
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from urllib.parse import quote

from aiohttp import web

from tuslog import errors

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def http_date(moment: datetime) -> str:
    return format_datetime(moment.astimezone(UTC).replace(microsecond=0), usegmt=True)


def attachment(filename: str) -> str:
    """Content-Disposition for any file name (RFC 6266: an ASCII fallback and UTF-8)."""
    fallback = "".join(
        ch if ch.isascii() and ch.isprintable() and ch not in '"\\' else "_" for ch in filename
    )
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def not_modified(request: web.Request, etag: str | None) -> bool:
    given = request.headers.get("If-None-Match")
    if given is None or etag is None:
        return False
    tags = [tag.strip().removeprefix("W/") for tag in given.split(",")]
    return "*" in tags or etag in tags


def _if_range_holds(value: str, etag: str | None, modified: datetime | None) -> bool:
    value = value.strip()
    if value.startswith('"'):
        return etag is not None and value == etag  # strong comparison
    if value.startswith("W/") or modified is None:
        return False
    try:
        given = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return False
    return given == modified.astimezone(UTC).replace(microsecond=0)


def _parse(spec: str, size: int) -> tuple[int, int] | None:
    """(start, end exclusive), None for a malformed or multiple range; raises 416 for
    a well-formed range that selects nothing."""
    match = _RANGE.match(spec.replace(" ", ""))
    if match is None:
        return None
    first, last = match.groups()
    if first == "" and last == "":
        return None
    if first == "":  # the last N bytes
        count = int(last)
        if count == 0 or size == 0:
            raise _unsatisfiable(size)
        return max(size - count, 0), size
    start = int(first)
    end = size if last == "" else min(int(last) + 1, size)
    if last != "" and int(last) < start:
        return None  # invalid: ignored, as RFC 9110 says
    if start >= size:
        raise _unsatisfiable(size)
    return start, end


def _unsatisfiable(size: int) -> errors.TuslogError:
    return errors.RANGE_NOT_SATISFIABLE(
        f"The upload has {size} bytes; the range asks for none of them.",
        headers={"Content-Range": f"bytes */{size}"},
    )


def requested(
    request: web.Request, size: int, etag: str | None, modified: datetime | None
) -> tuple[int, int] | None:
    """The one range to send, or None for the whole upload."""
    spec = request.headers.get("Range")
    if spec is None or request.method not in ("GET", "HEAD"):
        return None
    if_range = request.headers.get("If-Range")
    if if_range is not None and not _if_range_holds(if_range, etag, modified):
        return None
    if "," in spec:
        return None
    return _parse(spec, size)
