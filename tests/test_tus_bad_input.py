"""Bad input (issue 2 §7): every malformed or hostile request gets a 4xx, never a 5xx, with
a clear text message, and **nothing is stored** — no upload row, no data file, no token
attempt used; for requests on an existing upload, its offset, length, state and bytes stay
as they were.
"""

import asyncio
import base64
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from multidict import CIMultiDict
from sqlalchemy import select

from tests import tus
from tests.conftest import Issued, make_settings, sessions
from tuslog import errors
from tuslog.db.models import Upload, UploadToken
from tuslog.settings import Settings
from tuslog.uploads import records

MAX = 1_000_000
INT64_MAX = 2**63 - 1
TOKEN_MESSAGE = errors.TOKEN_INVALID().message
UNKNOWN_ID = "0" * 32


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path, max_upload_size=MAX)


@pytest.fixture(autouse=True)
async def _engine(assertion_db: None) -> None:
    """The assertions' own queries go through ``sessions(settings)``."""


def meta(**values: str | bytes) -> str:
    return ",".join(f"{key} {tus.b64(value)}" for key, value in values.items())


# --- what was stored ----------------------------------------------------------------------
async def stored(settings: Settings, prefix: str) -> tuple[dict[str, Upload], int]:
    """Upload rows (through the service) and the token's used attempts."""
    async with sessions(settings)() as session:
        rows = await records.list_for(session, None)
        token = await session.scalar(select(UploadToken).where(UploadToken.prefix == prefix))
    assert token is not None
    return {upload.id: upload for upload, _ in rows}, token.uses


def data_files(settings: Settings) -> dict[str, bytes]:
    root = settings.storage_dir
    if not root.exists():
        return {}
    return {
        path.name: path.read_bytes()
        for path in root.rglob("*")
        if path.is_file() and ".locks" not in path.relative_to(root).parts
    }


async def assert_nothing_created(settings: Settings, issued: Issued) -> None:
    uploads, uses = await stored(settings, issued.prefix)
    assert uploads == {}, sorted(uploads)
    assert uses == 0
    assert data_files(settings) == {}


def assert_clear_4xx(status: int, content_type: str, text: str, row: "Bad") -> None:
    assert status == row.status, text
    assert 400 <= status < 500
    assert content_type == "text/plain"
    for fragment in row.says:
        assert fragment in text, f"{fragment!r} not in {text!r}"


@dataclass(frozen=True)
class Bad:
    id: str
    headers: dict[str, str | None]  # None removes a header
    status: int = 400
    says: tuple[str, ...] = ()  # fragments of the message


def table(*bad: Bad) -> Any:
    return pytest.mark.parametrize("row", [pytest.param(b, id=b.id) for b in bad])


def merged(base: dict[str, str], row: Bad) -> dict[str, str]:
    headers = dict(base)
    for name, value in row.headers.items():
        if value is None:
            headers.pop(name, None)
        else:
            headers[name] = value
    return headers


# === creation: Upload-Metadata ================================================================
PAIRS = "comma-separated 'key base64value' pairs"
CONTROL = "contains control characters"
NOT_A_PATH = "plain file name, not a path"


def md(value: str) -> dict[str, str | None]:
    return {"Upload-Metadata": value}


