"""Browsers on an integrator's page: a custom request header does not block uploads, and
the page can read Retry-After to honour it on 423, 429 and 503."""

from typing import Any

from tests.conftest import make_settings
from tuslog.app import create_app

ORIGIN = "https://helpdesk.example.com"


async def _client(aiohttp_client: Any, database_url: str, tmp_path: Any) -> Any:
    settings = make_settings(database_url, tmp_path, cors_origins=ORIGIN)
    return await aiohttp_client(create_app(settings))


async def test_a_preflight_gets_the_headers_it_asks_for(
    aiohttp_client: Any, database_url: str, tmp_path: Any
) -> None:
    client = await _client(aiohttp_client, database_url, tmp_path)
    response = await client.options(
        "/files/",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-helpdesk-ticket, upload-length, tus-resumable",
        },
    )
    assert response.status == 204
    allowed = [
        h.strip().lower() for h in response.headers["Access-Control-Allow-Headers"].split(",")
    ]
    assert {"x-helpdesk-ticket", "upload-length", "tus-resumable", "authorization"} <= set(allowed)
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN


async def test_odd_requested_headers_are_not_echoed(
    aiohttp_client: Any, database_url: str, tmp_path: Any
) -> None:
    client = await _client(aiohttp_client, database_url, tmp_path)
    response = await client.options(
        "/files/",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "PATCH",
            "Access-Control-Request-Headers": "x-ok, bad header, x<script>",
        },
    )
    allowed = response.headers["Access-Control-Allow-Headers"]
    assert "x-ok" in allowed and "bad header" not in allowed and "<" not in allowed


async def test_other_origins_get_no_cors_and_retry_after_is_exposed(
    aiohttp_client: Any, database_url: str, tmp_path: Any
) -> None:
    client = await _client(aiohttp_client, database_url, tmp_path)
    stranger = await client.options(
        "/files/",
        headers={
            "Origin": "https://evil.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-helpdesk-ticket",
        },
    )
    assert "Access-Control-Allow-Headers" not in stranger.headers
    assert "Access-Control-Allow-Origin" not in stranger.headers
    answer = await client.head("/files/" + "ab" * 16, headers={"Origin": ORIGIN})
    exposed = answer.headers["Access-Control-Expose-Headers"]
    assert "Retry-After" in exposed and "Upload-Offset" in exposed
