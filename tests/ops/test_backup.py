"""`tuslog backup`: database first, then the files; incremental; and what it wrote
restores into an installation that `tuslog doctor` finds consistent."""

import asyncio
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.fakes import data_path
from tests.ops.test_doctor import doctor, messages
from tests.test_cli import run
from tests.test_cli_support import make_upload
from tuslog.settings import Settings, load_settings


def _restore_postgres(settings: Settings, dump: Path, target_url: str) -> None:
    if shutil.which("pg_restore") is None:
        pytest.skip("pg_restore is not installed")
    url = make_url(target_url)
    subprocess.run(
        [
            "pg_restore",
            "--no-owner",
            f"--host={url.host}",
            f"--port={url.port or 5432}",
            f"--username={url.username}",
            f"--dbname={url.database}",
            str(dump),
        ],
        check=True,
        capture_output=True,
    )


async def test_backup_restores_consistently(
    settings: Settings, tmp_path: Path, postgres: object
) -> None:
    run(settings, "ticket", "create", "SR-7")
    finished = await asyncio.to_thread(make_upload, settings, "SR-7", b"f" * 70_000)
    partial = await asyncio.to_thread(make_upload, settings, "SR-7", b"p" * 50_000, received=20_000)
    dest = tmp_path / "backup"
    first = json.loads(run(settings, "backup", str(dest), "--json").stdout)
    assert (first["uploads_copied"], first["uploads_unchanged"]) == (2, 0)
    again = json.loads(run(settings, "backup", str(dest), "--json").stdout)
    assert (again["uploads_copied"], again["uploads_unchanged"]) == (0, 2)
    assert json.loads((dest / "MANIFEST.json").read_text())["uploads_unchanged"] == 2
    for upload in (finished, partial):
        copied = data_path(dest / "uploads", upload.id).read_bytes()
        assert copied == data_path(settings.storage_dir, upload.id).read_bytes()

    if postgres is not None:
        restored_url = await postgres.new_empty()  # type: ignore[attr-defined]
        _restore_postgres(settings, dest / first["database"], restored_url)
    else:
        restored_url = f"sqlite+aiosqlite:///{dest / 'tuslog.sqlite3'}"
        assert first["database"] == "tuslog.sqlite3"
    restored = load_settings(
        database_url=restored_url, storage_dir=dest / "uploads", min_free_space=0
    )
    (dest / "uploads" / ".locks").mkdir()
    code, report = doctor(restored, "--deep")
    assert code == 0, report
    assert "every upload row and data file agree" in messages(report, "ok")
    listed = json.loads(run(restored, "upload", "list", "--json").stdout)
    assert {row["id"]: row["offset"] for row in listed} == {
        finished.id: 70_000,
        partial.id: 20_000,
    }


def test_backup_says_what_is_wrong(settings: Settings, tmp_path: Path) -> None:
    done = run(
        settings,
        "backup",
        str(tmp_path / "b"),
        check=False,
        TUSLOG_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'missing.sqlite3'}",
    )
    assert done.returncode == 1
    assert "no database at" in done.stderr and "Traceback" not in done.stderr
