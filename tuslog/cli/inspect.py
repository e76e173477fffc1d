"""``tuslog upload ls|cat|grep|extract``: look inside an uploaded archive without
downloading it (``tuslog.uploads.archive_reading``; every cat, grep and extract is
audited, as actor ``cli``)."""

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from tuslog import errors
from tuslog.archives import Page, Preview, SearchQuery, SearchSummary
from tuslog.cli import archive_text, runtime
from tuslog.cli.output import EXIT_FAILED, EXIT_USAGE, CommandError, emit, warn
from tuslog.db.models import ManifestState
from tuslog.settings import Settings
from tuslog.units import format_size
from tuslog.uploads.archive_reading import ArchiveReading
from tuslog.uploads.archive_streams import EntryDownload, safe_filename
from tuslog.uploads.engine import UploadEngine
from tuslog.uploads.inspection import Inspection
from tuslog.uploads.manifests import LEASE, ManifestStatus

ACTOR = "cli"
_POLL_SECONDS = 1.0
T = TypeVar("T")


def _run(settings: Settings, work: Callable[[ArchiveReading, UploadEngine], Awaitable[T]]) -> T:
    async def main() -> T:
        async with runtime.engine(settings) as engine:
            return await work(ArchiveReading(engine.parts), engine)

    try:
        return asyncio.run(main())
    except errors.TuslogError as error:
        if error.code == errors.MANIFEST_NOT_READY.code:
            raise CommandError(
                "the archive's list of entries is not ready yet; `tuslog upload ls ID --wait` "
                "waits for it"
            ) from None
        if error.code == errors.ARCHIVE_PATTERN_INVALID.code:
            raise CommandError(error.message, EXIT_USAGE) from None
        raise


def count(value: str) -> int:
    """An argument: a whole number of 1 or more (lines, matches)."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r}: must be 1 or more")
    return number


def context(value: str) -> int:
    """An argument: context lines for a search, 0 to 10."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if not 0 <= number <= 10:
        raise argparse.ArgumentTypeError(f"{value!r}: context is 0 to 10 lines")
    return number


def _upload_id(args: argparse.Namespace) -> str:
    return str(args.id).strip().lower()


# --- ls -----------------------------------------------------------------------------------
def _not_ready(status: ManifestStatus) -> str:
    if status.state == ManifestState.RUNNING:
        return "it is being made now"
    if status.queued_at is None:
        return "it is not queued yet (the server's janitor queues it)"
    return "it is queued" + (f" ({status.problem})" if status.problem else "")


async def _wait(reading: ArchiveReading, engine: UploadEngine, upload_id: str) -> ManifestStatus:
    """Until the manifest is made: by a server, or here when none is making it."""
    budget = engine.parts.settings.archive_time_budget.total_seconds()
    deadline = time.monotonic() + budget + 2 * LEASE.total_seconds()
    told = False
    while time.monotonic() < deadline:
        status = await reading.status(upload_id)
        if status.state != ManifestState.PENDING and status.state != ManifestState.RUNNING:
            return status
        if status.state == ManifestState.PENDING:
            print(f"tuslog: listing upload {upload_id} here…", file=sys.stderr, flush=True)
            if await Inspection(engine.parts).build_now(upload_id):
                continue
        if not told:
            print("tuslog: waiting for the server to list it…", file=sys.stderr, flush=True)
            told = True
        await asyncio.sleep(_POLL_SECONDS)
    raise CommandError(f"the archive of upload {upload_id} was not listed in time; try later")


def _check_listable(status: ManifestStatus) -> None:
    if status.state == ManifestState.NOT_AN_ARCHIVE:
        raise errors.ARCHIVE_NOT_AN_ARCHIVE()
    if status.state == ManifestState.FAILED:
        reason = (status.problem or "").split(": ", 1)[-1]  # after "could not read…: "
        raise errors.ARCHIVE_UNREADABLE(f"The archive could not be listed: {reason}.")


def ls(args: argparse.Namespace, settings: Settings) -> None:
    upload_id = _upload_id(args)

    async def work(reading: ArchiveReading, engine: UploadEngine) -> tuple[ManifestStatus, Any]:
        status = await reading.status(upload_id)
        if not status.ready and args.wait:
            status = await _wait(reading, engine, upload_id)
        _check_listable(status)
        if not status.ready:
            raise CommandError(
                f"the archive of upload {upload_id} is not listed yet: {_not_ready(status)}; "
                "run this again later, or add --wait"
            )
        return await reading.manifest(upload_id)

    status, manifest = _run(settings, work)
    entries = manifest.entries
    if args.filter:
        needle = args.filter.casefold()
        entries = [entry for entry in entries if needle in entry.path.casefold()]
    _warn_about(status)
    data = {"status": status.as_dict(), "entries": [archive_text.entry_dict(e) for e in entries]}
    emit(args, data, lambda: archive_text.ls_text(status, entries))


def _warn_about(status: ManifestStatus) -> None:
    if status.upload_state == "corrupt":
        warn("this upload does not match the SHA-256 its client declared; it may be damaged")
    if status.problem:
        warn(status.problem)


