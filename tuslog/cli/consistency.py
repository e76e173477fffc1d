"""``tuslog doctor``'s consistency checks: do the upload rows and the data files agree?

- files of no upload row: reported, never deleted (the storage may belong to another
  database; a creation makes its file a moment before its row);
- files of ended uploads (a crash between the record and the delete): ``--fix`` removes
  them, as the janitor would;
- live rows without a file: reported with the command that ends the upload;
- an unfinished upload whose offset is beyond its file: ``--fix`` records the real size
  under the upload's lock (the engine's own reconcile: the client resumes from there);
- a finished upload whose file is not its length, or (``--deep``) whose SHA-256 no longer
  matches: reported; nothing can repair lost bytes.
"""

import asyncio
import hashlib
import itertools
import sys
from typing import TYPE_CHECKING

from sqlalchemy import select

from tuslog import errors
from tuslog.db.database import Database
from tuslog.db.models import GONE_STATES, Upload, UploadState
from tuslog.settings import Settings
from tuslog.storage.filestore import FileStore
from tuslog.storage.locks import UploadLocks
from tuslog.uploads import records
from tuslog.uploads.engine import UploadEngine

if TYPE_CHECKING:
    from tuslog.cli.doctor import Report, Status

_BATCH = 500
_READ = 1024 * 1024
_FRESH_SECONDS = 3600  # a file this young may be a creation whose row is not committed


async def _walk_files(store: FileStore, db: Database) -> tuple[list[str], list[str]]:
    """(files of ended uploads, files of no upload that are older than an hour)."""
    stored = store.stored_ids()
    ended: list[str] = []
    unknown: list[str] = []
    while batch := await asyncio.to_thread(lambda: list(itertools.islice(stored, _BATCH))):
        async with db.session() as session:
            gone, without_row = await records.leftovers(session, batch)
        ended += gone
        unknown += without_row
    old = await asyncio.to_thread(
        lambda: [u for u in unknown if store.untouched_for(u, _FRESH_SECONDS)]
    )
    return ended, old


async def _live_rows(db: Database) -> list[tuple[str, UploadState, int, int | None, str | None]]:
    async with db.session() as session:
        rows = await session.execute(
            select(Upload.id, Upload.state, Upload.offset, Upload.length, Upload.sha256)
            .where(Upload.state.not_in(GONE_STATES))
            .order_by(Upload.id)
        )
    return [(row[0], row[1], row[2], row[3], row[4]) for row in rows]


def _sha256(store: FileStore, upload_id: str) -> str:
    digest = hashlib.sha256()
    with store.open_reader(upload_id) as handle:
        while chunk := handle.read(_READ):
            digest.update(chunk)
    return digest.hexdigest()


class _Checker:
    def __init__(self, settings: Settings, db: Database, report: "Report", deep: bool) -> None:
        self.settings, self.db, self.report, self.deep = settings, db, report, deep
        self.store = FileStore(settings.storage_dir)
        self.behind: list[str] = []  # unfinished uploads whose offset is beyond their file
        self.problems = 0

    def problem(self, status: "Status", message: str, advice: str = "") -> None:
        self.problems += 1
        self.report.add("consistency", status, message, advice)

    async def rows(self) -> None:
        rows = await _live_rows(self.db)
        for number, (upload_id, state, offset, length, sha256) in enumerate(rows, 1):
            size = await asyncio.to_thread(self.store.size, upload_id)
            if size is None:
                self.problem(
                    "error",
                    f"upload {upload_id} ({state.value}) has no data file",
                    f"if the storage is mounted right: tuslog upload delete {upload_id} --yes",
                )
            elif state is UploadState.RECEIVING and size < offset:
                self.behind.append(upload_id)
            elif state.finished and size != length:
                self.problem(
                    "error",
                    f"finished upload {upload_id} has {size} bytes on disk, {length} recorded",
                    "restore it from a backup, or delete it",
                )
            elif self.deep and state.finished and sha256:
                self._progress(f"hashing {number}/{len(rows)}: {upload_id}")
                if await asyncio.to_thread(_sha256, self.store, upload_id) != sha256:
                    self.problem(
                        "error",
                        f"finished upload {upload_id}: its SHA-256 no longer matches",
                        "restore it from a backup; the disk may be failing",
                    )

    def _progress(self, line: str) -> None:
        if sys.stderr.isatty():
            print(f"\r  {line}", end="", file=sys.stderr, flush=True)

    async def files(self) -> list[str]:
        ended, unknown = await _walk_files(self.store, self.db)
        if unknown:
            self.problem(
                "warning",
                f"{len(unknown)} data file(s) belong to no upload, e.g. {unknown[0]}; left alone",
                "TUSLOG_DATABASE_URL may not be this storage's database; if it is, move them "
                "away after checking",
            )
        return ended


async def check(settings: Settings, db: Database, report: "Report", *, deep: bool) -> None:
    checker = _Checker(settings, db, report, deep)
    ended = await checker.files()
    await checker.rows()
    if ended or checker.behind:
        await _repair(checker, ended)
    if not checker.problems:
        report.add("consistency", "ok", "every upload row and data file agree")


async def _repair(checker: _Checker, ended: list[str]) -> None:
    report = checker.report
    if not report.fix:
        if ended:
            checker.problem(
                "warning", f"{len(ended)} ended upload(s) still have data files", "--fix"
            )
        for upload_id in checker.behind:
            checker.problem("error", f"upload {upload_id}: offset beyond its data file", "--fix")
        return
    settings = checker.settings
    locks = UploadLocks(settings.storage_dir / ".locks", settings.lock_release_timeout)
    engine = UploadEngine.build(settings, checker.db, checker.store, locks)
    async with engine.running(background=False):
        removed = 0
        for upload_id in ended:
            removed += await _forget(engine, upload_id)
        if removed:
            checker.problem("fixed", f"removed the data of {removed} ended upload(s)")
        for upload_id in checker.behind:
            await _reconcile(checker, engine, upload_id)


async def _forget(engine: UploadEngine, upload_id: str) -> int:
    """The janitor's own removal of an ended upload's bytes (not its pass, which would
    take the janitor's lease from the running server)."""
    held = engine.parts.locks.try_acquire(upload_id)
    if held is None:
        return 0
    try:
        return int(await engine.ending.forget(upload_id))
    finally:
        held.release()


async def _reconcile(checker: _Checker, engine: UploadEngine, upload_id: str) -> None:
    held = engine.parts.locks.try_acquire(upload_id)
    if held is None:
        checker.problem("warning", f"upload {upload_id} is busy; not repaired, run again later")
        return
    try:
        upload, _ = await engine.parts.reload(upload_id)
        upload = await engine.completion.reconcile(upload, "doctor", None)
    except errors.TuslogError as exc:
        checker.problem("error", f"upload {upload_id}: {exc.message}")
        return
    finally:
        held.release()
    checker.problem("fixed", f"upload {upload_id}: offset set to the {upload.offset} bytes on disk")
