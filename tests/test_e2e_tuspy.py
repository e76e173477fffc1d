"""tuspy, the reference Python tus client, against a real `tuslog serve` process.

What is kept: the stored bytes equal the source, state verified when the client declared a
SHA-256, every body byte a cut connection delivered. What is said: the offsets tuspy reads
after each PATCH, HEAD after a cut, 460 for a bad chunk checksum. And a dropped connection
never costs an upload attempt of the one-time token.
"""

import hashlib
import json
import os
import time
from pathlib import Path

import pytest
import requests
from tusclient import client
from tusclient.exceptions import TusCommunicationError, TusUploadFailed
from tusclient.uploader import Uploader

from tests.conftest import Issued, LiveServer
from tests.fakes import data_path
from tests.support.cut_proxy import CutProxy
from tuslog.settings import Settings

pytestmark = pytest.mark.slow

MiB = 1024 * 1024


def _source(tmp_path: Path, size: int, name: str = "bundle.tar.gz") -> tuple[Path, bytes]:
    data = os.urandom(size)
    path = tmp_path / name
    path.write_bytes(data)
    return path, data


def _tus(url: str, token: Issued) -> client.TusClient:
    return client.TusClient(f"{url}/files/", headers={"Authorization": f"Bearer {token.token}"})


def _upload_id(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[1]


def _stored(settings: Settings, upload_id: str) -> bytes:
    return data_path(settings.storage_dir, upload_id).read_bytes()


def _head(server: LiveServer, upload_id: str, token: Issued) -> requests.Response:
    response = requests.head(f"{server.url}/files/{upload_id}", headers=token.auth, timeout=10)
    assert response.status_code == 200, response.text
    return response


def _token_uses(server: LiveServer, token: Issued) -> int:
    rows = json.loads(server.cli("token", "list", token.ticket, "--json"))
    (row,) = [row for row in rows if row["prefix"] == token.prefix]
    return int(row["uses"])


def _uploads_of(server: LiveServer, token: Issued) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = json.loads(server.cli("upload", "list", token.ticket, "--json"))
    return rows


def test_chunked_upload_is_byte_identical_and_verified(
    live_server: LiveServer, live_token: Issued, settings: Settings, tmp_path: Path
) -> None:
    path, data = _source(tmp_path, 5 * MiB + 12345)
    sha256 = hashlib.sha256(data).hexdigest()
    uploader = _tus(live_server.url, live_token).uploader(
        file_path=str(path),
        chunk_size=MiB,
        metadata={"filename": "bundle.tar.gz", "sha256": sha256},
    )
    offsets = []
    while uploader.offset < len(data):
        uploader.upload_chunk()
        offsets.append(uploader.offset)
    assert offsets == [MiB, 2 * MiB, 3 * MiB, 4 * MiB, 5 * MiB, len(data)]

    upload_id = _upload_id(uploader.url)
    head = _head(live_server, upload_id, live_token)
    assert head.headers["Upload-Offset"] == str(len(data))
    assert head.headers["Upload-Length"] == str(len(data))
    assert head.headers["Tuslog-Upload-State"] == "verified"
    assert head.headers["Tuslog-Sha256"] == sha256
    assert _stored(settings, upload_id) == data
    (row,) = _uploads_of(live_server, live_token)
    assert (row["state"], row["sha256"], row["filename"]) == ("verified", sha256, "bundle.tar.gz")


def test_upload_checksum_per_chunk(
    live_server: LiveServer, live_token: Issued, settings: Settings, tmp_path: Path
) -> None:
    path, data = _source(tmp_path, 3 * MiB + 1)
    uploader = _tus(live_server.url, live_token).uploader(
        file_path=str(path), chunk_size=MiB, upload_checksum=True
    )
    uploader.upload()
    upload_id = _upload_id(uploader.url)
    assert uploader.request.response_headers["tuslog-upload-state"] == "complete"
    assert _stored(settings, upload_id) == data
    assert _head(live_server, upload_id, live_token).headers["Tuslog-Sha256"] == (
        hashlib.sha256(data).hexdigest()
    )


class _WrongSha1Uploader(Uploader):
    """tuspy with a checksum that never matches: what the server does with a bad chunk."""

    CHECKSUM_ALGORITHM_PAIR = ("sha1", lambda chunk: hashlib.sha1(chunk + b"!"))


def test_chunk_with_wrong_checksum_is_discarded(
    live_server: LiveServer, live_token: Issued, settings: Settings, tmp_path: Path
) -> None:
    path, data = _source(tmp_path, 2 * MiB)
    good = _tus(live_server.url, live_token).uploader(file_path=str(path), chunk_size=MiB)
    good.upload(stop_at=MiB)
    bad = _WrongSha1Uploader(
        file_path=str(path), url=good.url, client=good.client, chunk_size=MiB, upload_checksum=True
    )
    assert bad.offset == MiB
    with pytest.raises(TusUploadFailed) as failed:
        bad.upload_chunk()
    assert failed.value.status_code == 460
    assert b"discarded" in failed.value.response_content

    upload_id = _upload_id(good.url)
    assert _head(live_server, upload_id, live_token).headers["Upload-Offset"] == str(MiB)
    assert _stored(settings, upload_id) == data[:MiB]
    good.upload()
    assert _stored(settings, upload_id) == data


@pytest.mark.parametrize(
    ("chunk", "cut_after"),
    [(MiB, 600_000), (8 * MiB, 5_000_000)],  # 8 MiB: long enough for larger socket reads
    ids=["1MiB-patches", "8MiB-patches"],
)
def test_connection_cut_mid_patch_then_resume_with_a_new_uploader(
    live_server: LiveServer,
    live_token: Issued,
    settings: Settings,
    tmp_path: Path,
    chunk: int,
    cut_after: int,
) -> None:
    """Like a customer whose VPN dropped: the next run HEADs and continues."""
    path, data = _source(tmp_path, 4 * chunk + 4321)
    sha256 = hashlib.sha256(data).hexdigest()
    tus = _tus(live_server.url, live_token)
    uploader = tus.uploader(file_path=str(path), chunk_size=chunk, metadata={"sha256": sha256})
    uploader.upload(stop_at=2 * chunk)
    upload_id = _upload_id(uploader.url)

    with CutProxy(live_server.port, cut_after=cut_after) as proxy:
        uploader.url = f"{proxy.url}/files/{upload_id}"  # the third PATCH goes via the proxy
        with pytest.raises(TusCommunicationError):
            uploader.upload()
    (cut,) = proxy.cut_records
    assert cut.request_line.startswith("PATCH ")
    assert 0 < cut.body_bytes < chunk

    # Every body byte that reached the server before the cut is kept; nothing more.
    kept = 2 * chunk + cut.body_bytes
    deadline = time.monotonic() + 10
    while int(_head(live_server, upload_id, live_token).headers["Upload-Offset"]) != kept:
        assert time.monotonic() < deadline, "the cut PATCH's bytes were not recorded"
        time.sleep(0.1)
    assert _stored(settings, upload_id) == data[:kept]

    resumed = Uploader(
        file_path=str(path), url=f"{tus.url}{upload_id}", client=tus, chunk_size=chunk
    )
    assert resumed.offset == kept  # tuspy's HEAD
    resumed.upload()
    assert resumed.offset == len(data)
    assert resumed.request.response_headers["tuslog-upload-state"] == "verified"
    assert _stored(settings, upload_id) == data
    assert _token_uses(live_server, live_token) == 1
    assert len(_uploads_of(live_server, live_token)) == 1


def test_connection_cut_then_tuspy_retries_by_itself(
    live_server: LiveServer, live_token: Issued, settings: Settings, tmp_path: Path
) -> None:
    """tuspy's own retry: on a failed PATCH it HEADs for the offset and sends from there."""
    path, data = _source(tmp_path, 3 * MiB + 99)
    with CutProxy(live_server.port, cut_after=MiB // 2, skip=1) as proxy:
        uploader = _tus(proxy.url, live_token).uploader(
            file_path=str(path), chunk_size=MiB, retries=2, retry_delay=0
        )
        uploader.upload()
    assert len(proxy.cut_records) == 1
    assert uploader.offset == len(data)
    upload_id = _upload_id(uploader.url)
    assert _stored(settings, upload_id) == data
    assert _head(live_server, upload_id, live_token).headers["Tuslog-Upload-State"] == "complete"
    assert _token_uses(live_server, live_token) == 1
