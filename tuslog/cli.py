"""The ``tuslog`` command. Every command that prints data takes ``--json``; failures print
one line on stderr and exit non-zero."""

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tuslog import __version__, errors
from tuslog.db.engine import create_engine, session_factory
from tuslog.db.migrate import upgrade
from tuslog.services import tickets, tokens, uploads
from tuslog.settings import Settings, SettingsError, load_settings
from tuslog.storage.filestore import FileStore
from tuslog.units import format_size, parse_duration, parse_size

ACTOR = "cli"
EXIT_ERROR = 1


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


async def _with_session(
    settings: Settings, work: Callable[[AsyncSession], Awaitable[Any]], *, write: bool = False
) -> Any:
    engine = create_engine(settings.database_url)
    try:
        await upgrade(engine)
        sessions = session_factory(engine)
        if write:
            async with sessions.begin() as session:
                return await work(session)
        async with sessions() as session:
            return await work(session)
    finally:
        await engine.dispose()


def _emit(args: argparse.Namespace, data: Any, text: Callable[[], str]) -> None:
    print(json.dumps(data, indent=2) if args.json else text())


def _table(rows: list[list[str]], header: list[str]) -> str:
    if not rows:
        return "(none)"
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=False)]
    lines = [header, *rows]
    return "\n".join(
        "  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=False)).rstrip()
        for line in lines
    )


# --- tickets ------------------------------------------------------------------------------
def _ticket_dict(ticket: Any) -> dict[str, Any]:
    return {
        "number": ticket.number,
        "title": ticket.title,
        "platform": ticket.platform,
        "status": ticket.status.value,
        "created_at": _iso(ticket.created_at),
    }


def cmd_ticket_create(args: argparse.Namespace, settings: Settings) -> None:
    async def work(session: AsyncSession) -> Any:
        return await tickets.create(
            session, args.number, title=args.title, platform=args.platform, actor=ACTOR
        )

    ticket = asyncio.run(_with_session(settings, work, write=True))
    _emit(args, _ticket_dict(ticket), lambda: f"created ticket {ticket.number}")


def cmd_ticket_list(args: argparse.Namespace, settings: Settings) -> None:
    found = asyncio.run(_with_session(settings, tickets.list_all))
    data = [_ticket_dict(t) for t in found]
    rows = [[t["number"], t["status"], t["platform"], t["title"]] for t in data]
    _emit(args, data, lambda: _table(rows, ["NUMBER", "STATUS", "PLATFORM", "TITLE"]))


def cmd_ticket_resolve(args: argparse.Namespace, settings: Settings) -> None:
    async def work(session: AsyncSession) -> Any:
        return await tickets.resolve(session, args.number, actor=ACTOR)

    ticket = asyncio.run(_with_session(settings, work, write=True))
    _emit(args, _ticket_dict(ticket), lambda: f"resolved ticket {ticket.number}")


def cmd_ticket_delete(args: argparse.Namespace, settings: Settings) -> None:
    async def work(session: AsyncSession) -> list[str]:
        return await tickets.delete(session, args.number, actor=ACTOR)

    upload_ids = asyncio.run(_with_session(settings, work, write=True))
    store = FileStore(settings.storage_dir)
    for upload_id in upload_ids:
        store.delete(upload_id)
    _emit(
        args,
        {"number": args.number, "deleted_uploads": len(upload_ids)},
        lambda: f"deleted ticket {args.number} and {len(upload_ids)} upload(s)",
    )


# --- tokens -------------------------------------------------------------------------------
def _token_dict(token: Any, ticket: str) -> dict[str, Any]:
    return {
        "prefix": token.prefix,
        "ticket": ticket,
        "uses": token.uses,
        "max_uses": token.max_uses,
        "max_bytes": token.max_bytes,
        "expires_at": _iso(token.expires_at),
        "revoked": token.revoked_at is not None,
        "last_used_at": _iso(token.last_used_at),
        "last_used_ip": token.last_used_ip,
    }


def _base_url(settings: Settings) -> str:
    return settings.public_url or f"http://{settings.host}:{settings.port}"


def uploader_commands(base: str, token: str) -> dict[str, str]:
    return {
        "sh": f"curl -fsSLO {base}/uploader.sh && sh uploader.sh {base} {token} FILE",
        "python": (f"curl -fsSLO {base}/uploader.py && python3 uploader.py {base} {token} FILE"),
    }


