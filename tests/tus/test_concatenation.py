"""The concatenation extension (CC1-CC8): partial uploads and the final upload made of them."""

import hashlib

import pytest
from aiohttp.test_utils import TestClient

from tests import tus
from tests.conftest import Issued, issue_token
from tests.tus.state import data_of, db_token, db_uploads, upload_id_of
from tests.tus.table import META, UNKNOWN_ID, assert_common
from tuslog.settings import Settings


async def test_concatenation_final_is_partials_in_order(
    client: TestClient, issued: Issued, settings: Settings
) -> None:
    hello = await tus.finished_partial(client, issued.auth, b"hello ")
    world = await tus.finished_partial(client, issued.auth, b"world")
    assert (await db_token(settings, issued.prefix)).uses == 0  # partials cost no attempt
    head = await client.head(tus.path_of(hello), headers=issued.auth)
    assert head.headers["Upload-Concat"] == "partial"
    assert head.headers["Upload-Offset"] == "6"

    final = await tus.create(
        client, issued.auth, None, Upload_Concat=f"final;{world} {hello}", Upload_Metadata=META
    )
    assert final.status == 201, await final.text()
    assert (await db_token(settings, issued.prefix)).uses == 1  # the final costs one
    expected = b"worldhello "
    assert final.headers["Upload-Offset"] == final.headers["Upload-Length"] == "11"
    assert final.headers["Tuslog-Sha256"] == hashlib.sha256(expected).hexdigest()
    final_path = tus.path_of(final.headers["Location"])
    assert data_of(settings, upload_id_of(final_path)) == expected

    head = await client.head(final_path, headers=issued.auth)
    assert head.status == 200
    world_id, hello_id = upload_id_of(world), upload_id_of(hello)
    assert head.headers["Upload-Concat"] == f"final;/files/{world_id} /files/{hello_id}"
    assert head.headers["Upload-Offset"] == head.headers["Upload-Length"] == "11"
    assert head.headers["Upload-Metadata"] == META
    assert head.headers["Cache-Control"] == "no-store"

    # The one attempt is used: neither a new upload nor a new partial is accepted.
    assert (await tus.create(client, issued.auth, 1)).status == 401
    assert (await tus.create(client, issued.auth, 1, Upload_Concat="partial")).status == 401


async def test_concatenation_may_repeat_a_partial(
    client: TestClient, issued: Issued, settings: Settings
) -> None:
    part = await tus.finished_partial(client, issued.auth, b"abc")
    final = await tus.create(client, issued.auth, None, Upload_Concat=f"final;{part} {part}")
    assert final.status == 201, await final.text()
    assert final.headers["Upload-Length"] == "6"
    assert data_of(settings, upload_id_of(final.headers["Location"])) == b"abcabc"


@pytest.mark.parametrize(
    "case", ["unfinished-partial", "not-a-partial", "unknown", "other-token", "with-length"]
)
async def test_concatenation_final_rejected(
    client: TestClient, issued: Issued, settings: Settings, case: str
) -> None:
    other = await issue_token(settings, uploads=3)
    owner = other if case in ("not-a-partial", "unfinished-partial") else issued
    auth = owner.auth
    done = await tus.finished_partial(client, auth, b"abc")
    if case == "unfinished-partial":
        created = await tus.create(client, auth, 5, Upload_Concat="partial")
        named = str(created.headers["Location"])
    elif case == "not-a-partial":
        created = await tus.create(client, auth, 3, Content_Type=tus.OCTET)
        named = str(created.headers["Location"])
    elif case == "unknown":
        named = f"/files/{UNKNOWN_ID}"
    elif case == "other-token":
        named = await tus.finished_partial(client, other.auth, b"def")
    else:
        named = done
    before = await db_uploads(settings)
    extra = {"Upload_Length": "6"} if case == "with-length" else {}
    response = await tus.create(client, auth, None, Upload_Concat=f"final;{done} {named}", **extra)
    text = await response.text()
    assert response.status == 400, text
    assert "Location" not in response.headers
    assert len(text.strip()) > 10
    assert set(await db_uploads(settings)) == set(before)
    token = await db_token(settings, owner.prefix)
    assert token.uses == (1 if case == "not-a-partial" else 0)


async def test_patch_on_final_is_403(
    client: TestClient, issued: Issued, settings: Settings
) -> None:
    """CC6: a final upload takes no PATCH, not even an empty one at its end."""
    part = await tus.finished_partial(client, issued.auth, b"abc")
    final = await tus.create(client, issued.auth, None, Upload_Concat=f"final;{part}")
    final_path = tus.path_of(final.headers["Location"])
    completed_at = (await db_uploads(settings))[upload_id_of(final_path)].completed_at
    for offset, body in ((3, b""), (3, b"d"), (0, b"xyz")):
        response = await tus.patch(client, final_path, issued.auth, offset, body)
        text = await response.text()
        assert response.status == 403, text
        assert_common(response, "PATCH", text)
    upload = (await db_uploads(settings))[upload_id_of(final_path)]
    assert (upload.offset, upload.state, upload.completed_at) == (3, "complete", completed_at)
    assert data_of(settings, upload_id_of(final_path)) == b"abc"
