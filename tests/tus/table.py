"""Table-driven tus 1.0.0 conformance (issue 2 §7, checklist in reference/tus-notes.md (a)).

Each row is one request: the upload it starts from, method, headers and body, and what must
come back (status, headers that must be there with a given value, headers that must not be
there) and what must be true afterwards (offset, length, state, bytes on disk). Every row
also checks what every response carries: ``Tus-Resumable`` and the security headers, and a
text message on errors. The tables live in the module of their verb or extension; scenarios
that need several steps are ordinary tests next to them.
"""

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests import tus
from tests.conftest import Issued
from tests.tus.state import data_files, data_of, db_uploads, upload_id_of
from tuslog.db.models import Upload
from tuslog.settings import Settings

MAX = 1_000_000
ORIGIN = "https://desk.example.com"
BODY = b"0123456789"  # the content of every length-10 upload below
META = f"filename {tus.b64('logs.tar.gz')},note {tus.b64('disk full?')},flag"
UNKNOWN_ID = "0" * 32
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
CORS_HEADERS = (
    "Access-Control-Allow-Origin",
    "Access-Control-Allow-Methods",
    "Access-Control-Allow-Headers",
    "Access-Control-Expose-Headers",
    "Access-Control-Max-Age",
)


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


# --- rows ---------------------------------------------------------------------------------
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


def patch_at(offset: int, **extra: str | None) -> dict[str, str | None]:
    return {"Content-Type": tus.OCTET, "Upload-Offset": str(offset), **extra}


UNCHANGED_PARTIAL = {"offset": 4, "length": 10, "state": "receiving", "data": b"0123"}
