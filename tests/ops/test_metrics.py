"""/metrics: who may read it, and that the numbers move with what happens (in one
process, and summed across gunicorn workers)."""

import asyncio
import hashlib
from pathlib import Path
from typing import Any

import pytest
import requests

from tests import tus
from tests.conftest import Issued, free_port, issue_token, make_settings, server_env, start_server
from tests.ops.scrape import Samples, parse, value
from tuslog.app import create_app
from tuslog.settings import Settings

TOKEN = "metrics-secret-" + "x" * 20


async def _scrape(client: Any, **headers: str) -> Samples:
    response = await client.get("/metrics", headers=headers)
    assert response.status == 200, await response.text()
    assert response.headers["Content-Type"].startswith("text/plain")
    return parse(await response.text())


async def test_refused_outside_the_networks_without_the_token(
    aiohttp_client: Any, database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(
        database_url, tmp_path, metrics_networks="10.9.0.0/16", metrics_token=TOKEN
    )
    client = await aiohttp_client(create_app(settings))
    assert (await client.get("/metrics")).status == 401
    wrong = await client.get("/metrics", headers={"Authorization": "Bearer " + "y" * 35})
    assert wrong.status == 401 and "tuslog_" not in await wrong.text()
    assert await _scrape(client, Authorization=f"Bearer {TOKEN}")


async def test_forwarded_address_decides_behind_a_trusted_proxy(
    aiohttp_client: Any, database_url: str, tmp_path: Path
) -> None:
    """Behind the proxy, the real client counts: a request relayed for an outsider is
    refused although the proxy itself is in an allowed network."""
    settings = make_settings(
        database_url, tmp_path, trusted_proxies="127.0.0.1/32", metrics_networks="127.0.0.0/8"
    )
    client = await aiohttp_client(create_app(settings))
    relayed = await client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.5"})
    assert relayed.status == 403
    assert (await client.get("/metrics")).status == 200


async def test_metrics_move_with_a_scenario(client: Any, issued: Issued) -> None:
    before = await _scrape(client)
    data = b"z" * 300_000
    declared = hashlib.sha256(data).hexdigest()
    path = await tus.create_path(
        client, issued.auth, len(data), Upload_Metadata=tus.metadata(sha256=declared)
    )
    assert (await tus.patch(client, path, issued.auth, 0, data[:100_000])).status == 204
    assert (await tus.patch(client, path, issued.auth, 100_000, data[100_000:])).status == 204
    bad = {**issued.auth, "Authorization": "Bearer tlu_aaaaaaaa_" + "b" * 43}
    assert (await client.head(path, headers=bad)).status in (401, 403)
    after = await _scrape(client)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("tuslog_uploads_created_total") == 1
    assert grew("tuslog_uploads_completed_total") == 1
    assert grew("tuslog_uploads_verified_total") == 1
    assert grew("tuslog_uploads_corrupt_total") == 0
    assert grew("tuslog_upload_received_bytes_total") == len(data)
    assert grew("tuslog_fsync_seconds_count") >= 2
    patch_route = {"route": "/files/{upload_id}", "method": "PATCH", "status": "204"}
    assert grew("tuslog_http_requests_total", **patch_route) == 2
    assert grew("tuslog_http_requests_total", route="/files/", method="POST", status="201") == 1
    assert value(after, "tuslog_uploads_in_progress") == 0
    assert value(after, "tuslog_storage_up") == 1
    assert value(after, "tuslog_storage_free_bytes") > 0


async def test_ended_uploads_and_corrupt_verdicts_are_counted(client: Any, issued: Issued) -> None:
    before = await _scrape(client)
    wrong = hashlib.sha256(b"something else").hexdigest()
    path = await tus.create_path(
        client, issued.auth, 10, Upload_Metadata=tus.metadata(sha256=wrong)
    )
    assert (await tus.patch(client, path, issued.auth, 0, b"0123456789")).status == 204
    after = await _scrape(client)
    assert (
        value(after, "tuslog_uploads_corrupt_total") - value(before, "tuslog_uploads_corrupt_total")
        == 1
    )
    assert value(after, "tuslog_uploads_verified_total") == value(
        before, "tuslog_uploads_verified_total"
    )


@pytest.mark.slow
def test_workers_agree(settings: Settings, tmp_path: Path) -> None:
    """Two gunicorn workers: whichever answers the scrape, the counts are the sums of
    both (each scrape uses a new connection, so both workers answer some)."""
    server = start_server(server_env(settings), free_port(), tmp_path / "w.log", "--workers", "2")
    try:
        token = asyncio.run(issue_token(settings, uploads=6))
        for _ in range(6):
            created = requests.post(
                f"{server.url}/files/",
                headers={**token.auth, "Upload-Length": "5", "Connection": "close"},
                timeout=10,
            )
            assert created.status_code == 201
            requests.patch(
                server.url + created.headers["Location"],  # relative: no public URL
                data=b"hello",
                headers={
                    **token.auth,
                    "Upload-Offset": "0",
                    "Content-Type": tus.OCTET,
                    "Connection": "close",
                },
                timeout=10,
            ).raise_for_status()
        answers = set()
        for _ in range(8):
            response = requests.get(f"{server.url}/metrics", headers={"Connection": "close"})
            samples = parse(response.text)
            answers.add(
                (
                    value(samples, "tuslog_uploads_created_total"),
                    value(samples, "tuslog_uploads_completed_total"),
                    value(samples, "tuslog_upload_received_bytes_total"),
                )
            )
        assert answers == {(6.0, 6.0, 30.0)}
    finally:
        server.stop()
    assert "Traceback" not in (tmp_path / "w.log").read_text()