METADATA = (
    Bad("plain-text-value", md("filename logs.tar.gz"), says=("not valid base64",)),
    Bad("value-with-spaces", md("filename my logs.tar.gz"), says=(PAIRS,)),
    Bad("bad-base64-chars", md("filename !!!!"), says=("not valid base64",)),
    Bad("bad-base64-padding", md("filename YWJjZA"), says=("not valid base64",)),
    Bad(
        "base64url-alphabet",
        md("filename " + tus.b64(b"\xfb\xff").replace("+", "-")),
        says=("not valid base64",),
    ),
    Bad("duplicate-key", md(f"a {tus.b64('x')},a {tus.b64('y')}"), says=("repeats the key 'a'",)),
    Bad("key-with-space", md(f"my key {tus.b64('x')}"), says=(PAIRS,)),
    Bad("empty-pair", md(f"a {tus.b64('x')},,b {tus.b64('y')}"), says=(PAIRS,)),
    Bad("leading-comma", md(f",a {tus.b64('x')}"), says=(PAIRS,)),
    Bad("two-spaces", md(f"a  {tus.b64('x')}"), says=(PAIRS,)),
    Bad("over-4-KiB", md(f"notes {tus.b64('x' * 3100)}"), says=("longer than 4096",)),
    Bad("non-ascii-key", md(f"fichié {tus.b64('x')}"), says=("must be ASCII",)),
    Bad("non-utf8-value", md(meta(filename=b"\xff\xfelogs.tgz")), says=("not UTF-8",)),
    Bad("filename-dotdot", md(meta(filename="../x")), says=(NOT_A_PATH,)),
    Bad("filename-deep-dotdot", md(meta(filename="../../etc/cron.d/x")), says=(NOT_A_PATH,)),
    Bad("filename-subdir", md(meta(filename="a/b")), says=(NOT_A_PATH,)),
    Bad("filename-absolute", md(meta(filename="/etc/passwd")), says=(NOT_A_PATH,)),
    Bad("filename-backslash", md(meta(filename="..\\x")), says=(NOT_A_PATH,)),
    Bad("filename-is-dotdot", md(meta(filename="..")), says=(NOT_A_PATH,)),
    Bad("name-key-dotdot", md(meta(name="../x")), says=(NOT_A_PATH,)),
    Bad("filename-too-long", md(meta(filename="a" * 256)), says=("longer than 255",)),
    Bad("filename-crlf", md(meta(filename="a.tgz\r\nSet-Cookie: x=y")), says=(CONTROL,)),
    Bad("filename-lf", md(meta(filename="a\nb")), says=(CONTROL,)),
    Bad("filename-nul", md(meta(filename="a.tgz\x00.txt")), says=(CONTROL,)),
    Bad("other-key-crlf", md(meta(filename="a.tgz", note="ok\r\nX-Evil: 1")), says=(CONTROL,)),
    Bad("other-key-cr", md(meta(note="ok\rX")), says=(CONTROL,)),
    Bad("other-key-esc", md(meta(host="\x1b[31mred")), says=(CONTROL,)),
    Bad("other-key-non-utf8", md(meta(host=b"\xc3\x28")), says=("not UTF-8",)),
    Bad("sha256-not-hex", md(meta(sha256="z" * 64)), says=("64 hexadecimal",)),
    Bad("sha256-too-short", md(meta(sha256="ab" * 31)), says=("64 hexadecimal",)),
)


# === creation: lengths, concatenation ========================================================
def length(value: str) -> dict[str, str | None]:
    return {"Upload-Length": value}


NOT_UINT = "Upload-Length must be a non-negative integer"
LENGTHS = (
    Bad("length-non-numeric", length("ten"), says=(NOT_UINT,)),
    Bad("length-negative", length("-1"), says=(NOT_UINT,)),
    Bad("length-signed", length("+10"), says=(NOT_UINT,)),
    Bad("length-float", length("10.0"), says=(NOT_UINT,)),
    Bad("length-exponent", length("1e3"), says=(NOT_UINT,)),
    Bad("length-hex", length("0x10"), says=(NOT_UINT,)),
    Bad("length-empty", length(""), says=(NOT_UINT,)),
    Bad("length-two-values", length("10, 10"), says=(NOT_UINT,)),
    Bad("length-non-ascii-digit", length("\u0661\u0660"), says=(NOT_UINT,)),
    Bad("length-int64-plus-1", length(str(INT64_MAX + 1)), says=(NOT_UINT,)),
    Bad("length-20-digits", length("9" * 20), says=(NOT_UINT,)),
    Bad("length-huge", length("9" * 400), says=(NOT_UINT,)),
    Bad("length-int64-max", length(str(INT64_MAX)), status=413, says=("larger than",)),
    Bad("length-over-max", length(str(MAX + 1)), status=413, says=(str(MAX),)),
    Bad(
        "defer-0",
        {"Upload-Length": None, "Upload-Defer-Length": "0"},
        says=("Upload-Defer-Length must be 1",),
    ),
    Bad(
        "defer-true",
        {"Upload-Length": None, "Upload-Defer-Length": "true"},
        says=("Upload-Defer-Length must be 1",),
    ),
    Bad("defer-and-length", {"Upload-Defer-Length": "1"}, says=("either Upload-Length",)),
    Bad("no-length", {"Upload-Length": None}, says=("either Upload-Length",)),
    Bad("concat-garbage", {"Upload-Concat": "whole"}, says=("Upload-Concat",)),
    Bad(
        "concat-final-empty",
        {"Upload-Length": None, "Upload-Concat": "final;"},
        says=("Upload-Concat",),
    ),
    Bad(
        "concat-final-not-url",
        {"Upload-Length": None, "Upload-Concat": "final;../x"},
        says=("Upload-Concat",),
    ),
    Bad(
        "concat-final-unknown",
        {"Upload-Length": None, "Upload-Concat": f"final;/files/{UNKNOWN_ID}"},
        says=("not a finished partial",),
    ),
)


