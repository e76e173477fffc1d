"""Static assets under ``/static/<content-hash>/<name>``: ours (``tuslog/web/static``) and
Bootstrap's dist files from the installed ``bootstrap-wrapper`` package.

Why ``bootstrap-wrapper``: the issue named ``xstatic-bootstrap`` 5.3.8.0, but it ships only
an sdist whose ``setup.py`` imports ``pkg_resources``, which current setuptools no longer
has, so ``pip install`` fails in pip's isolated build. pip takes build constraints only
from its command line, environment or config files, never from our ``pyproject.toml``, so
every installer would need a setting before the normal ``pip install -e .`` works.
``bootstrap-wrapper`` is a pure wheel without dependencies whose ``bootstrap/css`` and
``bootstrap/js`` are byte-identical to the ``dist/`` folder of Bootstrap 5.3.8 as
published by the Bootstrap authors on npm (checked file by file when it was chosen); it
keeps Bootstrap's version number, so the pin ``>=5.3.8,<5.4`` reads as a Bootstrap pin.

Assets are read once, when the app is built, and kept in memory (a few hundred KiB);
gzip variants are made on first request. The hash in the URL is the SHA-256 of the
content, so a URL never changes meaning and may be cached for a year (``immutable``). A
known file asked for under another hash (a page rendered by an older or newer release
during a rolling upgrade) is still served, but not as immutable. Only names in the
registry are served, so no path from a URL ever reaches the file system.
"""

import gzip
import hashlib
import logging
from dataclasses import dataclass, field
from importlib import metadata, resources
from importlib.resources.abc import Traversable
from pathlib import Path

from aiohttp import web

from tuslog.keys import ASSETS

log = logging.getLogger(__name__)

DIGEST_LENGTH = 16  # hex digits of SHA-256 in URLs: 64 bits, plenty against collisions
IMMUTABLE = "public, max-age=31536000, immutable"
BOOTSTRAP_DIST = "bootstrap-wrapper"
BOOTSTRAP_FILES = {
    "bootstrap/bootstrap.min.css": "bootstrap/css/bootstrap.min.css",
    "bootstrap/bootstrap.bundle.min.js": "bootstrap/js/bootstrap.bundle.min.js",
}
CONTENT_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
}
_COMPRESSIBLE = (".css", ".js", ".svg")
_MIN_GZIP_SIZE = 1024


@dataclass
class Asset:
    name: str
    body: bytes
    content_type: str
    digest: str
    _gzipped: bytes | None = field(default=None, repr=False)

    @property
    def compressible(self) -> bool:
        return self.name.endswith(_COMPRESSIBLE) and len(self.body) >= _MIN_GZIP_SIZE

    def gzipped(self) -> bytes:
        if self._gzipped is None:
            # mtime=0: the same bytes in every worker and release.
            self._gzipped = gzip.compress(self.body, compresslevel=9, mtime=0)
        return self._gzipped


def make_asset(name: str, body: bytes) -> Asset:
    suffix = Path(name).suffix
    content_type = CONTENT_TYPES.get(suffix, "application/octet-stream")
    digest = hashlib.sha256(body).hexdigest()[:DIGEST_LENGTH]
    return Asset(name, body, content_type, digest)


class Assets:
    """The registry: name → asset, and the hashed URL of each."""

    def __init__(self, assets: dict[str, Asset], url_prefix: str = "") -> None:
        self._assets = assets
        self._prefix = url_prefix.rstrip("/")

    def get(self, name: str) -> Asset | None:
        return self._assets.get(name)

    def names(self) -> list[str]:
        return sorted(self._assets)

    def has(self, name: str) -> bool:
        return name in self._assets

    def url(self, name: str) -> str:
        asset = self._assets.get(name)
        if asset is None:  # a template names a file that is not installed
            raise LookupError(f"no static asset {name!r}; known: {', '.join(self.names())}")
        return f"{self._prefix}/static/{asset.digest}/{name}"


def _walk(folder: Traversable, base: str = "") -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    for entry in folder.iterdir():
        name = f"{base}{entry.name}"
        if entry.is_dir():
            found.update(_walk(entry, f"{name}/"))
        elif Path(entry.name).suffix in CONTENT_TYPES:
            found[name] = entry.read_bytes()
    return found


def _bootstrap_files() -> dict[str, bytes]:
    try:
        dist = metadata.distribution(BOOTSTRAP_DIST)
    except metadata.PackageNotFoundError:
        log.error("%s is not installed: pages are served without Bootstrap", BOOTSTRAP_DIST)
        return {}
    found = {}
    for name, relative in BOOTSTRAP_FILES.items():
        try:
            found[name] = Path(str(dist.locate_file(relative))).read_bytes()
        except OSError as exc:
            log.error("%s %s: %s is unreadable: %s", BOOTSTRAP_DIST, dist.version, relative, exc)
    return found


def load_assets(url_prefix: str = "") -> Assets:
    """Ours and Bootstrap's. A missing Bootstrap is logged, not fatal: uploads must not
    stop because a stylesheet is missing (the page stays usable without it)."""
    files = _walk(resources.files("tuslog.web") / "static")
    files.update(_bootstrap_files())
    return Assets({name: make_asset(name, body) for name, body in files.items()}, url_prefix)


def _accepts_gzip(request: web.Request) -> bool:
    for part in request.headers.get("Accept-Encoding", "").split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip().lower() in ("gzip", "x-gzip"):
            quality = params.strip().lower().removeprefix("q=")
            return quality not in ("0", "0.0", "0.00", "0.000")
    return False


def _matches(request: web.Request, etag: str) -> bool:
    given = request.headers.get("If-None-Match", "")
    return given.strip() == "*" or etag in (tag.strip() for tag in given.split(","))


async def serve_asset(request: web.Request) -> web.Response:
    asset = request.config_dict[ASSETS].get(request.match_info["name"])
    if asset is None:
        raise web.HTTPNotFound(text="No such file.\n")
    current = request.match_info["digest"] == asset.digest
    headers = {
        "Cache-Control": IMMUTABLE if current else "no-cache",
        "Content-Type": asset.content_type,
        "Cross-Origin-Resource-Policy": "same-origin",
    }
    body, etag = asset.body, asset.digest
    if asset.compressible:
        headers["Vary"] = "Accept-Encoding"
        if _accepts_gzip(request):
            body, etag = asset.gzipped(), f"{asset.digest}-gz"  # one tag per representation
            headers["Content-Encoding"] = "gzip"
    headers["ETag"] = f'"{etag}"'
    if _matches(request, headers["ETag"]):
        return web.Response(status=304, headers=headers)
    return web.Response(body=body, headers=headers)
