"""Bad input (issue 2 §7): every malformed or hostile request gets a 4xx, never a 5xx, with
a clear text message, and **nothing is stored** — no upload row, no data file, no token
attempt used; for requests on an existing upload, its offset, length, state and bytes stay
as they were. The rows and checks shared by ``test_bad_input_creation`` and
``test_bad_input_on_upload``.
"""

import asyncio
import base64
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.conftest import Issued
from tests.tus.state import data_files, stored
from tuslog import errors
from tuslog.settings import Settings

INT64_MAX = 2**63 - 1
TOKEN_MESSAGE = errors.TOKEN_INVALID().message
NOT_UINT = "Upload-Length must be a non-negative integer"


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
