"""``tuslog doctor``: is this installation healthy, and if not, what to do.

Checks the configuration, the database and its migrations, the storage (writable, free
space, file-descriptor limit) and whether rows and files agree (files without rows, rows
without files, offsets beyond their file, finished uploads of the wrong size; with
``--deep`` also the SHA-256 of every finished upload). ``--fix`` repairs what is safe and
says what it did; what needs a person is reported with the command to run. Files without
rows and finished uploads are never deleted by the doctor (a storage mounted in the wrong
place must not cost a byte)."""

import argparse
import asyncio
import json
import resource
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from sqlalchemy import text
from sqlalchemy.engine import make_url

from tuslog.cli import consistency
from tuslog.cli.output import CommandError
from tuslog.db.database import Database
from tuslog.db.migrate import is_current, upgrade
from tuslog.settings import Settings
from tuslog.storage.filestore import FileStore

Status = Literal["ok", "warning", "error", "fixed"]
_WILDCARD_HOSTS = ("0.0.0.0", "::", "")  # noqa: S104 - recognised, not bound
MIN_OPEN_FILES = 4096  # one per connection, data file and lock file under load


@dataclass
class Finding:
    check: str
    status: Status
    message: str
    advice: str = ""


class Report:
    def __init__(self, fix: bool) -> None:
        self.fix = fix
        self.findings: list[Finding] = []

    def add(self, check: str, status: Status, message: str, advice: str = "") -> None:
        self.findings.append(Finding(check, status, message, advice))
        if sys.stderr.isatty():
            print(f"  {check}: {status}", file=sys.stderr, flush=True)

    @property
    def healthy(self) -> bool:
        return not any(f.status == "error" for f in self.findings)


def check_configuration(settings: Settings, report: Report) -> None:
    problems = 0
    if settings.host in _WILDCARD_HOSTS and not settings.public_url:
        problems += 1
        report.add(
            "configuration",
            "warning",
            "TUSLOG_PUBLIC_URL is not set and the server listens on all addresses",
            "set TUSLOG_PUBLIC_URL to the address customers reach (printed commands use it)",
        )
    if not settings.totp_keys:
        problems += 1
        report.add(
            "configuration",
            "warning",
            "TUSLOG_TOTP_KEYS is not set: staff TOTP secrets are stored unencrypted",
            "set TUSLOG_TOTP_KEYS (openssl rand -hex 32)",
        )
    if not settings.storage_dir.is_absolute():
        problems += 1
        report.add(
            "configuration",
            "warning",
            f"TUSLOG_STORAGE_DIR is relative ({settings.storage_dir}): it depends on the "
            "directory the server starts in",
            "use an absolute path",
        )
    open_world = [n for n in settings.metrics_networks if n.prefixlen == 0]
    if open_world:
        problems += 1
        report.add(
            "configuration",
            "warning",
            "TUSLOG_METRICS_NETWORKS lets every address read /metrics",
            "name your Prometheus' network, or use TUSLOG_METRICS_TOKEN",
        )
    problems += _check_backlog(settings, report)
    if not problems:
        report.add("configuration", "ok", "settings are valid")


def _check_backlog(settings: Settings, report: Report) -> int:
    """Linux caps every listen backlog at net.core.somaxconn."""
    try:
        cap = int(Path("/proc/sys/net/core/somaxconn").read_text())
    except (OSError, ValueError):
        return 0
    if cap >= settings.listen_backlog:
        return 0
    report.add(
        "configuration",
        "warning",
        f"TUSLOG_LISTEN_BACKLOG is {settings.listen_backlog} but the kernel caps it at "
        f"net.core.somaxconn = {cap}",
        f"sysctl -w net.core.somaxconn={settings.listen_backlog} (or docker --sysctl)",
    )
    return 1


def _missing_sqlite_file(database_url: str) -> Path | None:
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    path = Path(url.database)
    return None if path.exists() else path.resolve()


