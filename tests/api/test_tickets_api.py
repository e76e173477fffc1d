"""Tickets over the API: create, list (filters, pages, totals), get, update with If-Match
(also two integrators at once), resolve, reopen, delete with the archives; validation
and problem+json answers."""

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import ApiClient, issued_token, problem_of, upload_via_tus
from tuslog.settings import Settings


async def _ticket(api: ApiClient, number: str, **fields: Any) -> dict[str, Any]:
    response = await api.post("tickets", json={"number": number, **fields})
    assert response.status == 201, await response.text()
    assert response.headers["Location"] == f"/api/v1/tickets/{number}"
    assert response.headers["ETag"].startswith('"')
    found: dict[str, Any] = await response.json()
    return found


async def test_create_get_and_conflict(api: ApiClient) -> None:
    made = await _ticket(api, "SR-1", title="Backup\nfails", platform="Linux")
    assert made["title"] == "Backup fails" and made["status"] == "open"
    assert made["created_at"].endswith("Z")
    got = await api.get("tickets/sr-1")
    assert (await got.json())["number"] == "SR-1"
    again = await api.post("tickets", json={"number": "sr-1"})
    problem_of(await again.json(), 409, "ticket_exists")
    missing = await api.get("tickets/SR-2")
    problem_of(await missing.json(), 404, "ticket_not_found")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"number": "SR-1", "colour": "red"}, "colour"),
        ({"number": 12}, "number"),
        ({"number": ""}, "number"),
        ({"number": "SR 1"}, None),
        ({"number": "x" * 65}, "number"),
        ({"title": "no number"}, "number"),
        ({"number": "SR-1", "title": None}, "title"),
        ([], "(body)"),
    ],
)
async def test_bad_bodies_get_field_errors(api: ApiClient, body: Any, field: str | None) -> None:
    response = await api.post("tickets", json=body)
    problem = await response.json()
    assert response.status == 422, problem
    if field is None:
        problem_of(problem, 422, "invalid_value")
        return
    problem_of(problem, 422, "validation_failed")
    assert field in [error["field"] for error in problem["errors"]]
    assert all(error["location"] == "body" for error in problem["errors"])


async def test_not_json_and_too_large(api: ApiClient) -> None:
    plain = await api.post("tickets", data="number=SR-1", headers={"Content-Type": "text/plain"})
    problem_of(await plain.json(), 415, "json_required")
    broken = await api.post("tickets", data="{nope", headers={"Content-Type": "application/json"})
    problem_of(await broken.json(), 400, "bad_request")
    huge = await api.post("tickets", json={"number": "SR-1", "title": "x" * 70_000})
    problem_of(await huge.json(), 413, "body_too_large")


async def test_unknown_and_repeated_query_parameters(api: ApiClient) -> None:
    unknown = await api.get("tickets?colour=red")
    problem = problem_of(await unknown.json(), 422, "validation_failed")
    assert problem["errors"][0] == {
        "field": "colour",
        "location": "query",
        "message": problem["errors"][0]["message"],
    }
    repeated = await api.get("tickets?limit=1&limit=2")
    problem_of(await repeated.json(), 422, "validation_failed")
    for bad in (
        "limit=0",
        "limit=201",
        "limit=x",
        "status=closed",
        "created_from=2026-01-01T00:00:00",
        "cursor=zz",
    ):
        response = await api.get(f"tickets?{bad}")
        assert response.status == 422, bad


async def test_listing_filters_pages_and_total(api: ApiClient) -> None:
    for n in range(7):
        await _ticket(
            api,
            f"SR-{n}",
            title=f"Disk {'full' if n % 2 else 'slow'}",
            platform="Linux" if n < 4 else "AIX",
        )
    await api.post("tickets/SR-3/resolve")
    seen: list[str] = []
    cursor = None
    while True:
        response = await api.get(
            "tickets", params={"limit": 3, **({"cursor": cursor} if cursor else {})}
        )
        page = await response.json()
        assert len(page["items"]) <= 3 and page["total"] is None
        seen += [t["number"] for t in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"SR-{n}" for n in reversed(range(7))]
    filtered = await (
        await api.get("tickets", params={"q": "full", "platform": "linux", "total": "true"})
    ).json()
    assert [t["number"] for t in filtered["items"]] == ["SR-3", "SR-1"] and filtered["total"] == 2
    resolved = await (await api.get("tickets?status=resolved")).json()
    assert [t["number"] for t in resolved["items"]] == ["SR-3"]
    exact = await (await api.get("tickets?number=sr-5")).json()
    assert [t["number"] for t in exact["items"]] == ["SR-5"]
    first = seen[-1]
    created = (await (await api.get(f"tickets/{first}")).json())["created_at"]
    early = await (
        await api.get("tickets", params={"created_to": created.replace("Z", "+00:00")})
    ).json()
    assert early["items"] == []
    empty = await (await api.get("tickets?q=nothing-like-this&total=1")).json()
    assert empty == {"items": [], "next_cursor": None, "total": 0}