@table(*METADATA, *LENGTHS)
async def test_bad_creation_headers(
    client: TestClient, issued: Issued, settings: Settings, row: Bad
) -> None:
    """Sent as creation-with-upload, so that a body written too early would show on disk."""
    base = {**issued.auth, "Upload-Length": "10", "Content-Type": tus.OCTET}
    response = await client.post("/files/", headers=merged(base, row), data=b"0123456789")
    assert_clear_4xx(response.status, response.content_type, await response.text(), row)
    assert response.headers["Tus-Resumable"] == "1.0.0"
    assert "Location" not in response.headers
    await assert_nothing_created(settings, issued)


@pytest.mark.parametrize(
    ("name", "values"),
    [
        ("Upload-Length", ("10", "1000")),
        ("Upload-Length", ("10", "10")),
        ("Upload-Metadata", (meta(filename="a.tgz"), meta(filename="../x"))),
        ("Upload-Concat", ("partial", "partial")),
        ("Authorization", ("Bearer {token}", "Bearer tlu_aaaaaaaa_x")),
        ("Tus-Resumable", ("1.0.0", "1.0.0")),
    ],
)
async def test_repeated_headers_on_creation_are_400(
    client: TestClient, issued: Issued, settings: Settings, name: str, values: tuple[str, str]
) -> None:
    """Two lines of one tus header are ambiguous; the server must not pick one."""
    headers = CIMultiDict({**issued.auth, "Upload-Length": "10"})
    headers.popall(name, None)
    for value in values:
        headers.add(name, value.replace("{token}", issued.token))
    response = await client.post("/files/", headers=headers)
    text = await response.text()
    assert response.status == 400, text
    assert f"Send the {name} header only once." in text
    await assert_nothing_created(settings, issued)


async def test_repeated_upload_offset_on_patch_is_400(
    client: TestClient, issued: Issued, settings: Settings
) -> None:
    path = await tus.create_path(client, issued.auth, 10)
    headers = CIMultiDict({**issued.auth, "Content-Type": tus.OCTET})
    headers.add("Upload-Offset", "0")
    headers.add("Upload-Offset", "4")
    response = await client.patch(path, headers=headers, data=b"0123")
    assert response.status == 400
    assert "Upload-Offset header only once" in await response.text()
    assert data_files(settings) == {path.rsplit("/", 1)[1]: b""}


# === tokens ===================================================================================
def auth(value: str | None) -> dict[str, str | None]:
    return {"Authorization": value}


