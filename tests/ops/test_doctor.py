"""`tuslog doctor`: installations with rows and files deliberately out of step, found,
repaired where that is safe, and left alone where it is not."""

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

from sqlalchemy import update

from tests.fakes import data_path
from tests.test_cli import run
from tests.test_cli_support import make_upload
from tuslog.db.database import Database
from tuslog.db.models import Upload, UploadState
from tuslog.settings import Settings


def doctor(settings: Settings, *args: str) -> tuple[int, dict[str, Any]]:
    done = run(settings, "doctor", "--json", *args, check=False)
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(done.stdout)


def messages(report: dict[str, Any], status: str) -> list[str]:
    return [f["message"] for f in report["findings"] if f["status"] == status]


def _set_state(settings: Settings, upload_id: str, state: UploadState) -> None:
    async def work() -> None:
        database = Database(settings.database_url)
        try:
            async with database.begin() as session:
                await session.execute(
                    update(Upload).where(Upload.id == upload_id).values(state=state)
                )
        finally:
            await database.dispose()

    asyncio.run(work())


def _offset(settings: Settings, upload_id: str) -> int:
    rows = json.loads(run(settings, "upload", "list", "--json").stdout)
    return int(next(row["offset"] for row in rows if row["id"] == upload_id))


def test_a_healthy_installation(settings: Settings) -> None:
    run(settings, "ticket", "create", "SR-1")
    make_upload(settings, "SR-1")
    make_upload(settings, "SR-1", received=100)
    code, report = doctor(settings, "--deep")
    assert code == 0 and report["healthy"]
    assert "every upload row and data file agree" in messages(report, "ok")
    checks = {f["check"] for f in report["findings"]}
    assert checks >= {"configuration", "database", "migrations", "storage", "consistency"}
    text = run(settings, "doctor").stdout
    assert "0 error(s)" in text and "[ok     ] migrations" in text


def test_rows_and_files_out_of_step(settings: Settings) -> None:
    run(settings, "ticket", "create", "SR-2")
    missing = make_upload(settings, "SR-2")  # finished; its file will vanish
    behind = make_upload(settings, "SR-2", b"x" * 4000, received=3000)  # offset 3000
    ended = make_upload(settings, "SR-2", received=500)
    rotten = make_upload(settings, "SR-2", b"y" * 5000)
    data_path(settings.storage_dir, missing.id).unlink()
    os.truncate(data_path(settings.storage_dir, behind.id), 1234)
    _set_state(settings, ended.id, UploadState.TERMINATED)  # its bytes were left behind
    rotten_file = data_path(settings.storage_dir, rotten.id)
    rotten_file.write_bytes(b"y" * 4999 + b"z")  # same size, other bytes
    stray = data_path(settings.storage_dir, "ab" * 16)
    stray.parent.mkdir(exist_ok=True)
    stray.write_bytes(b"not ours")
    hours_ago = time.time() - 7200
    os.utime(stray, (hours_ago, hours_ago))

    code, report = doctor(settings)
    assert code == 1 and not report["healthy"]
    errors = messages(report, "error")
    assert any(missing.id in m and "no data file" in m for m in errors)
    assert any(behind.id in m and "offset beyond" in m for m in errors)
    assert not any(rotten.id in m for m in errors)  # same size: only --deep can tell
    warnings = messages(report, "warning")
    assert any("1 ended upload(s) still have data files" in m for m in warnings)
    assert any("1 data file(s) belong to no upload" in m and "ab" * 16 in m for m in warnings)

    deep_code, deep = doctor(settings, "--deep")
    assert deep_code == 1
    assert any(rotten.id in m and "SHA-256 no longer matches" in m for m in messages(deep, "error"))

    fix_code, fixed = doctor(settings, "--fix")
    assert fix_code == 1  # a missing archive cannot be repaired
    done = messages(fixed, "fixed")
    assert any("removed the data of 1 ended upload" in m for m in done)
    assert any(behind.id in m and "1234 bytes on disk" in m for m in done)
    assert not data_path(settings.storage_dir, ended.id).exists()
    assert _offset(settings, behind.id) == 1234
    assert stray.read_bytes() == b"not ours"  # never deleted
    assert rotten_file.exists()

    again_code, again = doctor(settings)
    assert again_code == 1
    errors = messages(again, "error")
    assert [m for m in errors if missing.id not in m] == []
    assert not messages(again, "fixed")


def test_schema_behind_is_migrated_only_with_fix(settings: Settings, tmp_path: Path) -> None:
    database = tmp_path / "fresh.sqlite3"
    database.touch()
    (settings.storage_dir / ".locks").mkdir(parents=True)
    env = {"TUSLOG_DATABASE_URL": f"sqlite+aiosqlite:///{database}"}
    done = run(settings, "doctor", check=False, **env)
    assert done.returncode == 1
    assert "the schema is not up to date" in done.stdout and "tuslog migrate" in done.stdout
    fixed = run(settings, "doctor", "--fix", check=False, **env)
    assert "[fixed  ] migrations: applied the pending migrations" in fixed.stdout
    assert run(settings, "doctor", **env).returncode == 0


def test_a_missing_database_or_storage_is_named(settings: Settings, tmp_path: Path) -> None:
    done = run(
        settings,
        "doctor",
        check=False,
        TUSLOG_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'none.sqlite3'}",
        TUSLOG_STORAGE_DIR=str(tmp_path / "nowhere"),
    )
    assert done.returncode == 1
    assert f"no SQLite database at {tmp_path / 'none.sqlite3'}" in done.stdout
    assert not (tmp_path / "none.sqlite3").exists()  # looking did not create it
    assert f"{tmp_path / 'nowhere'} does not exist" in done.stdout
    assert "Traceback" not in done.stderr
