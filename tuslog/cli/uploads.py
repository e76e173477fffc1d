"""``tuslog upload …``: list, show, download and delete uploads; ``tuslog storage``."""

import argparse
import asyncio
import hashlib
import os
import sys
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy.ext.asyncio import AsyncSession

from tuslog import errors
from tuslog.cli import runtime
from tuslog.cli.output import EXIT_USAGE, CommandError, confirm, emit, iso, table, warn
from tuslog.db.models import Upload, UploadState
from tuslog.services import tickets
from tuslog.settings import Settings
from tuslog.storage.filestore import FileStore
from tuslog.units import format_size
from tuslog.uploads import records
from tuslog.uploads.reading import Download, readiness_error

ACTOR = "cli"


def upload_dict(upload: Upload, ticket: str, store: FileStore | None = None) -> dict[str, Any]:
    data = {
        "id": upload.id,
        "ticket": ticket,
        "filename": upload.filename,
        "length": upload.length,
        "offset": upload.offset,
        "state": upload.shown_state,
        "sha256": upload.sha256,
        "declared_sha256": upload.declared_sha256,
        "concat": upload.concat,
        "client_ip": upload.client_ip,
        "created_at": iso(upload.created_at),
        "updated_at": iso(upload.updated_at),
        "completed_at": iso(upload.completed_at),
        "expires_at": iso(upload.expires_at),
    }
    if store is not None:
        data["location"] = None if upload.state.gone else store.location(upload.id)
    return data


def _progress(offset: int, length: int | None) -> str:
    if length is None:
        return f"{format_size(offset)}/size unknown until finished"
    return f"{format_size(offset)}/{format_size(length)}"


def upload_rows(data: list[dict[str, Any]]) -> str:
    rows = [
        [
            d["id"],
            d["ticket"],
            d["state"],
            _progress(d["offset"], d["length"]),
            d["sha256"] or "",
            d["filename"],
        ]
        for d in data
    ]
    return table(rows, ["ID", "TICKET", "STATE", "RECEIVED", "SHA256", "FILENAME"])


def list_(args: argparse.Namespace, settings: Settings) -> None:
    async def work(session: AsyncSession) -> list[tuple[Upload, str]]:
        ticket_id = None
        if args.number is not None:
            ticket_id = (await tickets.get(session, args.number)).id
        return await records.list_for(session, ticket_id)

    store = FileStore(settings.storage_dir)
    found = asyncio.run(runtime.with_session(settings, work))
    data = [upload_dict(u, n, store) for u, n in found]
    emit(args, data, lambda: upload_rows(data))


async def _find(settings: Settings, upload_id: str) -> tuple[Upload, str]:
    async def work(session: AsyncSession) -> tuple[Upload, str] | None:
        return await records.load(session, upload_id.strip().lower())

    found: tuple[Upload, str] | None = await runtime.with_session(settings, work)
    if found is None:
        raise errors.UPLOAD_NOT_FOUND(f"No upload {upload_id[:40]}.")
    return found


def show(args: argparse.Namespace, settings: Settings) -> None:
    upload, ticket = asyncio.run(_find(settings, args.id))
    data = upload_dict(upload, ticket, FileStore(settings.storage_dir))

    def text() -> str:
        fields = [
            ("upload", data["id"]),
            ("ticket", data["ticket"] or "(deleted)"),
            ("file", data["filename"] or "(no name)"),
            ("state", data["state"]),
            ("received", _progress(upload.offset, upload.length)),
            ("sha256", data["sha256"] or ""),
            ("declared", data["declared_sha256"] or ""),
            ("client", data["client_ip"] or ""),
            ("created", data["created_at"]),
            ("completed", data["completed_at"] or ""),
            ("expires", data["expires_at"] or ""),
            ("location", data["location"] or ""),
        ]
        return "\n".join(f"{name:<10}{value}" for name, value in fields)

    emit(args, data, text)


def delete(args: argparse.Namespace, settings: Settings) -> None:
    upload, ticket = asyncio.run(_find(settings, args.id))
    if upload.state.gone:
        raise errors.UPLOAD_GONE(f"Upload {upload.id} is already {upload.state.value}.")
    name = upload.filename or "no name"
    confirm(
        args,
        f"Delete upload {upload.id} ({name}, {format_size(upload.offset)}) of ticket {ticket}?",
    )

    async def work() -> bool:
        async with runtime.engine(settings) as engine:
            return await engine.ending.end(upload.id, UploadState.DELETED, ACTOR, None)

    if not asyncio.run(work()):
        raise errors.UPLOAD_GONE(f"Upload {upload.id} was ended meanwhile.")
    data = {"id": upload.id, "ticket": ticket, "deleted": True}
    emit(args, data, lambda: f"deleted upload {upload.id} ({name}) of ticket {ticket}")


