"""Sending a finished upload over HTTP, for every surface that hands out archives (the
portal; the REST API reuses it): ranges (RFC 9110 §14) with ``If-Range``, several
ranges as ``multipart/byteranges``, a strong ``ETag`` (the SHA-256), ``Last-Modified``,
``If-None-Match``, a ``Content-Disposition`` that is safe for any file name (RFC 6266,
RFC 5987 for non-ASCII names) and ``Repr-Digest`` (RFC 9530). The bytes come from the
upload engine (``engine.reading.open``), which audits every download; a ``HEAD`` is
answered from the record alone and opens nothing.

Ranges are merged when they overlap or touch; more than :data:`MAX_RANGES` after that,
a malformed header, or an ``If-Range`` that no longer holds, and the whole file is sent
(a server may always ignore ``Range``). A well-formed header that selects no byte is a
``416`` with ``Content-Range: bytes */size``.
"""

import base64
import dataclasses
import re
import secrets
import unicodedata
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from urllib.parse import quote

from aiohttp import web

from tuslog import errors
from tuslog.db.models import Upload
from tuslog.uploads.engine import UploadEngine
from tuslog.uploads.reading import Download, readiness_error

MAX_RANGES = 16
_RANGE_SPEC = re.compile(r"^(\d*)-(\d*)$")
_MAX_HEADER = 4096
CONTENT_TYPE = "application/octet-stream"  # never sniffed or rendered (nosniff is global)


@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int  # exclusive

    @property
    def length(self) -> int:
        return self.end - self.start

    def content_range(self, size: int) -> str:
        return f"bytes {self.start}-{self.end - 1}/{size}"


# --- parsing ------------------------------------------------------------------------------
def parse_range(header: str | None, size: int) -> list[ByteRange] | None:
    """The ranges to send (merged, in ascending order), or None for the whole file.
    Raises RANGE_NOT_SATISFIABLE when the header is well-formed but selects nothing."""
    if header is None or len(header) > _MAX_HEADER:
        return None
    unit, equals, specs = header.partition("=")
    if not equals or unit.strip().lower() != "bytes":
        return None
    wanted: list[ByteRange] = []
    for spec in specs.split(","):
        match = _RANGE_SPEC.match(spec.strip())
        if match is None or match.group(1) == match.group(2) == "":
            return None  # one malformed part: the header is ignored (RFC 9110 §14.2)
        first, last = match.groups()
        if first and last and int(last) < int(first):
            return None
        chosen = _one(first, last, size)
        if chosen is not None:
            wanted.append(chosen)
    if not wanted:
        raise errors.RANGE_NOT_SATISFIABLE(
            f"The file has {size} bytes; the range asks for none of them.",
            headers={"Content-Range": f"bytes */{size}"},
        )
    merged = _merge(wanted)
    return merged if len(merged) <= MAX_RANGES else None


def _one(first: str, last: str, size: int) -> ByteRange | None:
    """One range spec as a satisfiable range, or None if it selects no byte."""
    if not first:  # the last N bytes
        count = int(last)
        return ByteRange(max(size - count, 0), size) if count > 0 and size > 0 else None
    start = int(first)
    if start >= size:
        return None
    end = size if not last else min(int(last) + 1, size)
    return ByteRange(start, end)


def _merge(ranges: list[ByteRange]) -> list[ByteRange]:
    merged: list[ByteRange] = []
    for item in sorted(ranges, key=lambda r: r.start):
        if merged and item.start <= merged[-1].end:
            merged[-1] = ByteRange(merged[-1].start, max(merged[-1].end, item.end))
        else:
            merged.append(item)
    return merged


# --- validators and names -----------------------------------------------------------------
def http_date(moment: datetime) -> str:
    return format_datetime(moment.astimezone(UTC).replace(microsecond=0), usegmt=True)


def etag_for(upload: Upload) -> str | None:
    """The SHA-256 is the content: a strong validator every worker agrees on."""
    return f'"sha256-{upload.sha256}"' if upload.sha256 else None


def repr_digest(sha256_hex: str) -> str:
    """``Repr-Digest`` (RFC 9530): the whole file's SHA-256, also on a 206."""
    return f"sha-256=:{base64.b64encode(bytes.fromhex(sha256_hex)).decode()}:"


def _safe_name(filename: str) -> str:
    """The name without path parts, control or format characters (no U+202E tricks)."""
    name = filename.replace("/", "_").replace("\\", "_")
    name = "".join(
        "_" if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") else ch for ch in name
    )
    return name.strip().lstrip(".") or ""


def content_disposition(filename: str, fallback: str) -> str:
    """``attachment`` with an ASCII ``filename`` for old clients and the real name as
    ``filename*`` (RFC 6266 §4.3, RFC 8187 encoding)."""
    name = _safe_name(filename) or fallback
    ascii_name = "".join(
        ch if ch.isascii() and ch.isprintable() and ch not in '"\\%;' else "_" for ch in name
    )
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


