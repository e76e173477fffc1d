"""Bad input on POST (see ``tests.tus.bad``): malformed Upload-Metadata, lengths and
Upload-Concat, repeated headers, bad tokens, and bytes that are not UTF-8.
"""

from dataclasses import dataclass

import pytest
from aiohttp.test_utils import TestClient
from multidict import CIMultiDict

from tests import tus
from tests.conftest import Issued
from tests.tus.bad import (
    INT64_MAX,
    NOT_UINT,
    TOKEN_MESSAGE,
    Bad,
    assert_clear_4xx,
    assert_nothing_created,
    merged,
    raw_request,
    table,
    token_rows,
)
from tests.tus.table import MAX, UNKNOWN_ID
from tuslog.settings import Settings

# === Upload-Metadata ===========================================================================
PAIRS = "comma-separated 'key base64value' pairs"
CONTROL = "contains control characters"
NOT_A_PATH = "plain file name, not a path"


def meta(**values: str | bytes) -> str:
    return ",".join(f"{key} {tus.b64(value)}" for key, value in values.items())


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


# === lengths, concatenation ==================================================================
def length(value: str) -> dict[str, str | None]:
    return {"Upload-Length": value}


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


# === tokens ====================================================================================
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


# === bytes that are not UTF-8 (sent raw: HTTP clients refuse to) =============================
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