async def check_database(db: Database, settings: Settings, report: Report) -> bool:
    """True if the database answers and its schema is current (after ``--fix``)."""
    missing = _missing_sqlite_file(settings.database_url)
    if missing is not None:
        report.add(  # connecting would create an empty one
            "database",
            "error",
            f"no SQLite database at {missing}",
            "check TUSLOG_DATABASE_URL (relative to the current directory), or tuslog migrate",
        )
        return False
    try:
        async with db.engine.connect() as conn:
            await asyncio.wait_for(conn.execute(text("SELECT 1")), timeout=10)
    except Exception as exc:
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        report.add("database", "error", f"cannot connect: {reason}", "check TUSLOG_DATABASE_URL")
        return False
    report.add("database", "ok", f"{db.dialect} answers")
    try:
        current = await is_current(db.engine)
    except Exception as exc:
        report.add("migrations", "error", f"cannot read the schema version: {exc}")
        return False
    if current:
        report.add("migrations", "ok", "the schema is up to date")
        return True
    if not report.fix:
        report.add("migrations", "error", "the schema is not up to date", "run tuslog migrate")
        return False
    await upgrade(db.engine)
    report.add("migrations", "fixed", "applied the pending migrations")
    return True


async def check_storage(settings: Settings, report: Report) -> bool:
    """True if the storage can be read (the consistency checks need it)."""
    store = FileStore(settings.storage_dir)
    root = settings.storage_dir
    if not root.is_dir():
        report.add(
            "storage", "error", f"{root} does not exist", "check TUSLOG_STORAGE_DIR and mounts"
        )
        return False
    if not (root / ".locks").is_dir():
        report.add(
            "storage",
            "warning",
            f"{root} has no .locks folder: not yet used by a server, or not its storage",
            "check TUSLOG_STORAGE_DIR; tuslog serve creates it",
        )
    try:
        await asyncio.to_thread(store.probe)
        space = await asyncio.to_thread(store.space)
    except OSError as exc:
        report.add("storage", "error", f"{root} is not writable: {exc.strerror or exc}")
        return True
    if space.free <= settings.min_free_space:
        report.add(
            "storage",
            "error",
            f"{space.free} bytes free, at or below TUSLOG_MIN_FREE_SPACE "
            f"({settings.min_free_space}): no upload can be admitted",
            "free space or grow the volume",
        )
    else:
        report.add("storage", "ok", f"{root} writable, {space.free} of {space.total} bytes free")
    _check_open_files(report)
    return True


def _check_open_files(report: Report) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < MIN_OPEN_FILES:
        report.add(
            "storage",
            "warning",
            f"open-file limit is {soft} (hard {hard}); each upload needs a connection, a data "
            "file and a lock file",
            f"raise it to at least {MIN_OPEN_FILES} (ulimit -n, LimitNOFILE=, docker --ulimit)",
        )
    else:
        report.add("storage", "ok", f"open-file limit {soft}")


async def diagnose(settings: Settings, *, fix: bool, deep: bool) -> Report:
    report = Report(fix)
    check_configuration(settings, report)
    db = Database(settings.database_url)
    try:
        database_ok = await check_database(db, settings, report)
        if await check_storage(settings, report) and database_ok:
            await consistency.check(settings, db, report, deep=deep)
    finally:
        await db.dispose()
    return report


def _text(report: Report) -> str:
    lines = []
    for finding in report.findings:
        line = f"[{finding.status:<7}] {finding.check}: {finding.message}"
        if finding.advice and finding.status in ("warning", "error"):
            line += f"\n          -> {finding.advice}"
        lines.append(line)
    errors = sum(f.status == "error" for f in report.findings)
    warnings = sum(f.status == "warning" for f in report.findings)
    fixed = sum(f.status == "fixed" for f in report.findings)
    lines.append(f"{errors} error(s), {warnings} warning(s), {fixed} fixed")
    if not report.fix and errors:
        lines.append("`tuslog doctor --fix` repairs what is safe to repair.")
    return "\n".join(lines)


def doctor(args: argparse.Namespace, settings: Settings) -> None:
    report = asyncio.run(diagnose(settings, fix=args.fix, deep=args.deep))
    if args.json:
        data = {"healthy": report.healthy, "findings": [asdict(f) for f in report.findings]}
        print(json.dumps(data, indent=2))
    else:
        print(_text(report))
    if not report.healthy:
        raise CommandError("the installation has problems (see above)")