def _if_range_holds(value: str, etag: str | None, modified: datetime | None) -> bool:
    value = value.strip()
    if value.startswith('"'):
        return etag is not None and value == etag  # strong comparison only
    if value.startswith("W/") or modified is None:
        return False
    try:
        given = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return False
    return given.tzinfo is not None and given == modified.astimezone(UTC).replace(microsecond=0)


def _not_modified(request: web.Request, etag: str | None) -> bool:
    given = request.headers.get("If-None-Match")
    if given is None or etag is None:
        return False
    tags = [tag.strip().removeprefix("W/") for tag in given.split(",")]
    return "*" in tags or etag in tags


def chosen_ranges(
    request: web.Request, size: int, etag: str | None, modified: datetime | None
) -> list[ByteRange] | None:
    if_range = request.headers.get("If-Range")
    if if_range is not None and not _if_range_holds(if_range, etag, modified):
        return None
    return parse_range(request.headers.get("Range"), size)


# --- the response -------------------------------------------------------------------------
def _base_headers(upload: Upload, ticket: str) -> dict[str, str]:
    fallback = f"{ticket or 'upload'}-{upload.id}.bin"
    headers = {
        "Accept-Ranges": "bytes",
        "Cache-Control": "private, no-store",
        "Content-Disposition": content_disposition(upload.filename, fallback),
    }
    etag = etag_for(upload)
    if etag is not None and upload.sha256:
        headers["ETag"] = etag
        headers["Repr-Digest"] = repr_digest(upload.sha256)
    if upload.completed_at is not None:
        headers["Last-Modified"] = http_date(upload.completed_at)
    return headers


@dataclass(frozen=True)
class _Plan:
    status: int
    headers: dict[str, str]
    ranges: list[ByteRange]
    boundary: str | None = None

    def part_head(self, part: ByteRange, size: int) -> bytes:
        return (
            f"--{self.boundary}\r\nContent-Type: {CONTENT_TYPE}\r\n"
            f"Content-Range: {part.content_range(size)}\r\n\r\n"
        ).encode()

    def tail(self) -> bytes:
        return f"--{self.boundary}--\r\n".encode()


def _plan(upload: Upload, ticket: str, ranges: list[ByteRange] | None) -> _Plan:
    size = upload.offset
    headers = _base_headers(upload, ticket)
    if ranges is None:
        headers.update({"Content-Type": CONTENT_TYPE, "Content-Length": str(size)})
        return _Plan(200, headers, [ByteRange(0, size)])
    if len(ranges) == 1:
        [part] = ranges
        headers.update(
            {
                "Content-Type": CONTENT_TYPE,
                "Content-Length": str(part.length),
                "Content-Range": part.content_range(size),
            }
        )
        return _Plan(206, headers, ranges)
    plan = _Plan(206, headers, ranges, boundary=secrets.token_hex(16))
    length = len(plan.tail()) + sum(
        len(plan.part_head(part, size)) + part.length + 2 for part in ranges
    )
    headers.update(
        {
            "Content-Type": f"multipart/byteranges; boundary={plan.boundary}",
            "Content-Length": str(length),
        }
    )
    return plan


async def _body(plan: _Plan, download: Download, size: int) -> AsyncIterator[bytes]:
    for part in plan.ranges:
        if plan.boundary:
            yield plan.part_head(part, size)
        piece = dataclasses.replace(download, start=part.start, end=part.end)
        async for chunk in piece.chunks():  # the one open file, read at each range
            yield chunk
        if plan.boundary:
            yield b"\r\n"
    if plan.boundary:
        yield plan.tail()


async def send_upload(
    request: web.Request,
    engine: UploadEngine,
    upload_id: str,
    *,
    actor: str,
    client_ip: str | None,
    force: bool = False,
    unfinished: bool = False,
) -> web.StreamResponse:
    """Answer a GET or HEAD for the upload's bytes. ``force``: also a still-verifying or
    corrupt upload (what arrived); ``unfinished`` too: also one still receiving (the REST
    API offers it; those bytes still change, so they get no ETag)."""
    upload, ticket = await engine.reading.find(upload_id)
    problem = readiness_error(upload)
    allowed = force and (upload.state.finished or (unfinished and not upload.state.gone))
    if problem is not None and not allowed:
        raise problem
    etag = etag_for(upload)
    if _not_modified(request, etag):
        return web.Response(status=304, headers=_base_headers(upload, ticket))
    plan = _plan(upload, ticket, chosen_ranges(request, upload.offset, etag, upload.completed_at))
    response = web.StreamResponse(status=plan.status, headers=plan.headers)
    if request.method == "HEAD":
        await response.prepare(request)
        return response
    start, end = plan.ranges[0].start, plan.ranges[-1].end
    download = await engine.reading.open(
        upload_id, start, end, force=force, actor=actor, client_ip=client_ip
    )
    try:
        await response.prepare(request)
        async for chunk in _body(plan, download, upload.offset):
            await response.write(chunk)
        await response.write_eof()
    except OSError:  # the client went away, or the storage failed mid-way
        if not response.prepared:
            raise
        # Headers are out: no error page can follow. Cutting the connection short of
        # Content-Length tells the client the body is incomplete (it resumes with Range).
        if request.transport is not None:
            request.transport.close()
    finally:
        await download.close()
    return response
