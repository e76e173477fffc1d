"""The expiration extension (E1-E3): Upload-Expires slides, an expired upload is gone."""

from datetime import timedelta
from email.utils import parsedate_to_datetime

from aiohttp.test_utils import TestClient
from sqlalchemy import update

from tests import tus
from tests.conftest import Issued
from tests.tus.state import data_of, db_execute, upload_id_of
from tuslog.db.models import Upload, utcnow
from tuslog.settings import Settings


async def test_upload_expires_slides_and_expired_upload_is_410(
    client: TestClient, issued: Issued, settings: Settings
) -> None:
    created = await tus.create(client, issued.auth, 10)
    path = tus.path_of(created.headers["Location"])
    first = parsedate_to_datetime(created.headers["Upload-Expires"])
    response = await tus.patch(client, path, issued.auth, 0, b"0123")
    assert parsedate_to_datetime(response.headers["Upload-Expires"]) >= first
    head = await client.head(path, headers=issued.auth)
    assert head.headers["Upload-Expires"] == response.headers["Upload-Expires"]

    await db_execute(
        settings,
        update(Upload)
        .where(Upload.id == upload_id_of(path))
        .values(expires_at=utcnow() - timedelta(seconds=1)),
    )
    head = await client.head(path, headers=issued.auth)
    assert head.status == 410
    assert "Upload-Offset" not in head.headers
    response = await tus.patch(client, path, issued.auth, 4, b"45")
    assert response.status == 410, await response.text()
    assert data_of(settings, upload_id_of(path)) == b"0123"