def token_rows(valid: str) -> tuple[Bad, ...]:
    prefix = valid.rsplit("_", 1)[0]
    says = (TOKEN_MESSAGE,)
    return (
        Bad("missing", auth(None), 401, says),
        Bad("empty", auth(""), 401, says),
        Bad("bearer-only", auth("Bearer"), 401, says),
        Bad("bearer-space", auth("Bearer   "), 401, says),
        Bad("basic", auth("Basic " + base64.b64encode(b"admin:admin").decode()), 401, says),
        Bad("other-scheme-valid-token", auth(f"Token {valid}"), 401, says),
        Bad("no-scheme-valid-token", auth(valid), 401, says),
        Bad("unknown-prefix", auth("Bearer tlu_aaaaaaaa_" + "A" * 43), 401, says),
        Bad("right-prefix-wrong-secret", auth(f"Bearer {prefix}_{'A' * 43}"), 401, says),
        Bad("valid-plus-suffix", auth(f"Bearer {valid}x"), 401, says),
        Bad("valid-truncated", auth(f"Bearer {valid[:-1]}"), 401, says),
        Bad("two-tokens", auth(f"Bearer {valid}, Bearer {valid}"), 401, says),
        Bad("prefix-only", auth(f"Bearer {prefix}"), 401, says),
        Bad("scheme-only-prefix", auth("Bearer tlu_"), 401, says),
        Bad("underscores", auth("Bearer ___"), 401, says),
        Bad("sql-ish", auth("Bearer ' OR 1=1 --"), 401, says),
        Bad("long", auth("Bearer tlu_aaaaaaaa_" + "A" * 4000), 401, says),
        Bad("non-ascii", auth("Bearer tlu_äöüäöüäö_" + "Ä" * 43), 401, says),
    )


TOKEN_KINDS = [b.id for b in token_rows("tlu_abcdefgh_x")]


@pytest.mark.parametrize("kind", TOKEN_KINDS)
async def test_bad_token_on_creation(
    client: TestClient, issued: Issued, settings: Settings, kind: str
) -> None:
    row = next(b for b in token_rows(issued.token) if b.id == kind)
    headers = merged({**issued.auth, "Upload-Length": "10", "Content-Type": tus.OCTET}, row)
    response = await client.post("/files/", headers=headers, data=b"0123456789")
    assert_clear_4xx(response.status, response.content_type, await response.text(), row)
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="tuslog"'
    await assert_nothing_created(settings, issued)


# === requests on an existing upload ===========================================================
def offset(value: str | None) -> dict[str, str | None]:
    return {"Upload-Offset": value}


def checksum(value: str) -> dict[str, str | None]:
    return {"Upload-Checksum": value}


NOT_OFFSET = "Upload-Offset must be a non-negative integer"
SHA1_OF_456 = "sha1 " + base64.b64encode(hashlib.sha1(b"456").digest()).decode()
ON_UPLOAD = (
    Bad("offset-non-numeric", offset("four"), says=(NOT_OFFSET,)),
    Bad("offset-negative", offset("-4"), says=(NOT_OFFSET,)),
    Bad("offset-signed", offset("+4"), says=(NOT_OFFSET,)),
    Bad("offset-float", offset("4.0"), says=(NOT_OFFSET,)),
    Bad("offset-hex", offset("0x4"), says=(NOT_OFFSET,)),
    Bad("offset-empty", offset(""), says=(NOT_OFFSET,)),
    Bad("offset-two-values", offset("4, 4"), says=(NOT_OFFSET,)),
    Bad("offset-int64-plus-1", offset(str(INT64_MAX + 1)), says=(NOT_OFFSET,)),
    Bad("offset-2-pow-64", offset(str(2**64)), says=(NOT_OFFSET,)),
    Bad("offset-huge", offset("9" * 400), says=(NOT_OFFSET,)),
    Bad("offset-missing", offset(None), says=("needs an Upload-Offset",)),
    Bad("offset-int64-max", offset(str(INT64_MAX)), status=409, says=("server has 4",)),
    Bad(
        "checksum-unknown-algorithm",
        checksum("sha512 " + tus.b64(b"x" * 64)),
        says=("Unsupported Upload-Checksum algorithm",),
    ),
    Bad("checksum-crc32c", checksum("crc32c AAAAAA=="), says=("Unsupported",)),
    Bad("checksum-no-digest", checksum("sha1"), says=("'<algorithm> <base64 digest>'",)),
    Bad(
        "checksum-two-spaces",
        checksum(SHA1_OF_456.replace(" ", "  ")),
        says=("'<algorithm> <base64 digest>'",),
    ),
    Bad(
        "checksum-extra-part", checksum(SHA1_OF_456 + " x"), says=("'<algorithm> <base64 digest>'",)
    ),
    Bad("checksum-bad-base64", checksum("sha1 !!!notbase64!!!"), says=("not valid base64",)),
    Bad("checksum-bad-padding", checksum("sha1 YWJjZA"), says=("not valid base64",)),
    Bad("checksum-hex-digest", checksum("sha1 " + "0" * 40 + "z"), says=("not valid base64",)),
    Bad("checksum-non-ascii", checksum("sha1 ÿÿÿÿ"), says=("not valid base64",)),
    Bad("length-negative", {"Upload-Length": "-10"}, says=(NOT_UINT,)),
    Bad("length-huge", {"Upload-Length": "9" * 30}, says=(NOT_UINT,)),
    Bad(
        "content-type-text",
        {"Content-Type": "text/plain"},
        status=415,
        says=("application/offset+octet-stream",),
    ),
    Bad(
        "content-type-form",
        {"Content-Type": "application/x-www-form-urlencoded"},
        status=415,
        says=("application/offset+octet-stream",),
    ),
    *(
        Bad(f"token-{b.id}", b.headers, b.status, b.says)
        for b in token_rows("tlu_abcdefgh_x")
        if b.id in ("missing", "bearer-only", "basic", "unknown-prefix", "non-ascii")
    ),
)


