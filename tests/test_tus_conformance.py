"""Table-driven tus 1.0.0 conformance (issue 2 §7, checklist in reference/tus-notes.md (a)).

Each row is one request: the upload it starts from, method, headers and body, and what must
come back (status, headers that must be there with a given value, headers that must not be
there) and what must be true afterwards (offset, length, state, bytes on disk). Every row
also checks what every response carries: ``Tus-Resumable`` and the security headers, and a
text message on errors. Scenarios that need several steps (concatenation, tokens, proxies,
free space) follow the tables as ordinary tests.
"""

import asyncio
import base64
import errno
import hashlib
import re
import shutil
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select, update

from tests import tus
from tests.conftest import Issued, issue_token, make_settings, sessions
from tests.fakes import FaultyStore, data_path
from tuslog import errors
from tuslog.app import create_app
from tuslog.db.models import AuditEvent, Upload, UploadToken, utcnow
from tuslog.services import tokens as token_service
from tuslog.settings import Settings
from tuslog.uploads import records

MAX = 1_000_000
ORIGIN = "https://desk.example.com"
OTHER_ORIGIN = "https://evil.example.net"
BODY = b"0123456789"  # the content of every length-10 upload below
META = f"filename {tus.b64('logs.tar.gz')},note {tus.b64('disk full?')},flag"
UNKNOWN_ID = "0" * 32
EXTENSIONS = {
    "creation",
    "creation-with-upload",
    "creation-defer-length",
    "expiration",
    "checksum",
    "termination",
    "concatenation",
}
TOKEN_MESSAGE = errors.TOKEN_INVALID().message + "\n"
ABSOLUTE_LOCATION = re.compile(r"http://127\.0\.0\.1:\d+/files/[0-9a-f]{32}")
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """A small Tus-Max-Size (so 413 is cheap to reach) and one browser origin."""
    return make_settings(database_url, tmp_path, max_upload_size=MAX, cors_origins=[ORIGIN])


@pytest.fixture(autouse=True)
async def _engine(assertion_db: None) -> None:
    """The assertions' own queries go through ``sessions(settings)``."""


# --- header matchers ------------------------------------------------------------------------
class Has:
    """A comma-separated header listing at least these items (case-insensitive)."""

    def __init__(self, *items: str, exact: bool = False) -> None:
        self.items = {item.lower() for item in items}
        self.exact = exact

    def __call__(self, value: str) -> bool:
        listed = {item.strip().lower() for item in value.split(",") if item.strip()}
        return listed == self.items if self.exact else self.items <= listed

    def __repr__(self) -> str:
        return f"{'exactly' if self.exact else 'at least'} {sorted(self.items)}"


class FutureHttpDate:
    """An IMF-fixdate in GMT, about ``UPLOAD_EXPIRY`` (7 days by default) from now."""

    def __call__(self, value: str) -> bool:
        moment = parsedate_to_datetime(value)
        expected = datetime.now(UTC) + timedelta(days=7)
        return value.endswith(" GMT") and abs((moment - expected).total_seconds()) < 120

    def __repr__(self) -> str:
        return "an HTTP-date about 7 days ahead"


HTTP_DATE = FutureHttpDate()
Matcher = str | re.Pattern[str] | Callable[[str], bool]


def assert_header(response: Any, name: str, expected: Matcher) -> None:
    value = response.headers.get(name)
    assert value is not None, f"{name} missing; headers: {dict(response.headers)}"
    if isinstance(expected, str):
        assert value == expected, f"{name}: {value!r} != {expected!r}"
    elif isinstance(expected, re.Pattern):
        assert expected.fullmatch(value), f"{name}: {value!r} !~ {expected.pattern}"
    else:
        assert expected(value), f"{name}: {value!r} is not {expected!r}"


def assert_common(response: Any, method: str, text: str) -> None:
    """What every tus response carries, errors included (C1, security headers)."""
    assert response.headers.get("Tus-Resumable") == "1.0.0", dict(response.headers)
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, name
    assert "Content-Security-Policy" in response.headers
    assert "Server" not in response.headers
    if response.status >= 400 and method != "HEAD":
        assert response.content_type == "text/plain", response.content_type
        assert len(text.strip()) > 5, f"no clear message: {text!r}"


# --- database and disk ----------------------------------------------------------------------
async def db_uploads(settings: Settings) -> dict[str, Upload]:
    async with sessions(settings)() as session:
        rows = await records.list_for(session, None)
    return {upload.id: upload for upload, _ in rows}


async def db_token(settings: Settings, prefix: str) -> UploadToken:
    async with sessions(settings)() as session:
        token = await session.scalar(select(UploadToken).where(UploadToken.prefix == prefix))
    assert token is not None
    return token


async def db_execute(settings: Settings, statement: Any) -> None:
    async with sessions(settings).begin() as session:
        await session.execute(statement)


async def revoke(settings: Settings, prefix: str) -> None:
    async with sessions(settings).begin() as session:
        await token_service.revoke(session, prefix, actor="test")


def data_of(settings: Settings, upload_id: str) -> bytes | None:
    path = data_path(settings.storage_dir, upload_id)
    return path.read_bytes() if path.exists() else None


def data_files(settings: Settings) -> dict[str, bytes]:
    root = settings.storage_dir
    if not root.exists():
        return {}
    return {
        path.name: path.read_bytes()
        for path in root.rglob("*")
        if path.is_file() and ".locks" not in path.relative_to(root).parts
    }


