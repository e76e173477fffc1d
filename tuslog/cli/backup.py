"""``tuslog backup DEST``: the database, then the upload files, into a directory.

The order is what makes a backup restore consistently while the server runs. Bytes reach
a data file before any row claims them, and a finished archive never changes again. So
with the database first, every row of the dump finds its bytes in the copy taken after:
an unfinished upload's file is at least as long as its recorded offset (the server cuts
the extra tail on the next request), a finished one is whole. The other order could
restore an upload recorded as finished with half its bytes. What can differ: files of
uploads created after the dump (no row: reported, harmless) and uploads deleted between
the two steps (a row without a file: ``tuslog doctor`` names them).

The copy is incremental: a data file already in DEST with the same size and modification
time is not copied again (finished archives never change), so a nightly run copies only
what is new.
"""

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from tuslog import __version__
from tuslog.cli.output import CommandError, emit
from tuslog.settings import Settings
from tuslog.storage.filestore import FileStore


def _sqlite(database: str, target: Path) -> None:
    """SQLite's online backup: a consistent copy while the server writes (WAL included)."""
    if not Path(database).exists():
        raise CommandError(f"no database at {database} (TUSLOG_DATABASE_URL)")
    source = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    copy = sqlite3.connect(target)
    try:
        with copy:
            source.backup(copy)
    finally:
        copy.close()
        source.close()


def _postgres(url: str, target: Path) -> None:
    """pg_dump's custom format (restore with pg_restore). The password goes by environment,
    never on a command line that ``ps`` shows."""
    parsed = make_url(url)
    if shutil.which("pg_dump") is None:
        raise CommandError(
            "pg_dump is not installed here: install the PostgreSQL client "
            "(apt-get install postgresql-client), or run pg_dump where the database runs"
        )
    env = {**os.environ, "PGPASSWORD": parsed.password or ""}
    command = ["pg_dump", "--format=custom", "--no-owner", f"--file={target}"]
    for flag, value in (
        ("--host", parsed.host),
        ("--port", parsed.port),
        ("--username", parsed.username),
        ("--dbname", parsed.database),
    ):
        if value:
            command.append(f"{flag}={value}")
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        target.unlink(missing_ok=True)
        raise CommandError(f"pg_dump failed: {' '.join(done.stderr.split())[:300]}")


def dump_database(settings: Settings, dest: Path) -> Path:
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        target = dest / "tuslog.sqlite3"
        partial = target.with_suffix(".partial")
        _sqlite(url.database or "", partial)
    else:
        target = dest / "tuslog.pgdump"
        partial = target.with_suffix(".partial")
        _postgres(settings.database_url, partial)
    partial.replace(target)
    return target


def copy_uploads(settings: Settings, dest: Path) -> tuple[int, int, int]:
    """(files copied, files already there, bytes copied)."""
    store = FileStore(settings.storage_dir)
    copied = kept = size = 0
    for upload_id in store.stored_ids():
        source = store.path(upload_id)
        target = dest / "uploads" / upload_id[:2] / upload_id
        try:
            info = source.stat()
        except FileNotFoundError:
            continue  # ended meanwhile
        if target.exists():
            known = target.stat()
            if (known.st_size, int(known.st_mtime)) == (info.st_size, int(info.st_mtime)):
                kept += 1
                continue
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            shutil.copy2(source, target)
        except FileNotFoundError:
            continue
        copied, size = copied + 1, size + info.st_size
    return copied, kept, size


def backup(args: argparse.Namespace, settings: Settings) -> None:
    dest = Path(args.dest)
    try:
        dest.mkdir(parents=True, exist_ok=True)
        started = datetime.now(UTC)
        database = dump_database(settings, dest)
        copied, kept, size = (0, 0, 0) if args.database_only else copy_uploads(settings, dest)
    except OSError as exc:
        raise CommandError(f"backup failed: {exc.strerror or exc}") from exc
    manifest = {
        "tuslog": __version__,
        "started": started.isoformat(),
        "finished": datetime.now(UTC).isoformat(),
        "database": database.name,
        "uploads_copied": copied,
        "uploads_unchanged": kept,
        "bytes_copied": size,
        "database_only": args.database_only,
    }
    (dest / "MANIFEST.json").write_text(json.dumps(manifest, indent=2) + "\n")
    emit(
        args,
        manifest,
        lambda: (
            f"database -> {database}\n"
            + ("" if args.database_only else f"uploads  -> {dest / 'uploads'} ")
            + ("" if args.database_only else f"({copied} copied, {kept} unchanged)\n")
            + "restore: README, Operations, Backups"
        ),
    )


def add_commands(sub: Any, command: Callable[..., argparse.ArgumentParser]) -> None:
    parser = command(
        sub,
        "backup",
        backup,
        "copy the database, then the upload files, into DEST (incremental)",
        epilog="restore: README, Operations, Backups and restore",
    )
    parser.add_argument("dest", help="directory for the backup (created if missing)")
    parser.add_argument(
        "--database-only",
        action="store_true",
        help="dump only the database (when the volume has snapshots of its own)",
    )
