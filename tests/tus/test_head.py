"""HEAD: where an upload stands (C8-C13, D3, E2, E3, T3, CC7)."""

from aiohttp.test_utils import TestClient

from tests.conftest import Issued
from tests.tus.table import HTTP_DATE, META, Row, rows, run_row
from tuslog.settings import Settings

NOT_FOUND_FORBID = ("Upload-Offset", "Upload-Length", "Upload-Expires")


@rows(
    Row(
        "partial",
        "HEAD",
        target="partial",
        expect={
            "Upload-Offset": "4",
            "Upload-Length": "10",
            "Cache-Control": "no-store",
            "Upload-Expires": HTTP_DATE,
        },
        forbid=("Upload-Defer-Length", "Upload-Concat", "Upload-Metadata"),
    ),
    Row(
        "fresh-offset-0",
        "HEAD",
        target="fresh",
        expect={"Upload-Offset": "0", "Upload-Length": "10", "Cache-Control": "no-store"},
    ),
    Row(
        "metadata-echoed-exactly",
        "HEAD",
        target="metadata",
        expect={"Upload-Metadata": META, "Cache-Control": "no-store"},
    ),
    Row(
        "deferred",
        "HEAD",
        target="deferred",
        expect={"Upload-Offset": "0", "Upload-Defer-Length": "1", "Cache-Control": "no-store"},
        forbid=("Upload-Length",),
    ),
    Row(
        "deferred-partial",
        "HEAD",
        target="deferred-partial",
        expect={"Upload-Offset": "4", "Upload-Defer-Length": "1"},
        forbid=("Upload-Length",),
    ),
    Row(
        "complete",
        "HEAD",
        target="complete",
        expect={
            "Upload-Offset": "10",
            "Upload-Length": "10",
            "Cache-Control": "no-store",
            "Tuslog-Upload-State": "complete",
        },
        forbid=("Upload-Expires", "Upload-Defer-Length"),
    ),
    Row(
        "zero-length",
        "HEAD",
        target="empty",
        expect={"Upload-Offset": "0", "Upload-Length": "0", "Cache-Control": "no-store"},
    ),
    Row(
        "partial-concat",
        "HEAD",
        target="concat-partial",
        expect={"Upload-Concat": "partial", "Upload-Offset": "0", "Upload-Length": "10"},
    ),
    Row("unknown-404", "HEAD", target="unknown", status=404, forbid=NOT_FOUND_FORBID),
    Row("malformed-id-404", "HEAD", target="bad-id", status=404, forbid=NOT_FOUND_FORBID),
    Row("terminated-410", "HEAD", target="terminated", status=410, forbid=NOT_FOUND_FORBID),
)
async def test_head(client: TestClient, issued: Issued, settings: Settings, row: Row) -> None:
    await run_row(client, issued, settings, row)
