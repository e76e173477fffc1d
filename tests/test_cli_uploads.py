"""``tuslog upload show|download|delete`` and ``tuslog storage``, run as real processes
against uploads made through the engine: downloads verify the SHA-256 while writing,
resume, refuse what is not an archive yet, and deletions are confirmed and audited."""

import json
import os

from sqlalchemy import select

from tests.conftest import sessions
from tests.fakes import data_path
from tests.test_cli import run
from tests.test_cli_support import make_upload, sha256
from tuslog.db.models import AuditEvent
from tuslog.settings import Settings

DATA = os.urandom(3 * 1024 * 1024 + 17)


def test_show_tells_where_an_upload_stands(settings: Settings) -> None:
    run(settings, "ticket", "create", "SR-1")
    upload = make_upload(settings, "SR-1", DATA, declared=sha256(DATA), filename="db dump.gz")
    shown = json.loads(run(settings, "upload", "show", upload.id, "--json").stdout)
    assert (shown["state"], shown["sha256"], shown["filename"]) == (
        "verified",
        sha256(DATA),
        "db dump.gz",
    )
    assert shown["location"] == str(data_path(settings.storage_dir, upload.id).resolve())
    text = run(settings, "upload", "show", upload.id.upper()).stdout
    assert "verified" in text and "db dump.gz" in text and "3.0 MiB/3.0 MiB" in text


def test_download_verifies_and_names_the_file(settings: Settings, tmp_path: os.PathLike) -> None:
    run(settings, "ticket", "create", "SR-2")
    upload = make_upload(settings, "SR-2", DATA, declared=sha256(DATA))
    target = os.path.join(tmp_path, "out.tgz")
    done = json.loads(run(settings, "upload", "download", upload.id, "-o", target, "--json").stdout)
    assert done == {"id": upload.id, "file": target, "bytes": len(DATA), "sha256": sha256(DATA)}
    with open(target, "rb") as f:
        assert f.read() == DATA
    again = run(settings, "upload", "download", upload.id, "-o", target, check=False)
    assert again.returncode == 2 and "exists; name another file" in again.stderr

    piped = run_bytes(settings, "upload", "download", upload.id, "-o", "-")
    assert piped == DATA


def run_bytes(settings: Settings, *args: str) -> bytes:
    import subprocess
    import sys

    from tests.test_cli import cli_env

    done = subprocess.run(
        [sys.executable, "-m", "tuslog", *args],
        env=cli_env(settings),
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_download_resumes_a_partial_file(settings: Settings, tmp_path: os.PathLike) -> None:
    run(settings, "ticket", "create", "SR-3")
    upload = make_upload(settings, "SR-3", DATA)
    target = os.path.join(tmp_path, "logs.tgz")
    with open(target + ".part", "wb") as part:
        part.write(DATA[:1000])  # an earlier download, cut off
    refused = run(settings, "upload", "download", upload.id, "-o", target, check=False)
    assert refused.returncode == 2 and "--continue" in refused.stderr
    run(settings, "upload", "download", upload.id, "-o", target, "--continue")
    with open(target, "rb") as f:
        assert f.read() == DATA
    assert not os.path.exists(target + ".part")


def test_a_damaged_part_is_caught_and_kept(settings: Settings, tmp_path: os.PathLike) -> None:
    run(settings, "ticket", "create", "SR-4")
    upload = make_upload(settings, "SR-4", DATA)
    target = os.path.join(tmp_path, "logs.tgz")
    with open(target + ".part", "wb") as part:
        part.write(bytes([DATA[0] ^ 0xFF]) + DATA[1:1000])  # not what was sent
    done = run(settings, "upload", "download", upload.id, "-o", target, "-c", check=False)
    assert done.returncode == 1
    assert "do not match the server's SHA-256" in done.stderr and ".part" in done.stderr
    assert not os.path.exists(target) and os.path.exists(target + ".part")


def test_unfinished_and_corrupt_uploads_need_force(
    settings: Settings, tmp_path: os.PathLike
) -> None:
    run(settings, "ticket", "create", "SR-5")
    unfinished = make_upload(settings, "SR-5", DATA, received=1000)
    corrupt = make_upload(settings, "SR-5", DATA, declared=sha256(b"something else"))
    for upload, words in ((unfinished, "unfinished (1000 of"), (corrupt, "does not match")):
        target = os.path.join(tmp_path, upload.id)
        refused = run(settings, "upload", "download", upload.id, "-o", target, check=False)
        assert refused.returncode == 1 and words in refused.stderr, refused.stderr
        assert "--force" in refused.stderr and not os.path.exists(target + ".part")
    forced = os.path.join(tmp_path, "forced")
    run(settings, "upload", "download", unfinished.id, "-o", forced, "--force")
    with open(forced, "rb") as f:
        assert f.read() == DATA[:1000]


async def test_delete_asks_removes_and_audits(settings: Settings, assertion_db: None) -> None:
    import asyncio

    await asyncio.to_thread(run, settings, "ticket", "create", "SR-6")
    upload = await asyncio.to_thread(make_upload, settings, "SR-6", DATA)
    refused = await asyncio.to_thread(run, settings, "upload", "delete", upload.id, check=False)
    assert refused.returncode == 2 and "add --yes" in refused.stderr
    assert data_path(settings.storage_dir, upload.id).exists()
    done = await asyncio.to_thread(run, settings, "upload", "delete", upload.id, "--yes")
    assert done.stdout.startswith(f"deleted upload {upload.id} (logs.tgz) of ticket SR-6")
    assert not data_path(settings.storage_dir, upload.id).exists()
    again = await asyncio.to_thread(
        run, settings, "upload", "delete", upload.id, "--yes", check=False
    )
    assert again.returncode == 1 and "already deleted" in again.stderr
    async with sessions(settings)() as session:
        actions = list(
            await session.execute(
                select(AuditEvent.action, AuditEvent.actor).where(AuditEvent.subject == upload.id)
            )
        )
    assert ("upload.deleted", "cli") in [tuple(a) for a in actions]


def test_storage_adds_up(settings: Settings) -> None:
    run(settings, "ticket", "create", "SR-7")
    make_upload(settings, "SR-7", DATA)
    make_upload(settings, "SR-7", DATA, received=1000)
    report = json.loads(run(settings, "storage", "--json").stdout)
    assert report["uploads"] == 2
    assert report["upload_bytes"] == len(DATA) + 1000
    assert report["promised"] == len(DATA) - 1000
    assert report["reserve"] == 0  # the tests' TUSLOG_MIN_FREE_SPACE
    assert report["total"] >= report["used"] and report["total"] >= report["free"] > 0
    assert report["available"] == report["free"] - report["promised"]
    text = run(settings, "storage").stdout
    assert "promised to unfinished uploads" in text and "available for new uploads" in text
