"""``tuslog upload ls|cat|grep|extract``, run as real processes against uploads made
through the engine."""

import asyncio
import json
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from tests.archives.build import tar_bytes, tar_file
from tests.inspection.support import BUNDLE, BUNDLE_DIRS, SYSLOG, running, settled, tar_gz, upload
from tests.test_cli import cli_env
from tuslog.db.database import Database
from tuslog.db.models import AuditEvent
from tuslog.settings import Settings
from tuslog.units import format_size
from tuslog.uploads import manifests

BIG_LOG = SYSLOG * 2  # 240 KB: more than the first and last 64 KiB


def _uploaded(
    settings: Settings,
    data: bytes,
    *,
    filename: str = "logs.tar.gz",
    declared: str | None = "match",
    listed: bool = True,
) -> str:
    """An upload of ``data``, listed by the engine's job (``listed=False``: its manifest
    is then removed again, as if no server had made it yet)."""

    async def work() -> str:
        async with running(settings) as engine:
            done = await upload(engine, data, filename=filename, declared=declared)
            await settled(engine)
            if not listed:
                async with engine.parts.db.begin() as session:
                    await manifests.forget(session, done.id)
            return done.id

    return asyncio.run(work())


def _bundle(settings: Settings, **kwargs: object) -> str:
    files = {**BUNDLE, "var/log/syslog": BIG_LOG}
    return _uploaded(settings, tar_gz(files, BUNDLE_DIRS), **kwargs)  # type: ignore[arg-type]


def cli(
    settings: Settings, *args: str, cwd: Path | None = None, code: int = 0
) -> subprocess.CompletedProcess[bytes]:
    done = subprocess.run(
        [sys.executable, "-m", "tuslog", *args],
        env=cli_env(settings),
        capture_output=True,
        timeout=60,
        cwd=cwd,
    )
    assert done.returncode == code, (done.stdout[-2000:], done.stderr.decode())
    return done


def _audit(settings: Settings) -> list[tuple[str, str, str]]:
    async def work() -> list[tuple[str, str, str]]:
        database = Database(settings.database_url)
        try:
            async with database.session() as session:
                rows = await session.execute(
                    select(AuditEvent.actor, AuditEvent.action, AuditEvent.subject)
                    .where(AuditEvent.action.like("archive.%"))
                    .order_by(AuditEvent.id)
                )
                return [tuple(row) for row in rows]  # type: ignore[misc]
        finally:
            await database.dispose()

    return asyncio.run(work())


def test_ls_lists_and_filters(settings: Settings) -> None:
    upload_id = _bundle(settings)
    shown = cli(settings, "upload", "ls", upload_id).stdout.decode()
    lines = shown.splitlines()
    total = sum(len(content) for content in BUNDLE.values()) - len(SYSLOG) + len(BIG_LOG)
    assert lines[0] == f"logs.tar.gz: tar.gz, 9 entries, {format_size(total)}"
    assert lines[1].split() == ["ENTRY", "TYPE", "SIZE", "MODIFIED", "(UTC)", "PATH"]
    assert f"#5     file  {format_size(len(BIG_LOG))}  2023-11-14 22:13  var/log/syslog" in shown

    data = json.loads(cli(settings, "upload", "ls", upload_id, "--filter", "LOG", "--json").stdout)
    assert data["status"]["state"] == "done" and data["status"]["complete"] is True
    assert [e["path"] for e in data["entries"]] == [
        "var/log",
        "var/log/app",
        "var/log/syslog",
        "var/log/app/app.log",
    ]
    syslog = data["entries"][2]
    assert (syslog["type"], syslog["size"], syslog["index"]) == ("file", len(BIG_LOG), 5)


def test_ls_says_when_the_list_is_not_made_yet_and_wait_makes_it(settings: Settings) -> None:
    upload_id = _bundle(settings, listed=False)
    early = cli(settings, "upload", "ls", upload_id, code=1)
    assert early.stdout == b""
    message = early.stderr.decode()
    assert message.startswith(f"tuslog: the archive of upload {upload_id} is not listed yet")
    assert "add --wait" in message

    waited = cli(settings, "upload", "ls", upload_id, "--wait", "--json")
    assert f"listing upload {upload_id} here" in waited.stderr.decode()
    assert json.loads(waited.stdout)["status"]["state"] == "done"


def test_ls_of_a_file_that_is_no_archive(settings: Settings) -> None:
    upload_id = _uploaded(settings, b"plain text\n", filename="notes.txt")
    refused = cli(settings, "upload", "ls", upload_id, code=1)
    assert refused.stderr.decode().startswith("tuslog: This upload is not an archive tuslog")


def test_cat_shows_numbered_lines(settings: Settings) -> None:
    upload_id = _bundle(settings)
    lines = BIG_LOG.decode().splitlines()
    preview = cli(settings, "upload", "cat", upload_id, "var/log/syslog").stdout.decode()
    shown = preview.splitlines()
    assert shown[0] == f"     1  {lines[0]}"
    assert shown[-1] == f"{len(lines):>6}  {lines[-1]}"
    gap = next(line for line in shown if "not shown" in line)
    first, last = (int(n) for n in gap.split("lines ")[1].split(" not")[0].split("-"))
    assert f"{first - 1:>6}  {lines[first - 2]}" in shown and f"{last + 1:>6}" in preview
    assert len(shown) == len(lines) - (last - first + 1) + 1

    page = cli(
        settings, "upload", "cat", upload_id, "var/log/syslog", "--from", "10", "--lines", "2"
    )
    assert page.stdout.decode().splitlines() == [
        f"    10  {lines[9]}",
        f"    11  {lines[10]}",
        "     …  more from line 12 (--from 12)",
    ]
    binary = cli(settings, "upload", "cat", upload_id, "bin/tool")
    assert binary.stdout == b""
    assert "bin/tool is binary data, not shown" in binary.stderr.decode()
    missing = cli(settings, "upload", "cat", upload_id, "var/log/nothing", code=1)
    assert "has no entry 'var/log/nothing'" in missing.stderr.decode()


