"""Upload tokens and uploads over the API: issue (the token once, the customer's
commands, the browser link), list without secrets, update with If-Match, revoke; the
upload listing and details; downloads with ranges, If-Range, ETag and Repr-Digest."""

import base64
import hashlib
from typing import Any

import pytest

from tests.api.conftest import ApiClient, issued_token, problem_of, upload_via_tus

DATA = bytes(range(256)) * 40  # 10,240 bytes


async def test_issue_shows_the_token_once_with_commands(api: ApiClient) -> None:
    issued = await issued_token(api, "SR-1", max_uses=3, expires_in=3600, max_bytes=10**9)
    token = issued["token"]
    assert token.startswith(issued["prefix"] + "_") and issued["prefix"].startswith("tlu_")
    assert (issued["max_uses"], issued["uses"], issued["max_bytes"]) == (3, 0, 10**9)
    commands = issued["commands"]
    assert token not in commands["sh"] and "uploader.sh" in commands["sh"]  # asks for it
    assert token in commands["sh_with_token"] and commands["browser"].endswith(f"#{token}")
    assert token not in commands["python"] and token in commands["python_with_token"]
    assert issued["browser_url"].endswith(f"/upload#{token}")
    for path in (
        "tokens",
        "tokens?ticket=sr-1",
        "tickets/SR-1/tokens",
        f"tokens/{issued['prefix']}",
    ):
        text = await (await api.get(path)).text()
        assert issued["prefix"] in text and token not in text and token.split("_", 2)[2] not in text


async def test_token_update_and_revoke(api: ApiClient) -> None:
    issued = await issued_token(api)
    prefix = issued["prefix"]
    got = await api.get(f"tokens/{prefix}")
    etag = got.headers["ETag"]
    missing = await api.patch(f"tokens/{prefix}", json={"max_uses": 5})
    problem_of(await missing.json(), 428, "precondition_required")
    changed = await api.patch(
        f"tokens/{prefix}", json={"max_uses": 5, "expires_in": 60}, headers={"If-Match": etag}
    )
    body = await changed.json()
    assert changed.status == 200 and body["max_uses"] == 5
    stale = await api.patch(f"tokens/{prefix}", json={"max_uses": 6}, headers={"If-Match": etag})
    problem_of(await stale.json(), 412, "precondition_failed")
    bad = await api.patch(f"tokens/{prefix}", json={"max_uses": 0}, headers={"If-Match": "*"})
    assert (await bad.json())["errors"][0]["field"] == "max_uses"
    revoked = await api.post(f"tokens/{prefix}/revoke")
    assert (await revoked.json())["status"] == "revoked"
    again = await api.post(f"tokens/{prefix}/revoke")
    assert again.status == 200
    refused = await api.patch(
        f"tokens/{prefix}", json={"max_uses": 9}, headers={"If-Match": again.headers["ETag"]}
    )
    problem_of(await refused.json(), 422, "invalid_value")
    problem_of(await (await api.get("tokens/tlu_zzzzzzzz")).json(), 404, "token_not_found")


async def test_a_use_changes_the_etag(api: ApiClient) -> None:
    issued = await issued_token(api, max_uses=2)
    etag = (await api.get(f"tokens/{issued['prefix']}")).headers["ETag"]
    await upload_via_tus(api, issued["token"], b"x" * 10)
    stale = await api.patch(
        f"tokens/{issued['prefix']}", json={"max_uses": 3}, headers={"If-Match": etag}
    )
    assert stale.status == 412


async def test_upload_listing_and_details(api: ApiClient) -> None:
    issued = await issued_token(api, "SR-1", max_uses=3)
    done = await upload_via_tus(api, issued["token"], DATA)
    half = await upload_via_tus(api, issued["token"], DATA[::-1], send=2048)
    other = await issued_token(api, "SR-2")
    await upload_via_tus(api, other["token"], b"y" * 10, declare=False)
    upload = await (await api.get(f"uploads/{done}")).json()
    assert upload["state"] == "verified" and upload["ticket"] == "SR-1"
    assert upload["sha256"] == upload["declared_sha256"] == hashlib.sha256(DATA).hexdigest()
    assert (upload["length"], upload["offset"], upload["progress"]) == (len(DATA), len(DATA), 1.0)
    assert upload["filename"] == "host1 logs.tgz" and upload["client_ip"] == "127.0.0.1"
    assert upload["content_url"] == f"/api/v1/uploads/{done}/content"
    partial = await (await api.get(f"uploads/{half}")).json()
    assert partial["state"] == "receiving" and partial["progress"] == pytest.approx(0.2)
    assert partial["content_url"] is None

    async def ids(query: str) -> list[str]:
        return [u["id"] for u in (await (await api.get(f"uploads?{query}")).json())["items"]]

    assert len(await ids("")) == 3
    assert await ids("ticket=sr-1") == [half, done]
    assert await ids("state=receiving") == [half]
    assert len(await ids("state=complete,verified")) == 2
    problem_of(await (await api.get("uploads?state=finished")).json(), 422, "invalid_value")
    problem_of(await (await api.get("uploads?ticket=SR-404")).json(), 404, "ticket_not_found")
    problem_of(await (await api.get("uploads/" + "f" * 32)).json(), 404, "upload_not_found")
    problem_of(await (await api.get("uploads/not-an-id")).json(), 404, "upload_not_found")


async def _finished(api: ApiClient) -> str:
    issued = await issued_token(api)
    return await upload_via_tus(api, issued["token"], DATA)


