"""A first end-to-end check: create, patch, head through the app."""

import hashlib
import os

from tests import tus
from tests.conftest import Issued
from tests.fakes import data_path


async def test_upload_round_trip(client, issued: Issued, settings) -> None:
    body = os.urandom(3 * 1024 * 1024 + 7)
    digest = hashlib.sha256(body).hexdigest()
    meta = tus.metadata(filename="a.tar.gz", sha256=digest)
    path = await tus.create_path(client, issued.auth, len(body), Upload_Metadata=meta)
    resp = await tus.patch(client, path, issued.auth, 0, body)
    assert resp.status == 204, await resp.text()
    assert resp.headers["Upload-Offset"] == str(len(body))
    assert resp.headers["Tuslog-Upload-State"] == "verified"
    upload_id = path.rsplit("/", 1)[1]
    assert data_path(settings.storage_dir, upload_id).read_bytes() == body