@table(*ON_UPLOAD)
async def test_bad_patch_changes_nothing(
    client: TestClient, issued: Issued, settings: Settings, row: Bad
) -> None:
    path = await tus.create_path(client, issued.auth, 10)
    assert (await tus.patch(client, path, issued.auth, 0, b"0123")).status == 204
    upload_id = path.rsplit("/", 1)[1]
    base = {**issued.auth, "Content-Type": tus.OCTET, "Upload-Offset": "4"}
    response = await client.patch(path, headers=merged(base, row), data=b"456")
    assert_clear_4xx(response.status, response.content_type, await response.text(), row)
    assert response.headers["Tus-Resumable"] == "1.0.0"
    uploads, uses = await stored(settings, issued.prefix)
    assert list(uploads) == [upload_id]
    upload = uploads[upload_id]
    assert (upload.offset, upload.length, upload.state) == (4, 10, "receiving")
    assert uses == 1
    assert data_files(settings) == {upload_id: b"0123"}
    # and the upload still works afterwards
    done = await tus.patch(client, path, issued.auth, 4, b"456789")
    assert (done.status, done.headers["Upload-Offset"]) == (204, "10")


@pytest.mark.parametrize(
    "authorization", [None, "Bearer", "Basic Zm9vOmJhcg==", "Bearer tlu_aaaaaaaa_bad"]
)
async def test_bad_token_on_head_and_delete(
    client: TestClient, issued: Issued, settings: Settings, authorization: str | None
) -> None:
    path = await tus.create_path(client, issued.auth, 10)
    headers = {"Tus-Resumable": "1.0.0"}
    if authorization is not None:
        headers["Authorization"] = authorization
    head = await client.head(path, headers=headers)
    assert head.status == 401
    assert "Upload-Offset" not in head.headers
    deleted = await client.delete(path, headers=headers)
    assert deleted.status == 401
    assert await deleted.text() == TOKEN_MESSAGE + "\n"
    uploads, _ = await stored(settings, issued.prefix)
    assert uploads[path.rsplit("/", 1)[1]].state == "receiving"
    assert data_files(settings) == {path.rsplit("/", 1)[1]: b""}


