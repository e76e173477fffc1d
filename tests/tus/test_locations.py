"""The Location of a new upload (CR6, X5): absolute from the public URL or a trusted
proxy's forwarded host; otherwise relative (tus allows it, clients resolve it against the
URL they used), so that neither a client's Host header nor forwarded headers from peers
that are not trusted can steer it.
"""

import re
from pathlib import Path
from typing import Any

import pytest

from tests import tus
from tests.conftest import issue_token, make_settings
from tuslog.app import create_app


@pytest.mark.parametrize(
    ("overrides", "headers", "expected"),
    [
        pytest.param(
            {"public_url": "https://logs.example.com"},
            {},
            r"https://logs\.example\.com/files/[0-9a-f]{32}",
            id="public-url",
        ),
        pytest.param(
            {"public_url": "https://example.com/support/"},
            {},
            r"https://example\.com/support/files/[0-9a-f]{32}",
            id="public-url-with-path",
        ),
        pytest.param(
            {"public_url": "https://logs.example.com", "trusted_proxies": "127.0.0.1"},
            {"X-Forwarded-Proto": "http", "X-Forwarded-Host": "other.example.com"},
            r"https://logs\.example\.com/files/[0-9a-f]{32}",
            id="public-url-beats-forwarded",
        ),
        pytest.param(
            {"trusted_proxies": "127.0.0.0/8"},
            {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "up.example.org"},
            r"https://up\.example\.org/files/[0-9a-f]{32}",
            id="trusted-proxy",
        ),
        pytest.param(
            {"trusted_proxies": "127.0.0.1"},
            {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "up.example.org:8443"},
            r"https://up\.example\.org:8443/files/[0-9a-f]{32}",
            id="trusted-proxy-with-port",
        ),
        pytest.param(
            {},
            {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example.net"},
            r"/files/[0-9a-f]{32}",
            id="no-trusted-proxies",
        ),
        pytest.param(
            {"trusted_proxies": "10.0.0.0/8"},
            {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example.net"},
            r"/files/[0-9a-f]{32}",
            id="peer-not-in-trusted-proxies",
        ),
        pytest.param(
            {"trusted_proxies": "127.0.0.1"},
            {"X-Forwarded-Proto": "gopher", "X-Forwarded-Host": "evil.example.net/x?y"},
            r"/files/[0-9a-f]{32}",
            id="trusted-proxy-garbage-ignored",
        ),
        pytest.param(
            {},
            {"Host": "evil.example"},
            r"/files/[0-9a-f]{32}",
            id="host-header-not-echoed",
        ),
    ],
)
async def test_absolute_location(
    aiohttp_client: Any,
    database_url: str,
    tmp_path: Path,
    overrides: dict[str, Any],
    headers: dict[str, str],
    expected: str,
) -> None:
    settings = make_settings(database_url, tmp_path, **overrides)
    client = await aiohttp_client(create_app(settings))
    issued = await issue_token(settings, uploads=2)
    for body in (None, b"abc"):  # plain creation and creation-with-upload
        extra = {"Content_Type": tus.OCTET} if body else {}
        response = await client.post(
            "/files/",
            headers={**issued.auth, "Upload-Length": "10", **headers, **extra},
            data=body,
        )
        assert response.status == 201, await response.text()
        assert re.fullmatch(expected, response.headers["Location"]), response.headers["Location"]
        https = expected.startswith("https")
        assert ("Strict-Transport-Security" in response.headers) == https