def upload_id_of(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[1]


def checksum(algorithm: str, data: bytes) -> str:
    if algorithm == "crc32":
        digest = zlib.crc32(data).to_bytes(4, "big")
    else:
        digest = hashlib.new(algorithm, data).digest()
    return f"{algorithm} {base64.b64encode(digest).decode()}"


# --- starting points ------------------------------------------------------------------------
async def _new(client: TestClient, auth: dict[str, str], length: int | None, **kw: Any) -> str:
    prefill: bytes = kw.pop("prefill", b"")
    if length is None:
        kw["Upload_Defer_Length"] = 1
    path = await tus.create_path(client, auth, length, **kw)
    if prefill:
        response = await tus.patch(client, path, auth, 0, prefill)
        assert response.status == 204, await response.text()
    return path


async def _terminated(client: TestClient, auth: dict[str, str]) -> str:
    path = await _new(client, auth, 10, prefill=b"0123")
    response = await client.delete(path, headers=auth)
    assert response.status == 204, await response.text()
    return path


Setup = Callable[[TestClient, dict[str, str]], Awaitable[str]]


def _fixed(path: str) -> Setup:
    async def setup(client: TestClient, auth: dict[str, str]) -> str:
        return path

    return setup


def _upload(length: int | None, **kw: Any) -> Setup:
    async def setup(client: TestClient, auth: dict[str, str]) -> str:
        return await _new(client, auth, length, **kw)

    return setup


SETUPS: dict[str, Setup] = {
    "collection": _fixed("/files/"),
    "unknown": _fixed(f"/files/{UNKNOWN_ID}"),
    "bad-id": _fixed("/files/not-an-upload-id"),
    "nested": _fixed("/files/a/b"),
    "fresh": _upload(10),
    "partial": _upload(10, prefill=b"0123"),
    "complete": _upload(10, prefill=BODY),
    "empty": _upload(0),
    "deferred": _upload(None),
    "deferred-partial": _upload(None, prefill=b"0123"),
    "metadata": _upload(10, Upload_Metadata=META),
    "concat-partial": _upload(10, Upload_Concat="partial"),
    "terminated": _terminated,
}
GONE = object()  # data_after: the data file must not exist


@dataclass(frozen=True)
class Row:
    id: str
    method: str
    target: str = "collection"
    headers: dict[str, str | None] = field(default_factory=dict)  # None removes a header
    body: bytes | None = None
    status: int = 200
    expect: dict[str, Matcher] = field(default_factory=dict)
    forbid: tuple[str, ...] = ()
    auth: bool = True  # send the token and Tus-Resumable: 1.0.0
    after: dict[str, Any] = field(default_factory=dict)  # offset/length/state/data/uploads


def rows(*table: Row) -> Any:
    return pytest.mark.parametrize("row", [pytest.param(r, id=r.id) for r in table])


async def run_row(client: TestClient, issued: Issued, settings: Settings, row: Row) -> Any:
    path = await SETUPS[row.target](client, issued.auth)
    before = await db_uploads(settings) if "uploads" in row.after else {}
    files_before = data_files(settings)
    headers: dict[str, str] = dict(issued.auth) if row.auth else {}
    for name, value in row.headers.items():
        if value is None:
            headers.pop(name, None)
        else:
            headers[name] = value
    response = await client.request(row.method, path, headers=headers, data=row.body)
    text = await response.text()
    assert response.status == row.status, text
    method = headers.get("X-HTTP-Method-Override", row.method).upper()
    assert_common(response, method, text)
    for name, expected in row.expect.items():
        assert_header(response, name, expected)
    for name in row.forbid:
        assert name not in response.headers, f"{name} must not be sent: {response.headers[name]}"
    if row.after:
        after = await db_uploads(settings)
        upload_id = None
        if "Location" in response.headers:
            upload_id = upload_id_of(response.headers["Location"])
        elif path.count("/") == 2 and path != "/files/":
            upload_id = upload_id_of(path)
        check_after(settings, row.after, before, after, upload_id)
        if "uploads" in row.after:  # a data file exactly for each new upload row
            added = set(data_files(settings)) - set(files_before)
            assert added == set(after) - set(before), added
    return response


def check_after(
    settings: Settings,
    expected: dict[str, Any],
    before: dict[str, Upload],
    after: dict[str, Upload],
    upload_id: str | None,
) -> None:
    if "uploads" in expected:  # how many upload rows this request added
        assert len(after) - len(before) == expected["uploads"], sorted(after)
    keys = set(expected) - {"uploads"}
    if not keys:
        return
    assert upload_id is not None and upload_id in after, (upload_id, sorted(after))
    upload = after[upload_id]
    for key in keys & {"offset", "length", "state"}:
        assert getattr(upload, key) == expected[key], f"{key}: {getattr(upload, key)!r}"
    if "data" in expected:
        data = data_of(settings, upload_id)
        assert data == (None if expected["data"] is GONE else expected["data"])


# === OPTIONS (C3-C5, C23-C24, K1, X2) ========================================================
OPTIONS_OK: dict[str, Matcher] = {
    "Tus-Version": "1.0.0",
    "Tus-Extension": Has(*EXTENSIONS, exact=True),
    "Tus-Max-Size": str(MAX),
    "Tus-Checksum-Algorithm": Has("sha1", "sha256", "md5", "crc32", exact=True),
}
PREFLIGHT = {
    "Origin": ORIGIN,
    "Access-Control-Request-Method": "PATCH",
    "Access-Control-Request-Headers": "authorization,content-type,tus-resumable,upload-offset",
}
CORS_HEADERS = (
    "Access-Control-Allow-Origin",
    "Access-Control-Allow-Methods",
    "Access-Control-Allow-Headers",
    "Access-Control-Expose-Headers",
    "Access-Control-Max-Age",
)
ALLOW_HEADERS = Has(
    "Authorization",
    "Content-Type",
    "Tus-Resumable",
    "Upload-Length",
    "Upload-Metadata",
    "Upload-Offset",
    "Upload-Checksum",
    "Upload-Concat",
    "Upload-Defer-Length",
    "X-HTTP-Method-Override",
    "X-Requested-With",
    "X-Request-ID",
)
EXPOSE_HEADERS = Has(
    "Location",
    "Upload-Offset",
    "Upload-Length",
    "Upload-Expires",
    "Upload-Metadata",
    "Upload-Defer-Length",
    "Upload-Concat",
    "Tus-Resumable",
    "Tus-Version",
    "Tus-Extension",
    "Tus-Max-Size",
    "Tus-Checksum-Algorithm",
)


@rows(
    Row("collection", "OPTIONS", status=204, expect=OPTIONS_OK, forbid=CORS_HEADERS),
    Row(
        "no-tus-resumable-no-token",
        "OPTIONS",
        auth=False,
        status=204,
        expect=OPTIONS_OK,
    ),
    Row(
        "wrong-tus-resumable-never-412",
        "OPTIONS",
        headers={"Tus-Resumable": "0.2.2"},
        status=204,
        expect=OPTIONS_OK,
    ),
    Row("upload-url", "OPTIONS", target="partial", auth=False, status=204, expect=OPTIONS_OK),
    Row("unknown-upload-url", "OPTIONS", target="unknown", status=204, expect=OPTIONS_OK),
    Row(
        "no-checksum-trailer-advertised",
        "OPTIONS",
        status=204,
        expect={"Tus-Extension": lambda v: "checksum-trailer" not in v},
    ),
)
async def test_options(client: TestClient, issued: Issued, settings: Settings, row: Row) -> None:
    await run_row(client, issued, settings, row)


# === CORS (X2-X4) ============================================================================
@rows(
    Row(
        "preflight-configured-origin",
        "OPTIONS",
        auth=False,
        headers=PREFLIGHT,
        status=204,
        expect={
            "Access-Control-Allow-Origin": ORIGIN,
            "Access-Control-Allow-Methods": Has("POST", "HEAD", "PATCH", "DELETE", "OPTIONS"),
            "Access-Control-Allow-Headers": ALLOW_HEADERS,
            "Access-Control-Max-Age": re.compile(r"[1-9][0-9]*"),
            "Vary": Has("Origin"),
            "Tus-Version": "1.0.0",
        },
    ),
    Row(
        "preflight-on-upload-url",
        "OPTIONS",
        target="partial",
        auth=False,
        headers={**PREFLIGHT, "Access-Control-Request-Method": "DELETE"},
        status=204,
        expect={
            "Access-Control-Allow-Origin": ORIGIN,
            "Access-Control-Allow-Methods": Has("DELETE", "HEAD", "PATCH"),
        },
    ),
    Row(
        "preflight-unknown-origin",
        "OPTIONS",
        auth=False,
        headers={**PREFLIGHT, "Origin": OTHER_ORIGIN},
        status=204,
        expect={"Tus-Version": "1.0.0", "Vary": Has("Origin")},
        forbid=CORS_HEADERS,
    ),
    Row(
        "post-configured-origin-exposes-headers",
        "POST",
        headers={"Origin": ORIGIN, "Upload-Length": "10"},
        status=201,
        expect={
            "Access-Control-Allow-Origin": ORIGIN,
            "Access-Control-Expose-Headers": EXPOSE_HEADERS,
            "Vary": Has("Origin"),
        },
    ),
    Row(
        "patch-configured-origin",
        "PATCH",
        target="fresh",
        headers={"Origin": ORIGIN, "Content-Type": tus.OCTET, "Upload-Offset": "0"},
        body=b"0123",
        status=204,
        expect={
            "Access-Control-Allow-Origin": ORIGIN,
            "Access-Control-Expose-Headers": EXPOSE_HEADERS,
        },
    ),
    Row(
        "error-configured-origin-readable",
        "HEAD",
        target="unknown",
        headers={"Origin": ORIGIN},
        status=404,
        expect={"Access-Control-Allow-Origin": ORIGIN},
    ),
    Row(
        "412-configured-origin-readable",
        "POST",
        headers={"Origin": ORIGIN, "Tus-Resumable": None, "Upload-Length": "1"},
        status=412,
        expect={"Access-Control-Allow-Origin": ORIGIN, "Tus-Version": "1.0.0"},
    ),
    Row(
        "post-unknown-origin",
        "POST",
        headers={"Origin": OTHER_ORIGIN, "Upload-Length": "10"},
        status=201,
        expect={"Vary": Has("Origin")},
        forbid=CORS_HEADERS,
    ),
    Row(
        "no-origin-no-cors",
        "POST",
        headers={"Upload-Length": "10"},
        status=201,
        expect={"Vary": Has("Origin")},
        forbid=CORS_HEADERS,
    ),
)
async def test_cors(client: TestClient, issued: Issued, settings: Settings, row: Row) -> None:
    await run_row(client, issued, settings, row)


# === Tus-Resumable / 412 (C1, C2) and unrouted requests =====================================
PATCH_0 = {"Content-Type": tus.OCTET, "Upload-Offset": "0"}


@rows(
    Row(
        "post-missing",
        "POST",
        headers={"Tus-Resumable": None, "Upload-Length": "10"},
        status=412,
        expect={"Tus-Version": "1.0.0"},
        forbid=("Location",),
        after={"uploads": 0},
    ),
    Row(
        "post-old-version",
        "POST",
        headers={"Tus-Resumable": "0.2.2", "Upload-Length": "10"},
        status=412,
        expect={"Tus-Version": "1.0.0"},
        after={"uploads": 0},
    ),
    Row(
        "post-not-exact",
        "POST",
        headers={"Tus-Resumable": "1.0", "Upload-Length": "10"},
        status=412,
        expect={"Tus-Version": "1.0.0"},
        after={"uploads": 0},
    ),
    Row(
        "missing-without-token-still-412",
        "POST",
        auth=False,
        headers={"Upload-Length": "10"},
        status=412,
        expect={"Tus-Version": "1.0.0"},
        after={"uploads": 0},
    ),
    Row(
        "head-missing",
        "HEAD",
        target="partial",
        headers={"Tus-Resumable": None},
        status=412,
        expect={"Tus-Version": "1.0.0"},
        forbid=("Upload-Offset",),
    ),
    Row(
        "patch-wrong-not-processed",
        "PATCH",
        target="fresh",
        headers={**PATCH_0, "Tus-Resumable": "2.0.0"},
        body=b"0123",
        status=412,
        expect={"Tus-Version": "1.0.0"},
        after={"offset": 0, "data": b""},
    ),
    Row(
        "delete-missing-not-processed",
        "DELETE",
        target="partial",
        headers={"Tus-Resumable": None},
        status=412,
        expect={"Tus-Version": "1.0.0"},
        after={"state": "receiving", "data": b"0123"},
    ),
    Row(
        "put-405",
        "PUT",
        headers={"Upload-Length": "10"},
        status=405,
        expect={"Allow": Has("POST", "OPTIONS")},
        after={"uploads": 0},
    ),
    Row(
        "get-upload-405",
        "GET",
        target="partial",
        status=405,
        expect={"Allow": Has("HEAD", "PATCH", "DELETE", "OPTIONS")},
    ),
    Row("unrouted-404", "GET", target="nested", status=404),
)
async def test_tus_resumable(
    client: TestClient, issued: Issued, settings: Settings, row: Row
) -> None:
    await run_row(client, issued, settings, row)


# === POST: creation, creation-with-upload, creation-defer-length (CR*, CU*, D1, E2) ==========
CREATED: dict[str, Matcher] = {
    "Location": ABSOLUTE_LOCATION,
    "Upload-Offset": "0",
    "Upload-Expires": HTTP_DATE,
}
WITH_BODY = {"Content-Type": tus.OCTET}


@rows(
    Row(
        "length",
        "POST",
        headers={"Upload-Length": "10"},
        status=201,
        expect={**CREATED, "Tuslog-Upload-State": "receiving"},
        after={"uploads": 1, "offset": 0, "length": 10, "state": "receiving", "data": b""},
    ),
    Row(
        "length-max",
        "POST",
        headers={"Upload-Length": str(MAX)},
        status=201,
        expect=CREATED,
        after={"uploads": 1, "length": MAX},
    ),
    Row(
        "length-zero-completes-at-once",
        "POST",
        headers={"Upload-Length": "0"},
        status=201,
        expect={
            "Location": ABSOLUTE_LOCATION,
            "Upload-Offset": "0",
            "Tuslog-Upload-State": "complete",
            "Tuslog-Sha256": hashlib.sha256(b"").hexdigest(),
        },
        forbid=("Upload-Expires",),
        after={"uploads": 1, "offset": 0, "length": 0, "state": "complete", "data": b""},
    ),
    Row(
        "defer-length",
        "POST",
        headers={"Upload-Defer-Length": "1"},
        status=201,
        expect={**CREATED, "Upload-Defer-Length": "1"},
        forbid=("Upload-Length",),
        after={"uploads": 1, "length": None, "state": "receiving"},
    ),
    Row(
        "metadata",
        "POST",
        headers={"Upload-Length": "10", "Upload-Metadata": META},
        status=201,
        expect=CREATED,
        after={"uploads": 1},
    ),
    Row(
        "both-lengths-400",
        "POST",
        headers={"Upload-Length": "10", "Upload-Defer-Length": "1"},
        status=400,
        forbid=("Location",),
        after={"uploads": 0},
    ),
    Row("no-length-400", "POST", status=400, forbid=("Location",), after={"uploads": 0}),
    Row(
        "defer-length-not-1-400",
        "POST",
        headers={"Upload-Defer-Length": "0"},
        status=400,
        after={"uploads": 0},
    ),
    Row(
        "over-max-413",
        "POST",
        headers={"Upload-Length": str(MAX + 1)},
        status=413,
        forbid=("Location",),
        after={"uploads": 0},
    ),
    Row(
        "with-upload-part",
        "POST",
        headers={**WITH_BODY, "Upload-Length": "10"},
        body=b"01234",
        status=201,
        expect={**CREATED, "Upload-Offset": "5"},
        after={"uploads": 1, "offset": 5, "state": "receiving", "data": b"01234"},
    ),
    Row(
        "with-upload-whole",
        "POST",
        headers={**WITH_BODY, "Upload-Length": "10"},
        body=BODY,
        status=201,
        expect={
            "Location": ABSOLUTE_LOCATION,
            "Upload-Offset": "10",
            "Tuslog-Upload-State": "complete",
            "Tuslog-Sha256": hashlib.sha256(BODY).hexdigest(),
        },
        forbid=("Upload-Expires",),
        after={"uploads": 1, "offset": 10, "state": "complete", "data": BODY},
    ),
    Row(
        "with-upload-deferred",
        "POST",
        headers={**WITH_BODY, "Upload-Defer-Length": "1"},
        body=b"abc",
        status=201,
        expect={**CREATED, "Upload-Offset": "3", "Upload-Defer-Length": "1"},
        after={"uploads": 1, "offset": 3, "length": None, "data": b"abc"},
    ),
    Row(
        "with-upload-other-content-type-is-no-body",
        "POST",
        headers={"Content-Type": "text/plain", "Upload-Length": "10"},
        body=b"abc",
        status=201,
        expect=CREATED,
        after={"uploads": 1, "offset": 0, "data": b""},
    ),
    Row(
        "with-upload-body-past-length-creates-nothing",
        "POST",
        headers={**WITH_BODY, "Upload-Length": "4"},
        body=BODY,
        status=413,
        after={"uploads": 0},
    ),
)
async def test_post(client: TestClient, issued: Issued, settings: Settings, row: Row) -> None:
    await run_row(client, issued, settings, row)


# === HEAD (C8-C13, D3, E2, E3, T3, CC7) =======================================================
NOT_FOUND_FORBID = ("Upload-Offset", "Upload-Length", "Upload-Expires")


@rows(
    Row(
        "partial",
        "HEAD",
        target="partial",
        expect={
            "Upload-Offset": "4",
            "Upload-Length": "10",
            "Cache-Control": "no-store",
            "Upload-Expires": HTTP_DATE,
        },
        forbid=("Upload-Defer-Length", "Upload-Concat", "Upload-Metadata"),
    ),
    Row(
        "fresh-offset-0",
        "HEAD",
        target="fresh",
        expect={"Upload-Offset": "0", "Upload-Length": "10", "Cache-Control": "no-store"},
    ),
    Row(
        "metadata-echoed-exactly",
        "HEAD",
        target="metadata",
        expect={"Upload-Metadata": META, "Cache-Control": "no-store"},
    ),
    Row(
        "deferred",
        "HEAD",
        target="deferred",
        expect={"Upload-Offset": "0", "Upload-Defer-Length": "1", "Cache-Control": "no-store"},
        forbid=("Upload-Length",),
    ),
    Row(
        "deferred-partial",
        "HEAD",
        target="deferred-partial",
        expect={"Upload-Offset": "4", "Upload-Defer-Length": "1"},
        forbid=("Upload-Length",),
    ),
    Row(
        "complete",
        "HEAD",
        target="complete",
        expect={
            "Upload-Offset": "10",
            "Upload-Length": "10",
            "Cache-Control": "no-store",
            "Tuslog-Upload-State": "complete",
        },
        forbid=("Upload-Expires", "Upload-Defer-Length"),
    ),
    Row(
        "zero-length",
        "HEAD",
        target="empty",
        expect={"Upload-Offset": "0", "Upload-Length": "0", "Cache-Control": "no-store"},
    ),
    Row(
        "partial-concat",
        "HEAD",
        target="concat-partial",
        expect={"Upload-Concat": "partial", "Upload-Offset": "0", "Upload-Length": "10"},
    ),
    Row("unknown-404", "HEAD", target="unknown", status=404, forbid=NOT_FOUND_FORBID),
    Row("malformed-id-404", "HEAD", target="bad-id", status=404, forbid=NOT_FOUND_FORBID),
    Row("terminated-410", "HEAD", target="terminated", status=410, forbid=NOT_FOUND_FORBID),
)
async def test_head(client: TestClient, issued: Issued, settings: Settings, row: Row) -> None:
    await run_row(client, issued, settings, row)


# === PATCH (C14-C21, D2, D4, E2) ==============================================================
def patch_at(offset: int, **extra: str | None) -> dict[str, str | None]:
    return {"Content-Type": tus.OCTET, "Upload-Offset": str(offset), **extra}


UNCHANGED_PARTIAL = {"offset": 4, "length": 10, "state": "receiving", "data": b"0123"}


@rows(
    Row(
        "first-chunk",
        "PATCH",
        target="fresh",
        headers=patch_at(0),
        body=b"0123",
        status=204,
        expect={"Upload-Offset": "4", "Upload-Expires": HTTP_DATE},
        after={"offset": 4, "data": b"0123", "state": "receiving"},
    ),
    Row(
        "last-chunk-completes",
        "PATCH",
        target="partial",
        headers=patch_at(4),
        body=b"456789",
        status=204,
        expect={"Upload-Offset": "10", "Tuslog-Upload-State": "complete"},
        forbid=("Upload-Expires",),
        after={"offset": 10, "data": BODY, "state": "complete"},
    ),
    Row(
        "empty-body",
        "PATCH",
        target="partial",
        headers=patch_at(4),
        body=b"",
        status=204,
        expect={"Upload-Offset": "4", "Upload-Expires": HTTP_DATE},
        after=UNCHANGED_PARTIAL,
    ),
    Row(
        "wrong-content-type-415",
        "PATCH",
        target="partial",
        headers=patch_at(4, **{"Content-Type": "application/octet-stream"}),
        body=b"456",
        status=415,
        after=UNCHANGED_PARTIAL,
    ),
    Row(
        "no-content-type-415",
        "PATCH",
        target="partial",
        headers=patch_at(4, **{"Content-Type": None}),
        status=415,
        after=UNCHANGED_PARTIAL,
    ),
    Row(
        "offset-behind-409-reports-real-offset",
        "PATCH",
        target="partial",
        headers=patch_at(2),
        body=b"23",
        status=409,
        expect={"Upload-Offset": "4"},
        after=UNCHANGED_PARTIAL,
    ),
    Row(
        "offset-ahead-409",
        "PATCH",
        target="partial",
        headers=patch_at(6),
        body=b"67",
        status=409,
        expect={"Upload-Offset": "4"},
        after=UNCHANGED_PARTIAL,
    ),
    Row(
        "restart-from-0-409",
        "PATCH",
        target="partial",
        headers=patch_at(0),
        body=b"abcd",
        status=409,
        expect={"Upload-Offset": "4"},
        after=UNCHANGED_PARTIAL,
    ),
    Row(
        "missing-offset-400",
        "PATCH",
        target="partial",
        headers=patch_at(4, **{"Upload-Offset": None}),
        body=b"456",
        status=400,
        after=UNCHANGED_PARTIAL,
    ),
    Row(
        "past-length-413",
        "PATCH",
        target="fresh",
        headers=patch_at(0),
        body=BODY + b"X",
        status=413,
        after={"offset": 0, "data": b""},
    ),
    Row(
        "past-length-from-middle-413",
        "PATCH",
        target="partial",
        headers=patch_at(4),
        body=b"4567890",
        status=413,
        expect={"Upload-Offset": "4"},
        after=UNCHANGED_PARTIAL,
    ),
    Row(
        "deferred-length-set-and-finished",
        "PATCH",
        target="deferred",
        headers=patch_at(0, **{"Upload-Length": "6"}),
        body=b"abcdef",
        status=204,
        expect={"Upload-Offset": "6", "Upload-Length": "6", "Tuslog-Upload-State": "complete"},
        forbid=("Upload-Defer-Length",),
        after={"offset": 6, "length": 6, "state": "complete", "data": b"abcdef"},
    ),
    Row(
        "deferred-length-set-midway",
        "PATCH",
        target="deferred-partial",
        headers=patch_at(4, **{"Upload-Length": "10"}),
        body=b"45",
        status=204,
        expect={"Upload-Offset": "6", "Upload-Length": "10", "Upload-Expires": HTTP_DATE},
        forbid=("Upload-Defer-Length",),
        after={"offset": 6, "length": 10, "state": "receiving", "data": b"012345"},
    ),
    Row(
        "deferred-length-still-unknown",
        "PATCH",
        target="deferred",
        headers=patch_at(0),
        body=b"0123",
        status=204,
        expect={"Upload-Offset": "4", "Upload-Defer-Length": "1"},
        after={"offset": 4, "length": None, "data": b"0123"},
    ),
    Row(
        "deferred-length-below-offset-400",
        "PATCH",
        target="deferred-partial",
        headers=patch_at(4, **{"Upload-Length": "3"}),
        status=400,
        after={"offset": 4, "length": None, "data": b"0123"},
    ),
    Row(
        "deferred-length-over-max-413",
        "PATCH",
        target="deferred",
        headers=patch_at(0, **{"Upload-Length": str(MAX + 1)}),
        body=b"0123",
        status=413,
        after={"offset": 0, "length": None, "data": b""},
    ),
    Row(
        "deferred-body-past-declared-length-413",
        "PATCH",
        target="deferred",
        headers=patch_at(0, **{"Upload-Length": "3"}),
        body=b"0123",
        status=413,
        after={"offset": 0, "data": b""},
    ),
    Row(
        "length-cannot-change-400",
        "PATCH",
        target="partial",
        headers=patch_at(4, **{"Upload-Length": "12"}),
        body=b"45",
        status=400,
        after=UNCHANGED_PARTIAL,
    ),
    Row(
        "same-length-repeated-ok",
        "PATCH",
        target="partial",
        headers=patch_at(4, **{"Upload-Length": "10"}),
        body=b"45",
        status=204,
        expect={"Upload-Offset": "6"},
        after={"offset": 6, "length": 10, "data": b"012345"},
    ),
    Row(
        "complete-upload-takes-no-more-bytes",
        "PATCH",
        target="complete",
        headers=patch_at(10),
        body=b"X",
        status=413,
        after={"offset": 10, "state": "complete", "data": BODY},
    ),
    Row("unknown-404", "PATCH", target="unknown", headers=patch_at(0), body=b"x", status=404),
    Row("terminated-410", "PATCH", target="terminated", headers=patch_at(4), status=410),
)
async def test_patch(client: TestClient, issued: Issued, settings: Settings, row: Row) -> None:
    await run_row(client, issued, settings, row)


# === checksum (K1-K4) =========================================================================
ALGORITHMS = ("sha1", "sha256", "md5", "crc32")


@rows(
    *[
        Row(
            f"{algorithm}-right",
            "PATCH",
            target="fresh",
            headers=patch_at(0, **{"Upload-Checksum": checksum(algorithm, b"0123")}),
            body=b"0123",
            status=204,
            expect={"Upload-Offset": "4"},
            after={"offset": 4, "data": b"0123"},
        )
        for algorithm in ALGORITHMS
    ],
    *[
        Row(
            f"{algorithm}-wrong-460-chunk-discarded",
            "PATCH",
            target="fresh",
            headers=patch_at(0, **{"Upload-Checksum": checksum(algorithm, b"0124")}),
            body=b"0123",
            status=460,
            expect={"Upload-Offset": "0"},
            after={"offset": 0, "state": "receiving", "data": b""},
        )
        for algorithm in ALGORITHMS
    ],
    Row(
        "wrong-in-the-middle-keeps-earlier-bytes",
        "PATCH",
        target="partial",
        headers=patch_at(4, **{"Upload-Checksum": checksum("sha1", b"XYZ")}),
        body=b"456",
        status=460,
        expect={"Upload-Offset": "4"},
        after=UNCHANGED_PARTIAL,
    ),
    Row(
        "wrong-on-last-chunk-does-not-complete",
        "PATCH",
        target="partial",
        headers=patch_at(4, **{"Upload-Checksum": checksum("sha256", b"nope")}),
        body=b"456789",
        status=460,
        expect={"Upload-Offset": "4"},
        after=UNCHANGED_PARTIAL,
    ),
    Row(
        "right-on-last-chunk-completes",
        "PATCH",
        target="partial",
        headers=patch_at(4, **{"Upload-Checksum": checksum("sha256", b"456789")}),
        body=b"456789",
        status=204,
        expect={"Upload-Offset": "10", "Tuslog-Upload-State": "complete"},
        after={"offset": 10, "state": "complete", "data": BODY},
    ),
    Row(
        "unknown-algorithm-400",
        "PATCH",
        target="partial",
        headers=patch_at(4, **{"Upload-Checksum": checksum("sha512", b"456")}),
        body=b"456",
        status=400,
        after=UNCHANGED_PARTIAL,
    ),
    Row(
        "algorithm-without-digest-400",
        "PATCH",
        target="partial",
        headers=patch_at(4, **{"Upload-Checksum": "sha1"}),
        body=b"456",
        status=400,
        after=UNCHANGED_PARTIAL,
    ),
)
async def test_checksum(client: TestClient, issued: Issued, settings: Settings, row: Row) -> None:
    await run_row(client, issued, settings, row)


async def test_creation_with_upload_verifies_checksum(
    client: TestClient, issued: Issued, settings: Settings
) -> None:
    headers = {
        **issued.auth,
        "Upload-Length": "4",
        "Content-Type": tus.OCTET,
        "Upload-Checksum": checksum("sha1", b"XXXX"),
    }
    response = await client.post("/files/", headers=headers, data=b"0123")
    assert response.status in (201, 460), await response.text()
    upload = next(iter((await db_uploads(settings)).values()))
    assert (upload.offset, upload.state) == (0, "receiving")
    assert data_of(settings, upload.id) == b""


@pytest.mark.parametrize("value", ["sha512 AAAA", "sha1", "sha1 !!!"])
async def test_creation_with_upload_rejects_bad_checksum_header(
    client: TestClient, issued: Issued, settings: Settings, value: str
) -> None:
    headers = {
        **issued.auth,
        "Upload-Length": "4",
        "Content-Type": tus.OCTET,
        "Upload-Checksum": value,
    }
    response = await client.post("/files/", headers=headers, data=b"0123")
    assert response.status == 400, await response.text()
    assert await db_uploads(settings) == {}
    assert (await db_token(settings, issued.prefix)).uses == 0


# === termination (T1-T3) ======================================================================
@rows(
    Row(
        "unfinished-204-bytes-freed",
        "DELETE",
        target="partial",
        status=204,
        forbid=("Upload-Offset",),
        after={"state": "terminated", "data": GONE},
    ),
    Row(
        "deferred-204",
        "DELETE",
        target="deferred-partial",
        status=204,
        after={"state": "terminated", "data": GONE},
    ),
    Row(
        "finished-cannot-be-deleted-by-token",
        "DELETE",
        target="complete",
        status=403,
        after={"state": "complete", "offset": 10, "data": BODY},
    ),
    Row("twice-410", "DELETE", target="terminated", status=410),
    Row("unknown-404", "DELETE", target="unknown", status=404),
    Row(
        "patch-after-delete-410",
        "PATCH",
        target="terminated",
        headers=patch_at(4),
        body=b"45",
        status=410,
        after={"state": "terminated", "data": GONE},
    ),
)
async def test_termination(
    client: TestClient, issued: Issued, settings: Settings, row: Row
) -> None:
    await run_row(client, issued, settings, row)


# === X-HTTP-Method-Override (C6) ==============================================================
@rows(
    Row(
        "post-as-patch",
        "POST",
        target="partial",
        headers=patch_at(4, **{"X-HTTP-Method-Override": "PATCH"}),
        body=b"456",
        status=204,
        expect={"Upload-Offset": "7"},
        after={"offset": 7, "data": b"0123456"},
    ),
    Row(
        "post-as-patch-lowercase",
        "POST",
        target="partial",
        headers=patch_at(4, **{"X-HTTP-Method-Override": "patch"}),
        body=b"456",
        status=204,
        expect={"Upload-Offset": "7"},
        after={"offset": 7},
    ),
    Row(
        "post-as-head",
        "POST",
        target="partial",
        headers={"X-HTTP-Method-Override": "HEAD"},
        expect={"Upload-Offset": "4", "Upload-Length": "10", "Cache-Control": "no-store"},
        after=UNCHANGED_PARTIAL,
    ),
    Row(
        "get-as-head",
        "GET",
        target="partial",
        headers={"X-HTTP-Method-Override": "HEAD"},
        expect={"Upload-Offset": "4", "Cache-Control": "no-store"},
    ),
    Row(
        "post-as-delete",
        "POST",
        target="partial",
        headers={"X-HTTP-Method-Override": "DELETE"},
        status=204,
        after={"state": "terminated", "data": GONE},
    ),
    Row(
        "patch-as-delete",
        "PATCH",
        target="partial",
        headers={"X-HTTP-Method-Override": "DELETE"},
        status=204,
        after={"state": "terminated", "data": GONE},
    ),
    Row(
        "override-wins-over-real-method",
        "DELETE",
        target="partial",
        headers={"X-HTTP-Method-Override": "HEAD"},
        expect={"Upload-Offset": "4"},
        after=UNCHANGED_PARTIAL,
    ),
    Row(
        "override-to-unsupported-405",
        "POST",
        target="partial",
        headers={"X-HTTP-Method-Override": "PUT"},
        status=405,
        after=UNCHANGED_PARTIAL,
    ),
    Row(
        "override-still-needs-tus-resumable",
        "POST",
        target="partial",
        headers=patch_at(4, **{"X-HTTP-Method-Override": "PATCH", "Tus-Resumable": None}),
        body=b"456",
        status=412,
        after=UNCHANGED_PARTIAL,
    ),
)
async def test_method_override(
    client: TestClient, issued: Issued, settings: Settings, row: Row
) -> None:
    await run_row(client, issued, settings, row)


# === expiration (E1-E3) =======================================================================
async def test_upload_expires_slides_and_expired_upload_is_410(
    client: TestClient, issued: Issued, settings: Settings
) -> None:
    created = await tus.create(client, issued.auth, 10)
    path = tus.path_of(created.headers["Location"])
    first = parsedate_to_datetime(created.headers["Upload-Expires"])
    response = await tus.patch(client, path, issued.auth, 0, b"0123")
    assert parsedate_to_datetime(response.headers["Upload-Expires"]) >= first
    head = await client.head(path, headers=issued.auth)
    assert head.headers["Upload-Expires"] == response.headers["Upload-Expires"]

    await db_execute(
        settings,
        update(Upload)
        .where(Upload.id == upload_id_of(path))
        .values(expires_at=utcnow() - timedelta(seconds=1)),
    )
    head = await client.head(path, headers=issued.auth)
    assert head.status == 410
    assert "Upload-Offset" not in head.headers
    response = await tus.patch(client, path, issued.auth, 4, b"45")
    assert response.status == 410, await response.text()
    assert data_of(settings, upload_id_of(path)) == b"0123"


# === concatenation (CC1-CC8) ==================================================================
async def test_concatenation_final_is_partials_in_order(
    client: TestClient, issued: Issued, settings: Settings
) -> None:
    hello = await tus.finished_partial(client, issued.auth, b"hello ")
    world = await tus.finished_partial(client, issued.auth, b"world")
    assert (await db_token(settings, issued.prefix)).uses == 0  # partials cost no attempt
    head = await client.head(tus.path_of(hello), headers=issued.auth)
    assert head.headers["Upload-Concat"] == "partial"
    assert head.headers["Upload-Offset"] == "6"

    final = await tus.create(
        client, issued.auth, None, Upload_Concat=f"final;{world} {hello}", Upload_Metadata=META
    )
    assert final.status == 201, await final.text()
    assert (await db_token(settings, issued.prefix)).uses == 1  # the final costs one
    expected = b"worldhello "
    assert final.headers["Upload-Offset"] == final.headers["Upload-Length"] == "11"
    assert final.headers["Tuslog-Sha256"] == hashlib.sha256(expected).hexdigest()
    final_path = tus.path_of(final.headers["Location"])
    assert data_of(settings, upload_id_of(final_path)) == expected

    head = await client.head(final_path, headers=issued.auth)
    assert head.status == 200
    world_id, hello_id = upload_id_of(world), upload_id_of(hello)
    assert head.headers["Upload-Concat"] == f"final;/files/{world_id} /files/{hello_id}"
    assert head.headers["Upload-Offset"] == head.headers["Upload-Length"] == "11"
    assert head.headers["Upload-Metadata"] == META
    assert head.headers["Cache-Control"] == "no-store"

    # The one attempt is used: neither a new upload nor a new partial is accepted.
    assert (await tus.create(client, issued.auth, 1)).status == 401
    assert (await tus.create(client, issued.auth, 1, Upload_Concat="partial")).status == 401


async def test_concatenation_may_repeat_a_partial(
    client: TestClient, issued: Issued, settings: Settings
) -> None:
    part = await tus.finished_partial(client, issued.auth, b"abc")
    final = await tus.create(client, issued.auth, None, Upload_Concat=f"final;{part} {part}")
    assert final.status == 201, await final.text()
    assert final.headers["Upload-Length"] == "6"
    assert data_of(settings, upload_id_of(final.headers["Location"])) == b"abcabc"


@pytest.mark.parametrize(
    "case", ["unfinished-partial", "not-a-partial", "unknown", "other-token", "with-length"]
)
async def test_concatenation_final_rejected(
    client: TestClient, issued: Issued, settings: Settings, case: str
) -> None:
    other = await issue_token(settings, uploads=3)
    owner = other if case in ("not-a-partial", "unfinished-partial") else issued
    auth = owner.auth
    done = await tus.finished_partial(client, auth, b"abc")
    if case == "unfinished-partial":
        created = await tus.create(client, auth, 5, Upload_Concat="partial")
        named = str(created.headers["Location"])
    elif case == "not-a-partial":
        created = await tus.create(client, auth, 3, Content_Type=tus.OCTET)
        named = str(created.headers["Location"])
    elif case == "unknown":
        named = f"/files/{UNKNOWN_ID}"
    elif case == "other-token":
        named = await tus.finished_partial(client, other.auth, b"def")
    else:
        named = done
    before = await db_uploads(settings)
    extra = {"Upload_Length": "6"} if case == "with-length" else {}
    response = await tus.create(client, auth, None, Upload_Concat=f"final;{done} {named}", **extra)
    text = await response.text()
    assert response.status == 400, text
    assert "Location" not in response.headers
    assert len(text.strip()) > 10
    assert set(await db_uploads(settings)) == set(before)
    token = await db_token(settings, owner.prefix)
    assert token.uses == (1 if case == "not-a-partial" else 0)


async def test_patch_on_final_is_403(
    client: TestClient, issued: Issued, settings: Settings
) -> None:
    """CC6: a final upload takes no PATCH, not even an empty one at its end."""
    part = await tus.finished_partial(client, issued.auth, b"abc")
    final = await tus.create(client, issued.auth, None, Upload_Concat=f"final;{part}")
    final_path = tus.path_of(final.headers["Location"])
    completed_at = (await db_uploads(settings))[upload_id_of(final_path)].completed_at
    for offset, body in ((3, b""), (3, b"d"), (0, b"xyz")):
        response = await tus.patch(client, final_path, issued.auth, offset, body)
        text = await response.text()
        assert response.status == 403, text
        assert_common(response, "PATCH", text)
    upload = (await db_uploads(settings))[upload_id_of(final_path)]
    assert (upload.offset, upload.state, upload.completed_at) == (3, "complete", completed_at)
    assert data_of(settings, upload_id_of(final_path)) == b"abc"


async def test_empty_patch_on_finished_upload_changes_nothing(
    client: TestClient, issued: Issued, settings: Settings
) -> None:
    path = await tus.create_path(client, issued.auth, 10)
    assert (await tus.patch(client, path, issued.auth, 0, BODY)).status == 204
    completed_at = (await db_uploads(settings))[upload_id_of(path)].completed_at
    again = await tus.patch(client, path, issued.auth, 10, b"")
    assert (again.status, again.headers["Upload-Offset"]) == (204, "10")
    assert (await db_uploads(settings))[upload_id_of(path)].completed_at == completed_at
    async with sessions(settings)() as session:
        actions = list(await session.scalars(select(AuditEvent.action)))
    assert actions.count("upload.completed") == 1, actions


def failing_disk(root: Path) -> FaultyStore:
    """The Store seam: the disk answers reads of an upload's size with EIO."""
    store = FaultyStore(root)
    store.fail("size", OSError(errno.EIO, "Input/output error"))
    return store


async def test_unexpected_error_is_still_a_tus_response(
    aiohttp_client: Any, database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(database_url, tmp_path, cors_origins=[ORIGIN])
    client = await aiohttp_client(create_app(settings, failing_disk(settings.storage_dir)))
    issued = await issue_token(settings)
    path = await tus.create_path(client, issued.auth, 10)
    response = await tus.patch(client, path, {**issued.auth, "Origin": ORIGIN}, 0, b"0123")
    text = await response.text()
    assert response.status == 500
    assert_common(response, "PATCH", text)
    assert "retry" in text
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "Upload-Offset" not in response.headers
    assert (await db_uploads(settings))[upload_id_of(path)].offset == 0


# === absolute Location (CR6, X5) ==============================================================
@pytest.mark.parametrize(
    ("overrides", "headers", "expected"),
    [
        pytest.param(
            {"public_url": "https://logs.example.com"},
            {},
            r"https://logs\.example\.com/files/[0-9a-f]{32}",
            id="public-url",
        ),
        pytest.param(
            {"public_url": "https://example.com/support/"},
            {},
            r"https://example\.com/support/files/[0-9a-f]{32}",
            id="public-url-with-path",
        ),
        pytest.param(
            {"public_url": "https://logs.example.com", "trusted_proxies": "127.0.0.1"},
            {"X-Forwarded-Proto": "http", "X-Forwarded-Host": "other.example.com"},
            r"https://logs\.example\.com/files/[0-9a-f]{32}",
            id="public-url-beats-forwarded",
        ),
        pytest.param(
            {"trusted_proxies": "127.0.0.0/8"},
            {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "up.example.org"},
            r"https://up\.example\.org/files/[0-9a-f]{32}",
            id="trusted-proxy",
        ),
        pytest.param(
            {"trusted_proxies": "127.0.0.1"},
            {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "up.example.org:8443"},
            r"https://up\.example\.org:8443/files/[0-9a-f]{32}",
            id="trusted-proxy-with-port",
        ),
        pytest.param(
            {},
            {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example.net"},
            r"http://127\.0\.0\.1:\d+/files/[0-9a-f]{32}",
            id="no-trusted-proxies",
        ),
        pytest.param(
            {"trusted_proxies": "10.0.0.0/8"},
            {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example.net"},
            r"http://127\.0\.0\.1:\d+/files/[0-9a-f]{32}",
            id="peer-not-in-trusted-proxies",
        ),
        pytest.param(
            {"trusted_proxies": "127.0.0.1"},
            {"X-Forwarded-Proto": "gopher", "X-Forwarded-Host": "evil.example.net/x?y"},
            r"http://127\.0\.0\.1:\d+/files/[0-9a-f]{32}",
            id="trusted-proxy-garbage-ignored",
        ),
    ],
)
async def test_absolute_location(
    aiohttp_client: Any,
    database_url: str,
    tmp_path: Path,
    overrides: dict[str, Any],
    headers: dict[str, str],
    expected: str,
) -> None:
    settings = make_settings(database_url, tmp_path, **overrides)
    client = await aiohttp_client(create_app(settings))
    issued = await issue_token(settings, uploads=2)
    for body in (None, b"abc"):  # plain creation and creation-with-upload
        extra = {"Content_Type": tus.OCTET} if body else {}
        response = await client.post(
            "/files/",
            headers={**issued.auth, "Upload-Length": "10", **headers, **extra},
            data=body,
        )
        assert response.status == 201, await response.text()
        assert re.fullmatch(expected, response.headers["Location"]), response.headers["Location"]
        https = expected.startswith("https")
        assert ("Strict-Transport-Security" in response.headers) == https


# === tokens (§3, issue 2 §5) ==================================================================
async def _bad_token(kind: str, settings: Settings, client: TestClient) -> dict[str, str]:
    base = {"Tus-Resumable": "1.0.0"}
    if kind == "missing":
        return base
    if kind == "unknown":
        return {**base, "Authorization": "Bearer tlu_aaaaaaaa_" + "A" * 43}
    issued = await issue_token(settings)
    if kind == "wrong-secret":
        return {**base, "Authorization": f"Bearer {issued.token[:-4]}AAAA"}
    if kind == "expired":
        await db_execute(
            settings,
            update(UploadToken)
            .where(UploadToken.prefix == issued.prefix)
            .values(expires_at=utcnow() - timedelta(seconds=1)),
        )
    elif kind == "exhausted":
        assert (await tus.create(client, issued.auth, 1)).status == 201
    elif kind == "revoked":
        await revoke(settings, issued.prefix)
    return issued.auth


@pytest.mark.parametrize(
    "kind", ["missing", "unknown", "wrong-secret", "expired", "exhausted", "revoked"]
)
async def test_bad_tokens_get_one_uniform_answer(
    client: TestClient, settings: Settings, kind: str
) -> None:
    auth = await _bad_token(kind, settings, client)
    before = await db_uploads(settings)
    response = await tus.create(client, auth, 10)
    assert response.status == 401
    assert await response.text() == TOKEN_MESSAGE
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="tuslog"'
    assert response.headers["Tus-Resumable"] == "1.0.0"
    assert "Location" not in response.headers
    assert set(await db_uploads(settings)) == set(before)


async def test_one_upload_token_creates_once_and_resumes_after(
    client: TestClient, issued: Issued, settings: Settings
) -> None:
    path = await tus.create_path(client, issued.auth, 10)
    second = await tus.create(client, issued.auth, 10)
    assert second.status == 401
    assert await second.text() == TOKEN_MESSAGE
    token = await db_token(settings, issued.prefix)
    assert (token.uses, token.max_uses) == (1, 1)
    # exhausted, and even expired: the upload it created can still be finished
    await db_execute(
        settings,
        update(UploadToken)
        .where(UploadToken.prefix == issued.prefix)
        .values(expires_at=utcnow() - timedelta(seconds=1)),
    )
    assert (await tus.patch(client, path, issued.auth, 0, b"01234")).status == 204
    head = await client.head(path, headers=issued.auth)
    assert (head.status, head.headers["Upload-Offset"]) == (200, "5")
    done = await tus.patch(client, path, issued.auth, 5, b"56789")
    assert done.headers["Tuslog-Upload-State"] == "complete"
    assert data_of(settings, upload_id_of(path)) == BODY
    assert (await db_token(settings, issued.prefix)).uses == 1


async def test_revoked_token_stops_its_uploads(
    client: TestClient, issued: Issued, settings: Settings
) -> None:
    path = await tus.create_path(client, issued.auth, 10)
    assert (await tus.patch(client, path, issued.auth, 0, b"0123")).status == 204
    await revoke(settings, issued.prefix)
    head = await client.head(path, headers=issued.auth)
    assert head.status == 401
    assert "Upload-Offset" not in head.headers
    response = await tus.patch(client, path, issued.auth, 4, b"4567")
    assert response.status == 401
    assert await response.text() == TOKEN_MESSAGE
    assert (await client.delete(path, headers=issued.auth)).status == 401
    assert data_of(settings, upload_id_of(path)) == b"0123"
    upload = (await db_uploads(settings))[upload_id_of(path)]
    assert (upload.offset, upload.state) == (4, "receiving")


@pytest.mark.parametrize("same_ticket", [True, False])
async def test_other_tokens_upload_is_403(
    client: TestClient, issued: Issued, settings: Settings, same_ticket: bool
) -> None:
    path = await tus.create_path(client, issued.auth, 10)
    assert (await tus.patch(client, path, issued.auth, 0, b"0123")).status == 204
    other = await issue_token(settings, ticket="SR-1" if same_ticket else "SR-2")
    head = await client.head(path, headers=other.auth)
    assert head.status == 403
    assert "Upload-Offset" not in head.headers
    response = await tus.patch(client, path, other.auth, 4, b"XXXX")
    assert response.status == 403, await response.text()
    response = await client.delete(path, headers=other.auth)
    assert response.status == 403, await response.text()
    assert data_of(settings, upload_id_of(path)) == b"0123"
    upload = (await db_uploads(settings))[upload_id_of(path)]
    assert (upload.offset, upload.state) == (4, "receiving")


async def test_bad_token_on_upload_url_is_401_not_404(
    client: TestClient, issued: Issued, settings: Settings
) -> None:
    """The answer must not tell a caller without a valid token whether an upload exists."""
    path = await tus.create_path(client, issued.auth, 10)
    bad = {"Tus-Resumable": "1.0.0", "Authorization": "Bearer nope"}
    for target in (path, f"/files/{UNKNOWN_ID}"):
        assert (await client.head(target, headers=bad)).status == 401
        assert (await tus.patch(client, target, bad, 0, b"x")).status == 401
        assert (await client.delete(target, headers=bad)).status == 401
    assert data_of(settings, upload_id_of(path)) == b""


async def test_quota_is_413_and_costs_no_attempt(client: TestClient, settings: Settings) -> None:
    issued = await issue_token(settings, uploads=3, max_bytes=100)
    over = await tus.create(client, issued.auth, 101)
    assert over.status == 413, await over.text()
    assert "allows 100 bytes" in await over.text()
    assert (await db_token(settings, issued.prefix)).uses == 0
    assert await db_uploads(settings) == {}
    await tus.create_path(client, issued.auth, 60)
    assert (await tus.create(client, issued.auth, 41)).status == 413
    deferred = await tus.create_path(client, issued.auth, None, Upload_Defer_Length=1)
    assert (await db_token(settings, issued.prefix)).uses == 2
    # a deferred length is held to the quota when it is declared
    response = await tus.patch(client, deferred, issued.auth, 0, b"x", Upload_Length=41)
    assert response.status == 413, await response.text()
    assert data_of(settings, upload_id_of(deferred)) == b""
    response = await tus.patch(client, deferred, issued.auth, 0, b"x", Upload_Length=40)
    assert response.status == 204, await response.text()


async def test_auth_failures_are_rate_limited(
    aiohttp_client: Any, database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(database_url, tmp_path, auth_failure_limit=3)
    client = await aiohttp_client(create_app(settings))
    issued = await issue_token(settings)
    bad = {"Tus-Resumable": "1.0.0", "Authorization": "Bearer tlu_aaaaaaaa_bad"}
    for _ in range(3):
        assert (await tus.create(client, bad, 10)).status == 401
    limited = await tus.create(client, bad, 10)
    assert limited.status == 429
    assert int(limited.headers["Retry-After"]) > 0
    assert limited.headers["Tus-Resumable"] == "1.0.0"
    assert "wait" in (await limited.text()).lower()
    # the limit is per client IP: a good token from the same address waits too
    good = await tus.create(client, issued.auth, 10)
    assert good.status == 429
    assert (await db_token(settings, issued.prefix)).uses == 0
    assert await db_uploads(settings) == {}


async def test_workers_share_the_auth_failure_limit(
    aiohttp_client: Any, database_url: str, tmp_path: Path
) -> None:
    """Each worker counts failures on its own: with two, each allows half the limit, so
    a guesser whose connections reach both still gets no more than the limit."""
    settings = make_settings(database_url, tmp_path, auth_failure_limit=4, workers=2)
    workers = [await aiohttp_client(create_app(settings)) for _ in range(2)]
    bad = {"Tus-Resumable": "1.0.0", "Authorization": "Bearer tlu_aaaaaaaa_bad"}
    for attempt in range(4):
        assert (await tus.create(workers[attempt % 2], bad, 10)).status == 401
    for worker in workers:
        assert (await tus.create(worker, bad, 10)).status == 429


# === admission: free space (issue 2 §5) =======================================================
async def test_no_space_is_507_and_nothing_stored(
    aiohttp_client: Any, database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(database_url, tmp_path, min_free_space="1024T")
    client = await aiohttp_client(create_app(settings))
    issued = await issue_token(settings, uploads=2)
    response = await tus.create(client, issued.auth, 10)
    assert response.status == 507, await response.text()
    assert "free space" in (await response.text()).lower()
    assert "Location" not in response.headers
    assert (await db_token(settings, issued.prefix)).uses == 0
    assert await db_uploads(settings) == {}
    assert data_files(settings) == {}
    assert response.headers["Tus-Resumable"] == "1.0.0"
    # an empty upload needs no space
    assert (await tus.create(client, issued.auth, 0)).status == 201


async def test_no_space_for_deferred_length_is_507(
    aiohttp_client: Any, database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(database_url, tmp_path, min_free_space="1024T")
    client = await aiohttp_client(create_app(settings))
    issued = await issue_token(settings)
    path = await tus.create_path(client, issued.auth, None, Upload_Defer_Length=1)
    response = await tus.patch(client, path, issued.auth, 0, b"0123", Upload_Length=10)
    assert response.status == 507, await response.text()
    upload = (await db_uploads(settings))[upload_id_of(path)]
    assert (upload.length, upload.offset, upload.state) == (None, 0, "receiving")
    assert data_of(settings, upload_id_of(path)) == b""


async def test_space_promised_to_unfinished_uploads_is_reserved(
    aiohttp_client: Any, database_url: str, tmp_path: Path
) -> None:
    gib = 1024**3
    length = 4 * gib
    free = shutil.disk_usage(tmp_path).free
    if free < 8 * gib:
        pytest.skip("needs 8 GiB of free disk to leave margins either side")
    # room for one `length` upload, with 2 GiB of slack for other writers on the disk
    reserve = free - length - 2 * gib
    settings = make_settings(
        database_url, tmp_path, min_free_space=reserve, max_upload_size=2 * length
    )
    client = await aiohttp_client(create_app(settings))
    issued = await issue_token(settings, uploads=3)
    assert (await tus.create(client, issued.auth, length)).status == 201
    second = await tus.create(client, issued.auth, length)
    assert second.status == 507, await second.text()
    assert len(await db_uploads(settings)) == 1
    assert (await db_token(settings, issued.prefix)).uses == 1


async def test_collection_without_trailing_slash(client: TestClient, issued: Issued) -> None:
    response = await client.post("/files", headers={**issued.auth, "Upload-Length": "3"})
    assert response.status == 201, await response.text()
    assert "/files/" in response.headers["Location"]
    assert response.headers["Tus-Resumable"] == "1.0.0"
    options = await client.options("/files")
    assert (options.status, options.headers["Tus-Version"]) == (204, "1.0.0")


async def _expect_exchange(client: TestClient, path: str, headers: dict[str, str]) -> bytes:
    """Send only the head of a request with Expect: 100-continue; return the first answer."""
    reader, writer = await asyncio.open_connection(client.host, client.port)
    try:
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        writer.write(
            f"PATCH {path} HTTP/1.1\r\nHost: x\r\n{head}Expect: 100-continue\r\n\r\n".encode()
        )
        await writer.drain()
        return await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    finally:
        writer.close()


async def test_expect_continue_only_for_a_good_token(client: TestClient, issued: Issued) -> None:
    path = await tus.create_path(client, issued.auth, 10)
    common = {"Upload-Offset": "0", "Content-Type": tus.OCTET, "Content-Length": "10"}
    good = await _expect_exchange(client, path, {**issued.auth, **common})
    assert good.startswith(b"HTTP/1.1 100 Continue")
    bad_auth = {"Authorization": "Bearer tlu_aaaaaaaa_nope", "Tus-Resumable": "1.0.0"}
    refused = await _expect_exchange(client, path, {**bad_auth, **common})
    assert refused.startswith(b"HTTP/1.1 401")
    assert b"Tus-Resumable: 1.0.0" in refused
