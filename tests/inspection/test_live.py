"""A real `tuslog serve` lists what tuspy uploads, and takes up after a restart the list
that a stopped server left unfinished."""

import asyncio
import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from tusclient import client

from tests.conftest import Issued, LiveServer, free_port, server_env, start_server
from tests.fakes import FaultyStore
from tests.inspection.support import BUNDLE, SlowReads, running, tar_gz, upload
from tuslog.db.models import ArchiveManifest, ManifestState
from tuslog.settings import Settings

pytestmark = pytest.mark.slow


def _ls(env: dict[str, str], upload_id: str) -> dict[str, Any] | None:
    """``upload ls --json``, or None while the list is not ready."""
    done = subprocess.run(
        [sys.executable, "-m", "tuslog", "upload", "ls", upload_id, "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if done.returncode != 0:
        assert "not listed yet" in done.stderr, done.stderr
        return None
    listed: dict[str, Any] = json.loads(done.stdout)
    return listed


def _listed_by_the_server(env: dict[str, str], upload_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        listed = _ls(env, upload_id)
        if listed is not None:
            return listed
        time.sleep(0.5)
    raise AssertionError("the server did not list the archive within 60 s")


def test_the_server_lists_what_tuspy_uploaded(
    live_server: LiveServer, live_token: Issued, tmp_path: Path
) -> None:
    data = tar_gz(BUNDLE)
    source = tmp_path / "bundle.tar.gz"
    source.write_bytes(data)
    tus = client.TusClient(
        f"{live_server.url}/files/", headers={"Authorization": f"Bearer {live_token.token}"}
    )
    uploader = tus.uploader(
        str(source),
        chunk_size=4096,
        metadata={"filename": "bundle.tar.gz", "sha256": hashlib.sha256(data).hexdigest()},
    )
    uploader.upload()
    upload_id = uploader.url.rstrip("/").rsplit("/", 1)[1]

    listed = _listed_by_the_server(live_server.env, upload_id)
    assert listed["status"]["upload_state"] == "verified"
    assert sorted(e["path"] for e in listed["entries"]) == sorted(BUNDLE)
    assert "Traceback" not in live_server.log_path.read_text()


def test_a_restarted_server_finishes_the_list_a_stop_cut_short(
    settings: Settings, tmp_path: Path
) -> None:
    async def stopped_mid_list() -> str:
        store = FaultyStore(settings.storage_dir)
        slow = SlowReads(store)
        async with running(settings, store) as engine:
            done = await upload(engine, tar_gz({"noise.bin": bytes(range(256)) * 2000, **BUNDLE}))
            assert await asyncio.to_thread(slow.started.wait, 10)
            return done.id

    upload_id = asyncio.run(stopped_mid_list())
    assert asyncio.run(_state(settings, upload_id)) is ManifestState.PENDING

    server = start_server(server_env(settings), free_port(), tmp_path / "server.log")
    try:
        listed = _listed_by_the_server(server.env, upload_id)  # the janitor's first pass
    finally:
        server.stop()
    assert listed["status"]["complete"] is True
    assert sorted(e["path"] for e in listed["entries"]) == sorted(["noise.bin", *BUNDLE])
    log = (tmp_path / "server.log").read_text()
    assert f"archive manifest of upload {upload_id}: tar.gz" in log
    assert "Traceback" not in log


async def _state(settings: Settings, upload_id: str) -> ManifestState | None:
    from tuslog.db.database import Database

    database = Database(settings.database_url)
    try:
        async with database.session() as session:
            row = await session.get(ArchiveManifest, upload_id)
            return None if row is None else row.state
    finally:
        await database.dispose()