def cmd_token_issue(args: argparse.Namespace, settings: Settings) -> None:
    async def work(session: AsyncSession) -> tokens.IssuedToken:
        return await tokens.issue(
            session,
            args.number,
            uploads=args.uploads or settings.token_uploads,
            ttl=args.expires or settings.token_ttl,
            max_bytes=args.max_bytes,
            actor=ACTOR,
        )

    issued = asyncio.run(_with_session(settings, work, write=True))
    data = _token_dict(issued.record, args.number)
    data["token"] = issued.token
    data["commands"] = uploader_commands(_base_url(settings), issued.token)

    def text() -> str:
        return "\n".join(
            [
                f"Upload token for ticket {args.number} (shown once, store it nowhere):",
                f"  {issued.token}",
                f"  {data['max_uses']} upload(s), expires {data['expires_at']}"
                + (f", quota {format_size(args.max_bytes)}" if args.max_bytes else ""),
                "",
                "Send the customer one of:",
                f"  {data['commands']['sh']}",
                f"  {data['commands']['python']}",
            ]
        )

    _emit(args, data, text)


def cmd_token_revoke(args: argparse.Namespace, settings: Settings) -> None:
    async def work(session: AsyncSession) -> Any:
        return await tokens.revoke(session, args.prefix, actor=ACTOR)

    token = asyncio.run(_with_session(settings, work, write=True))
    _emit(args, {"prefix": token.prefix, "revoked": True}, lambda: f"revoked {token.prefix}")


def cmd_token_list(args: argparse.Namespace, settings: Settings) -> None:
    async def work(session: AsyncSession) -> Any:
        return await tokens.list_for(session, args.number)

    data = [_token_dict(t, n) for t, n in asyncio.run(_with_session(settings, work))]
    rows = [
        [
            d["prefix"],
            d["ticket"],
            f"{d['uses']}/{d['max_uses']}",
            d["expires_at"] or "",
            "revoked" if d["revoked"] else "",
        ]
        for d in data
    ]
    _emit(args, data, lambda: _table(rows, ["PREFIX", "TICKET", "USES", "EXPIRES", ""]))


# --- uploads ------------------------------------------------------------------------------
def _upload_dict(upload: Any, ticket: str) -> dict[str, Any]:
    return {
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
        "created_at": _iso(upload.created_at),
        "completed_at": _iso(upload.completed_at),
        "expires_at": _iso(upload.expires_at),
    }


def _progress(offset: int, length: int | None) -> str:
    total = format_size(length) if length is not None else "?"
    return f"{format_size(offset)}/{total}"


def cmd_upload_list(args: argparse.Namespace, settings: Settings) -> None:
    async def work(session: AsyncSession) -> Any:
        return await uploads.list_for(session, args.number)

    data = [_upload_dict(u, n) for u, n in asyncio.run(_with_session(settings, work))]
    rows = [
        [
            d["id"],
            d["ticket"],
            d["state"],
            _progress(d["offset"], d["length"]),
            d["filename"],
        ]
        for d in data
    ]
    _emit(args, data, lambda: _table(rows, ["ID", "TICKET", "STATE", "RECEIVED", "FILENAME"]))


# --- server -------------------------------------------------------------------------------
def cmd_migrate(args: argparse.Namespace, settings: Settings) -> None:
    async def work() -> None:
        engine = create_engine(settings.database_url)
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()

    asyncio.run(work())
    print("database schema is up to date")


def cmd_serve(args: argparse.Namespace, settings: Settings) -> None:
    from tuslog import serve

    overrides = {
        key: value
        for key, value in (("host", args.host), ("port", args.port), ("workers", args.workers))
        if value is not None
    }
    settings = load_settings(**overrides)
    serve.configure_logging(settings.log_level)
    cmd_migrate(args, settings)
    FileStore(settings.storage_dir).prepare()
    if settings.workers == 1:
        print(f"tuslog {__version__} serving on http://{settings.host}:{settings.port}", flush=True)
        serve.run_worker(settings, reuse_port=False)
    else:
        sys.exit(serve.supervise(settings, overrides))


def _positive_size(value: str) -> int:
    try:
        return parse_size(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _duration(value: str) -> Any:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    from tuslog.cli_parser import build

    return build(sys.modules[__name__], _positive_size, _duration)


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        args.func(args, settings)
    except SettingsError as exc:
        print(f"tuslog: {exc}", file=sys.stderr)
        sys.exit(EXIT_ERROR)
    except errors.TuslogError as exc:
        print(f"tuslog: {exc.message}", file=sys.stderr)
        sys.exit(EXIT_ERROR)
    except OSError as exc:
        print(f"tuslog: {exc.strerror or exc}", file=sys.stderr)
        sys.exit(EXIT_ERROR)
