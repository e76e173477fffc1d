"""CORS for browser uploaders (X2-X4): preflights, and the headers a page may read."""

import re

from aiohttp.test_utils import TestClient

from tests import tus
from tests.conftest import Issued
from tests.tus.table import CORS_HEADERS, ORIGIN, Has, Row, rows, run_row
from tuslog.settings import Settings

OTHER_ORIGIN = "https://evil.example.net"
PREFLIGHT = {
    "Origin": ORIGIN,
    "Access-Control-Request-Method": "PATCH",
    "Access-Control-Request-Headers": "authorization,content-type,tus-resumable,upload-offset",
}
ALLOW_HEADERS = Has(
    "Authorization",
    "Content-Type",
    "Tus-Resumable",
    "Upload-Length",
    "Upload-Metadata",
    "Upload-Offset",
    "Upload-Checksum",
    "Upload-Concat",
    "Upload-Defer-Length",
    "X-HTTP-Method-Override",
    "X-Requested-With",
    "X-Request-ID",
)
EXPOSE_HEADERS = Has(
    "Location",
    "Upload-Offset",
    "Upload-Length",
    "Upload-Expires",
    "Upload-Metadata",
    "Upload-Defer-Length",
    "Upload-Concat",
    "Tus-Resumable",
    "Tus-Version",
    "Tus-Extension",
    "Tus-Max-Size",
    "Tus-Checksum-Algorithm",
)


@rows(
    Row(
        "preflight-configured-origin",
        "OPTIONS",
        auth=False,
        headers=PREFLIGHT,
        status=204,
        expect={
            "Access-Control-Allow-Origin": ORIGIN,
            "Access-Control-Allow-Methods": Has("POST", "HEAD", "PATCH", "DELETE", "OPTIONS"),
            "Access-Control-Allow-Headers": ALLOW_HEADERS,
            "Access-Control-Max-Age": re.compile(r"[1-9][0-9]*"),
            "Vary": Has("Origin"),
            "Tus-Version": "1.0.0",
        },
    ),
    Row(
        "preflight-on-upload-url",
        "OPTIONS",
        target="partial",
        auth=False,
        headers={**PREFLIGHT, "Access-Control-Request-Method": "DELETE"},
        status=204,
        expect={
            "Access-Control-Allow-Origin": ORIGIN,
            "Access-Control-Allow-Methods": Has("DELETE", "HEAD", "PATCH"),
        },
    ),
    Row(
        "preflight-unknown-origin",
        "OPTIONS",
        auth=False,
        headers={**PREFLIGHT, "Origin": OTHER_ORIGIN},
        status=204,
        expect={"Tus-Version": "1.0.0", "Vary": Has("Origin")},
        forbid=CORS_HEADERS,
    ),
    Row(
        "post-configured-origin-exposes-headers",
        "POST",
        headers={"Origin": ORIGIN, "Upload-Length": "10"},
        status=201,
        expect={
            "Access-Control-Allow-Origin": ORIGIN,
            "Access-Control-Expose-Headers": EXPOSE_HEADERS,
            "Vary": Has("Origin"),
        },
    ),
    Row(
        "patch-configured-origin",
        "PATCH",
        target="fresh",
        headers={"Origin": ORIGIN, "Content-Type": tus.OCTET, "Upload-Offset": "0"},
        body=b"0123",
        status=204,
        expect={
            "Access-Control-Allow-Origin": ORIGIN,
            "Access-Control-Expose-Headers": EXPOSE_HEADERS,
        },
    ),
    Row(
        "error-configured-origin-readable",
        "HEAD",
        target="unknown",
        headers={"Origin": ORIGIN},
        status=404,
        expect={"Access-Control-Allow-Origin": ORIGIN},
    ),
    Row(
        "412-configured-origin-readable",
        "POST",
        headers={"Origin": ORIGIN, "Tus-Resumable": None, "Upload-Length": "1"},
        status=412,
        expect={"Access-Control-Allow-Origin": ORIGIN, "Tus-Version": "1.0.0"},
    ),
    Row(
        "post-unknown-origin",
        "POST",
        headers={"Origin": OTHER_ORIGIN, "Upload-Length": "10"},
        status=201,
        expect={"Vary": Has("Origin")},
        forbid=CORS_HEADERS,
    ),
    Row(
        "no-origin-no-cors",
        "POST",
        headers={"Upload-Length": "10"},
        status=201,
        expect={"Vary": Has("Origin")},
        forbid=CORS_HEADERS,
    ),
)
async def test_cors(client: TestClient, issued: Issued, settings: Settings, row: Row) -> None:
    await run_row(client, issued, settings, row)
