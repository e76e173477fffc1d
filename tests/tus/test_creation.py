"""POST: creation, creation-with-upload, creation-defer-length (CR*, CU*, D1, E2).

A length deferred at creation is declared by a later PATCH: those rows are in ``test_patch``;
a checksum on creation-with-upload is in ``test_checksum``; malformed creation headers are
in ``test_bad_input_creation``.
"""

import hashlib
import re

from aiohttp.test_utils import TestClient

from tests import tus
from tests.conftest import Issued
from tests.tus.table import BODY, HTTP_DATE, MAX, META, Matcher, Row, rows, run_row
from tuslog.settings import Settings

# Relative: no TUSLOG_PUBLIC_URL and no trusted proxy here (test_locations.py has the rest).
LOCATION = re.compile(r"/files/[0-9a-f]{32}")
CREATED: dict[str, Matcher] = {
    "Location": LOCATION,
    "Upload-Offset": "0",
    "Upload-Expires": HTTP_DATE,
}
WITH_BODY = {"Content-Type": tus.OCTET}


@rows(
    Row(
        "length",
        "POST",
        headers={"Upload-Length": "10"},
        status=201,
        expect={**CREATED, "Tuslog-Upload-State": "receiving"},
        after={"uploads": 1, "offset": 0, "length": 10, "state": "receiving", "data": b""},
    ),
    Row(
        "length-max",
        "POST",
        headers={"Upload-Length": str(MAX)},
        status=201,
        expect=CREATED,
        after={"uploads": 1, "length": MAX},
    ),
    Row(
        "length-zero-completes-at-once",
        "POST",
        headers={"Upload-Length": "0"},
        status=201,
        expect={
            "Location": LOCATION,
            "Upload-Offset": "0",
            "Tuslog-Upload-State": "complete",
            "Tuslog-Sha256": hashlib.sha256(b"").hexdigest(),
        },
        forbid=("Upload-Expires",),
        after={"uploads": 1, "offset": 0, "length": 0, "state": "complete", "data": b""},
    ),
    Row(
        "defer-length",
        "POST",
        headers={"Upload-Defer-Length": "1"},
        status=201,
        expect={**CREATED, "Upload-Defer-Length": "1"},
        forbid=("Upload-Length",),
        after={"uploads": 1, "length": None, "state": "receiving"},
    ),
    Row(
        "metadata",
        "POST",
        headers={"Upload-Length": "10", "Upload-Metadata": META},
        status=201,
        expect=CREATED,
        after={"uploads": 1},
    ),
    Row(
        "both-lengths-400",
        "POST",
        headers={"Upload-Length": "10", "Upload-Defer-Length": "1"},
        status=400,
        forbid=("Location",),
        after={"uploads": 0},
    ),
    Row("no-length-400", "POST", status=400, forbid=("Location",), after={"uploads": 0}),
    Row(
        "defer-length-not-1-400",
        "POST",
        headers={"Upload-Defer-Length": "0"},
        status=400,
        after={"uploads": 0},
    ),
    Row(
        "over-max-413",
        "POST",
        headers={"Upload-Length": str(MAX + 1)},
        status=413,
        forbid=("Location",),
        after={"uploads": 0},
    ),
    Row(
        "with-upload-part",
        "POST",
        headers={**WITH_BODY, "Upload-Length": "10"},
        body=b"01234",
        status=201,
        expect={**CREATED, "Upload-Offset": "5"},
        after={"uploads": 1, "offset": 5, "state": "receiving", "data": b"01234"},
    ),
    Row(
        "with-upload-whole",
        "POST",
        headers={**WITH_BODY, "Upload-Length": "10"},
        body=BODY,
        status=201,
        expect={
            "Location": LOCATION,
            "Upload-Offset": "10",
            "Tuslog-Upload-State": "complete",
            "Tuslog-Sha256": hashlib.sha256(BODY).hexdigest(),
        },
        forbid=("Upload-Expires",),
        after={"uploads": 1, "offset": 10, "state": "complete", "data": BODY},
    ),
    Row(
        "with-upload-deferred",
        "POST",
        headers={**WITH_BODY, "Upload-Defer-Length": "1"},
        body=b"abc",
        status=201,
        expect={**CREATED, "Upload-Offset": "3", "Upload-Defer-Length": "1"},
        after={"uploads": 1, "offset": 3, "length": None, "data": b"abc"},
    ),
    Row(
        "with-upload-other-content-type-is-no-body",
        "POST",
        headers={"Content-Type": "text/plain", "Upload-Length": "10"},
        body=b"abc",
        status=201,
        expect=CREATED,
        after={"uploads": 1, "offset": 0, "data": b""},
    ),
    Row(
        "with-upload-body-past-length-creates-nothing",
        "POST",
        headers={**WITH_BODY, "Upload-Length": "4"},
        body=BODY,
        status=413,
        after={"uploads": 0},
    ),
)
async def test_post(client: TestClient, issued: Issued, settings: Settings, row: Row) -> None:
    await run_row(client, issued, settings, row)