def storage(args: argparse.Namespace, settings: Settings) -> None:
    async def work() -> Any:
        async with runtime.engine(settings) as engine:
            return await engine.storage_report()

    report = asyncio.run(work())
    data = {
        "total": report.total,
        "used": report.used,
        "free": report.free,
        "reserve": report.reserve,
        "promised": report.promised,
        "available": report.available,
        "uploads": report.uploads,
        "upload_bytes": report.upload_bytes,
    }
    labels = {
        "total": "size of the volume",
        "used": "used (everything on it)",
        "free": "free",
        "reserve": "reserve (TUSLOG_MIN_FREE_SPACE)",
        "promised": "promised to unfinished uploads",
        "available": "available for new uploads",
        "upload_bytes": f"held by {report.uploads} upload(s)",
    }

    def text() -> str:
        return "\n".join(
            f"{label:<34}{format_size(data[key]):>12}  ({data[key]} bytes)"
            for key, label in labels.items()
        )

    emit(args, data, text)


# --- download ---------------------------------------------------------------------------------
def _target(args: argparse.Namespace, upload: Upload) -> Path | None:
    if args.output == "-":
        return None
    if args.output:
        return Path(args.output)
    return Path(upload.filename or f"{upload.id}.bin")  # the server refuses paths in names


def _part(target: Path) -> Path:
    return target.with_name(target.name + ".part")


def _check_target(args: argparse.Namespace, target: Path) -> None:
    if target.exists():
        raise CommandError(f"{target} exists; name another file with -o.", EXIT_USAGE)
    if _part(target).exists() and not args.resume:
        raise CommandError(
            f"{_part(target)} holds an earlier, unfinished download: add --continue to resume "
            "it, or remove it.",
            EXIT_USAGE,
        )


def download(args: argparse.Namespace, settings: Settings) -> None:
    """Stream the upload through the engine into ``FILE.part``, hashing as it goes, and
    rename it to ``FILE`` only when its SHA-256 matches the server's."""
    upload, _ = asyncio.run(_find(settings, args.id))
    problem = readiness_error(upload)
    if problem is not None and (upload.state.gone or not args.force):
        hint = "" if upload.state.gone else " Use --force to download what arrived anyway."
        raise CommandError(problem.message + hint)
    target = _target(args, upload)
    if target is not None:
        _check_target(args, target)
    sha256 = asyncio.run(_download(settings, args, upload, target))
    expected = upload.sha256
    if expected is not None and sha256 != expected:
        kept = "" if target is None else f"; the bytes are kept in {_part(target)}"
        raise CommandError(
            f"the downloaded bytes do not match the server's SHA-256 "
            f"({sha256} instead of {expected}){kept}"
        )
    if target is not None:
        _part(target).replace(target)
    verdict = "matches the server's" if expected else "(the server has none to compare)"
    where = "standard output" if target is None else str(target)
    data = {"id": upload.id, "file": where, "bytes": upload.offset, "sha256": sha256}
    if target is None:
        if expected is None:
            warn(f"the server has no SHA-256 for this upload; the bytes hash to {sha256}")
        return
    emit(
        args,
        data,
        lambda: f"downloaded {format_size(upload.offset)} to {where}\nSHA-256 {sha256} {verdict}",
    )


async def _download(
    settings: Settings, args: argparse.Namespace, upload: Upload, target: Path | None
) -> str:
    digest = hashlib.sha256()
    start = 0
    if target is not None and _part(target).exists():
        start = await asyncio.to_thread(_hash_existing, _part(target), digest)
    async with runtime.engine(settings) as engine:
        opened = await engine.reading.open(upload.id, start, force=args.force, actor=ACTOR)
        try:
            if target is None:
                await _write(opened, sys.stdout.buffer, digest)
            else:
                out = await asyncio.to_thread(_part(target).open, "ab")
                try:
                    await _write(opened, out, digest)
                    await asyncio.to_thread(_sync, out)
                finally:
                    out.close()
        finally:
            await opened.close()
    return digest.hexdigest()


def _sync(out: BinaryIO) -> None:
    out.flush()
    os.fsync(out.fileno())


def _hash_existing(part: Path, digest: Any) -> int:
    size = 0
    with open(part, "rb") as existing:
        while block := existing.read(1024 * 1024):
            digest.update(block)
            size += len(block)
    return size


async def _write(opened: Download, out: BinaryIO, digest: Any) -> None:
    progress = _Progress(opened.start, opened.end)
    async for chunk in opened.chunks():
        await asyncio.to_thread(out.write, chunk)
        digest.update(chunk)
        progress.add(len(chunk))
    progress.done()


class _Progress:
    """A progress line on stderr, only when stderr is a terminal."""

    def __init__(self, start: int, end: int) -> None:
        self._done, self._end = start, end
        self._shown = -1
        self._active = sys.stderr.isatty()

    def add(self, size: int) -> None:
        self._done += size
        percent = 100 * self._done // max(self._end, 1)
        if self._active and percent != self._shown:
            self._shown = percent
            line = f"\r{format_size(self._done)} of {format_size(self._end)} ({percent}%)"
            print(line, end="", file=sys.stderr, flush=True)

    def done(self) -> None:
        if self._active:
            print(file=sys.stderr)