@pytest.mark.parametrize(
    "mangle",
    [str.upper, lambda i: i + "0", lambda i: i[:-1], lambda i: i[:-1] + "g", lambda i: i + ".."],
    ids=["uppercase", "longer", "shorter", "not-hex", "dots"],
)
async def test_near_miss_upload_urls_are_404(
    client: TestClient, issued: Issued, settings: Settings, mangle: Any
) -> None:
    path = await tus.create_path(client, issued.auth, 10)
    upload_id = path.rsplit("/", 1)[1]
    wrong = f"/files/{mangle(upload_id)}"
    head = await client.head(wrong, headers=issued.auth)
    assert head.status == 404
    assert "Upload-Offset" not in head.headers
    patched = await tus.patch(client, wrong, issued.auth, 0, b"0123")
    assert patched.status == 404
    assert "No such upload" in await patched.text()
    assert (await client.delete(wrong, headers=issued.auth)).status == 404
    assert data_files(settings) == {upload_id: b""}


# === bytes that are not UTF-8 (sent raw: HTTP clients refuse to) =============================
@dataclass
class Raw:
    status: int
    headers: dict[str, str]
    text: str


async def raw_request(client: TestClient, head: bytes, body: bytes = b"") -> Raw:
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    try:
        writer.write(head + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode())
        writer.write(body)
        await writer.drain()
        data = await reader.read()
    finally:
        writer.close()
    header_block, _, payload = data.partition(b"\r\n\r\n")
    lines = header_block.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip()] = value.strip()
    return Raw(int(lines[0].split()[1]), headers, payload.decode("utf-8", "replace"))


@dataclass(frozen=True)
class RawBad:
    id: str
    header: bytes
    status: int = 400
    says: str = ""


RAW_CREATION = (
    RawBad("metadata-key-latin1", b"Upload-Metadata: k\xff", says="must be ASCII"),
    RawBad("metadata-second-key-latin1", b"Upload-Metadata: a YQ==,k\xe9", says="must be ASCII"),
    RawBad("metadata-value-latin1", b"Upload-Metadata: filename \xff\xfe", says="ASCII"),
    RawBad("length-latin1", b"Upload-Length: 1\xff", says="Upload-Length"),
    RawBad("concat-latin1", b"Upload-Concat: final;/files/\xff", says="Upload-Concat"),
    RawBad(
        "auth-latin1",
        b"Authorization: Bearer tlu_abcdefgh_\xff\xfe",
        401,
        TOKEN_MESSAGE,
    ),
    RawBad(
        "auth-token-then-latin1",
        b"Authorization: Bearer {token}\xff",
        401,
        TOKEN_MESSAGE,
    ),
)


@pytest.mark.parametrize("row", [pytest.param(r, id=r.id) for r in RAW_CREATION])
async def test_non_utf8_bytes_on_creation(
    client: TestClient, issued: Issued, settings: Settings, row: RawBad
) -> None:
    lines = [
        b"POST /files/ HTTP/1.1",
        b"Host: localhost",
        b"Tus-Resumable: 1.0.0",
        b"Upload-Length: 10",
        b"Authorization: Bearer " + issued.token.encode(),
    ]
    name = row.header.split(b":", 1)[0]
    lines = [line for line in lines if not line.startswith(name + b":")]
    lines.append(row.header.replace(b"{token}", issued.token.encode()))
    response = await raw_request(client, b"\r\n".join(lines) + b"\r\n")
    assert response.status == row.status, response.text
    assert response.headers.get("Tus-Resumable") == "1.0.0"
    assert row.says in response.text
    await assert_nothing_created(settings, issued)


async def test_non_utf8_checksum_on_patch(
    client: TestClient, issued: Issued, settings: Settings
) -> None:
    path = await tus.create_path(client, issued.auth, 10)
    head = b"\r\n".join(
        [
            f"PATCH {path} HTTP/1.1".encode(),
            b"Host: localhost",
            b"Tus-Resumable: 1.0.0",
            b"Authorization: Bearer " + issued.token.encode(),
            b"Content-Type: application/offset+octet-stream",
            b"Upload-Offset: 0",
            b"Upload-Checksum: sha1 \xff\xfe\xfd",
        ]
    )
    response = await raw_request(client, head + b"\r\n", b"0123")
    assert response.status == 400, response.text
    assert "not valid base64" in response.text
    assert data_files(settings) == {path.rsplit("/", 1)[1]: b""}
