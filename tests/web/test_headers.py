"""The upload page and its assets over real HTTP (the app under aiohttp's test server), no
browser: security headers, cache headers, hashed URLs, content types, compression, 404s,
and that no URL path reaches the file system."""

from __future__ import annotations

import gzip
import hashlib
import re
from html.parser import HTMLParser
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestClient
from yarl import URL

from tests.conftest import make_settings
from tuslog.app import create_app
from tuslog.settings import Settings
from tuslog.web.assets import DIGEST_LENGTH, IMMUTABLE

CSP_EXPECTED = {
    "default-src": ["'none'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "connect-src": ["'self'"],
    "form-action": ["'self'"],
    "base-uri": ["'none'"],
    "frame-ancestors": ["'none'"],
}
CONTENT_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}


class PageParts(HTMLParser):
    """Scripts, stylesheets, icons, inline styles and event handlers of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts: list[dict[str, str | None]] = []
        self.style_elements = 0
        self.style_attributes: list[str] = []
        self.handlers: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "script":
            if values.get("src"):
                self.urls.append(str(values["src"]))
            else:
                self.inline_scripts.append(values)
        if tag == "link" and values.get("href"):
            self.urls.append(str(values["href"]))
        if tag == "style":
            self.style_elements += 1
        for name, _ in attrs:
            if name == "style":
                self.style_attributes.append(tag)
            if name.startswith("on"):
                self.handlers.append(f"{tag} {name}")


def parse_csp(value: str) -> dict[str, list[str]]:
    directives = {}
    for part in value.split(";"):
        words = part.split()
        if words:
            directives[words[0]] = words[1:]
    return directives


async def page_parts(client: TestClient, path: str = "/upload") -> tuple[Any, PageParts]:
    response = await client.get(path)
    assert response.status == 200
    parts = PageParts()
    parts.feed(await response.text())
    return response, parts


async def test_page_has_a_strict_policy_and_headers(client: TestClient) -> None:
    response, parts = await page_parts(client)
    assert response.content_type == "text/html" and response.charset == "utf-8"
    assert parse_csp(response.headers["Content-Security-Policy"]) == CSP_EXPECTED
    assert len(response.headers.getall("Content-Security-Policy")) == 1
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cross-Origin-Opener-Policy"] == "same-origin"
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["Vary"] == "Accept-Language"
    assert response.headers["Content-Language"] == "en"
    assert "camera=()" in response.headers["Permissions-Policy"]
    assert "Server" not in response.headers
    # Everything the policy needs: no inline code or style, only our own files.
    assert parts.inline_scripts == [{"type": "application/json", "id": "upload-messages"}]
    assert parts.style_elements == 0 and parts.style_attributes == [] and parts.handlers == []
    assert parts.urls and all(url.startswith("/static/") for url in parts.urls)


async def test_other_responses_keep_the_root_policy(client: TestClient) -> None:
    response = await client.get("/healthz")
    assert (
        response.headers["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"
    )
    options = await client.options("/files/")
    assert options.status == 204 and options.headers["Tus-Resumable"] == "1.0.0"


async def test_assets_are_hashed_typed_and_cached_for_a_year(client: TestClient) -> None:
    _, parts = await page_parts(client)
    names = set()
    for url in parts.urls:
        match = re.fullmatch(rf"/static/([0-9a-f]{{{DIGEST_LENGTH}}})/(.+)", url)
        assert match, url
        response = await client.get(url, headers={"Accept-Encoding": "identity"})
        assert response.status == 200, url
        body = await response.read()
        assert hashlib.sha256(body).hexdigest()[:DIGEST_LENGTH] == match.group(1)
        assert response.headers["Content-Type"] == CONTENT_TYPES[Path(url).suffix]
        assert response.headers["Cache-Control"] == IMMUTABLE
        assert response.headers["ETag"] == f'"{match.group(1)}"'
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Cross-Origin-Resource-Policy"] == "same-origin"
        names.add(match.group(2))
    assert {
        "bootstrap/bootstrap.min.css",
        "css/tuslog.css",
        "img/favicon.svg",
        "js/tus-client.js",
        "js/upload-page.js",
    } <= names


async def test_bootstrap_comes_from_the_installed_package(client: TestClient) -> None:
    _, parts = await page_parts(client)
    [url] = [url for url in parts.urls if url.endswith("bootstrap.min.css")]
    body = await (await client.get(url, headers={"Accept-Encoding": "identity"})).read()
    dist = metadata.distribution("bootstrap-wrapper")
    installed = Path(str(dist.locate_file("bootstrap/css/bootstrap.min.css"))).read_bytes()
    assert body == installed
    assert b"Bootstrap  v5.3." in body[:200]


async def test_gzip_when_asked_and_one_tag_per_representation(
    aiohttp_client: Any, settings: Settings
) -> None:
    raw = await aiohttp_client(create_app(settings), auto_decompress=False)
    _, parts = await page_parts(raw)
    [url] = [url for url in parts.urls if url.endswith("bootstrap.min.css")]
    plain = await raw.get(url, headers={"Accept-Encoding": "identity"})
    zipped = await raw.get(url, headers={"Accept-Encoding": "br, gzip;q=0.8"})
    refused = await raw.get(url, headers={"Accept-Encoding": "gzip;q=0"})
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert zipped.headers["Vary"] == plain.headers["Vary"] == "Accept-Encoding"
    body = await zipped.read()
    assert gzip.decompress(body) == await plain.read()
    assert len(body) < len(await plain.read()) / 4
    assert "Content-Encoding" not in refused.headers and "Content-Encoding" not in plain.headers
    assert zipped.headers["ETag"] != plain.headers["ETag"]
    for response in (plain, zipped):
        again = await raw.get(
            url,
            headers={
                "If-None-Match": response.headers["ETag"],
                "Accept-Encoding": "gzip" if response is zipped else "identity",
            },
        )
        assert again.status == 304 and await again.read() == b""
        assert again.headers["Cache-Control"] == IMMUTABLE


async def test_head_of_an_asset(client: TestClient) -> None:
    _, parts = await page_parts(client)
    url = next(url for url in parts.urls if url.endswith(".js"))
    response = await client.head(url, headers={"Accept-Encoding": "identity"})
    assert response.status == 200 and await response.read() == b""
    assert response.headers["Cache-Control"] == IMMUTABLE
    assert int(response.headers["Content-Length"]) > 1000


async def test_an_old_hash_is_served_but_not_cached_forever(client: TestClient) -> None:
    """A page from the release before (a rolling upgrade) still gets its files."""
    _, parts = await page_parts(client)
    url = next(url for url in parts.urls if url.endswith("tuslog.css"))
    stale = re.sub(r"/static/[0-9a-f]+/", "/static/" + "0" * DIGEST_LENGTH + "/", url)
    response = await client.get(stale)
    assert response.status == 200
    assert response.headers["Cache-Control"] == "no-cache"
    assert await response.read() == await (await client.get(url)).read()


BAD_PATHS = [
    "/static/{digest}/js/nothing.js",
    "/static/{digest}/",
    "/static/{digest}",
    "/static/not-a-hash/js/upload-page.js",
    "/static/{digest}0/js/upload-page.js",
    "/static/{digest}/../../pyproject.toml",
    "/static/{digest}/..%2F..%2F..%2Fpyproject.toml",
    "/static/{digest}/%2e%2e/%2e%2e/web/assets.py",
    "/static/{digest}/js/..%2F..%2F__init__.py",
    "/static/{digest}/..%5C..%5Cassets.py",
    "/static/{digest}//etc/passwd",
    "/static/{digest}/%2Fetc%2Fpasswd",
    "/static/{digest}/bootstrap/../../../../tuslog/settings.py",
    "/static/{digest}/bootstrap/bootstrap.min.css.map",
    "/static/{digest}/templates/upload.html",
    "/static/{digest}/messages/en.py",
    "/static/{digest}/js/upload-page.js%00.css",
]


@pytest.mark.parametrize("path", BAD_PATHS)
async def test_unknown_or_crafted_paths_are_404(
    path: str, client: TestClient, settings: Settings
) -> None:
    _, parts = await page_parts(client)
    digest = parts.urls[0].split("/")[2]
    async with ClientSession() as session:  # raw, not normalised by the test client
        raw = f"http://{client.host}:{client.port}{path.format(digest=digest)}"
        async with session.get(URL(raw, encoded=True)) as response:
            body = await response.read()
    assert response.status == 404, (path, response.status)
    assert b"import" not in body and b"root:" not in body and b"<html" not in body
    assert response.headers.get("Cache-Control") != IMMUTABLE


async def test_public_url_path_prefixes_every_link(
    aiohttp_client: Any, database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(database_url, tmp_path, public_url="https://logs.example.com/tl/")
    client = await aiohttp_client(create_app(settings))
    response, parts = await page_parts(client)
    html = await response.text()
    assert all(url.startswith("/tl/static/") for url in parts.urls)
    assert 'data-endpoint="/tl/files/"' in html
    assert "curl -fsSLO https://logs.example.com/tl/uploader.sh" in html
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000"
    # Behind the proxy that strips /tl, the server itself serves them without it.
    url = parts.urls[0].removeprefix("/tl")
    assert (await client.get(url)).status == 200


async def test_host_header_markup_never_reaches_the_page(client: TestClient) -> None:
    response = await client.get("/upload", headers={"Host": 'x"><script>alert(1)</script>'})
    html = await response.text()
    assert response.status == 200
    assert "<script>alert" not in html and "alert(1)" not in html


async def test_page_is_only_get(client: TestClient) -> None:
    """A browser without script posts the form: the token goes nowhere, nothing is logged
    of it, and nothing happens."""
    response = await client.post("/upload", data={"token": "tlu_abcdefgh_x"})
    assert response.status == 405


async def test_without_bootstrap_the_page_still_works(
    aiohttp_client: Any, settings: Settings, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    """A broken install (the package missing) is logged; uploads must not stop for it."""
    monkeypatch.setattr("tuslog.web.assets.BOOTSTRAP_DIST", "no-such-distribution-here")
    client = await aiohttp_client(create_app(settings))
    _, parts = await page_parts(client)
    assert not any("bootstrap" in url for url in parts.urls)
    assert any(url.endswith("upload-page.js") for url in parts.urls)
    assert "no-such-distribution-here is not installed" in caplog.text


async def test_trailing_slash_leads_to_the_page(client: TestClient) -> None:
    plain = await client.get("/upload/", allow_redirects=False)
    assert plain.status == 308 and plain.headers["Location"] == "/upload"
    chosen = await client.get("/upload/?lang=de", allow_redirects=False)
    assert chosen.headers["Location"] == "/upload?lang=de"
    followed = await client.get("/upload/?lang=de")
    assert followed.status == 200 and followed.headers["Content-Language"] == "de"