async def test_download_whole_with_validators(api: ApiClient) -> None:
    upload_id = await _finished(api)
    response = await api.get(f"uploads/{upload_id}/content")
    assert response.status == 200 and await response.read() == DATA
    digest = hashlib.sha256(DATA)
    assert response.headers["ETag"] == f'"sha256-{digest.hexdigest()}"'
    assert (
        response.headers["Repr-Digest"] == f"sha-256=:{base64.b64encode(digest.digest()).decode()}:"
    )
    assert response.headers["Accept-Ranges"] == "bytes"
    assert response.headers["Content-Length"] == str(len(DATA))
    assert "filename*=UTF-8''host1%20logs.tgz" in response.headers["Content-Disposition"]
    cached = await api.get(
        f"uploads/{upload_id}/content", headers={"If-None-Match": response.headers["ETag"]}
    )
    assert cached.status == 304 and await cached.read() == b""
    head = await api.request("HEAD", f"/api/v1/uploads/{upload_id}/content")
    assert head.status == 200 and head.headers["Content-Length"] == str(len(DATA))


@pytest.mark.parametrize(
    ("spec", "start", "end"),
    [
        ("bytes=0-9", 0, 10),
        ("bytes=100-", 100, len(DATA)),
        ("bytes=-16", len(DATA) - 16, len(DATA)),
        ("bytes=10000-99999", 10000, len(DATA)),
        ("bytes=-99999", 0, len(DATA)),
        ("bytes=10239-10239", 10239, 10240),
    ],
)
async def test_download_ranges(api: ApiClient, spec: str, start: int, end: int) -> None:
    upload_id = await _finished(api)
    response = await api.get(f"uploads/{upload_id}/content", headers={"Range": spec})
    assert response.status == 206, await response.text()
    assert await response.read() == DATA[start:end]
    assert response.headers["Content-Range"] == f"bytes {start}-{end - 1}/{len(DATA)}"
    assert "Repr-Digest" in response.headers  # of the whole representation (RFC 9530)


@pytest.mark.parametrize("spec", ["bytes=10240-", "bytes=99999-100000", "bytes=-0"])
async def test_unsatisfiable_ranges_are_416(api: ApiClient, spec: str) -> None:
    upload_id = await _finished(api)
    response = await api.get(f"uploads/{upload_id}/content", headers={"Range": spec})
    assert response.headers["Content-Range"] == f"bytes */{len(DATA)}"
    problem_of(await response.json(), 416, "range_not_satisfiable")


async def test_several_ranges_come_as_multipart_byteranges(api: ApiClient) -> None:
    upload_id = await _finished(api)
    response = await api.get(f"uploads/{upload_id}/content", headers={"Range": "bytes=0-1,5-6"})
    assert response.status == 206
    assert response.content_type == "multipart/byteranges"
    body = await response.read()
    assert DATA[0:2] in body and DATA[5:7] in body
    assert b"Content-Range: bytes 0-1/" in body and b"Content-Range: bytes 5-6/" in body


@pytest.mark.parametrize("spec", ["bytes=5-2", "items=0-1", "bytes=x-"])
async def test_malformed_ranges_get_the_whole(api: ApiClient, spec: str) -> None:
    upload_id = await _finished(api)
    response = await api.get(f"uploads/{upload_id}/content", headers={"Range": spec})
    assert response.status == 200 and await response.read() == DATA


async def test_if_range(api: ApiClient) -> None:
    upload_id = await _finished(api)
    whole = await api.get(f"uploads/{upload_id}/content")
    etag, modified = whole.headers["ETag"], whole.headers["Last-Modified"]
    for validator, partial in (
        (etag, True),
        (modified, True),
        ('"sha256-other"', False),
        (f"W/{etag}", False),
        ("Mon, 01 Jan 2001 00:00:00 GMT", False),
    ):
        response = await api.get(
            f"uploads/{upload_id}/content", headers={"Range": "bytes=0-3", "If-Range": validator}
        )
        assert response.status == (206 if partial else 200), validator
        assert await response.read() == (DATA[:4] if partial else DATA)


async def test_unfinished_uploads_only_with_force(api: ApiClient) -> None:
    issued = await issued_token(api)
    upload_id = await upload_via_tus(api, issued["token"], DATA, send=1000)
    refused = await api.get(f"uploads/{upload_id}/content")
    problem_of(await refused.json(), 409, "upload_not_ready")
    forced = await api.get(f"uploads/{upload_id}/content?force=true")
    assert forced.status == 200 and await forced.read() == DATA[:1000]
    assert "ETag" not in forced.headers and "Repr-Digest" not in forced.headers


async def test_delete_an_upload(api: ApiClient) -> None:
    upload_id = await _finished(api)
    assert (await api.delete(f"uploads/{upload_id}")).status == 204
    assert (await (await api.get(f"uploads/{upload_id}")).json())["state"] == "deleted"
    problem_of(await (await api.get(f"uploads/{upload_id}/content")).json(), 410, "upload_gone")
    problem_of(await (await api.delete(f"uploads/{upload_id}")).json(), 410, "upload_gone")


async def test_download_needs_the_download_scope(api: ApiClient, keys: Any) -> None:
    upload_id = await _finished(api)
    refused = await api.with_key(keys.read).get(f"uploads/{upload_id}/content")
    problem_of(await refused.json(), 403, "scope_missing")
    allowed = await api.with_key(keys.download).get(f"uploads/{upload_id}/content")
    assert await allowed.read() == DATA
