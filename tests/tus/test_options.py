"""OPTIONS: what the server announces (C3-C5, C23-C24, K1, X2)."""

from aiohttp.test_utils import TestClient

from tests.conftest import Issued
from tests.tus.table import CORS_HEADERS, MAX, Has, Matcher, Row, rows, run_row
from tuslog.settings import Settings

EXTENSIONS = {
    "creation",
    "creation-with-upload",
    "creation-defer-length",
    "expiration",
    "checksum",
    "termination",
    "concatenation",
}
OPTIONS_OK: dict[str, Matcher] = {
    "Tus-Version": "1.0.0",
    "Tus-Extension": Has(*EXTENSIONS, exact=True),
    "Tus-Max-Size": str(MAX),
    "Tus-Checksum-Algorithm": Has("sha1", "sha256", "md5", "crc32", exact=True),
}


@rows(
    Row("collection", "OPTIONS", status=204, expect=OPTIONS_OK, forbid=CORS_HEADERS),
    Row(
        "no-tus-resumable-no-token",
        "OPTIONS",
        auth=False,
        status=204,
        expect=OPTIONS_OK,
    ),
    Row(
        "wrong-tus-resumable-never-412",
        "OPTIONS",
        headers={"Tus-Resumable": "0.2.2"},
        status=204,
        expect=OPTIONS_OK,
    ),
    Row("upload-url", "OPTIONS", target="partial", auth=False, status=204, expect=OPTIONS_OK),
    Row("unknown-upload-url", "OPTIONS", target="unknown", status=204, expect=OPTIONS_OK),
    Row(
        "no-checksum-trailer-advertised",
        "OPTIONS",
        status=204,
        expect={"Tus-Extension": lambda v: "checksum-trailer" not in v},
    ),
)
async def test_options(client: TestClient, issued: Issued, settings: Settings, row: Row) -> None:
    await run_row(client, issued, settings, row)