def test_grep_prints_matches_like_grep(settings: Settings) -> None:
    upload_id = _bundle(settings)
    found = cli(settings, "upload", "grep", upload_id, "ERROR")
    assert found.stdout.decode() == "var/log/app/app.log:2:ERROR disk full on /data\n"

    context = cli(settings, "upload", "grep", upload_id, "line 1[01]$", "-C", "1")
    assert context.stdout.decode().splitlines() == [
        "var/log/syslog-10-" + BIG_LOG.decode().splitlines()[9],
        "var/log/syslog:11:" + BIG_LOG.decode().splitlines()[10],
        "var/log/syslog:12:" + BIG_LOG.decode().splitlines()[11],
        "var/log/syslog-13-" + BIG_LOG.decode().splitlines()[12],
        "--",
        "var/log/syslog-3010-" + BIG_LOG.decode().splitlines()[3009],
        "var/log/syslog:3011:" + BIG_LOG.decode().splitlines()[3010],
        "var/log/syslog:3012:" + BIG_LOG.decode().splitlines()[3011],
        "var/log/syslog-3013-" + BIG_LOG.decode().splitlines()[3012],
    ]

    capped = json.loads(
        cli(
            settings, "upload", "grep", upload_id, "SSHD[1]", "-F", "-i", "-m", "3", "--json"
        ).stdout
    )
    assert [(h["path"], h["line"]["number"]) for h in capped["hits"]] == [
        ("var/log/syslog", n) for n in (1, 2, 3)
    ]
    assert capped["summary"]["stopped"] == "stopped at 3 matches"
    nothing = cli(settings, "upload", "grep", upload_id, "no such thing", code=1)
    assert (nothing.stdout, nothing.stderr) == (b"", b"")
    bad = cli(settings, "upload", "grep", upload_id, "(unclosed", code=2)
    assert "RE2 syntax" in bad.stderr.decode()


def test_extract_saves_one_entry_under_its_own_name_here(
    settings: Settings, tmp_path: Path
) -> None:
    hostile = tar_bytes(
        [tar_file("../../outside.sh", b"#!/bin/sh\necho hi\n"), tar_file("ok/data.bin", b"\0\1\2")]
    )
    upload_id = _uploaded(settings, hostile, filename="hostile.tar")
    here = tmp_path / "work"
    here.mkdir()

    saved = cli(settings, "upload", "extract", upload_id, "../../outside.sh", cwd=here)
    assert (
        saved.stdout.decode() == f"extracted ../../outside.sh ({format_size(18)}) to outside.sh\n"
    )
    assert sorted(p.name for p in here.iterdir()) == ["outside.sh"]
    assert (here / "outside.sh").read_bytes() == b"#!/bin/sh\necho hi\n"
    assert not (tmp_path / "outside.sh").exists()

    again = cli(settings, "upload", "extract", upload_id, "../../outside.sh", cwd=here, code=2)
    assert again.stderr.decode() == "tuslog: outside.sh exists; name another file with -o.\n"
    out = cli(settings, "upload", "extract", upload_id, "ok/data.bin", "-o", "-", cwd=here)
    assert out.stdout == b"\0\1\2"
    named = cli(settings, "upload", "extract", upload_id, "#1", "-o", "x.bin", "--json", cwd=here)
    assert json.loads(named.stdout) == {
        "index": 1,
        "path": "ok/data.bin",
        "file": "x.bin",
        "bytes": 3,
    }
    assert sorted(p.name for p in here.iterdir()) == ["outside.sh", "x.bin"]


def test_extract_from_a_corrupt_upload_needs_force(settings: Settings, tmp_path: Path) -> None:
    upload_id = _bundle(settings, declared="0" * 64)
    refused = cli(settings, "upload", "extract", upload_id, "etc/hostname", cwd=tmp_path, code=1)
    assert "Add --force to extract from it anyway." in refused.stderr.decode()
    assert not (tmp_path / "hostname").exists()
    cli(settings, "upload", "extract", upload_id, "etc/hostname", "--force", cwd=tmp_path)
    assert (tmp_path / "hostname").read_bytes() == b"host1\n"
    listed = cli(settings, "upload", "ls", upload_id)
    assert "does not match the SHA-256 its client declared" in listed.stderr.decode()


def test_each_look_is_audited_as_the_cli(settings: Settings, tmp_path: Path) -> None:
    upload_id = _bundle(settings)
    cli(settings, "upload", "cat", upload_id, "etc/hostname")
    cli(settings, "upload", "grep", upload_id, "host1")
    cli(settings, "upload", "extract", upload_id, "etc/hostname", cwd=tmp_path)
    assert _audit(settings) == [
        ("cli", "archive.previewed", upload_id),
        ("cli", "archive.searched", upload_id),
        ("cli", "archive.entry_downloaded", upload_id),
    ]


def test_help_explains(settings: Settings) -> None:
    group = cli(settings, "upload", "--help").stdout.decode()
    assert all(f"    {command}" in group for command in ("ls", "cat", "grep", "extract"))
    shown = " ".join(cli(settings, "upload", "grep", "--help").stdout.decode().split())
    assert shown.startswith("usage: tuslog upload grep")
    assert "exit 1 when nothing matches" in shown and "RE2" in shown