async def test_update_needs_if_match_and_refuses_a_stale_one(api: ApiClient) -> None:
    await _ticket(api, "SR-1", title="old")
    got = await api.get("tickets/SR-1")
    etag = got.headers["ETag"]
    missing = await api.patch("tickets/SR-1", json={"title": "new"})
    problem_of(await missing.json(), 428, "precondition_required")
    wrong = await api.patch("tickets/SR-1", json={"title": "new"}, headers={"If-Match": '"nope"'})
    problem_of(await wrong.json(), 412, "precondition_failed")
    weak = await api.patch("tickets/SR-1", json={"title": "new"}, headers={"If-Match": f"W/{etag}"})
    assert weak.status == 412
    done = await api.patch("tickets/SR-1", json={"title": "new"}, headers={"If-Match": etag})
    assert done.status == 200 and (await done.json())["title"] == "new"
    assert done.headers["ETag"] != etag
    stale = await api.patch("tickets/SR-1", json={"platform": "AIX"}, headers={"If-Match": etag})
    problem_of(await stale.json(), 412, "precondition_failed")
    star = await api.patch("tickets/SR-1", json={"platform": "AIX"}, headers={"If-Match": "*"})
    assert (await star.json())["platform"] == "AIX"
    resolved = await api.post("tickets/SR-1/resolve", headers={"If-Match": done.headers["ETag"]})
    problem_of(await resolved.json(), 412, "precondition_failed")  # the platform changed since


async def test_two_integrators_with_the_same_etag_cannot_both_win(api: ApiClient) -> None:
    await _ticket(api, "SR-1")
    etag = (await api.get("tickets/SR-1")).headers["ETag"]
    for round_ in range(3):
        answers = await asyncio.gather(
            *(
                api.patch(
                    "tickets/SR-1",
                    json={"title": f"writer {n} round {round_}"},
                    headers={"If-Match": etag},
                )
                for n in range(4)
            )
        )
        statuses = sorted(response.status for response in answers)
        assert statuses == [200, 412, 412, 412], statuses
        winner = next(response for response in answers if response.status == 200)
        final = await (await api.get("tickets/SR-1")).json()
        assert final["title"] == (await winner.json())["title"]
        etag = winner.headers["ETag"]


async def test_resolve_and_reopen(api: ApiClient) -> None:
    await _ticket(api, "SR-1")
    resolved = await api.post("tickets/SR-1/resolve")
    assert (await resolved.json())["status"] == "resolved"
    refused = await api.post("tickets/SR-1/tokens", json={})
    problem_of(await refused.json(), 422, "invalid_value")
    again = await api.post("tickets/SR-1/resolve", headers={"If-Match": resolved.headers["ETag"]})
    assert again.status == 200
    reopened = await api.post("tickets/SR-1/reopen")
    assert (await reopened.json())["status"] == "open"


async def test_delete_removes_the_archives(api: ApiClient, settings: Settings) -> None:
    issued = await issued_token(api, "SR-9", max_uses=2)
    first = await upload_via_tus(api, issued["token"], b"a" * 1000)
    second = await upload_via_tus(api, issued["token"], b"b" * 500, send=100)
    data_files = [
        p
        for p in Path(settings.storage_dir).rglob("*")
        if (p.is_file() and first in p.name) or second in p.name
    ]
    assert data_files
    response = await api.delete("tickets/SR-9")
    assert response.status == 204 and await response.read() == b""
    assert not any(p.exists() for p in data_files)
    for upload_id in (first, second):
        upload = await (await api.get(f"uploads/{upload_id}")).json()
        assert upload["state"] == "deleted" and upload["ticket"] is None
    problem_of(await (await api.get("tickets/SR-9")).json(), 404, "ticket_not_found")
    problem_of(await (await api.delete("tickets/SR-9")).json(), 404, "ticket_not_found")


async def test_a_chunked_body_is_read_whole_and_capped(api: ApiClient) -> None:
    async def pieces(*parts: bytes):  # type: ignore[no-untyped-def]
        for part in parts:
            yield part

    whole = await api.post(
        "tickets",
        data=pieces(b'{"number": "SR-', b'77", "title": "', b"x" * 200, b'"}'),
        headers={"Content-Type": "application/json"},
    )
    assert whole.status == 201 and (await whole.json())["title"] == "x" * 200
    huge = await api.post(
        "tickets",
        data=pieces(*([b" " * 16384] * 6), b'{"number": "SR-78"}'),
        headers={"Content-Type": "application/json"},
    )
    problem_of(await huge.json(), 413, "body_too_large")


async def test_nul_characters_are_refused_not_stored(api: ApiClient) -> None:
    body = await api.post("tickets", json={"number": "SR-1", "title": "a\u0000b"})
    assert body.status == 422 and (await body.json())["code"] == "validation_failed"
    query = await api.get("tickets", params={"q": "a\x00b"})
    assert query.status == 422
    path = await api.get("tickets/SR%001")
    problem_of(await path.json(), 404, "not_found")


async def test_cursors_out_of_range_are_invalid_not_errors(api: ApiClient, keys: Any) -> None:
    import base64
    import json

    def cursor(*values: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(list(values)).encode()).decode().rstrip("=")

    for bad in (
        cursor("2026-01-01T00:00:00+00:00", 2**40),
        cursor("0001-01-01T00:00:00+14:00", 1),
        cursor("2026-01-01T00:00:00+00:00", -1),
    ):
        response = await api.get("tickets", params={"cursor": bad})
        problem_of(await response.json(), 422, "invalid_value")
    for webhook_id in ("999999999999", "٣"):
        response = await api.with_key(keys.admin).get(f"webhooks/{webhook_id}")
        problem_of(await response.json(), 404, "webhook_not_found")


async def test_times_out_of_range_are_invalid_not_errors(api: ApiClient) -> None:
    for query in (
        "created_from=0001-01-01T00:00:00%2B14:00",
        "created_to=9999-12-31T23:59:59-14:00",
    ):
        response = await api.get(f"tickets?{query}")
        assert response.status == 422, await response.text()
    uploads = await api.get("uploads?created_from=0001-01-01T00:00:00%2B14:00")
    assert uploads.status == 422
