"""Client IP and external URL: X-Forwarded-* believed only from trusted proxies."""

from ipaddress import ip_network
from pathlib import Path
from typing import Any

import pytest

from tests import tus
from tests.conftest import issue_token, make_settings
from tuslog.app import create_app
from tuslog.http.client import resolve_client_ip

PROXIES = [ip_network("10.0.0.0/8"), ip_network("127.0.0.1/32")]


@pytest.mark.parametrize(
    ("peer", "header", "expected"),
    [
        ("203.0.113.9", None, "203.0.113.9"),
        ("203.0.113.9", "198.51.100.1", "203.0.113.9"),  # untrusted peer: header ignored
        ("10.0.0.5", "198.51.100.1", "198.51.100.1"),
        ("10.0.0.5", "6.6.6.6, 198.51.100.1, 10.0.0.7", "198.51.100.1"),  # spoofed left hop
        ("10.0.0.5", "garbage", "10.0.0.5"),
        ("10.0.0.5", "10.0.0.8, 10.0.0.7", "10.0.0.8"),
    ],
)
def test_resolve_client_ip(peer: str, header: str | None, expected: str) -> None:
    assert resolve_client_ip(peer, header, PROXIES) == expected


async def _location(
    aiohttp_client: Any, database_url: str, tmp_path: Path, **overrides: Any
) -> str:
    settings = make_settings(database_url, tmp_path, **overrides)
    client = await aiohttp_client(create_app(settings))
    issued = await issue_token(settings)
    response = await tus.create(
        client,
        issued.auth,
        10,
        X_Forwarded_Proto="https",
        X_Forwarded_Host="logs.example.com",
        X_Forwarded_For="198.51.100.1",
    )
    assert response.status == 201
    return str(response.headers["Location"])


async def test_forwarded_headers_ignored_without_trust(
    aiohttp_client, database_url, tmp_path
) -> None:
    location = await _location(aiohttp_client, database_url, tmp_path)
    assert location.startswith("/files/")  # relative: nobody trusted said where


async def test_forwarded_headers_used_from_trusted_proxy(
    aiohttp_client, database_url, tmp_path
) -> None:
    location = await _location(aiohttp_client, database_url, tmp_path, trusted_proxies="127.0.0.1")
    assert location.startswith("https://logs.example.com/files/")


async def test_public_url_wins(aiohttp_client, database_url, tmp_path) -> None:
    location = await _location(
        aiohttp_client,
        database_url,
        tmp_path,
        public_url="https://up.example.org",
        trusted_proxies="127.0.0.1",
    )
    assert location.startswith("https://up.example.org/files/")


async def _audited_ip(
    aiohttp_client: Any, database_url: str, tmp_path: Path, **overrides: Any
) -> str:
    from sqlalchemy import select

    from tuslog.db.engine import create_engine
    from tuslog.db.models import AuditEvent

    await _location(aiohttp_client, database_url, tmp_path, **overrides)
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                select(AuditEvent.client_ip).where(AuditEvent.action == "upload.created")
            )
            return str(rows.scalar_one())
    finally:
        await engine.dispose()


async def test_audit_records_real_client_ip_behind_trusted_proxy(
    aiohttp_client, database_url, tmp_path
) -> None:
    ip = await _audited_ip(aiohttp_client, database_url, tmp_path, trusted_proxies="127.0.0.0/8")
    assert ip == "198.51.100.1"


async def test_audit_ignores_forwarded_for_from_untrusted_peer(
    aiohttp_client, database_url, tmp_path
) -> None:
    assert await _audited_ip(aiohttp_client, database_url, tmp_path) == "127.0.0.1"


async def test_a_strange_host_header_is_not_echoed(aiohttp_client, database_url, tmp_path) -> None:
    settings = make_settings(database_url, tmp_path)
    client = await aiohttp_client(create_app(settings))
    issued = await issue_token(settings)
    response = await tus.create(client, issued.auth, 10, Host='a"b<script>')
    assert response.status == 201
    location = str(response.headers["Location"])
    assert location.startswith("/files/"), location  # relative, the Host never echoed


async def test_public_url_with_a_path_prefixes_every_link(
    aiohttp_client, database_url, tmp_path
) -> None:
    settings = make_settings(database_url, tmp_path, public_url="https://x.example/tus")
    client = await aiohttp_client(create_app(settings))
    issued = await issue_token(settings, uploads=2)
    created = await tus.create(client, issued.auth, 2, Upload_Concat="partial")
    location = str(created.headers["Location"])
    assert location.startswith("https://x.example/tus/files/")
    part = tus.path_of(location)
    assert (await tus.patch(client, part, issued.auth, 0, b"ab")).status == 204
    final = await tus.create(client, issued.auth, None, Upload_Concat=f"final;{location}")
    assert final.status == 201, await final.text()
    head = await client.head(tus.path_of(final.headers["Location"]), headers=issued.auth)
    assert head.headers["Upload-Concat"] == f"final;/tus{part}"
