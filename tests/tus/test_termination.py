"""DELETE: the termination extension (T1-T3)."""

from aiohttp.test_utils import TestClient

from tests.conftest import Issued
from tests.tus.table import BODY, GONE, Row, patch_at, rows, run_row
from tuslog.settings import Settings


@rows(
    Row(
        "unfinished-204-bytes-freed",
        "DELETE",
        target="partial",
        status=204,
        forbid=("Upload-Offset",),
        after={"state": "terminated", "data": GONE},
    ),
    Row(
        "deferred-204",
        "DELETE",
        target="deferred-partial",
        status=204,
        after={"state": "terminated", "data": GONE},
    ),
    Row(
        "finished-cannot-be-deleted-by-token",
        "DELETE",
        target="complete",
        status=403,
        after={"state": "complete", "offset": 10, "data": BODY},
    ),
    Row("twice-410", "DELETE", target="terminated", status=410),
    Row("unknown-404", "DELETE", target="unknown", status=404),
    Row(
        "patch-after-delete-410",
        "PATCH",
        target="terminated",
        headers=patch_at(4),
        body=b"45",
        status=410,
        after={"state": "terminated", "data": GONE},
    ),
)
async def test_termination(
    client: TestClient, issued: Issued, settings: Settings, row: Row
) -> None:
    await run_row(client, issued, settings, row)
