"""The tus tests, one module per verb or extension, and here the small helpers for speaking
tus to the app in tests (``from tests import tus``; other test packages use them too).

Where to look: ``test_options``, ``test_creation`` (POST, creation-with-upload, deferred
length), ``test_head``, ``test_patch``, ``test_checksum``, ``test_termination`` (DELETE),
``test_concatenation``, ``test_expiration``, ``test_cors``, ``test_locations`` (absolute
Location, proxies), ``test_tokens``, ``test_free_space``, ``test_protocol`` (Tus-Resumable,
method override, Expect, routing, server errors) and ``test_bad_input_creation`` /
``test_bad_input_on_upload`` (malformed headers). Shared pieces: ``table`` (the conformance
rows), ``bad`` (the bad-input rows), ``state`` (what the server stored), ``conftest``.
"""

import asyncio
import base64
from typing import Any

from aiohttp.test_utils import TestClient

OCTET = "application/offset+octet-stream"


def b64(value: str | bytes) -> str:
    raw = value.encode() if isinstance(value, str) else value
    return base64.b64encode(raw).decode()


def metadata(**values: str) -> str:
    return ",".join(f"{key} {b64(value)}" for key, value in values.items())


def path_of(location: str) -> str:
    """Relative path of an absolute Location (the test client talks to its own host)."""
    return "/files/" + location.rstrip("/").rsplit("/", 1)[1]


async def create(
    client: TestClient, auth: dict[str, str], length: int | None, **headers: Any
) -> Any:
    sent = dict(auth)
    if length is not None:
        sent["Upload-Length"] = str(length)
    sent.update({k.replace("_", "-"): str(v) for k, v in headers.items()})
    return await client.post("/files/", headers=sent)


async def create_path(
    client: TestClient, auth: dict[str, str], length: int | None, **headers: Any
) -> str:
    response = await create(client, auth, length, **headers)
    assert response.status == 201, await response.text()
    return path_of(response.headers["Location"])


async def patch(
    client: TestClient, path: str, auth: dict[str, str], offset: int, body: bytes, **headers: Any
) -> Any:
    sent = {**auth, "Upload-Offset": str(offset), "Content-Type": OCTET}
    sent.update({k.replace("_", "-"): str(v) for k, v in headers.items()})
    return await client.patch(path, data=body, headers=sent)


def raw_patch_head(path: str, auth: dict[str, str], offset: int, **headers: Any) -> bytes:
    """The head of a PATCH written by hand on a socket (cut connections, stalls, chunked
    bodies that never end): what the aiohttp client will not send."""
    sent = {"Host": "x", **auth, "Upload-Offset": str(offset), "Content-Type": OCTET}
    sent.update({k.replace("_", "-"): str(v) for k, v in headers.items()})
    lines = "".join(f"{name}: {value}\r\n" for name, value in sent.items())
    return f"PATCH {path} HTTP/1.1\r\n{lines}\r\n".encode()


async def settled_head(
    client: TestClient, path: str, auth: dict[str, str], timeout: float = 30.0
) -> Any:
    """HEAD until the upload is no longer "verifying" (a background hash is running)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        response = await client.head(path, headers=auth)
        if response.headers.get("Tuslog-Upload-State") != "verifying":
            return response
        assert asyncio.get_running_loop().time() < deadline, "verification never ended"
        await asyncio.sleep(0.05)


async def finished_partial(client: TestClient, auth: dict[str, str], data: bytes) -> str:
    """A partial upload (Upload-Concat: partial) holding ``data``; its absolute URL."""
    response = await create(client, auth, len(data), Upload_Concat="partial")
    assert response.status == 201, await response.text()
    location = str(response.headers["Location"])
    sent = await patch(client, path_of(location), auth, 0, data)
    assert sent.status == 204, await sent.text()
    return location