# --- cat ----------------------------------------------------------------------------------
def cat(args: argparse.Namespace, settings: Settings) -> None:
    upload_id = _upload_id(args)

    async def work(reading: ArchiveReading, engine: UploadEngine) -> Preview | Page:
        entry = await reading.find(upload_id, args.path)
        if args.lines is None and args.start is None:
            return await reading.preview(upload_id, entry.index, actor=ACTOR)
        return await reading.page(
            upload_id,
            entry.index,
            actor=ACTOR,
            first_line=args.start or 1,
            max_lines=args.lines or 500,
        )

    shown = _run(settings, work)
    if shown.problem:
        warn(shown.problem)
    if isinstance(shown, Page):
        emit(args, archive_text.page_dict(shown), lambda: archive_text.page_text(shown))
        return
    if shown.binary and not args.json:
        warn(
            f"{shown.path} is binary data, not shown; save it with "
            f"`tuslog upload extract {upload_id} '#{shown.index}'`"
        )
        return
    emit(args, archive_text.preview_dict(shown), lambda: archive_text.preview_text(shown))


# --- grep ---------------------------------------------------------------------------------
def grep(args: argparse.Namespace, settings: Settings) -> None:
    upload_id = _upload_id(args)
    query = SearchQuery(
        args.pattern,
        fixed=args.fixed,
        ignore_case=args.ignore_case,
        context=args.context,
        max_hits=args.max_count,
        paths=args.path,
    )
    printer = archive_text.GrepPrinter()
    found: list[dict[str, Any]] = []

    async def work(reading: ArchiveReading, engine: UploadEngine) -> SearchSummary | None:
        async with await reading.search(upload_id, query, actor=ACTOR) as run:
            async for hit in run.hits():
                if args.json:
                    found.append(archive_text.hit_dict(hit))
                else:
                    printer.show(hit)
                    sys.stdout.flush()
            printer.finish()
            return run.summary

    summary = _run(settings, work)
    if summary is not None and summary.stopped:
        warn(summary.stopped)
    if args.json:
        described = vars(summary) if summary is not None else None
        print(json.dumps({"hits": found, "summary": described}, indent=2))
    if summary is None or summary.hits == 0:
        sys.stdout.flush()
        sys.exit(EXIT_FAILED)


# --- extract ------------------------------------------------------------------------------
def _extract_target(args: argparse.Namespace, filename: str) -> Path | None:
    if args.output == "-":
        return None
    target = Path(args.output) if args.output else Path(filename)
    if target.exists() or target.is_symlink():
        raise CommandError(f"{target} exists; name another file with -o.", EXIT_USAGE)
    return target


def extract(args: argparse.Namespace, settings: Settings) -> None:
    upload_id = _upload_id(args)

    async def work(
        reading: ArchiveReading, engine: UploadEngine
    ) -> tuple[EntryDownload, Path | None]:
        entry = await reading.find(upload_id, args.path)
        target = _extract_target(args, safe_filename(entry.path, entry.index))
        async with await reading.open_entry(
            upload_id, entry.index, actor=ACTOR, force=args.force
        ) as download:
            if target is None:
                await _copy(download, sys.stdout.buffer)
            else:
                await _save(download, target)
            return download, target

    try:
        download, target = _run(settings, work)
    except errors.TuslogError as error:
        if error.code == errors.UPLOAD_CORRUPT.code:
            raise CommandError(error.message + " Add --force to extract from it anyway.") from None
        raise
    if target is not None:
        data = {"index": download.index, "path": download.path, "file": str(target)}
        data["bytes"] = download.sent
        emit(
            args,
            data,
            lambda: f"extracted {download.path} ({format_size(download.sent)}) to {target}",
        )


async def _save(download: EntryDownload, target: Path) -> None:
    """Into ``target.part``, moved to ``target`` when complete and never over a file that
    exists; on any failure the part is removed (half an entry is no entry)."""
    part = target.with_name(target.name + ".part")
    try:
        out = await asyncio.to_thread(part.open, "xb")
    except FileExistsError:
        raise CommandError(f"{part} exists; remove it or name another file with -o.") from None
    try:
        try:
            await _copy(download, out)
            await asyncio.to_thread(_sync, out)
        finally:
            out.close()
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    try:
        os.link(part, target)  # fails if the target exists: nothing is ever overwritten
    except FileExistsError:
        raise CommandError(f"{target} appeared meanwhile; the entry is kept in {part}.") from None
    part.unlink()


def _sync(out: BinaryIO) -> None:
    out.flush()
    os.fsync(out.fileno())


async def _copy(download: EntryDownload, out: BinaryIO) -> None:
    progress = sys.stderr.isatty() and out is not sys.stdout.buffer
    async for chunk in download.chunks():
        await asyncio.to_thread(out.write, chunk)
        if progress:
            of = f" of {format_size(download.size)}" if download.size is not None else ""
            print(f"\r{format_size(download.sent)}{of}", end="", file=sys.stderr, flush=True)
    if progress:
        print(file=sys.stderr)
